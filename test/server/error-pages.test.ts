/**
 * Issue 14: no Express HTML page or stack trace ever reaches a client. A malformed target, a
 * bad body, an unknown route, an error escaping a route handler: S3 answers S3 XML, /fs/ and
 * /-/ answer JSON `{error, message, path}`. And every response says
 * `X-Content-Type-Options: nosniff`, object bytes first. Through a real gateway over real bricks.
 */
import assert from 'node:assert/strict';
import http from 'node:http';
import net, { type AddressInfo } from 'node:net';
import { Writable } from 'node:stream';
import aws4 from 'aws4';
import { pino } from 'pino';
import { Gauge } from 'prom-client';
import { StaticCredentials } from '../../server/auth/index.js';
import { createApp } from '../../server/app.js';
import { GatewayMetrics } from '../../server/ops/metrics.js';
import { ACCESS_KEY, SECRET_KEY, startGateway, type TestGateway } from '../helpers/gateway.js';
import { request, type Reply } from '../helpers/http-reply.js';

const basic = `Basic ${Buffer.from(`${ACCESS_KEY}:${SECRET_KEY}`).toString('base64')}`;

/** No HTML page, no stack trace, the API's own format, nosniff. */
function assertClean(r: Reply, api: 'xml' | 'json', what: string): void {
  assert.doesNotMatch(r.body, /<html|<!DOCTYPE|<pre>/i, `${what}: an HTML page`);
  assert.doesNotMatch(r.body, /\n\s+at |node_modules|\.js:\d+/, `${what}: a stack trace`);
  assert.equal(r.headers['x-content-type-options'], 'nosniff', `${what}: nosniff`);
  if (r.body === '') return; // HEAD, or Node's own answer to a request it could not parse
  if (api === 'xml') {
    assert.match(String(r.headers['content-type']), /^application\/xml/, what);
    assert.match(r.body, /^<\?xml[^>]*>\n<Error><Code>[A-Za-z]+<\/Code><Message>[^<]*<\/Message>.*<RequestId>[0-9A-F]{16}<\/RequestId><\/Error>$/s, `${what}: ${r.body}`);
  } else {
    assert.match(String(r.headers['content-type']), /^application\/json/, what);
    const j = JSON.parse(r.body) as { error?: unknown; message?: unknown; path?: unknown };
    assert.match(String(j.error), /^E[A-Z0-9]+$/, `${what}: ${r.body}`);
    assert.equal(typeof j.message, 'string', what);
  }
}

