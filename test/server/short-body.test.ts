/**
 * Issue 14: a response never ends short of its Content-Length while the connection stays open.
 * A file found shorter than the stat that announced its length (a truncate racing the GET, or a
 * crash between dtruncate and the inode's size, docs/CRASH-SAFETY.md) used to end the body short
 * on a keep-alive connection: the client waited for the rest until the idle timeout. Now the
 * response is cut (the connection closed) at once, so the client sees it was not whole.
 */
import assert from 'node:assert/strict';
import http from 'node:http';
import { truncate } from 'node:fs/promises';
import { join } from 'node:path';
import aws4 from 'aws4';
import { ACCESS_KEY, SECRET_KEY, startGateway, type TestGateway } from '../helpers/gateway.js';

interface Outcome { status: number; announced: number; received: number; how: 'end' | 'cut' | 'hung' }

describe('a body shorter than its Content-Length is cut, never left hanging (issue 14)', function () {
  this.timeout(60_000);
  let t: TestGateway;
  let port: number;
  const body = Buffer.alloc(200 * 1024, 'b');

  before(async () => {
    t = await startGateway();
    port = Number(new URL(t.url).port);
    await t.aws('s3', 'mb', 's3://short-b');
    const put = aws4.sign({ host: new URL(t.url).host, method: 'PUT', path: '/short-b/f', service: 's3', region: 'us-east-1', body }, { accessKeyId: ACCESS_KEY, secretAccessKey: SECRET_KEY });
    assert.equal((await get(put.path!, put.headers as Record<string, string>, 'PUT', body)).status, 200);
    // The data brick now holds fewer bytes than the inode says (what a crash mid-truncate leaves).
    const st = await t.cluster.volume.stat('/short-b/f');
    const ds = t.cluster.volume.layout.dsOf(st.gfid);
    await truncate(join(t.cluster.dir, `ds${ds}`, st.gfid.slice(0, 2), st.gfid.slice(2, 4), st.gfid), 1000);
  });
  after(async () => { await t.stop(); });

  function get(path: string, headers: Record<string, string>, method = 'GET', send?: Buffer): Promise<Outcome> {
    return new Promise((resolve) => {
      const req = http.request({ host: '127.0.0.1', port, method, path, headers, agent: new http.Agent({ keepAlive: true }) }, (res) => {
        let received = 0;
        const announced = Number(res.headers['content-length'] ?? -1);
        const timer = setTimeout(() => { resolve({ status: res.statusCode!, announced, received, how: 'hung' }); req.destroy(); }, 5000);
        res.on('data', (c: Buffer) => { received += c.length; });
        res.on('end', () => { clearTimeout(timer); resolve({ status: res.statusCode!, announced, received, how: 'end' }); });
        res.on('aborted', () => { clearTimeout(timer); resolve({ status: res.statusCode!, announced, received, how: 'cut' }); });
        res.on('error', () => { clearTimeout(timer); resolve({ status: res.statusCode!, announced, received, how: 'cut' }); });
      });
      req.on('error', () => resolve({ status: 0, announced: -1, received: 0, how: 'cut' }));
      req.end(send);
    });
  }

  it('S3 GetObject and a /fs/ read: the response is cut at once, not left waiting for bytes that never come', async () => {
    const s3 = aws4.sign({ host: new URL(t.url).host, method: 'GET', path: '/short-b/f', service: 's3', region: 'us-east-1' }, { accessKeyId: ACCESS_KEY, secretAccessKey: SECRET_KEY });
    const basic = { authorization: `Basic ${Buffer.from(`${ACCESS_KEY}:${SECRET_KEY}`).toString('base64')}` };
    for (const [name, o] of [['S3', await get('/short-b/f', s3.headers as Record<string, string>)], ['/fs/', await get('/fs/short-b/f', basic)]] as const) {
      assert.equal(o.status, 200, name);
      assert.equal(o.announced, body.length, name);
      assert.equal(o.how, 'cut', `${name}: ${o.received} of ${o.announced} bytes, then ${o.how}`);
      assert.ok(o.received < o.announced, name);
    }
  });
});
