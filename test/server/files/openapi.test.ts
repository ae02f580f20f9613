/**
 * openapi.yaml against the linter and against the running code: redocly's recommended ruleset,
 * then real requests to a gateway over real bricks, each reply checked against the operation
 * the spec gives for its path and method (status documented, JSON body valid against the
 * documented schema with ajv, required headers present and valid), and at the end every
 * documented operation and status exercised. The errno table is checked against the code too.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import aws4 from 'aws4';
import { Ajv2020 } from 'ajv/dist/2020.js';
import { parse } from 'yaml';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { StaticCredentials } from '../../../server/auth/index.js';
import { ERRNO_STATUS } from '../../../server/files/errors.js';
import { fileApiHandler } from '../../../server/files/routes.js';
import { ACCESS_KEY, SECRET_KEY, startGateway, type TestGateway } from '../../helpers/gateway.js';

const ROOT = fileURLToPath(new URL('../../../../', import.meta.url));
const run = promisify(execFile);

/** Parsed YAML/JSON, walked by key. */
type Json = Record<string, any>;

async function loadSpec(): Promise<Json> {
  return parse(await readFile(`${ROOT}openapi.yaml`, 'utf8')) as Json;
}

describe('openapi.yaml: lint', function () {
  this.timeout(60_000);

  it('passes `redocly lint` with the recommended ruleset, without a warning', async () => {
    const out = await run(`${ROOT}node_modules/.bin/redocly`, ['lint', 'openapi.yaml', '--extends', 'recommended', '--format', 'json'], {
      cwd: ROOT,
      env: { ...process.env, REDOCLY_TELEMETRY: 'off', REDOCLY_SUPPRESS_UPDATE_NOTICE: 'true', NO_COLOR: '1' },
      maxBuffer: 16 * 1024 * 1024,
    }).catch((e: { stdout?: string; stderr?: string }) => {
      // Exit 1 on errors: the JSON report is still on stdout.
      if (!e.stdout) throw new Error(`redocly lint failed: ${e.stderr ?? String(e)}`);
      return { stdout: e.stdout };
    });
    const report = JSON.parse(out.stdout) as {
      totals: { errors: number; warnings: number };
      problems: Array<{ ruleId: string; severity: string; message: string; location: Array<{ pointer: string }> }>;
    };
    const show = (p: (typeof report.problems)[number]) => `${p.severity} ${p.ruleId} at ${p.location[0]?.pointer}: ${p.message}`;
    assert.deepEqual(report.problems.map(show), []);
    assert.equal(report.totals.errors, 0);
  });

  it('documents the errno -> status table of server/files/errors.ts, in the spec and in docs/FILE-API.md', async () => {
    const spec = await loadSpec();
    // The table has a row for every errno; the documents list the expected ones and sum up the
    // unexpected (500) ones in one "any other" row.
    const listed = Object.fromEntries(Object.entries(ERRNO_STATUS).filter(([, status]) => status !== 500));
    assert.deepEqual(spec.components.schemas.Error['x-errno-status'], listed);
    const guide = await readFile(`${ROOT}docs/FILE-API.md`, 'utf8');
    for (const [errno, status] of Object.entries(listed)) {
      assert.match(spec.info.description as string, new RegExp(`\\| ${errno} \\| ${status} \\|`), `openapi.yaml table: ${errno}`);
      assert.match(guide, new RegExp(`\\| \`?${errno}\`? \\| ${status} \\|`), `docs/FILE-API.md table: ${errno}`);
    }
    assert.match(spec.info.description as string, /\| any other errno [^|\n]* \| 500 \|/, 'openapi.yaml table: any other errno');
    assert.match(guide, /\| any other [^|\n]* \| 500 \|/, 'docs/FILE-API.md table: any other errno');
  });
});

