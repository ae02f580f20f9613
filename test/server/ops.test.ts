/** Operational endpoints and commands: metrics, readiness, the admin page, dht2 status, request ids. */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { DHT2_BIN } from '../../brick/spawn.js';
import { ACCESS_KEY, SECRET_KEY, startGateway, type TestGateway } from '../helpers/gateway.js';

const run = promisify(execFile);

describe('operations: /-/metrics, /-/ready, /-/admin/volume, dht2 status', function () {
  this.timeout(120_000);
  let t: TestGateway;
  const basic = (k: string, s: string) => ({ authorization: `Basic ${Buffer.from(`${k}:${s}`).toString('base64')}` });
  before(async () => { t = await startGateway(); });
  after(async () => { await t.stop(); });

  it('counts requests by API, operation and status, and brick RPCs by brick and FOP', async () => {
    await t.aws('s3', 'mb', 's3://metrics-bucket');
    await fetch(`${t.url}/fs/metrics-bucket/x.txt`, { method: 'PUT', body: 'x', headers: basic(ACCESS_KEY, SECRET_KEY) });
    const r = await fetch(`${t.url}/-/metrics`);
    assert.equal(r.status, 200);
    assert.match(r.headers.get('content-type') ?? '', /text\/plain/);
    const text = await r.text();
    assert.match(text, /dht2_http_requests_total\{api="s3",op="CreateBucket",status="200"\} 1/);
    assert.match(text, /dht2_http_requests_total\{api="fs",op="putPath",status="201"\} 1/);
    assert.match(text, /dht2_http_request_duration_seconds_bucket\{le="[^"]+",api="s3",op="CreateBucket"\}/);
    assert.match(text, /dht2_brick_rpc_duration_seconds_count\{brick="ds\d",role="ds",fop="dput"\} [1-9]/);
    assert.match(text, /dht2_http_request_bytes_total\{api="fs"\} 1/);
    assert.match(text, /dht2_gateway_process_resident_memory_bytes/);
  });

  it('every response carries an x-amz-request-id', async () => {
    for (const p of ['/-/health', '/fs/', '/']) {
      const r = await fetch(`${t.url}${p}`);
      assert.match(r.headers.get('x-amz-request-id') ?? '', /^[0-9A-F]{16}$/, p);
    }
  });

  it('/-/admin/volume needs the root key and shows layout, bricks and capacity', async () => {
    assert.equal((await fetch(`${t.url}/-/admin/volume`)).status, 401);
    assert.equal((await fetch(`${t.url}/-/admin/volume`, { headers: basic(ACCESS_KEY, 'wrong') })).status, 401);
    const r = await fetch(`${t.url}/-/admin/volume`, { headers: basic(ACCESS_KEY, SECRET_KEY) });
    assert.equal(r.status, 200);
    const body = (await r.json()) as {
      layout: { epoch: number; mds: Array<{ set: string; first: number; last: number }>; ds: Array<{ set: string; first: number; last: number }>; dsCount: number };
      bricks: Array<{ id: string; up: boolean; sizeBytes: number }>; capacity: { sizeBytes: number };
    };
    assert.equal(body.layout.epoch, 1);
    assert.deepEqual(body.layout.mds.map((g) => [g.set, g.first, g.last]), [['mds0', 0, 32767], ['mds1', 32768, 65535]]);
    assert.deepEqual(body.layout.ds.map((g) => [g.set, g.first, g.last]), [['ds0', 0, 21845], ['ds1', 21846, 43690], ['ds2', 43691, 65535]]);
    assert.equal(body.layout.dsCount, 3);
    assert.deepEqual(body.bricks.map((b) => [b.id, b.up]), [['mds0', true], ['mds1', true], ['ds0', true], ['ds1', true], ['ds2', true]]);
    assert.ok(body.capacity.sizeBytes > 0 && body.bricks.every((b) => b.sizeBytes > 0));
  });

  it('/-/ready and dht2 status report a brick that is down', async () => {
    assert.equal((await fetch(`${t.url}/-/ready`)).status, 200);
    const ok = await run(process.execPath, [DHT2_BIN, 'status', '--volfile', t.cluster.volfile]);
    assert.match(ok.stdout, /all bricks up/);
    assert.match(ok.stdout, /ds2\s+ds\s+http:\/\/127\.0\.0\.1:\d+\s+up/);
    await t.cluster.ds[1]!.kill();
    try {
      const r = await fetch(`${t.url}/-/ready`);
      assert.equal(r.status, 503);
      const body = (await r.json()) as { bricks: Array<{ id: string; up: boolean }> };
      assert.deepEqual(body.bricks.filter((b) => !b.up).map((b) => b.id), ['ds1']);
      const down = await run(process.execPath, [DHT2_BIN, 'status', '--volfile', t.cluster.volfile]).then(() => undefined, (e: { code: number; stdout: string }) => e);
      assert.ok(down, 'dht2 status exits non-zero with a brick down');
      assert.equal(down.code, 1);
      assert.match(down.stdout, /1 brick\(s\) down/);
      assert.match(down.stdout, /ds1\s+ds\s+\S+\s+DOWN/);
    } finally {
      await t.cluster.restart('ds', 1);
    }
    assert.equal((await fetch(`${t.url}/-/ready`)).status, 200);
  });
});
