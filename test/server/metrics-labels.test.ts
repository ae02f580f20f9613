/**
 * The request metrics' labels come from a fixed set (issue 14): unauthenticated requests to
 * `/-/<anything>`, to random `/fs/` paths and to random S3 buckets and keys, with any method,
 * add no series to dht2_http_requests_total or dht2_http_request_duration_seconds (the raw path
 * was the `op` label: the label set, the memory and /-/metrics grew without bound).
 */
import assert from 'node:assert/strict';
import { STATUS_CODES } from 'node:http';
import { OP_LABELS } from '../../server/app.js';
import { FILE_OPERATIONS } from '../../server/files/routes.js';
import { OPS_ROUTES } from '../../server/ops/routes.js';
import { S3_OPERATIONS } from '../../server/s3/router.js';
import { startGateway, type TestGateway } from '../helpers/gateway.js';
import { request } from '../helpers/http-reply.js';

/** The series of the request metrics, each as its label set. */
function requestSeries(text: string): Array<Record<string, string>> {
  const out: Array<Record<string, string>> = [];
  for (const line of text.split('\n')) {
    const m = /^(dht2_http_requests_total|dht2_http_request_duration_seconds_count)\{([^}]*)\} /.exec(line);
    if (!m) continue;
    const labels: Record<string, string> = {};
    for (const l of m[2]!.matchAll(/(\w+)="((?:[^"\\]|\\.)*)"/g)) labels[l[1]!] = l[2]!;
    out.push(labels);
  }
  return out;
}

describe('metrics labels from a fixed set (issue 14)', function () {
  this.timeout(180_000);
  let t: TestGateway;
  let port: number;
  before(async () => {
    t = await startGateway();
    port = t.gw.port;
  });
  after(async () => { await t?.stop(); });

  const metrics = async (): Promise<string> => {
    const r = await request(port, 'GET', '/-/metrics');
    assert.equal(r.status, 200);
    return r.body;
  };

  /** One round of requests no route has, or that are refused before they are routed. */
  const round = async (n: number): Promise<void> => {
    const methods = ['GET', 'PUT', 'POST', 'DELETE', 'HEAD', 'PATCH', 'OPTIONS'];
    const method = methods[n % methods.length]!;
    const r = Math.random().toString(36).slice(2);
    await Promise.all([
      request(port, method, `/-/random-${n}-${r}`),
      request(port, method, `/-/random-${n}/${r}?x=${r}`),
      request(port, method, `/fs/rnd-${n}-${r}/k-${r}`),
      request(port, method, `/rnd-${n}-${r}/key-${r}?${r}=1`),
      request(port, method, `/rnd-${n}-${r}`),
    ]);
  };

  it('1000 requests to random /-/, /fs/ and S3 paths add no series', async () => {
    // One round first, so that every (api, op, status) these requests can give exists.
    // The /-/metrics reads count too (op="metrics"): one before the snapshot makes that series.
    for (let n = 0; n < 14; n++) await round(n);
    await metrics();
    const before = await metrics();
    const seriesBefore = requestSeries(before).length;
    for (let n = 14; n < 214; n++) await round(n); // 200 rounds x 5 = 1000 requests
    const after = await metrics();
    const series = requestSeries(after);
    assert.equal(series.length, seriesBefore, `series grew from ${seriesBefore} to ${series.length}`);
    assert.ok(after.length < before.length + 4096, `/-/metrics grew from ${before.length} to ${after.length} bytes`);
    assert.doesNotMatch(after, /random-|rnd-/);
  });

  it('every label value is from the fixed set', async () => {
    const ops = new Set<string>([
      ...S3_OPERATIONS, ...Object.values(FILE_OPERATIONS).flatMap((m) => Object.values(m)), ...Object.values(OPS_ROUTES).map((r) => r.get), 'unknown',
    ]);
    assert.deepEqual([...OP_LABELS].sort(), [...ops].sort());
    const series = requestSeries(await metrics());
    assert.ok(series.length > 0);
    for (const s of series) {
      assert.ok(['s3', 'fs', 'ops'].includes(s.api!), JSON.stringify(s));
      assert.ok(ops.has(s.op!), `op ${JSON.stringify(s.op)} is not a route name`);
      if (s.status !== undefined) assert.ok(s.status === '499' || s.status === 'other' || STATUS_CODES[Number(s.status)] !== undefined, JSON.stringify(s));
    }
    // A /-/ route and a file API operation are named by their operationId.
    await request(port, 'GET', '/-/health');
    await request(port, 'PUT', '/fs/some/file', {}, 'x');
    const text = await metrics();
    assert.match(text, /dht2_http_requests_total\{api="ops",op="health",status="200"\} [1-9]/);
    assert.match(text, /dht2_http_requests_total\{api="fs",op="putPath",status="401"\} [1-9]/);
    assert.match(text, /dht2_http_requests_total\{api="s3",op="PutObject",status="403"\} [1-9]/);
  });
});