describe('error pages: the API\'s own format, never HTML or a stack (issue 14)', function () {
  this.timeout(120_000);
  let t: TestGateway;
  let port: number;
  let host: string;
  before(async () => {
    t = await startGateway();
    port = Number(new URL(t.url).port);
    host = new URL(t.url).host;
  });
  after(async () => { await t.stop(); });

  function signed(method: string, path: string, body?: string): Promise<Reply> {
    const o = aws4.sign({ host, method, path, body, service: 's3', region: 'us-east-1' }, { accessKeyId: ACCESS_KEY, secretAccessKey: SECRET_KEY });
    return request(port, method, path, o.headers as Record<string, string>, body);
  }

  it('malformed percent-encoding in the path or query: S3 XML, JSON for /fs/ and /-/', async () => {
    const s3 = await request(port, 'GET', '/%E0%A4%A');
    assert.equal(s3.status, 400);
    assertClean(s3, 'xml', 'S3 /%E0%A4%A');
    const s3q = await signed('GET', '/some-bucket?prefix=%E0%A4%A');
    assert.ok(s3q.status >= 400 && s3q.status < 500, `S3 query: ${s3q.status}`);
    assertClean(s3q, 'xml', 'S3 query');
    const fs = await request(port, 'GET', '/fs/%E0%A4%A', { authorization: basic });
    assert.equal(fs.status, 400);
    assertClean(fs, 'json', '/fs/%E0%A4%A');
    const fsq = await request(port, 'GET', '/fs/?%E0%A4%A=1', { authorization: basic });
    assert.equal(fsq.status, 400);
    assertClean(fsq, 'json', '/fs/?%E0%A4%A');
    const ops = await request(port, 'GET', '/-/%E0%A4%A');
    assert.equal(ops.status, 404);
    assertClean(ops, 'json', '/-/%E0%A4%A');
  });

  it('a body that is not what it says (bad JSON): JSON errors', async () => {
    const fs = await request(port, 'POST', '/fs/x?op=mkdir', { authorization: basic, 'content-type': 'application/json' }, '{bad');
    assert.equal(fs.status, 400);
    assertClean(fs, 'json', '/fs/ bad JSON');
    const ops = await request(port, 'POST', '/-/health', { 'content-type': 'application/json' }, '{bad');
    assert.equal(ops.status, 405);
    assertClean(ops, 'json', '/-/ bad JSON');
    const s3 = await signed('POST', '/some-bucket?delete', '{bad');
    assert.ok(s3.status >= 400 && s3.status < 500, `S3: ${s3.status}`);
    assertClean(s3, 'xml', 'S3 bad body');
  });

  it('unknown routes and targets the router cannot parse (absolute form): never Express\'s HTML 404', async () => {
    const ops = await request(port, 'GET', '/-/no-such-thing');
    assert.equal(ops.status, 404);
    assertClean(ops, 'json', '/-/no-such-thing');
    // Absolute-form targets Express's router failed to parse: it answered "Cannot GET" in HTML.
    for (const target of ['http://', 'http://[::1', 'http://[::1/']) {
      for (const method of ['GET', 'HEAD', 'PUT']) {
        const r = await request(port, method, target);
        assert.ok(r.status >= 400 && r.status < 500, `${method} ${target}: ${r.status}`);
        assertClean(r, 'xml', `${method} ${target}`);
      }
    }
    const opsAbs = await request(port, 'GET', 'http://[::1/-/nope');
    assert.equal(opsAbs.status, 404);
    assertClean(opsAbs, 'json', 'http://[::1/-/nope');
    const fsAbs = await request(port, 'GET', 'http://[::1/fs/', { authorization: basic });
    assert.equal(fsAbs.status, 200);
    assert.equal(fsAbs.headers['x-content-type-options'], 'nosniff');
  });

  /** Writes `text` on a socket and reads until the server closes it (what Node's parser refuses never reaches Express). */
  function rawExchange(text: string): Promise<Reply> {
    return new Promise((resolve, reject) => {
      const sock = net.connect(port, '127.0.0.1', () => sock.write(Buffer.from(text, 'latin1')));
      let b = '';
      sock.on('data', (c: Buffer) => { b += c.toString('latin1'); });
      sock.on('error', reject);
      sock.on('close', () => {
        const [head = '', body = ''] = b.split('\r\n\r\n', 2);
        const [line = '', ...fields] = head.split('\r\n');
        const headers: http.IncomingHttpHeaders = {};
        for (const f of fields) headers[f.slice(0, f.indexOf(':')).toLowerCase()] = f.slice(f.indexOf(':') + 1).trim();
        resolve({ status: Number(line.split(' ')[1]), headers, body });
      });
    });
  }

  it('what Node\'s parser refuses (headers too large, not HTTP): the API\'s error format, not a bare status line', async () => {
    const big = 'a'.repeat(20_000);
    const s3 = await rawExchange(`GET /some-bucket/key HTTP/1.1\r\nHost: x\r\nX-Big: ${big}\r\n\r\n`);
    assert.equal(s3.status, 400);
    assertClean(s3, 'xml', 'S3 header overflow');
    assert.match(s3.body, /<Code>RequestHeaderSectionTooLarge<\/Code>.*<Resource>\/some-bucket\/key<\/Resource>/s);
    const ops = await rawExchange(`GET /-/health HTTP/1.1\r\nHost: x\r\nX-Big: ${big}\r\n\r\n`);
    assert.equal(ops.status, 431);
    assertClean(ops, 'json', '/-/ header overflow');
    assert.deepEqual(JSON.parse(ops.body), { error: 'E2BIG', message: 'the request header section is too large', path: '/-/health' });
    const fs = await rawExchange(`PUT /fs/a HTTP/1.1\r\nHost: x\r\nX-Big: ${big}\r\n\r\n`);
    assert.equal(fs.status, 431);
    assertClean(fs, 'json', '/fs/ header overflow');
    const junk = await rawExchange('NOT HTTP AT ALL\r\n\r\n');
    assert.equal(junk.status, 400);
    assertClean(junk, 'xml', 'not HTTP');
    const badHeader = await rawExchange('GET /-/health HTTP/1.1\r\nHost: x\r\nBad Header: \x01\r\n\r\n');
    assert.equal(badHeader.status, 400);
    assertClean(badHeader, 'json', 'a malformed header');
    // The gateway still serves.
    assert.equal((await request(port, 'GET', '/-/health')).status, 200);
  });

  it('a bad request after good ones on a keep-alive connection is answered, not dropped; a HEAD\'s answer has no body (fuzz)', async () => {
    // Node's own handler answers only a connection that has written nothing yet: the fuzz loop's
    // clients saw "socket hang up" for the second request. The first request is answered in full
    // before the bad one is sent, so nothing of its answer is still being written.
    const answers = await new Promise<string>((resolve, reject) => {
      const sock = net.connect(port, '127.0.0.1', () => sock.write('GET /-/health HTTP/1.1\r\nHost: x\r\n\r\n'));
      let b = '';
      sock.on('data', (c: Buffer) => {
        b += c.toString('latin1');
        if (b.endsWith('{"status":"ok"}') && !b.includes('Bad Header')) sock.write('GET /-/ready HTTP/1.1\r\nHost: x\r\nBad Header: \x01\r\n\r\n');
      });
      sock.on('error', reject);
      sock.on('close', () => resolve(b));
    });
    assert.match(answers, /^HTTP\/1\.1 200 [^]*\{"status":"ok"\}HTTP\/1\.1 400 [^]*"path":"\/-\/ready"\}$/);
    const head = await rawExchange('HEAD /-/health HTTP/1.1\r\nHost: x\r\nBad Header: \x01\r\n\r\n');
    assert.equal(head.status, 400);
    assert.equal(head.body, '', 'no body after the head of an answer to HEAD');
  });

  it('an error escaping a route handler: JSON 500 that says only "internal error", logged with its cause', async () => {
    // A real registry whose collector fails as prom-client can (the issue's RangeError of /-/metrics).
    const metrics = new GatewayMetrics();
    new Gauge({ name: 'test_failing_gauge', help: 'fails', registers: [metrics.registry], collect() { throw new Error('secret detail at /srv/secret/path'); } });
    const lines: string[] = [];
    const logger = pino({ level: 'error' }, new Writable({ write(c: Buffer, _e, cb) { lines.push(c.toString()); cb(); } }));
    const app = createApp({ volume: t.gw.volume, credentials: new StaticCredentials([[ACCESS_KEY, SECRET_KEY]]), rootAccessKey: ACCESS_KEY, region: 'us-east-1', logger, metrics });
    const server = http.createServer(app);
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    try {
      const p = (server.address() as AddressInfo).port;
      for (const method of ['GET', 'HEAD']) {
        const r = await request(p, method, '/-/metrics');
        assert.equal(r.status, 500, r.body);
        assertClean(r, 'json', `${method} /-/metrics`);
        assert.doesNotMatch(r.body, /secret/);
        if (method === 'GET') assert.deepEqual(JSON.parse(r.body), { error: 'EIO', message: 'internal error', path: '/-/metrics' });
      }
      assert.ok(lines.some((l) => l.includes('secret detail')), 'the cause is logged');
      // The server still answers.
      assert.equal((await request(p, 'GET', '/-/health')).status, 200);
    } finally {
      await new Promise<void>((resolve) => server.close(() => resolve()));
    }
  });

  it('X-Content-Type-Options: nosniff on object bytes (S3 GET/HEAD, /fs/ reads), errors and /-/', async () => {
    assert.equal((await signed('PUT', '/sniff')).status, 200);
    const body = '<html><script>alert(1)</script></html>';
    assert.equal((await signed('PUT', '/sniff/page', body)).status, 200);
    for (const r of [
      await signed('GET', '/sniff/page'), await signed('HEAD', '/sniff/page'), await signed('GET', '/sniff/page?response-content-type=text%2Fhtml'),
      await request(port, 'GET', '/fs/sniff/page', { authorization: basic }), await request(port, 'HEAD', '/fs/sniff/page', { authorization: basic }),
      await signed('GET', '/sniff'), await signed('GET', '/sniff/absent'), await request(port, 'GET', '/-/health'),
      await request(port, 'GET', '/fs/sniff/?detail=1', { authorization: basic }),
    ]) {
      assert.equal(r.headers['x-content-type-options'], 'nosniff', JSON.stringify(r.headers));
    }
  });
});
