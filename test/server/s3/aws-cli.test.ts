/**
 * End to end with the real aws-cli against a gateway over real bricks: the commands people
 * type every day, and the bytes landing on the bricks' disks.
 */
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { startGateway, type TestGateway } from '../../helpers/gateway.js';
import { tmpDir } from '../../helpers/tmp.js';

describe('S3 end to end with aws-cli', function () {
  this.timeout(180_000);
  let t: TestGateway;
  let work: Awaited<ReturnType<typeof tmpDir>>;
  before(async () => {
    t = await startGateway();
    work = await tmpDir('awscli');
  });
  after(async () => {
    await t.stop();
    await work.cleanup();
  });

  it('mb, cp up and down, ls, head-object: the data is a file on a DS brick', async () => {
    assert.match(await t.aws('s3', 'mb', 's3://cli-bucket'), /make_bucket: cli-bucket/);
    const src = join(work.path, 'hello.txt');
    await writeFile(src, 'hello from aws-cli\n');
    await t.aws('s3', 'cp', src, 's3://cli-bucket/docs/hello.txt');
    const ls = await t.aws('s3', 'ls', 's3://cli-bucket/docs/');
    assert.match(ls, /\s19 hello\.txt/);
    const back = join(work.path, 'back.txt');
    await t.aws('s3', 'cp', 's3://cli-bucket/docs/hello.txt', back);
    assert.equal(await readFile(back, 'utf8'), 'hello from aws-cli\n');
    const head = JSON.parse(await t.aws('s3api', 'head-object', '--bucket', 'cli-bucket', '--key', 'docs/hello.txt')) as Record<string, unknown>;
    assert.equal(head.ContentLength, 19);
    assert.equal(head.ETag, `"${createHash('md5').update('hello from aws-cli\n').digest('hex')}"`);
    assert.equal(head.ContentType, 'text/plain');
    const st = await t.cluster.volume.stat('/cli-bucket/docs/hello.txt');
    const ds = t.cluster.volume.layout.dsOf(st.gfid);
    const onDisk = join(t.cluster.dir, `ds${ds}`, st.gfid.slice(0, 2), st.gfid.slice(2, 4), st.gfid);
    assert.equal(await readFile(onDisk, 'utf8'), 'hello from aws-cli\n');
  });

  it('sync of a nested tree, a changed file, ls --recursive, rm --recursive, rb', async () => {
    await t.aws('s3', 'mb', 's3://sync-bucket');
    const tree = join(work.path, 'tree');
    await mkdir(join(tree, 'a', 'b'), { recursive: true });
    await writeFile(join(tree, 'top.txt'), 'top');
    await writeFile(join(tree, 'a', 'one.txt'), 'one');
    await writeFile(join(tree, 'a', 'b', 'two.txt'), 'two');
    await writeFile(join(tree, 'a-b.txt'), 'dash sorts before slash');
    await t.aws('s3', 'sync', tree, 's3://sync-bucket/t');
    let rec = await t.aws('s3', 'ls', '--recursive', 's3://sync-bucket/');
    const keys = rec.trim().split('\n').map((l) => l.trim().split(/\s+/).at(-1));
    assert.deepEqual(keys, ['t/a-b.txt', 't/a/b/two.txt', 't/a/one.txt', 't/top.txt']);
    await writeFile(join(tree, 'a', 'one.txt'), 'one, changed and longer');
    const second = await t.aws('s3', 'sync', tree, 's3://sync-bucket/t');
    assert.match(second, /upload: .*one\.txt/);
    assert.doesNotMatch(second, /two\.txt/);
    const ls = await t.aws('s3', 'ls', 's3://sync-bucket/t/');
    assert.match(ls, /PRE a\//);
    assert.match(ls, /top\.txt/);
    await assert.rejects(t.aws('s3', 'rb', 's3://sync-bucket'), /BucketNotEmpty/);
    await t.aws('s3', 'rm', '--recursive', 's3://sync-bucket/t');
    rec = await t.aws('s3', 'ls', '--recursive', 's3://sync-bucket/');
    assert.equal(rec.trim(), '');
    // Empty folders went with their last object: the bucket directory is empty again.
    assert.deepEqual((await t.cluster.volume.readdir('/sync-bucket')).entries, []);
    await t.aws('s3', 'rb', 's3://sync-bucket');
    await assert.rejects(t.aws('s3', 'ls', 's3://sync-bucket/'), /NoSuchBucket/);
  });

  it('s3api: list-objects-v2 with delimiter and pagination, delete-objects, errors', async () => {
    await t.aws('s3', 'mb', 's3://api-bucket');
    for (let i = 0; i < 7; i++) await t.aws('s3api', 'put-object', '--bucket', 'api-bucket', '--key', `p/k${i}`, '--body', join(work.path, 'hello.txt'));
    await t.aws('s3api', 'put-object', '--bucket', 'api-bucket', '--key', 'q/x', '--body', join(work.path, 'hello.txt'));
    const top = JSON.parse(await t.aws('s3api', 'list-objects-v2', '--bucket', 'api-bucket', '--delimiter', '/')) as { CommonPrefixes: Array<{ Prefix: string }> };
    assert.deepEqual(top.CommonPrefixes.map((p) => p.Prefix), ['p/', 'q/']);
    const paged = JSON.parse(await t.aws('s3api', 'list-objects-v2', '--bucket', 'api-bucket', '--prefix', 'p/', '--page-size', '3')) as { Contents: Array<{ Key: string }> };
    assert.deepEqual(paged.Contents.map((c) => c.Key), ['p/k0', 'p/k1', 'p/k2', 'p/k3', 'p/k4', 'p/k5', 'p/k6']);
    const del = JSON.parse(await t.aws('s3api', 'delete-objects', '--bucket', 'api-bucket', '--delete',
      JSON.stringify({ Objects: [{ Key: 'p/k0' }, { Key: 'p/k1' }, { Key: 'never-existed' }] }))) as { Deleted: Array<{ Key: string }> };
    assert.deepEqual(del.Deleted.map((d) => d.Key).sort(), ['never-existed', 'p/k0', 'p/k1']);
    await assert.rejects(t.aws('s3api', 'head-object', '--bucket', 'api-bucket', '--key', 'p/k0'), /404|Not Found/);
    await assert.rejects(t.aws('s3api', 'get-object', '--bucket', 'api-bucket', '--key', 'nope', join(work.path, 'x')), /NoSuchKey/);
    await assert.rejects(t.aws('s3api', 'get-object', '--bucket', 'no-such-bucket', '--key', 'k', join(work.path, 'x')), /NoSuchBucket/);
    await assert.rejects(t.aws('s3', 'mb', 's3://api-bucket'), /BucketAlreadyOwnedByYou/);
    await assert.rejects(t.aws('s3', 'mb', 's3://Bad_Name'), /InvalidBucketName|Invalid bucket name/);
  });

  it('refuses wrong credentials with SignatureDoesNotMatch and InvalidAccessKeyId', async () => {
    const { execFile } = await import('node:child_process');
    const { promisify } = await import('node:util');
    const run = promisify(execFile);
    const env = { ...process.env, AWS_DEFAULT_REGION: 'us-east-1', AWS_CONFIG_FILE: '/dev/null', AWS_SHARED_CREDENTIALS_FILE: '/dev/null' };
    await assert.rejects(run('aws', ['--endpoint-url', t.url, 's3', 'ls'], { env: { ...env, AWS_ACCESS_KEY_ID: 'test-access-key', AWS_SECRET_ACCESS_KEY: 'wrong' } }), /SignatureDoesNotMatch/);
    await assert.rejects(run('aws', ['--endpoint-url', t.url, 's3', 'ls'], { env: { ...env, AWS_ACCESS_KEY_ID: 'nobody', AWS_SECRET_ACCESS_KEY: 'x' } }), /InvalidAccessKeyId/);
  });

  it('copy and move on the server (CopyObject), metadata directives, presigned GET with plain curl', async () => {
    await t.aws('s3', 'mb', 's3://copy-bucket');
    const src = join(work.path, 'c.txt');
    await writeFile(src, 'copy me');
    await t.aws('s3', 'cp', src, 's3://copy-bucket/a/c.txt', '--content-type', 'text/x-copy');
    await t.aws('s3', 'cp', 's3://copy-bucket/a/c.txt', 's3://copy-bucket/b/c2.txt');
    assert.equal(await t.aws('s3', 'cp', 's3://copy-bucket/b/c2.txt', '-'), 'copy me');
    const src2 = await t.cluster.volume.stat('/copy-bucket/a/c.txt');
    const dst2 = await t.cluster.volume.stat('/copy-bucket/b/c2.txt');
    assert.equal(t.cluster.volume.layout.dsOf(dst2.gfid), t.cluster.volume.layout.dsOf(src2.gfid), 'the copy was made on the source\'s DS');
    await t.aws('s3', 'mv', 's3://copy-bucket/b/c2.txt', 's3://copy-bucket/moved/c3.txt');
    const rec = await t.aws('s3', 'ls', '--recursive', 's3://copy-bucket/');
    assert.match(rec, /moved\/c3\.txt/);
    assert.doesNotMatch(rec, /b\/c2\.txt/);
    await assert.rejects(t.aws('s3api', 'copy-object', '--bucket', 'copy-bucket', '--key', 'a/c.txt', '--copy-source', 'copy-bucket/a/c.txt'), /InvalidRequest/);
    await t.aws('s3api', 'copy-object', '--bucket', 'copy-bucket', '--key', 'a/c.txt', '--copy-source', 'copy-bucket/a/c.txt',
      '--metadata-directive', 'REPLACE', '--content-type', 'text/x-replaced', '--metadata', 'k=v');
    const head = JSON.parse(await t.aws('s3api', 'head-object', '--bucket', 'copy-bucket', '--key', 'a/c.txt')) as { ContentType: string; Metadata: Record<string, string> };
    assert.equal(head.ContentType, 'text/x-replaced');
    assert.deepEqual(head.Metadata, { k: 'v' });
    await assert.rejects(t.aws('s3api', 'copy-object', '--bucket', 'copy-bucket', '--key', 'x', '--copy-source', 'copy-bucket/a/c.txt',
      '--copy-source-if-match', '"0123456789abcdef0123456789abcdef"'), /PreconditionFailed/);
    await assert.rejects(t.aws('s3api', 'copy-object', '--bucket', 'copy-bucket', '--key', 'x', '--copy-source', 'copy-bucket/nope'), /NoSuchKey/);
    const url = (await t.aws('s3', 'presign', 's3://copy-bucket/moved/c3.txt', '--expires-in', '60')).trim();
    const got = await fetch(url);
    assert.equal(got.status, 200);
    assert.equal(await got.text(), 'copy me');
    const tampered = await fetch(url.replace('c3.txt', 'c.txt'));
    assert.equal(tampered.status, 403);
  });

  it('a binary object round-trips byte for byte through Range reads', async () => {
    await t.aws('s3', 'mb', 's3://bin-bucket');
    const data = randomBytes(300_000);
    const f = join(work.path, 'bin');
    await writeFile(f, data);
    await t.aws('s3', 'cp', f, 's3://bin-bucket/bin');
    const part = join(work.path, 'part');
    const out = JSON.parse(await t.aws('s3api', 'get-object', '--bucket', 'bin-bucket', '--key', 'bin', '--range', 'bytes=1000-1999', part)) as { ContentRange: string };
    assert.equal(out.ContentRange, 'bytes 1000-1999/300000');
    assert.deepEqual(await readFile(part), data.subarray(1000, 2000));
  });
});
