/**
 * How many brick round trips an S3 request costs (docs/ARCHITECTURE.md §9 "Round trips"),
 * counted from the gateway's own /-/metrics (every brick FOP is observed there) around
 * requests made with the AWS SDK v3 against a real gateway and real bricks. Counts, not times:
 * speed is judged in `npm run bench`; these keep a walk from creeping back into a hot path.
 */
import assert from 'node:assert/strict';
import { DeleteObjectCommand, DeleteObjectsCommand, GetObjectCommand, HeadObjectCommand, PutObjectCommand, S3Client } from '@aws-sdk/client-s3';
import { ACCESS_KEY, SECRET_KEY, sdkClient, startGateway, type TestGateway } from '../../helpers/gateway.js';

describe('S3 round trips per request', function () {
  this.timeout(120_000);
  let t: TestGateway;
  let s3: S3Client;
  const B = 'trips';

  before(async () => {
    t = await startGateway();
    s3 = sdkClient(t.url);
    await t.aws('s3', 'mb', `s3://${B}`);
  });
  after(async () => { s3.destroy(); await t.stop(); });

  /** Brick FOPs by name, summed over bricks, as /-/metrics reports them. */
  async function fops(): Promise<Map<string, number>> {
    const text = await (await fetch(`${t.url}/-/metrics`)).text();
    const out = new Map<string, number>();
    for (const m of text.matchAll(/^dht2_brick_rpc_duration_seconds_count\{[^}]*fop="([a-z]+)"[^}]*\} (\d+)$/gm)) {
      out.set(m[1]!, (out.get(m[1]!) ?? 0) + Number(m[2]));
    }
    return out;
  }

  /** The FOPs `fn` made, as a sorted `fop:n` list. */
  async function tripsOf(fn: () => Promise<unknown>): Promise<string[]> {
    const before = await fops();
    await fn();
    const after = await fops();
    return [...after].filter(([f, n]) => n !== (before.get(f) ?? 0)).map(([f, n]) => `${f}:${n - (before.get(f) ?? 0)}`).sort();
  }

  it('a key in the bucket: PUT 3, HEAD 2, GET 3, DELETE 3', async () => {
    assert.deepEqual(await tripsOf(() => s3.send(new PutObjectCommand({ Bucket: B, Key: 'k', Body: 'hello' }))), ['create:1', 'dput:1', 'entry:1']);
    assert.deepEqual(await tripsOf(() => s3.send(new HeadObjectCommand({ Bucket: B, Key: 'k' }))), ['entry:1', 'lookup:1']);
    assert.deepEqual(await tripsOf(async () => {
      const r = await s3.send(new GetObjectCommand({ Bucket: B, Key: 'k' }));
      assert.equal(await r.Body!.transformToString(), 'hello');
    }), ['dread:1', 'entry:1', 'lookup:1']);
    assert.deepEqual(await tripsOf(() => s3.send(new DeleteObjectCommand({ Bucket: B, Key: 'k' }))), ['dunlink:1', 'entry:1', 'unlink:1']);
    await assert.rejects(s3.send(new HeadObjectCommand({ Bucket: B, Key: 'k' })), { name: 'NotFound' });
  });

  it('DeleteObjects looks the bucket up once, not once per key (issue 15: 1 + N before)', async () => {
    for (const k of ['d1', 'd2', 'd3']) await s3.send(new PutObjectCommand({ Bucket: B, Key: k, Body: k }));
    const keys = ['d1', 'd2', 'd3'].map((Key) => ({ Key }));
    assert.deepEqual(await tripsOf(() => s3.send(new DeleteObjectsCommand({ Bucket: B, Delete: { Objects: keys } }))),
      ['dunlink:3', 'entry:1', 'unlink:3']);
  });

  it('a key in folders: the folders are walked by name entries, and only an emptied folder is statted', async () => {
    await s3.send(new PutObjectCommand({ Bucket: B, Key: 'f/g/first', Body: '1' }));
    // bucket entry, then bucket → f → g (the walk starts at the bucket); dput; create
    assert.deepEqual(await tripsOf(() => s3.send(new PutObjectCommand({ Bucket: B, Key: 'f/g/second', Body: '2' }))),
      ['create:1', 'dput:1', 'entry:3']);
    // bucket entry, walk to g (2), unlink, dunlink, and a readdir of one entry finds `first`: g stays
    assert.deepEqual(await tripsOf(() => s3.send(new DeleteObjectCommand({ Bucket: B, Key: 'f/g/second' }))),
      ['dunlink:1', 'entry:3', 'readdir:1', 'unlink:1']);
    assert.equal(await (await s3.send(new GetObjectCommand({ Bucket: B, Key: 'f/g/first' }))).Body!.transformToString(), '1');
    // The last key: g and then f are emptied and removed (S3 has no folders to leave behind).
    await s3.send(new DeleteObjectCommand({ Bucket: B, Key: 'f/g/first' }));
    const ls = await fetch(`${t.url}/fs/${B}/`, { headers: { authorization: `Basic ${Buffer.from(`${ACCESS_KEY}:${SECRET_KEY}`).toString('base64')}` } });
    assert.equal(ls.status, 200);
    assert.deepEqual(((await ls.json()) as { entries: unknown[] }).entries, []);
  });
});
