/**
 * Keys `a`, `a/` and `a/b` in one bucket (issue 7, docs/ARCHITECTURE.md "Keys a, a/ and a/b"):
 * each readable, deletable and listed in S3 order, whichever is written first, through the AWS
 * SDK v3 and aws-cli against a real gateway and real bricks; the file API shows the same tree;
 * fsck finds nothing to repair and nothing is left behind once every key is deleted.
 */
import assert from 'node:assert/strict';
import { setTimeout as sleep } from 'node:timers/promises';
import {
  CopyObjectCommand, DeleteObjectCommand, GetObjectCommand, HeadObjectCommand, ListObjectsCommand, ListObjectsV2Command,
  PutObjectCommand, S3Client, S3ServiceException,
} from '@aws-sdk/client-s3';
import { Upload } from '@aws-sdk/lib-storage';
import request from 'supertest';
import { ACCESS_KEY, SECRET_KEY, sdkClient, startGateway, type TestGateway } from '../../helpers/gateway.js';

describe('S3 keys a, a/ and a/b coexist', function () {
  this.timeout(180_000);
  let t: TestGateway;
  let s3: S3Client;
  const B = 'coexist';

  before(async () => {
    t = await startGateway();
    s3 = sdkClient(t.url);
    await t.aws('s3', 'mb', `s3://${B}`);
  });
  after(async () => { s3.destroy(); await t.stop(); });

  const put = (Key: string, Body: string, extra: Partial<ConstructorParameters<typeof PutObjectCommand>[0]> = {}) =>
    s3.send(new PutObjectCommand({ Bucket: B, Key, Body, ...extra }));
  const get = async (Key: string) => (await s3.send(new GetObjectCommand({ Bucket: B, Key }))).Body!.transformToString();
  const del = (Key: string) => s3.send(new DeleteObjectCommand({ Bucket: B, Key }));
  const keys = async (Prefix = '', Delimiter?: string) => {
    const r = await s3.send(new ListObjectsV2Command({ Bucket: B, Prefix, Delimiter }));
    return { keys: (r.Contents ?? []).map((c) => `${c.Key}:${c.Size}`), prefixes: (r.CommonPrefixes ?? []).map((p) => p.Prefix) };
  };
  const code = async (p: Promise<unknown>) => {
    try { await p; } catch (e) { return e instanceof S3ServiceException ? e.name : String(e); }
    return 'ok';
  };
  const fs = (path: string) => request(t.url).get(`/fs/${B}/${path}`).auth(ACCESS_KEY, SECRET_KEY);

  async function fsckClean(): Promise<void> {
    const r = await t.gw.volume.fsck({ graceMs: 0 });
    assert.deepEqual([r.dangling, r.orphanInodes, r.orphanData, r.nlinkMismatch], [[], [], [], []], JSON.stringify(r));
  }

  it('a file written first, then a/ and a/b: all three read back, list in order, and the file API shows a directory carrying the object', async () => {
    await put('a', 'object a', { ContentType: 'text/x-a', Metadata: { who: 'a' } });
    await put('a/', '');
    await put('a/b', 'object a/b');
    await put('a-b', 'sorts between a and a/');
    assert.equal(await get('a'), 'object a');
    assert.equal(await get('a/b'), 'object a/b');
    assert.equal(await get('a/'), '');
    const h = await s3.send(new HeadObjectCommand({ Bucket: B, Key: 'a' }));
    assert.equal(h.ContentType, 'text/x-a');
    assert.equal(h.Metadata?.who, 'a');
    assert.equal(h.ContentLength, 8);
    assert.deepEqual(await keys(), { keys: ['a:8', 'a-b:22', 'a/:0', 'a/b:10'], prefixes: [] });
    assert.deepEqual(await keys('', '/'), { keys: ['a:8', 'a-b:22'], prefixes: ['a/'] });
    assert.deepEqual(await keys('a', '/'), { keys: ['a:8', 'a-b:22'], prefixes: ['a/'] });
    assert.deepEqual(await keys('a/', '/'), { keys: ['a/:0', 'a/b:10'], prefixes: [] });
    // Pages of one key resume in the right place, on both sides of the carried object.
    const seen: string[] = [];
    let token: string | undefined;
    do {
      const r = await s3.send(new ListObjectsV2Command({ Bucket: B, MaxKeys: 1, ContinuationToken: token }));
      seen.push(...(r.Contents ?? []).map((c) => c.Key!));
      token = r.NextContinuationToken;
    } while (token);
    assert.deepEqual(seen, ['a', 'a-b', 'a/', 'a/b']);
    const v1 = await s3.send(new ListObjectsCommand({ Bucket: B, Marker: 'a' }));
    assert.deepEqual((v1.Contents ?? []).map((c) => c.Key), ['a-b', 'a/', 'a/b']);

    const st = await fs('a?stat=1');
    assert.equal(st.status, 200);
    assert.equal(st.body.type, 'dir');
    assert.equal(st.body.object.size, 8, 'the stat shows the object the directory carries');
    const list = await fs('a/');
    assert.equal(list.status, 200);
    assert.deepEqual(list.body.entries.map((e: { name: string }) => e.name), ['b']);
    await fsckClean();
  });

  it('a directory first, then the object at its name; replacing, copying and If-None-Match behave as for any key', async () => {
    await put('d/x', 'inside');
    await put('d', 'v1');
    assert.equal(await get('d'), 'v1');
    await put('d', 'version two');
    assert.equal(await get('d'), 'version two');
    assert.equal(await code(put('d', 'nope', { IfNoneMatch: '*' })), 'PreconditionFailed');
    assert.equal(await code(put('d2/', '')), 'ok');
    assert.equal(await code(put('d2', 'created', { IfNoneMatch: '*' })), 'ok');
    const etag = (await s3.send(new HeadObjectCommand({ Bucket: B, Key: 'd' }))).ETag!;
    assert.equal(await code(put('d', 'x', { IfMatch: '"0123456789abcdef0123456789abcdef"' })), 'PreconditionFailed');
    assert.equal(await code(put('d', 'matched', { IfMatch: etag })), 'ok');
    await s3.send(new CopyObjectCommand({ Bucket: B, Key: 'd2', CopySource: `${B}/d` }));
    assert.equal(await get('d2'), 'matched');
    await s3.send(new CopyObjectCommand({ Bucket: B, Key: 'd/x/y', CopySource: `${B}/d` })); // d/x becomes a directory too
    assert.equal(await get('d/x'), 'inside');
    assert.equal(await get('d/x/y'), 'matched');
    assert.deepEqual((await keys('d')).keys, ['d:7', 'd/x:6', 'd/x/y:7', 'd2:7', 'd2/:0']);
    await fsckClean();
  });

  it('a multipart upload completes onto a key that is a directory', async () => {
    await put('m/inner', 'i');
    const body = Buffer.alloc(6 * 1024 * 1024, 7);
    await new Upload({ client: s3, params: { Bucket: B, Key: 'm', Body: body }, partSize: 5 * 1024 * 1024 }).done();
    const h = await s3.send(new HeadObjectCommand({ Bucket: B, Key: 'm' }));
    assert.equal(h.ContentLength, body.length);
    assert.match(h.ETag!, /-2"$/);
    assert.equal(await get('m/inner'), 'i');
  });

  it('deleting each key leaves the others, and the last one removes the directory', async () => {
    await put('z', 'zz');
    await put('z/', '');
    await put('z/q', 'q');
    await del('z');
    assert.equal(await code(get('z')), 'NoSuchKey');
    assert.equal(await get('z/q'), 'q');
    assert.deepEqual((await keys('z')).keys, ['z/:0', 'z/q:1']);
    await put('z', 'back');
    await del('z/q');
    await del('z/');
    assert.equal(await get('z'), 'back');
    assert.deepEqual((await keys('z')).keys, ['z:4']);
    const back = await fs('z?stat=1');
    assert.equal(back.body.type, 'file', 'with z/ and z/q gone, z is a plain file again');
    assert.equal(back.body.size, 4);
    await del('z');
    assert.deepEqual(await keys('z'), { keys: [], prefixes: [] });
    assert.equal((await fs('z?stat=1')).status, 404, 'the directory went with its last key');
    // A carried object keeps its directory from an rmdir through the file API: ENOTEMPTY.
    await put('r', 'r');
    await put('r/', '');
    await put('r/s', 's');
    await del('r/s');
    assert.equal((await fs('r?stat=1')).body.type, 'dir', 'the marker r/ keeps the directory');
    const rm = await request(t.url).delete(`/fs/${B}/r`).auth(ACCESS_KEY, SECRET_KEY);
    assert.equal(rm.status, 409);
    assert.equal(rm.body.error, 'ENOTEMPTY');
    assert.equal(await get('r'), 'r');
    // A tree delete takes the carried object with the directory.
    const tree = await request(t.url).delete(`/fs/${B}/r?recursive=1`).auth(ACCESS_KEY, SECRET_KEY);
    assert.equal(tree.status, 204, JSON.stringify(tree.body));
    assert.equal(await code(get('r')), 'NoSuchKey');
    assert.equal(await code(get('r/')), 'NoSuchKey');
    await fsckClean();
  });

  it('aws-cli sees the three keys: ls --recursive, cp to stdout, rm --recursive', async () => {
    const out = await t.aws('s3', 'ls', '--recursive', `s3://${B}/a`);
    const listed = out.trim().split('\n').map((l) => l.trim().split(/\s+/).slice(3).join(' '));
    assert.deepEqual(listed, ['a', 'a-b', 'a/', 'a/b']);
    assert.equal(await t.aws('s3', 'cp', `s3://${B}/a`, '-'), 'object a');
    assert.equal(await t.aws('s3', 'cp', `s3://${B}/a/b`, '-'), 'object a/b');
    await t.aws('s3', 'rm', '--recursive', `s3://${B}/`);
    assert.deepEqual(await keys(), { keys: [], prefixes: [] });
    const root = await request(t.url).get(`/fs/${B}/`).auth(ACCESS_KEY, SECRET_KEY);
    assert.deepEqual(root.body.entries, [], 'no directory left behind');
    await fsckClean();
  });

  it('concurrent writes and deletes of k, k/ and k/x keys end consistent, with nothing left behind', async () => {
    const names = ['c0', 'c1', 'c2', 'c3', 'c4', 'c5'];
    const all = names.flatMap((n) => [n, `${n}/`, `${n}/x`, `${n}/x/y`]);
    // All shapes at once, in shuffled order: files turn into directories while objects land in them.
    const order = [...all].sort((a, b) => ((a.length * 7919 + b.charCodeAt(1)) % 5) - ((b.length * 7919 + a.charCodeAt(1)) % 5));
    await Promise.all(order.map((k) => put(k, k.endsWith('/') ? '' : `body of ${k}`)));
    for (const k of all) assert.equal(await get(k), k.endsWith('/') ? '' : `body of ${k}`, k);
    assert.deepEqual((await keys('c')).keys.map((x) => x.split(':')[0]), [...all].sort());
    await fsckClean();
    await Promise.all([...order].reverse().map((k) => del(k)));
    assert.deepEqual(await keys('c'), { keys: [], prefixes: [] });
    for (const n of names) assert.equal((await fs(`${n}?stat=1`)).status, 404, n);
    await fsckClean();
  });

  it('racing DELETEs of k and k/ (what aws s3 rm --recursive sends at once) never leave a name behind', async () => {
    for (let round = 0; round < 40; round++) {
      const k = `race${round}`;
      await put(k, 'object');
      await put(`${k}/`, '');
      if (round % 2 === 1) await put(`${k}/inner`, 'i');
      // Staggered by 0-9 ms, so the DELETE of k lands at every step of the other's pruning.
      const late = (round * 7) % 10;
      await Promise.all([sleep(late).then(() => del(k)), del(`${k}/`), ...(round % 2 === 1 ? [del(`${k}/inner`)] : [])]);
      assert.deepEqual(await keys(k), { keys: [], prefixes: [] }, `round ${round}`);
    }
    await fsckClean();
  });
});