describe('openapi.yaml: the running gateway answers as documented', function () {
  this.timeout(120_000);
  let t: TestGateway;
  let spec: Json;
  const ajv = new Ajv2020({ strict: false, allErrors: true });
  ajv.addFormat('date-time', (s: string) => /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?(Z|[+-]\d\d:\d\d)$/.test(s) && !Number.isNaN(Date.parse(s)));
  const SPEC_ID = 'https://dht2.invalid/openapi.json';
  /** operationId -> statuses seen. */
  const seen = new Map<string, Set<string>>();
  const basic = `Basic ${Buffer.from(`${ACCESS_KEY}:${SECRET_KEY}`).toString('base64')}`;

  before(async () => {
    spec = await loadSpec();
    ajv.addSchema({ ...spec, $id: SPEC_ID });
    t = await startGateway();
  });
  after(async () => {
    await t?.stop();
  });

  const ptr = (...parts: string[]) => parts.map((p) => p.replaceAll('~', '~0').replaceAll('/', '~1')).join('/');

  /** The spec's path template for a request path. */
  function templateOf(path: string): string {
    if (path === '/fs' || path === '/fs/') return '/fs';
    if (path.startsWith('/fs/')) return '/fs/{path}';
    assert.ok(spec.paths[path], `no path in the spec for ${path}`);
    return path;
  }

  /** Resolves a local `$ref` one level; returns the object and its JSON pointer. */
  function deref(obj: Json, at: string): { obj: Json; at: string } {
    if (typeof obj.$ref !== 'string') return { obj, at };
    const ref = obj.$ref as string;
    assert.ok(ref.startsWith('#/'), ref);
    const target = ref.slice(2).split('/').map((s) => s.replaceAll('~1', '/').replaceAll('~0', '~')).reduce((o: Json, k) => o[k], spec);
    return deref(target, ref.slice(1));
  }

  function validate(pointer: string, value: unknown, what: string): void {
    const v = ajv.getSchema(`${SPEC_ID}#${pointer}`);
    assert.ok(v, `no schema at ${pointer}`);
    assert.ok(v(value), `${what} does not match ${pointer}: ${ajv.errorsText(v.errors)}\n${JSON.stringify(value)}`);
  }

  /** Sends a request and checks the reply against the spec; returns the reply and its body. */
  async function call(method: string, url: string, o: { headers?: Record<string, string>; body?: string | Buffer | FormData; auth?: false; base?: string } = {}): Promise<{ res: Response; text: string; json: Json | undefined }> {
    const headers: Record<string, string> = { ...(o.auth === false ? {} : { authorization: basic }), ...(o.headers ?? {}) };
    const res = await fetch(`${o.base ?? t.url}${url}`, { method, headers, body: o.body });
    const text = method === 'HEAD' ? '' : await res.text();
    const path = url.split('?')[0]!;
    const tpl = templateOf(path);
    const op = spec.paths[tpl]?.[method.toLowerCase()] as Json | undefined;
    const where = `${method} ${url} -> ${res.status}`;
    assert.ok(op, `${method} ${tpl} is not in the spec (${where})`);
    const status = String(res.status);
    assert.ok(op.responses[status], `${where}: status ${status} is not documented for ${op.operationId} ${text}`);
    if (!seen.has(op.operationId)) seen.set(op.operationId, new Set());
    seen.get(op.operationId)!.add(status);
    const { obj: resp, at } = deref(op.responses[status], `/${ptr('paths', tpl, method.toLowerCase(), 'responses', status)}`);

    for (const [name, h0] of Object.entries((resp.headers ?? {}) as Json)) {
      const { obj: h, at: hat } = deref(h0 as Json, `${at}/${ptr('headers', name)}`);
      const value = res.headers.get(name);
      if (value === null) {
        assert.ok(!h.required, `${where}: required header ${name} is missing`);
        continue;
      }
      const s = deref(h.schema as Json, `${hat}/schema`).obj;
      validate(`${hat}/schema`, s.type === 'integer' ? Number(value) : value, `${where}: header ${name}`);
    }

    let json: Json | undefined;
    if (method === 'HEAD' || !resp.content) {
      assert.equal(text, '', `${where}: no body documented`);
    } else {
      const ct = (res.headers.get('content-type') ?? '').split(';')[0]!.trim();
      // A file is served with its stored Content-Type: documented as */* (any type).
      assert.ok(resp.content[ct] ?? resp.content['*/*'], `${where}: content-type ${ct} is not documented (${Object.keys(resp.content).join(', ')})`);
      if (ct === 'application/json') {
        json = JSON.parse(text) as Json;
        validate(`${at}/${ptr('content', ct, 'schema')}`, json, `${where}: body`);
      }
    }
    return { res, text, json };
  }

  const b64 = (s: string) => `Basic ${Buffer.from(s).toString('base64')}`;

  it('GET/HEAD/PUT/DELETE on files and directories: success statuses, bodies and headers', async () => {
    // PUT ?mkdir, with and without parents.
    const mk = await call('PUT', '/fs/docs?mkdir=1');
    assert.equal(mk.res.status, 201);
    assert.deepEqual([mk.json!.path, mk.json!.type, mk.json!.mode], ['/docs', 'dir', '0755']);
    assert.equal((await call('PUT', '/fs/docs/a/b?mkdir=1&parents=1')).res.status, 201);
    assert.equal((await call('PUT', '/fs/docs/a/b?mkdir=1&parents=1')).res.status, 201, 'mkdir -p of an existing directory');

    // PUT a file: plain, with parents, create-only and If-None-Match: * on a new name.
    const put = await call('PUT', '/fs/docs/2026/notes.txt?parents=1', { body: 'hello, file api' });
    assert.equal(put.res.status, 201);
    assert.deepEqual([put.json!.type, put.json!.size, put.json!.mode], ['file', 15, '0644']);
    assert.equal((await call('PUT', '/fs/docs/new1.txt?create-only=1', { body: 'n' })).res.status, 201);
    assert.equal((await call('PUT', '/fs/docs/new2.txt', { body: 'n', headers: { 'if-none-match': '*' } })).res.status, 201);
    assert.equal((await call('PUT', '/fs/docs/empty.txt', { body: '' })).res.status, 201);

    // GET a file, conditional, ranges.
    const get = await call('GET', '/fs/docs/2026/notes.txt');
    assert.equal(get.res.status, 200);
    assert.equal(get.text, 'hello, file api');
    // The PUT's Content-Type (fetch sends text/plain for a string) is kept, as S3 keeps it.
    assert.equal(get.res.headers.get('content-type'), 'text/plain;charset=UTF-8');
    const etag = get.res.headers.get('etag')!;
    assert.equal((await call('GET', '/fs/docs/2026/notes.txt', { headers: { 'if-none-match': etag } })).res.status, 304);
    assert.equal((await call('GET', '/fs/docs/2026/notes.txt', { headers: { 'if-none-match': '"0000"' } })).res.status, 200);
    const later = new Date(Date.now() + 3_600_000).toUTCString();
    assert.equal((await call('GET', '/fs/docs/2026/notes.txt', { headers: { 'if-modified-since': later } })).res.status, 304);
    // Issue 15: S3's evaluation (RFC 9110 §13.1.1): If-None-Match weak (W/ and * match, quotes optional), If-Match strong.
    assert.equal((await call('GET', '/fs/docs/2026/notes.txt', { headers: { 'if-none-match': `W/${etag}` } })).res.status, 304);
    assert.equal((await call('GET', '/fs/docs/2026/notes.txt', { headers: { 'if-none-match': '*' } })).res.status, 304);
    assert.equal((await call('GET', '/fs/docs/2026/notes.txt', { headers: { 'if-match': etag.replaceAll('"', '') } })).res.status, 200);
    const weak = await call('GET', '/fs/docs/2026/notes.txt', { headers: { 'if-match': `W/${etag}` } });
    assert.deepEqual([weak.res.status, weak.json?.error], [412, 'ESTALE']);
    const earlier = new Date(Date.now() - 3_600_000).toUTCString();
    assert.equal((await call('GET', '/fs/docs/2026/notes.txt', { headers: { 'if-unmodified-since': earlier } })).res.status, 412);
    // A JSON error carries none of the file's stored headers (its Content-Encoding would make a
    // client try to decode the JSON; found in review of issue 15).
    assert.equal((await call('PUT', '/fs/docs/zipped.txt', { body: 'not really gzip', headers: { 'content-encoding': 'gzip' } })).res.status, 201);
    const refusals: Array<[Record<string, string>, number]> = [[{ 'if-match': '"0000"' }, 412], [{ range: 'bytes=100-' }, 416]];
    for (const [headers, status] of refusals) {
      const refused = await call('GET', '/fs/docs/zipped.txt', { headers });
      assert.deepEqual([refused.res.status, refused.res.headers.get('content-encoding'), refused.res.headers.get('content-type')],
        [status, null, 'application/json'], JSON.stringify(headers));
    }
    assert.equal((await call('DELETE', '/fs/docs/zipped.txt')).res.status, 204);
    const part = await call('GET', '/fs/docs/2026/notes.txt', { headers: { range: 'bytes=7-' } });
    assert.deepEqual([part.res.status, part.res.headers.get('content-range'), part.text], [206, 'bytes 7-14/15', 'file api']);
    const suffix = await call('GET', '/fs/docs/2026/notes.txt', { headers: { range: 'bytes=-3' } });
    assert.deepEqual([suffix.res.status, suffix.text], [206, 'api']);
    assert.equal((await call('GET', '/fs/docs/2026/notes.txt', { headers: { range: 'bytes=0-1,4-5' } })).res.status, 200, 'several ranges: whole file');
    const empty = await call('GET', '/fs/docs/empty.txt');
    assert.deepEqual([empty.res.status, empty.text], [200, '']);

    // ?stat on a file and a directory.
    const st = await call('GET', '/fs/docs/2026/notes.txt?stat=1');
    assert.deepEqual([st.json!.path, st.json!.type, st.json!.size], ['/docs/2026/notes.txt', 'file', 15]);
    assert.equal((await call('GET', '/fs/docs?stat')).json!.type, 'dir');

    // Listings: plain, detail, paged with limit and cursor, trailing slash.
    const ls = await call('GET', '/fs/docs/');
    assert.deepEqual(ls.json, {
      path: '/docs/', entries: [
        { name: '2026', type: 'dir' }, { name: 'a', type: 'dir' }, { name: 'empty.txt', type: 'file' },
        { name: 'new1.txt', type: 'file' }, { name: 'new2.txt', type: 'file' },
      ],
    });
    const detail = await call('GET', '/fs/docs/2026?detail=1');
    assert.equal(detail.json!.entries[0].size, 15);
    assert.equal(detail.json!.entries[0].name, 'notes.txt');
    const names: string[] = [];
    let cursor: string | undefined;
    for (let i = 0; i < 10; i++) {
      const page = await call('GET', `/fs/docs?limit=2&detail=1${cursor ? `&cursor=${encodeURIComponent(cursor)}` : ''}`);
      names.push(...(page.json!.entries as Array<{ name: string }>).map((e) => e.name));
      cursor = page.json!.cursor as string | undefined;
      if (!cursor) break;
    }
    assert.deepEqual(names, ['2026', 'a', 'empty.txt', 'new1.txt', 'new2.txt']);

    // HEAD: file, range, conditional, directory, ?stat.
    const head = await call('HEAD', '/fs/docs/2026/notes.txt');
    assert.deepEqual([head.res.status, head.res.headers.get('content-length'), head.res.headers.get('x-dht2-type')], [200, '15', 'file']);
    assert.equal((await call('HEAD', '/fs/docs/2026/notes.txt', { headers: { range: 'bytes=0-4' } })).res.status, 206);
    assert.equal((await call('HEAD', '/fs/docs/2026/notes.txt', { headers: { 'if-none-match': etag } })).res.status, 304);
    assert.equal((await call('HEAD', '/fs/docs/2026/notes.txt', { headers: { 'if-match': '"0000"' } })).res.status, 412);
    assert.equal((await call('HEAD', '/fs/docs')).res.headers.get('x-dht2-type'), 'dir');
    assert.equal((await call('HEAD', '/fs/docs/2026/notes.txt?stat=1')).res.status, 200);

    // The root: listing, stat, HEAD (both spellings).
    const root = await call('GET', '/fs/');
    assert.deepEqual(root.json, { path: '/', entries: [{ name: 'docs', type: 'dir' }] });
    assert.equal((await call('GET', '/fs')).res.status, 200);
    assert.equal((await call('GET', '/fs/?stat=1')).json!.gfid, '00000000-0000-0000-0000-000000000001');
    assert.equal((await call('HEAD', '/fs/')).res.headers.get('x-dht2-type'), 'dir');

    // DELETE: a file, an empty directory, a tree with ?recursive.
    assert.equal((await call('DELETE', '/fs/docs/new1.txt')).res.status, 204);
    assert.equal((await call('DELETE', '/fs/docs/a/b')).res.status, 204);
    assert.equal((await call('DELETE', '/fs/docs/a?recursive=1')).res.status, 204);
  });

  it('SigV4 (header and presigned URL) is accepted as well as Basic', async () => {
    const host = new URL(t.url).host;
    const creds = { accessKeyId: ACCESS_KEY, secretAccessKey: SECRET_KEY };
    const signed = aws4.sign({ host, path: '/fs/docs/2026/notes.txt', method: 'GET', service: 's3', region: 'us-east-1', headers: { 'x-amz-content-sha256': 'UNSIGNED-PAYLOAD' } }, creds);
    const h = await call('GET', '/fs/docs/2026/notes.txt', { auth: false, headers: signed.headers as Record<string, string> });
    assert.deepEqual([h.res.status, h.text], [200, 'hello, file api']);
    const pre = aws4.sign({ host, path: '/fs/docs/2026/?X-Amz-Expires=300', method: 'GET', service: 's3', region: 'us-east-1', signQuery: true }, creds);
    const q = await call('GET', pre.path!, { auth: false });
    assert.equal(q.res.status, 200);
    assert.deepEqual(q.json!.entries, [{ name: 'notes.txt', type: 'file' }]);
    const body = 'signed body';
    const put = aws4.sign({ host, path: '/fs/docs/signed.txt', method: 'PUT', body, service: 's3', region: 'us-east-1' }, creds);
    const p = await call('PUT', '/fs/docs/signed.txt', { auth: false, body, headers: put.headers as Record<string, string> });
    assert.equal(p.res.status, 201);
    assert.equal(p.json!.size, body.length);
  });

  const form = (...files: Array<[string, string]>) => {
    const fd = new FormData();
    for (const [name, data] of files) fd.append('file', new Blob([data]), name);
    return fd;
  };

  it('PATCH, POST ?op=, uploads, xattrs, statfs: success statuses, bodies and headers', async () => {
    assert.equal((await call('PUT', '/fs/docs/ops/f.txt?parents=1', { body: 'hello' })).res.status, 201);
    // PATCH: offset, append, truncate.
    assert.equal((await call('PATCH', '/fs/docs/ops/f.txt?offset=5', { body: ' world' })).json!.size, 11);
    assert.equal((await call('PATCH', '/fs/docs/ops/f.txt?append=1', { body: '!' })).json!.size, 12);
    assert.equal((await call('GET', '/fs/docs/ops/f.txt')).text, 'hello world!');
    const tr = await call('PATCH', '/fs/docs/ops/f.txt?truncate=5');
    assert.deepEqual([tr.res.status, tr.json!.path, tr.json!.size], [200, '/docs/ops/f.txt', 5]);
    // POST ?op=.
    const cp = await call('POST', '/fs/docs/ops/f.txt?op=copy&to=/docs/ops/g.txt');
    assert.deepEqual([cp.res.status, cp.json!.path, cp.json!.size], [201, '/docs/ops/g.txt', 5]);
    const mv = await call('POST', '/fs/docs/ops/g.txt?op=rename&to=/docs/ops/moved/h.txt&parents=1');
    assert.deepEqual([mv.res.status, mv.json!.path], [200, '/docs/ops/moved/h.txt']);
    assert.equal((await call('POST', '/fs/docs/ops/moved/h.txt?op=rename&to=/docs/ops/h.txt&overwrite=0')).res.status, 200);
    const ln = await call('POST', '/fs/docs/ops/f.txt?op=link&to=/docs/ops/hard.txt');
    assert.deepEqual([ln.res.status, ln.json!.nlink], [201, 2]);
    const sl = await call('POST', '/fs/docs/ops/latest?op=symlink&target=f.txt');
    assert.deepEqual([sl.res.status, sl.json!.type, sl.json!.target], [201, 'symlink', 'f.txt']);
    assert.equal((await call('GET', '/fs/docs/ops/latest')).json!.target, 'f.txt');
    assert.equal((await call('GET', '/fs/docs/ops/latest?stat=1')).json!.target, 'f.txt');
    assert.equal((await call('HEAD', '/fs/docs/ops/latest')).res.headers.get('x-dht2-type'), 'symlink');
    assert.equal((await call('POST', '/fs/docs/ops/f.txt?op=chmod&mode=0600')).json!.mode, '0600');
    assert.equal((await call('POST', '/fs/docs/ops/f.txt?op=utimes&mtime=1700000000&atime=2026-01-01T00:00:00Z')).json!.mtime, '2023-11-14T22:13:20.000Z');
    assert.equal((await call('POST', '/fs/docs/ops/f.txt?op=utimes')).res.status, 200);
    // Upload.
    const up = await call('POST', '/fs/docs/ops/up/?parents=1', { body: form(['a.txt', 'A'], ['b.txt', 'BB']) });
    assert.equal(up.res.status, 201);
    assert.deepEqual((up.json!.files as Json[]).map((f) => [f.path, f.size]), [['/docs/ops/up/a.txt', 1], ['/docs/ops/up/b.txt', 2]]);
    // xattrs: set raw and base64, get both ways, list, remove.
    assert.equal((await call('PUT', '/fs/docs/ops/f.txt?xattr=user.color', { body: 'red' })).res.status, 204);
    assert.equal((await call('PUT', '/fs/docs/ops/f.txt?xattr=user.b64&encoding=base64&flag=create', { body: 'AAEC' })).res.status, 204);
    assert.equal((await call('PUT', '/fs/docs/ops/f.txt?xattr=user.color&flag=replace', { body: 'red' })).res.status, 204);
    const xr = await call('GET', '/fs/docs/ops/f.txt?xattr=user.color');
    assert.deepEqual([xr.res.headers.get('content-type'), xr.text], ['application/octet-stream', 'red']);
    const xb = await call('GET', '/fs/docs/ops/f.txt?xattr=user.b64&encoding=base64');
    assert.deepEqual([xb.res.headers.get('content-type'), xb.text], ['text/plain', 'AAEC']);
    assert.deepEqual((await call('GET', '/fs/docs/ops/f.txt?xattrs=1')).json, { path: '/docs/ops/f.txt', xattrs: ['user.b64', 'user.color'] });
    assert.deepEqual((await call('GET', '/fs/docs/ops/f.txt?xattrs=1&values=1')).json!.values, { 'user.b64': 'AAEC', 'user.color': 'cmVk' });
    assert.equal((await call('DELETE', '/fs/docs/ops/f.txt?xattr=user.b64')).res.status, 204);
    // statfs.
    const sf = await call('GET', '/fs/docs/ops?statfs=1');
    assert.ok(sf.json!.bytes.total > 0);

    // The root: statfs, xattrs, upload, chmod/utimes.
    assert.deepEqual(Object.keys((await call('GET', '/fs/?statfs=1')).json!), ['bytes', 'inodes']);
    assert.equal((await call('GET', '/fs?statfs')).res.status, 200);
    assert.equal((await call('PUT', '/fs/?xattr=user.root', { body: 'r' })).res.status, 204);
    assert.equal((await call('PUT', '/fs?xattr=user.root&flag=replace&encoding=base64', { body: 'cg==' })).res.status, 204);
    assert.equal((await call('GET', '/fs/?xattr=user.root')).text, 'r');
    assert.equal((await call('GET', '/fs/?xattr=user.root&encoding=base64')).text, 'cg==');
    assert.deepEqual((await call('GET', '/fs/?xattrs&values')).json, { path: '/', xattrs: ['user.root'], values: { 'user.root': 'cg==' } });
    assert.equal((await call('DELETE', '/fs/?xattr=user.root')).res.status, 204);
    const rootUp = await call('POST', '/fs/', { body: form(['top.txt', 'top']) });
    assert.deepEqual([rootUp.res.status, rootUp.json!.files[0].path], [201, '/top.txt']);
    assert.equal((await call('POST', '/fs/?op=chmod&mode=0755')).json!.mode, '0755');
    assert.equal((await call('POST', '/fs?op=utimes')).res.status, 200);
    assert.equal((await call('DELETE', '/fs/top.txt')).res.status, 204);
  });

  it('errors: documented statuses with {error, message, path} bodies', async () => {
    const expectError = async (method: string, url: string, status: number, errno: string, o: Parameters<typeof call>[2] = {}) => {
      const r = await call(method, url, o);
      assert.equal(r.res.status, status, `${method} ${url}: ${r.text}`);
      if (method !== 'HEAD') assert.equal(r.json!.error, errno, `${method} ${url}`);
      return r;
    };
    const noAuth = { auth: false as const };
    const wrong = { auth: false as const, headers: { authorization: b64(`${ACCESS_KEY}:nope`) } };
    const bearer = { auth: false as const, headers: { authorization: 'Bearer token' } };
    const badSig = { auth: false as const, headers: { authorization: `AWS4-HMAC-SHA256 Credential=${ACCESS_KEY}/20260101/us-east-1/s3/aws4_request, SignedHeaders=host, Signature=${'0'.repeat(64)}` } };

    // 401 and 403 on every /fs operation.
    for (const [method, url] of [['GET', '/fs/docs/2026/notes.txt'], ['HEAD', '/fs/docs/2026/notes.txt'], ['PUT', '/fs/docs/x.txt'], ['DELETE', '/fs/docs/2026/notes.txt'],
      ['PATCH', '/fs/docs/2026/notes.txt?truncate=0'], ['POST', '/fs/docs/2026/notes.txt?op=rename&to=/gone'], ['POST', '/fs/docs/'],
      ['GET', '/fs/'], ['HEAD', '/fs'], ['DELETE', '/fs/?recursive=1'], ['PUT', '/fs/?xattr=user.x'], ['POST', '/fs/?op=chmod&mode=0']] as const) {
      const r = await expectError(method, url, 401, 'EACCES', noAuth);
      assert.equal(r.res.headers.get('www-authenticate'), 'Basic realm="dht2"');
      await expectError(method, url, 401, 'EACCES', wrong);
      await expectError(method, url, 403, 'EACCES', bearer);
      await expectError(method, url, 403, 'EACCES', badSig);
    }
    assert.equal((await call('GET', '/fs/docs/2026/notes.txt')).res.status, 200, 'nothing was deleted by the refused requests');

    // 400
    await expectError('GET', '/fs/docs/%E0%A4%A', 400, 'EINVAL');
    await expectError('HEAD', '/fs/docs/%E0%A4%A', 400, 'EINVAL');
    await expectError('DELETE', '/fs/docs/%E0%A4%A', 400, 'EINVAL');
    await expectError('PUT', '/fs/docs/', 400, 'EINVAL', { body: 'x' });
    await expectError('DELETE', '/fs/', 400, 'EINVAL');
    // 404
    const missing = await expectError('GET', '/fs/docs/nope.txt', 404, 'ENOENT');
    assert.deepEqual(missing.json, { error: 'ENOENT', message: '/docs/nope.txt: no entry nope.txt', path: '/docs/nope.txt' });
    await expectError('HEAD', '/fs/docs/nope.txt', 404, 'ENOENT');
    await expectError('PUT', '/fs/docs/nothere/x.txt', 404, 'ENOENT', { body: 'x' });
    await expectError('PUT', '/fs/docs/no/such?mkdir=1', 404, 'ENOENT');
    await expectError('DELETE', '/fs/docs/nope.txt', 404, 'ENOENT');
    // 409
    await expectError('GET', '/fs/docs/2026/notes.txt/x', 409, 'ENOTDIR');
    await expectError('HEAD', '/fs/docs/2026/notes.txt/x', 409, 'ENOTDIR');
    await expectError('PUT', '/fs/docs/2026/notes.txt?create-only=1', 409, 'EEXIST', { body: 'x' });
    await expectError('PUT', '/fs/docs/2026/notes.txt', 412, 'EEXIST', { body: 'x', headers: { 'if-none-match': '*' } });
    await expectError('PUT', '/fs/docs?mkdir=1', 409, 'EEXIST');
    await expectError('PUT', '/fs/docs/2026', 409, 'EISDIR', { body: 'x' });
    await expectError('DELETE', '/fs/docs', 409, 'ENOTEMPTY');
    // 416
    const r416 = await expectError('GET', '/fs/docs/2026/notes.txt', 416, 'EINVAL', { headers: { range: 'bytes=99-' } });
    assert.equal(r416.res.headers.get('content-range'), 'bytes */15');
    await expectError('HEAD', '/fs/docs/2026/notes.txt', 416, 'EINVAL', { headers: { range: 'bytes=-0' } });

    // PATCH
    await expectError('PATCH', '/fs/docs/2026/notes.txt', 400, 'EINVAL', { body: 'x' });
    await expectError('PATCH', '/fs/docs/2026/notes.txt?offset=-1', 400, 'EINVAL', { body: 'x' });
    await expectError('PATCH', '/fs/docs/nope.txt?append=1', 404, 'ENOENT', { body: 'x' });
    await expectError('PATCH', '/fs/docs/2026?truncate=0', 409, 'EISDIR');
    // POST ?op= and uploads
    await expectError('POST', '/fs/docs/2026/notes.txt?op=nope', 400, 'EINVAL');
    await expectError('POST', '/fs/docs/2026/notes.txt?op=rename', 400, 'EINVAL');
    await expectError('POST', '/fs/docs/2026/notes.txt?op=chmod&mode=9', 400, 'EINVAL');
    await expectError('POST', '/fs/docs/', 400, 'EINVAL', { body: 'not a form' });
    await expectError('POST', '/fs/docs/ops/f.txt?op=link&to=/docs/ops/hard.txt', 409, 'EEXIST');
    await expectError('POST', '/fs/docs/ops/f.txt?op=rename&to=/docs/ops/h.txt&overwrite=0', 409, 'EEXIST');
    await expectError('POST', '/fs/docs/ops/f.txt?op=copy&to=/docs/ops/h.txt&overwrite=0', 409, 'EEXIST');
    await expectError('POST', '/fs/docs/ops/latest?op=symlink&target=x', 409, 'EEXIST');
    await expectError('POST', '/fs/docs/ops/up?create-only=1', 409, 'EEXIST', { body: form(['a.txt', 'again']) });
    await expectError('POST', '/fs/docs/ops/f.txt', 409, 'ENOTDIR', { body: form(['a.txt', 'x']) });
    await expectError('POST', '/fs/docs/ops?op=link&to=/docs/ops/dirlink', 403, 'EPERM');
    await expectError('POST', '/fs/docs/nope.txt?op=copy&to=/docs/x', 404, 'ENOENT');
    await expectError('POST', '/fs/docs/nope/', 404, 'ENOENT', { body: form(['a.txt', 'x']) });
    // xattrs
    await expectError('GET', '/fs/docs/ops/f.txt?xattr=color', 400, 'EINVAL');
    await expectError('GET', '/fs/docs/ops/f.txt?xattr=user.none', 404, 'ENODATA');
    await expectError('PUT', `/fs/docs/ops/f.txt?xattr=user.${'x'.repeat(251)}`, 400, 'ERANGE', { body: 'x' });
    await expectError('PUT', '/fs/docs/ops/f.txt?xattr=user.color&flag=create', 409, 'EEXIST', { body: 'x' });
    await expectError('PUT', '/fs/docs/ops/f.txt?xattr=user.none&flag=replace', 404, 'ENODATA', { body: 'x' });
    await expectError('PUT', '/fs/docs/ops/f.txt?xattr=user.big', 413, 'E2BIG', { body: Buffer.alloc(65537) });
    await expectError('DELETE', '/fs/docs/ops/f.txt?xattr=user.none', 404, 'ENODATA');
    await expectError('GET', '/fs/docs/nope.txt?statfs=1', 404, 'ENOENT');
    // The root.
    await expectError('GET', '/fs/?xattr=bad', 400, 'EINVAL');
    await expectError('GET', '/fs/?xattr=user.none', 404, 'ENODATA');
    await expectError('PUT', '/fs/', 400, 'EINVAL', { body: 'x' });
    await expectError('PUT', '/fs/?xattr=user.none&flag=replace', 404, 'ENODATA', { body: 'x' });
    assert.equal((await call('PUT', '/fs/?xattr=user.once', { body: '1' })).res.status, 204);
    await expectError('PUT', '/fs/?xattr=user.once&flag=create', 409, 'EEXIST', { body: 'x' });
    await expectError('PUT', '/fs/?xattr=user.big', 413, 'E2BIG', { body: Buffer.alloc(65537) });
    await expectError('DELETE', '/fs/?xattr=user.none', 404, 'ENODATA');
    assert.equal((await call('DELETE', '/fs?xattr=user.once')).res.status, 204);
    await expectError('POST', '/fs/', 400, 'EINVAL', { body: 'not a form' });
    await expectError('POST', '/fs/?op=rename&to=/x', 400, 'EINVAL');
    await expectError('POST', '/fs/?op=copy&to=/x', 409, 'EISDIR');
    await expectError('POST', '/fs/?op=link&to=/x', 403, 'EPERM');
    assert.equal((await call('POST', '/fs/', { body: form(['top.txt', 'top']) })).res.status, 201);
    await expectError('POST', '/fs/?create-only=1', 409, 'EEXIST', { body: form(['top.txt', 'again']) });
    assert.equal((await call('DELETE', '/fs/top.txt')).res.status, 204);

    // 413 from the upload limits: the same handler with small limits over the same volume.
    const server: Server = createServer(fileApiHandler({ volume: t.gw.volume, credentials: new StaticCredentials([[ACCESS_KEY, SECRET_KEY]]), uploadLimits: { files: 1, fileSize: 10 } }));
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    try {
      await expectError('POST', '/fs/docs/ops/up/', 413, 'E2BIG', { base, body: form(['1.txt', '1'], ['2.txt', '2']) });
      await expectError('POST', '/fs/docs/ops/up/', 413, 'EFBIG', { base, body: form(['big.txt', 'x'.repeat(11)]) });
      await expectError('POST', '/fs', 413, 'E2BIG', { base, body: form(['1.txt', '1'], ['2.txt', '2']) });
      assert.deepEqual((await call('GET', '/fs/')).json!.entries.map((e: Json) => e.name), ['docs'], 'nothing left at the root');
    } finally {
      await new Promise((resolve) => server.close(resolve));
    }

    // 405 is not an operation of the spec: it is described in the text. Check its shape by hand.
    const propfind = await fetch(`${t.url}/fs/docs`, { method: 'PROPFIND', headers: { authorization: basic } });
    assert.equal(propfind.status, 405);
    assert.deepEqual(await propfind.json(), { error: 'EINVAL', message: 'PROPFIND is not supported here', path: '/docs' });
    const patchRoot = await fetch(`${t.url}/fs/?truncate=0`, { method: 'PATCH', headers: { authorization: basic } });
    assert.equal(patchRoot.status, 405);
    assert.equal(((await patchRoot.json()) as Json).error, 'EINVAL');
  });

  it('/-/health and /-/ready; DELETE /fs/?recursive empties the volume', async () => {
    assert.deepEqual((await call('GET', '/-/health', { auth: false })).json, { status: 'ok' });
    const ready = await call('GET', '/-/ready', { auth: false });
    assert.equal(ready.res.status, 200);
    assert.equal(ready.json!.status, 'ready');
    assert.equal(ready.json!.bricks.length, 5);
    const metrics = await call('GET', '/-/metrics', { auth: false });
    assert.equal(metrics.res.status, 200);
    assert.match(metrics.text, /dht2_http_requests_total/);
    const doc = await call('GET', '/-/openapi.yaml', { auth: false });
    assert.deepEqual([doc.res.status, doc.res.headers.get('content-type'), doc.text], [200, 'application/yaml', await readFile(`${ROOT}openapi.yaml`, 'utf8')]);
    // A query parameter an operation does not have is refused (400 EINVAL), after authentication.
    for (const [url, auth] of [['/-/health', false], ['/-/ready', false], ['/-/metrics', false], ['/-/openapi.yaml', false], ['/-/admin/volume', true]] as const) {
      const r = await call('GET', `${url}?verbose=1`, auth ? {} : { auth: false });
      assert.equal(r.res.status, 400, url);
      assert.deepEqual(r.json, { error: 'EINVAL', message: "invalid request: Unknown query parameter 'verbose'", path: url });
    }
    assert.equal((await call('GET', '/-/admin/volume?verbose=1', { auth: false })).res.status, 401, 'authentication comes first');
    assert.equal((await call('GET', '/-/admin/volume', { auth: false })).res.status, 401);
    const admin = await call('GET', '/-/admin/volume');
    assert.equal(admin.res.status, 200);
    assert.equal((admin.json!.bricks as unknown[]).length, 5);
    assert.equal((await call('DELETE', '/fs?recursive=1')).res.status, 204);
    assert.deepEqual((await call('GET', '/fs/')).json, { path: '/', entries: [] });
    // Something for the reads below to find while the bricks are down.
    assert.equal((await call('PUT', '/fs/left/over.txt?parents=1', { body: 'x' })).res.status, 201);
  });

  it('bricks down: /-/ready and every /fs operation answer 503 as documented', async () => {
    await Promise.all([...t.cluster.mds, ...t.cluster.ds].map((b) => b.kill()));
    const ready = await call('GET', '/-/ready', { auth: false });
    assert.equal(ready.res.status, 503);
    assert.equal(ready.json!.status, 'unavailable');
    assert.ok((ready.json!.bricks as Array<{ up: boolean; problem?: string }>).every((b) => !b.up && b.problem));
    assert.equal((await call('GET', '/-/health', { auth: false })).res.status, 200);
    for (const [method, url] of [['GET', '/fs/left/over.txt'], ['HEAD', '/fs/left/over.txt'], ['PUT', '/fs/left/new.txt'], ['DELETE', '/fs/left/over.txt'],
      ['PATCH', '/fs/left/over.txt?append=1'], ['POST', '/fs/left/over.txt?op=rename&to=/left/x'], ['POST', '/fs/left/'], ['GET', '/fs/left?statfs=1'],
      ['PUT', '/fs/left/over.txt?xattr=user.a'], ['GET', '/fs/left/over.txt?xattrs=1'], ['DELETE', '/fs/left/over.txt?xattr=user.a'],
      ['GET', '/fs/'], ['HEAD', '/fs/'], ['DELETE', '/fs/?recursive=1'], ['GET', '/fs/?statfs=1'], ['PUT', '/fs/?xattr=user.a'], ['POST', '/fs/?op=utimes'], ['POST', '/fs/']] as const) {
      const body = method === 'POST' && !url.includes('?op=') ? form(['n.txt', 'x']) : ['PUT', 'PATCH'].includes(method) ? 'x' : undefined;
      const r = await call(method, url, body === undefined ? {} : { body });
      assert.equal(r.res.status, 503, `${method} ${url}: ${r.text}`);
      if (r.json) assert.match(r.json.error as string, /^(EHOSTDOWN|ENOTCONN|ETIMEDOUT|EAGAIN)$/);
    }
  });

  it('every documented operation and status was exercised', () => {
    // Statuses no test here can provoke without filling a disk or a quota.
    const unreachable = new Set(['putPath 507']);
    const missing: string[] = [];
    for (const item of Object.values(spec.paths as Json)) {
      for (const [method, op] of Object.entries(item as Json)) {
        if (!['get', 'head', 'put', 'delete', 'post', 'patch', 'options'].includes(method)) continue;
        for (const status of Object.keys((op as Json).responses)) {
          if (status === 'default') continue;
          const key = `${(op as Json).operationId} ${status}`;
          if (!unreachable.has(key) && !seen.get((op as Json).operationId)?.has(status)) missing.push(key);
        }
      }
    }
    assert.deepEqual(missing, []);
  });
});
