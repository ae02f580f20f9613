/**
 * Multipart uploads end to end: aws-cli's automatic multipart for a 64 MiB file, the s3api
 * calls one by one with their errors, and @aws-sdk/client-s3 v3 (lib-storage Upload, default
 * checksums, GetObject, the ListObjectsV2 paginator).
 */
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import {
  AbortMultipartUploadCommand, CompleteMultipartUploadCommand, CreateMultipartUploadCommand, DeleteObjectCommand, GetObjectCommand, HeadObjectCommand,
  ListObjectsV2Command, PutObjectCommand, S3Client, UploadPartCommand, paginateListObjectsV2,
} from '@aws-sdk/client-s3';
import { Upload } from '@aws-sdk/lib-storage';
import { sdkClient, startGateway, type TestGateway } from '../../helpers/gateway.js';
import { tmpDir } from '../../helpers/tmp.js';

const md5 = (b: Buffer) => createHash('md5').update(b).digest('hex');

describe('S3 multipart uploads and the AWS SDK v3', function () {
  this.timeout(240_000);
  let t: TestGateway;
  let work: Awaited<ReturnType<typeof tmpDir>>;
  let s3: S3Client;
  before(async () => {
    t = await startGateway();
    work = await tmpDir('mpu');
    s3 = sdkClient(t.url);
    await t.aws('s3', 'mb', 's3://mpu-b');
  });
  after(async () => {
    s3.destroy();
    await t.stop();
    await work.cleanup();
  });

  it('aws s3 cp of a 64 MiB file goes multipart, is concatenated on one DS, and reads back identical', async () => {
    const data = randomBytes(64 * 1024 * 1024);
    const f = join(work.path, 'big');
    await writeFile(f, data);
    await t.aws('s3', 'cp', '--no-progress', f, 's3://mpu-b/big/file.bin');
    const head = JSON.parse(await t.aws('s3api', 'head-object', '--bucket', 'mpu-b', '--key', 'big/file.bin')) as { ETag: string; ContentLength: number };
    assert.equal(head.ContentLength, data.length);
    assert.match(head.ETag, /^"[0-9a-f]{32}-8"$/, 'aws-cli uses 8 MiB parts: the ETag says 8 parts');
    const back = join(work.path, 'back');
    await t.aws('s3', 'cp', '--no-progress', 's3://mpu-b/big/file.bin', back);
    assert.equal(md5(await readFile(back)), md5(data));
    // Nothing left of the upload: no upload listed, no part data on any DS.
    assert.deepEqual(JSON.parse((await t.aws('s3api', 'list-multipart-uploads', '--bucket', 'mpu-b')) || '{}').Uploads ?? [], []);
    let objects = 0;
    for (const ds of t.cluster.dsCount) objects += (await ds.call('scan', { limit: 1000 })).items.length;
    assert.equal(objects, 1);
  });

  it('s3api create-multipart-upload, upload-part, list-parts, complete; InvalidPart, InvalidPartOrder, EntityTooSmall, abort', async () => {
    const p1 = randomBytes(5 * 1024 * 1024);
    const p2 = randomBytes(1000);
    await writeFile(join(work.path, 'p1'), p1);
    await writeFile(join(work.path, 'p2'), p2);
    const { UploadId: id } = JSON.parse(await t.aws('s3api', 'create-multipart-upload', '--bucket', 'mpu-b', '--key', 'manual', '--content-type', 'application/x-test')) as { UploadId: string };
    const e1 = (JSON.parse(await t.aws('s3api', 'upload-part', '--bucket', 'mpu-b', '--key', 'manual', '--upload-id', id, '--part-number', '1', '--body', join(work.path, 'p1'))) as { ETag: string }).ETag;
    const e2 = (JSON.parse(await t.aws('s3api', 'upload-part', '--bucket', 'mpu-b', '--key', 'manual', '--upload-id', id, '--part-number', '2', '--body', join(work.path, 'p2'))) as { ETag: string }).ETag;
    assert.equal(e1, `"${md5(p1)}"`);
    const parts = JSON.parse(await t.aws('s3api', 'list-parts', '--bucket', 'mpu-b', '--key', 'manual', '--upload-id', id)) as { Parts: Array<{ PartNumber: number; Size: number; ETag: string }> };
    assert.deepEqual(parts.Parts.map((p) => [p.PartNumber, p.Size, p.ETag]), [[1, p1.length, e1], [2, p2.length, e2]]);
    const complete = (list: Array<[number, string]>) => t.aws('s3api', 'complete-multipart-upload', '--bucket', 'mpu-b', '--key', 'manual', '--upload-id', id,
      '--multipart-upload', JSON.stringify({ Parts: list.map(([n, e]) => ({ PartNumber: n, ETag: e })) }));
    await assert.rejects(complete([[1, e1], [2, '"0123456789abcdef0123456789abcdef"']]), /InvalidPart/);
    await assert.rejects(complete([[2, e2], [1, e1]]), /InvalidPartOrder/);
    await assert.rejects(complete([[2, e2], [3, e2]]).catch((e: Error) => { throw e; }), /InvalidPart/);
    // A small first part: EntityTooSmall.
    const { UploadId: id2 } = JSON.parse(await t.aws('s3api', 'create-multipart-upload', '--bucket', 'mpu-b', '--key', 'small')) as { UploadId: string };
    const s1 = (JSON.parse(await t.aws('s3api', 'upload-part', '--bucket', 'mpu-b', '--key', 'small', '--upload-id', id2, '--part-number', '1', '--body', join(work.path, 'p2'))) as { ETag: string }).ETag;
    await assert.rejects(t.aws('s3api', 'complete-multipart-upload', '--bucket', 'mpu-b', '--key', 'small', '--upload-id', id2,
      '--multipart-upload', JSON.stringify({ Parts: [{ PartNumber: 1, ETag: s1 }, { PartNumber: 2, ETag: s1 }] })), /InvalidPart|EntityTooSmall/);
    const ups = JSON.parse(await t.aws('s3api', 'list-multipart-uploads', '--bucket', 'mpu-b')) as { Uploads: Array<{ Key: string; UploadId: string }> };
    assert.deepEqual(ups.Uploads.map((u) => u.Key), ['manual', 'small']);
    await t.aws('s3api', 'abort-multipart-upload', '--bucket', 'mpu-b', '--key', 'small', '--upload-id', id2);
    await assert.rejects(t.aws('s3api', 'list-parts', '--bucket', 'mpu-b', '--key', 'small', '--upload-id', id2), /NoSuchUpload/);
    const done = JSON.parse(await complete([[1, e1], [2, e2]])) as { ETag: string };
    const want = createHash('md5').update(Buffer.concat([Buffer.from(md5(p1), 'hex'), Buffer.from(md5(p2), 'hex')])).digest('hex');
    assert.equal(done.ETag, `"${want}-2"`);
    const head = JSON.parse(await t.aws('s3api', 'head-object', '--bucket', 'mpu-b', '--key', 'manual')) as { ContentLength: number; ContentType: string };
    assert.equal(head.ContentLength, p1.length + p2.length);
    assert.equal(head.ContentType, 'application/x-test');
    const back = join(work.path, 'manual.back');
    await t.aws('s3api', 'get-object', '--bucket', 'mpu-b', '--key', 'manual', back);
    assert.equal(md5(await readFile(back)), md5(Buffer.concat([p1, p2])));
  });

  it('upload-part-copy with and without a range builds an object from existing ones', async () => {
    const a = randomBytes(6 * 1024 * 1024);
    await writeFile(join(work.path, 'src-a'), a);
    await t.aws('s3', 'cp', '--no-progress', join(work.path, 'src-a'), 's3://mpu-b/src/a');
    const { UploadId: id } = JSON.parse(await t.aws('s3api', 'create-multipart-upload', '--bucket', 'mpu-b', '--key', 'assembled')) as { UploadId: string };
    const c1 = JSON.parse(await t.aws('s3api', 'upload-part-copy', '--bucket', 'mpu-b', '--key', 'assembled', '--upload-id', id, '--part-number', '1', '--copy-source', 'mpu-b/src/a')) as { CopyPartResult: { ETag: string } };
    const c2 = JSON.parse(await t.aws('s3api', 'upload-part-copy', '--bucket', 'mpu-b', '--key', 'assembled', '--upload-id', id, '--part-number', '2', '--copy-source', 'mpu-b/src/a',
      '--copy-source-range', 'bytes=100-199')) as { CopyPartResult: { ETag: string } };
    assert.equal(c1.CopyPartResult.ETag, `"${md5(a)}"`);
    assert.equal(c2.CopyPartResult.ETag, `"${md5(a.subarray(100, 200))}"`);
    await assert.rejects(t.aws('s3api', 'upload-part-copy', '--bucket', 'mpu-b', '--key', 'assembled', '--upload-id', id, '--part-number', '3', '--copy-source', 'mpu-b/src/a',
      '--copy-source-range', `bytes=0-${a.length}`), /InvalidArgument/);
    await t.aws('s3api', 'complete-multipart-upload', '--bucket', 'mpu-b', '--key', 'assembled', '--upload-id', id,
      '--multipart-upload', JSON.stringify({ Parts: [{ PartNumber: 1, ETag: c1.CopyPartResult.ETag }, { PartNumber: 2, ETag: c2.CopyPartResult.ETag }] }));
    const back = join(work.path, 'assembled');
    await t.aws('s3api', 'get-object', '--bucket', 'mpu-b', '--key', 'assembled', back);
    assert.equal(md5(await readFile(back)), md5(Buffer.concat([a, a.subarray(100, 200)])));
  });

  it('CompleteMultipartUpload honours If-Match and If-None-Match (conditional writes)', async () => {
    await s3.send(new PutObjectCommand({ Bucket: 'mpu-b', Key: 'cond', Body: 'first' }));
    const etag = (await s3.send(new HeadObjectCommand({ Bucket: 'mpu-b', Key: 'cond' }))).ETag!;
    const attempt = async (cond: { IfMatch?: string; IfNoneMatch?: string }): Promise<string> => {
      const { UploadId } = await s3.send(new CreateMultipartUploadCommand({ Bucket: 'mpu-b', Key: 'cond' }));
      const p = await s3.send(new UploadPartCommand({ Bucket: 'mpu-b', Key: 'cond', UploadId, PartNumber: 1, Body: 'second' }));
      try {
        await s3.send(new CompleteMultipartUploadCommand({ Bucket: 'mpu-b', Key: 'cond', UploadId, MultipartUpload: { Parts: [{ PartNumber: 1, ETag: p.ETag }] }, ...cond }));
        return 'ok';
      } catch (e) {
        await s3.send(new AbortMultipartUploadCommand({ Bucket: 'mpu-b', Key: 'cond', UploadId }));
        return (e as Error).name;
      }
    };
    assert.equal(await attempt({ IfMatch: '"00000000000000000000000000000000"' }), 'PreconditionFailed');
    assert.equal(await attempt({ IfNoneMatch: '*' }), 'PreconditionFailed');
    assert.equal(await (await s3.send(new GetObjectCommand({ Bucket: 'mpu-b', Key: 'cond' }))).Body!.transformToString(), 'first');
    assert.equal(await attempt({ IfMatch: etag }), 'ok');
    assert.equal(await (await s3.send(new GetObjectCommand({ Bucket: 'mpu-b', Key: 'cond' }))).Body!.transformToString(), 'second');
    assert.equal(await attempt({ IfNoneMatch: '*' }), 'PreconditionFailed');
  });

  it('@aws-sdk/client-s3 v3: PutObject with default checksums, lib-storage multipart, GetObject, ListObjectsV2 paginator', async () => {
    await s3.send(new PutObjectCommand({ Bucket: 'mpu-b', Key: 'sdk/small.txt', Body: 'from the sdk', ContentType: 'text/plain', Metadata: { color: 'blue' } }));
    const got = await s3.send(new GetObjectCommand({ Bucket: 'mpu-b', Key: 'sdk/small.txt' }));
    assert.equal(await got.Body!.transformToString(), 'from the sdk');
    assert.equal(got.Metadata?.color, 'blue');
    assert.equal(got.ContentType, 'text/plain');
    // A stream of unknown length: lib-storage splits it into 5 MiB parts.
    const big = randomBytes(12 * 1024 * 1024 + 123);
    const up = new Upload({ client: s3, params: { Bucket: 'mpu-b', Key: 'sdk/streamed.bin', Body: Readable.from([big.subarray(0, 7_000_000), big.subarray(7_000_000)]) }, partSize: 5 * 1024 * 1024 });
    await up.done();
    const back = await s3.send(new GetObjectCommand({ Bucket: 'mpu-b', Key: 'sdk/streamed.bin' }));
    assert.equal(md5(Buffer.from(await back.Body!.transformToByteArray())), md5(big));
    for (let i = 0; i < 5; i++) await s3.send(new PutObjectCommand({ Bucket: 'mpu-b', Key: `sdk/page/${i}`, Body: String(i) }));
    const keys: string[] = [];
    for await (const page of paginateListObjectsV2({ client: s3, pageSize: 2 }, { Bucket: 'mpu-b', Prefix: 'sdk/page/' })) {
      keys.push(...(page.Contents ?? []).map((c) => c.Key!));
    }
    assert.deepEqual(keys, ['sdk/page/0', 'sdk/page/1', 'sdk/page/2', 'sdk/page/3', 'sdk/page/4']);
    const top = await s3.send(new ListObjectsV2Command({ Bucket: 'mpu-b', Prefix: 'sdk/', Delimiter: '/' }));
    assert.deepEqual(top.CommonPrefixes?.map((p) => p.Prefix), ['sdk/page/']);
  });

  it('CompleteMultipartUpload racing a DELETE that prunes the key\'s folder makes the folder again (issue 13, defect 5)', async () => {
    const v = t.cluster.volume;
    const { UploadId } = await s3.send(new CreateMultipartUploadCommand({ Bucket: 'mpu-b', Key: 'race/f/obj' }));
    const part = await s3.send(new UploadPartCommand({ Bucket: 'mpu-b', Key: 'race/f/obj', UploadId, PartNumber: 1, Body: Buffer.from('joined') }));
    const partDs = v.layout.dsOf((await v.readdir(`/.dht2/uploads/${UploadId!}`, { plus: true })).entries.find((e) => e.type === 'file')!.gfid);
    // The folder's only other key, with its data on another DS than the parts.
    let sibling = '';
    for (let i = 0; !sibling; i++) {
      await s3.send(new PutObjectCommand({ Bucket: 'mpu-b', Key: `race/f/s${i}`, Body: 'x' }));
      if (v.layout.dsOf((await v.stat(`/mpu-b/race/f/s${i}`)).gfid) !== partDs) sibling = `race/f/s${i}`;
      else await s3.send(new DeleteObjectCommand({ Bucket: 'mpu-b', Key: `race/f/s${i}` }));
    }
    // Complete walks to the folder, then waits on the stopped DS to join the parts; meanwhile the
    // DELETE of the sibling prunes the folder; then the DS goes on and Complete names the object.
    const stopped = t.cluster.ds[partDs]!.pid;
    process.kill(stopped, 'SIGSTOP');
    let complete: Promise<unknown>;
    try {
      complete = s3.send(new CompleteMultipartUploadCommand({
        Bucket: 'mpu-b', Key: 'race/f/obj', UploadId, MultipartUpload: { Parts: [{ PartNumber: 1, ETag: part.ETag }] },
      })).then((r) => r, (e: unknown) => e);
      await new Promise((r) => setTimeout(r, 300)); // Complete walks to the folder and waits in dconcat
      await s3.send(new DeleteObjectCommand({ Bucket: 'mpu-b', Key: sibling }));
      await assert.rejects(v.stat('/mpu-b/race'), /ENOENT/, 'the DELETE pruned the folders');
    } finally {
      process.kill(stopped, 'SIGCONT');
    }
    const r = await complete;
    assert.ok(!(r instanceof Error), `Complete failed: ${String(r)}`);
    const got = await s3.send(new GetObjectCommand({ Bucket: 'mpu-b', Key: 'race/f/obj' }));
    assert.equal(await got.Body!.transformToString(), 'joined');
  });
});
