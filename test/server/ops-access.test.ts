/**
 * Issue 14, "Admin routes are reachable without credentials": one table decides which /-/ routes
 * need which credentials, on the same normalized path the dispatch uses. Every spelling of the
 * admin path is sent over a raw socket (node:net, so nothing on the client side normalizes it,
 * and the absolute form can be sent at all) to a real gateway over real bricks: none gets the
 * volume's JSON without the root key; each is either 401 (the same route, normalized) or a JSON
 * 404 (no route: matching is case-sensitive and exact); the authenticated request still works.
 */
import assert from 'node:assert/strict';
import net from 'node:net';
import { ACCESS_KEY, SECRET_KEY, startGateway, type TestGateway } from '../helpers/gateway.js';

interface Raw { status: number; headers: string; body: string }

/** One request over its own connection, `Connection: close`, read to the end. */
function raw(port: number, target: string, headers: Record<string, string> = {}, method = 'GET'): Promise<Raw> {
  return new Promise((resolve, reject) => {
    const sock = net.connect(port, '127.0.0.1');
    const lines = [`${method} ${target} HTTP/1.1`, `Host: 127.0.0.1:${port}`, 'Connection: close', ...Object.entries(headers).map(([k, v]) => `${k}: ${v}`)];
    sock.write(`${lines.join('\r\n')}\r\n\r\n`);
    const chunks: Buffer[] = [];
    sock.on('data', (c: Buffer) => chunks.push(c));
    sock.on('error', reject);
    sock.on('end', () => {
      const text = Buffer.concat(chunks).toString('latin1');
      const split = text.indexOf('\r\n\r\n');
      const head = text.slice(0, split);
      const m = /^HTTP\/1\.1 (\d{3})/.exec(head);
      if (!m) { reject(new Error(`not an HTTP reply: ${JSON.stringify(text.slice(0, 200))}`)); return; }
      let body = text.slice(split + 4);
      // Chunked replies: keep only the data.
      if (/\r\ntransfer-encoding: chunked/i.test(head)) {
        let out = '';
        for (let rest = body; ;) {
          const nl = rest.indexOf('\r\n');
          const size = parseInt(rest.slice(0, nl), 16);
          if (!size) break;
          out += rest.slice(nl + 2, nl + 2 + size);
          rest = rest.slice(nl + 2 + size + 2);
        }
        body = out;
      }
      resolve({ status: Number(m[1]), headers: head, body });
    });
  });
}

