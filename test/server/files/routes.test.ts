/**
 * The app's routes are openapi.yaml's operations, no more and no fewer: the /fs dispatch table
 * (FILE_OPERATIONS, with operationIds) and the /-/ table (OPS_ROUTES) against the spec's paths and
 * methods, then every path of the spec asked with every method over a real gateway (a method
 * the spec has is served, one it does not have is 405 with the spec's methods in `Allow`).
 */
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import { pino } from 'pino';
import { parse } from 'yaml';
import { StaticCredentials } from '../../../server/auth/index.js';
import { createApp } from '../../../server/app.js';
import { FILE_OPERATIONS } from '../../../server/files/routes.js';
import { GatewayMetrics } from '../../../server/ops/metrics.js';
import { OPS_ROUTES } from '../../../server/ops/routes.js';
import { ACCESS_KEY, SECRET_KEY, startGateway, type TestGateway } from '../../helpers/gateway.js';

const ROOT = fileURLToPath(new URL('../../../../', import.meta.url));
const METHODS = ['get', 'head', 'put', 'patch', 'post', 'delete', 'options', 'trace'];

/** "METHOD path operationId" of every operation in the spec. */
async function specOperations(): Promise<string[]> {
  const spec = parse(await readFile(`${ROOT}openapi.yaml`, 'utf8')) as { paths: Record<string, Record<string, { operationId: string }>> };
  const ops: string[] = [];
  for (const [path, item] of Object.entries(spec.paths)) {
    for (const [method, op] of Object.entries(item)) if (METHODS.includes(method)) ops.push(`${method.toUpperCase()} ${path} ${op.operationId}`);
  }
  return ops.sort();
}

describe('routes: the app and openapi.yaml have the same operations', function () {
  this.timeout(120_000);
  let t: TestGateway;
  const basic = `Basic ${Buffer.from(`${ACCESS_KEY}:${SECRET_KEY}`).toString('base64')}`;
  before(async () => { t = await startGateway(); });
  after(async () => { await t?.stop(); });

  it('the /fs dispatch table and the /-/ table are the spec\'s paths, methods and operationIds', async () => {
    const app = createApp({
      volume: t.gw.volume, credentials: new StaticCredentials([[ACCESS_KEY, SECRET_KEY]]), rootAccessKey: ACCESS_KEY, region: 'us-east-1',
      logger: pino({ level: 'silent' }), metrics: new GatewayMetrics(),
    });
    const code: string[] = [];
    for (const [path, methods] of Object.entries(FILE_OPERATIONS)) {
      for (const [method, operationId] of Object.entries(methods)) code.push(`${method.toUpperCase()} ${path} ${operationId}`);
    }
    for (const [path, route] of Object.entries(OPS_ROUTES)) code.push(`GET ${path} ${route.get}`);
    // No express route beside the tables: /-/ is dispatched from OPS_ROUTES only (issue 14).
    const stack = (app as unknown as { router: { stack: Array<{ route?: { path: string } }> } }).router.stack;
    assert.deepEqual(stack.filter((l) => l.route).map((l) => l.route!.path), []);
    assert.deepEqual(code.sort(), await specOperations());
  });

  it('a live gateway serves every method the spec has on each path and answers 405 with Allow to the others', async () => {
    const spec = await specOperations();
    const paths = [...new Set(spec.map((s) => s.split(' ')[1]!))];
    const urlOf = (path: string) => (path === '/fs/{path}' ? '/fs/routes-check/f.txt' : path);
    assert.equal((await fetch(`${t.url}/fs/routes-check/f.txt?parents=1`, { method: 'PUT', body: 'x', headers: { authorization: basic } })).status, 201);
    for (const path of paths) {
      const documented = spec.filter((s) => s.split(' ')[1] === path).map((s) => s.split(' ')[0]!);
      for (const method of METHODS.map((m) => m.toUpperCase())) {
        // TRACE is refused by fetch itself; undici sends the others as they are.
        if (method === 'TRACE') continue;
        const r = await fetch(`${t.url}${urlOf(path)}`, { method, headers: { authorization: basic } });
        const body = method === 'HEAD' ? '' : await r.text();
        const where = `${method} ${urlOf(path)} -> ${r.status} ${body}`;
        // HEAD is implied wherever GET is (RFC 9110 §9.3.2).
        if (documented.includes(method) || (method === 'HEAD' && documented.includes('GET'))) {
          assert.notEqual(r.status, 405, where);
          assert.notEqual(r.status, 404, where);
        } else {
          assert.equal(r.status, 405, where);
          assert.deepEqual(r.headers.get('allow')!.split(', ').sort(), [...documented].sort(), where);
          if (method !== 'HEAD') assert.deepEqual(JSON.parse(body), { error: 'EINVAL', message: `${method} is not supported here`, path: path.startsWith('/fs') ? urlOf(path).slice(3) || '/' : urlOf(path) }, where);
        }
      }
    }
  });
});
