/**
 * Issue 14: cleaning up a multipart upload pages through its folder with a cursor and ends:
 * an upload of more parts than one listing page aborts and expires completely, and entries
 * that cannot be removed (a page of them) end the cleanup with an error instead of re-reading
 * the same page forever. Uploads are made through the gateway; the many parts and the foreign
 * entries are made directly on the real volume (parts as the gateway names them; directories,
 * which unlink refuses with EISDIR).
 */
import assert from 'node:assert/strict';
import http from 'node:http';
import aws4 from 'aws4';
import { Dht2Error } from '../../../dht2-core/index.js';
import { ObjectLayer, UPLOADS_DIR } from '../../../server/objects/index.js';
import { ACCESS_KEY, SECRET_KEY, startGateway, type TestGateway } from '../../helpers/gateway.js';

interface Reply { status: number; body: string }

describe('multipart cleanups page with a cursor and end (issue 14)', function () {
  this.timeout(300_000);
  let t: TestGateway;
  let host: string;
  before(async () => {
    t = await startGateway();
    host = new URL(t.url).host;
    assert.equal((await signed('PUT', '/cleanup')).status, 200);
  });
  after(async () => { await t.stop(); });

  function signed(method: string, path: string): Promise<Reply> {
    const o = aws4.sign({ host, method, path, service: 's3', region: 'us-east-1' }, { accessKeyId: ACCESS_KEY, secretAccessKey: SECRET_KEY });
    return new Promise((resolve, reject) => {
      const req = http.request({ host: '127.0.0.1', port: new URL(t.url).port, method, path, headers: o.headers as http.OutgoingHttpHeaders }, (res) => {
        let b = '';
        res.on('data', (c: Buffer) => { b += c.toString(); });
        res.on('end', () => resolve({ status: res.statusCode!, body: b }));
      });
      req.on('error', reject);
      req.end();
    });
  }

  async function newUpload(key: string): Promise<string> {
    const r = await signed('POST', `/cleanup/${key}?uploads`);
    assert.equal(r.status, 200, r.body);
    return /<UploadId>([^<]+)</.exec(r.body)![1]!;
  }

  /** `n` entries in the upload's folder, 32 at a time. */
  async function fill(id: string, n: number, make: (dir: string, i: number) => Promise<unknown>): Promise<void> {
    const dir = (await t.gw.volume.stat(`${UPLOADS_DIR}/${id}`)).gfid;
    for (let i = 0; i < n; i += 32) await Promise.all(Array.from({ length: Math.min(32, n - i) }, (_, j) => make(dir, i + j + 1)));
  }
  const parts = (id: string, n: number) => fill(id, n, (dir, i) => t.gw.volume.createAt(dir, `part-${String(i).padStart(5, '0')}`));
  /** Directories sorting before the parts: a whole first listing page that unlink refuses. */
  const undeletable = (id: string, n: number) => fill(id, n, (dir, i) => t.gw.volume.mkdirAt(dir, `d-${String(i).padStart(5, '0')}`));

  async function gone(id: string): Promise<boolean> {
    try {
      await t.gw.volume.stat(`${UPLOADS_DIR}/${id}`);
      return false;
    } catch (e) {
      if (e instanceof Dht2Error && e.errno === 'ENOENT') return true;
      throw e;
    }
  }

  it('AbortMultipartUpload of an upload with 1100 parts removes all of it', async () => {
    const id = await newUpload('many');
    await parts(id, 1100);
    const r = await signed('DELETE', `/cleanup/many?uploadId=${id}`);
    assert.equal(r.status, 204, r.body);
    assert.ok(await gone(id));
  });

  it('the expiry sweep removes an upload with 1100 parts', async () => {
    const id = await newUpload('expired');
    await parts(id, 1100);
    const failures: string[] = [];
    const n = await new ObjectLayer(t.gw.volume).uploads.expire(0, (uploadId) => failures.push(uploadId));
    assert.deepEqual(failures, []);
    assert.ok(n >= 1);
    assert.ok(await gone(id));
  });

  it('a page of entries that cannot be removed ends Abort and the sweep with an error, not an endless loop', async () => {
    const id = await newUpload('stuck');
    await undeletable(id, 1000);
    await parts(id, 50);
    const r = await signed('DELETE', `/cleanup/stuck?uploadId=${id}`);
    assert.equal(r.status, 500, r.body);
    assert.match(r.body, /<Code>InternalError<\/Code>/);
    // The parts went; the foreign entries stayed, and so did the upload.
    const left = await t.gw.volume.readdir(`${UPLOADS_DIR}/${id}`, { limit: 2000 });
    assert.equal(left.entries.length, 1000);
    assert.ok(left.entries.every((e) => e.name.startsWith('d-')));
    const failures: string[] = [];
    await new ObjectLayer(t.gw.volume).uploads.expire(0, (uploadId) => failures.push(uploadId));
    assert.deepEqual(failures, [id]);
    assert.ok(!(await gone(id)));
  });

  it('rm -r through the file API removes a folder of 1100 files (more than a listing page)', async () => {
    const basic = `Basic ${Buffer.from(`${ACCESS_KEY}:${SECRET_KEY}`).toString('base64')}`;
    const dir = await t.gw.volume.mkdir('/cleanup/tree', { parents: true });
    for (let i = 0; i < 1100; i += 32) {
      await Promise.all(Array.from({ length: Math.min(32, 1100 - i) }, (_, j) => t.gw.volume.createAt(dir.gfid, `f-${String(i + j).padStart(5, '0')}`)));
    }
    const r = await new Promise<Reply>((resolve, reject) => {
      const req = http.request({ host: '127.0.0.1', port: new URL(t.url).port, method: 'DELETE', path: '/fs/cleanup/tree?recursive=1', headers: { authorization: basic } }, (res) => {
        let b = '';
        res.on('data', (c: Buffer) => { b += c.toString(); });
        res.on('end', () => resolve({ status: res.statusCode!, body: b }));
      });
      req.on('error', reject);
      req.end();
    });
    assert.equal(r.status, 204, r.body);
    await assert.rejects(t.gw.volume.stat('/cleanup/tree'), (e: unknown) => e instanceof Dht2Error && e.errno === 'ENOENT');
  });
});