describe('/-/ access: one table, one normalized path (issue 14)', function () {
  this.timeout(120_000);
  let t: TestGateway;
  let port: number;
  const basic = { Authorization: `Basic ${Buffer.from(`${ACCESS_KEY}:${SECRET_KEY}`).toString('base64')}` };

  before(async () => {
    t = await startGateway();
    port = Number(new URL(t.url).port);
  });
  after(async () => { await t?.stop(); });

  const volumeJson = (r: Raw) => r.body.includes('"volumeId"') || r.body.includes('"bricks"');

  it('no spelling of /-/admin/volume gives the volume without credentials', async () => {
    const host = `127.0.0.1:${port}`;
    /** Spellings that are the admin route once normalized: 401 without credentials, 200 with them. */
    const same = [
      '/-/admin/volume',
      `http://${host}/-/admin/volume`,
      `HTTP://${host}/-/admin/volume?`,
      `http://${host}//-/admin/volume`,
      '//-/admin/volume',
      '/-//admin/volume',
      '/-/admin//volume',
      '///-///admin///volume',
      '/-/%61dmin/volume',
      '/-/%61%64%6D%69%6E/%76olume',
      '/%2D/admin/volume',
      '/%2d/admin/volume',
      '/./-/admin/volume',
      '/-/./admin/volume',
      '/-/x/../admin/volume',
      '/-/%2E/admin/volume',
      '/-/x/%2E%2E/admin/volume',
      '/fs/../-/admin/volume',
      '/fs/%2E%2E/-/admin/volume',
      '/bucket/../-/admin/volume',
      `http://${host}/fs/../-/admin/volume`,
    ];
    /** Spellings that are no route: a JSON 404 with or without credentials. */
    const none = [
      '/-/ADMIN/volume',
      '/-/Admin/Volume',
      '/-/admin/VOLUME',
      '/-/%41DMIN/volume',
      `http://${host}/-/ADMIN/volume`,
      '/-/admin/volume/',
      '/-/admin/volume/.',
      '/-/admin/volume/x/..',
      '/-/admin/volume%2F',
      '/-/admin%2Fvolume',
      '/-/admin/',
      '/-/admin',
      '/-/',
      '/-',
      '/-/nope',
    ];
    for (const target of same) {
      const anon = await raw(port, target);
      assert.ok(!volumeJson(anon), `${target}: ${anon.body}`);
      assert.equal(anon.status, 401, `${target}: ${anon.status} ${anon.body}`);
      assert.deepEqual(JSON.parse(anon.body), { error: 'EACCES', message: 'the root credentials are required', path: '/-/admin/volume' }, target);
      assert.match(anon.headers, /\r\nwww-authenticate: Basic realm="dht2 admin"/i, target);
      const wrong = await raw(port, target, { Authorization: `Basic ${Buffer.from(`${ACCESS_KEY}:nope`).toString('base64')}` });
      assert.equal(wrong.status, 401, `${target} (wrong secret): ${wrong.body}`);
      const root = await raw(port, target, basic);
      assert.equal(root.status, 200, `${target} (root): ${root.body}`);
      assert.ok(volumeJson(root), `${target} (root): ${root.body}`);
    }
    for (const target of none) {
      for (const headers of [{}, basic]) {
        const r = await raw(port, target, headers);
        assert.ok(!volumeJson(r), `${target}: ${r.body}`);
        assert.equal(r.status, 404, `${target}: ${r.status} ${r.body}`);
        assert.match(r.headers, /\r\ncontent-type: application\/json/i, target);
        assert.equal(JSON.parse(r.body).error, 'ENOENT', target);
      }
    }
  });

  it('HEAD and other methods on the admin route are refused without credentials too', async () => {
    for (const method of ['HEAD', 'POST', 'PUT', 'DELETE', 'OPTIONS']) {
      const r = await raw(port, '/-/%61dmin/volume', {}, method);
      assert.equal(r.status, 401, `${method}: ${r.body}`);
      assert.ok(!volumeJson(r), method);
    }
  });

  it('the public routes answer in any normalized spelling, without credentials', async () => {
    for (const target of ['/-/health', '//-/health', `http://127.0.0.1:${port}/-/health`, '/-/%68ealth', '/fs/../-/health']) {
      const r = await raw(port, target);
      assert.equal(r.status, 200, `${target}: ${r.body}`);
      assert.deepEqual(JSON.parse(r.body), { status: 'ok' }, target);
    }
    assert.equal((await raw(port, '/-/HEALTH')).status, 404);
  });

  it('the absolute form reaches the file API and S3 as the origin form does', async () => {
    const put = await raw(port, `http://127.0.0.1:${port}/fs/absolute/a.txt?parents=1`, { ...basic, 'Content-Length': '0' }, 'PUT');
    assert.equal(put.status, 201, put.body);
    const fsRead = await raw(port, `http://127.0.0.1:${port}/fs/absolute/a.txt?stat`, basic);
    assert.equal(fsRead.status, 200, fsRead.body);
    assert.equal(JSON.parse(fsRead.body).path, '/absolute/a.txt');
    // S3 without credentials: refused as S3 refuses it, in XML, whatever the spelling.
    const s3 = await raw(port, `http://127.0.0.1:${port}/absolute/a.txt`);
    assert.equal(s3.status, 403, s3.body);
    assert.match(s3.body, /<Code>AccessDenied<\/Code>/);
  });
});
