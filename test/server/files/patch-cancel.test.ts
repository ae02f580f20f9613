/** A write at an offset cancelled in its first milliseconds must not take a data brick down. */
import assert from 'node:assert/strict';
import http from 'node:http';
import aws4 from 'aws4';
import { ACCESS_KEY, SECRET_KEY, startGateway, type TestGateway } from '../../helpers/gateway.js';

describe('file API: an early-cancelled PATCH', function () {
  this.timeout(60_000);
  let t: TestGateway;
  before(async () => { t = await startGateway(); });
  after(async () => { await t.stop(); });

  it('answers XAmzContentSHA256Mismatch and every brick stays up', async () => {
    const auth = { authorization: `Basic ${Buffer.from(`${ACCESS_KEY}:${SECRET_KEY}`).toString('base64')}` };
    await fetch(`${t.url}/fs/pc?mkdir=1`, { method: 'PUT', headers: auth });
    assert.equal((await fetch(`${t.url}/fs/pc/f.txt`, { method: 'PUT', body: 'original', headers: auth })).status, 201);
    const { host, port } = new URL(t.url);
    for (let i = 0; i < 5; i++) {
      const o = aws4.sign({ host, method: 'PATCH', path: '/fs/pc/f.txt?offset=0', body: 'signed', service: 's3', region: 'us-east-1' }, { accessKeyId: ACCESS_KEY, secretAccessKey: SECRET_KEY });
      const status = await new Promise<number>((resolve, reject) => {
        const req = http.request({ host: '127.0.0.1', port, method: 'PATCH', path: '/fs/pc/f.txt?offset=0', headers: o.headers as http.OutgoingHttpHeaders }, (res) => {
          res.resume();
          res.on('end', () => resolve(res.statusCode!));
        });
        req.on('error', reject);
        req.end('forged');
      });
      assert.equal(status, 400);
    }
    for (const b of [...t.cluster.mds, ...t.cluster.ds]) assert.equal(b.child.exitCode, null, 'a brick exited');
    assert.equal((await fetch(`${t.url}/-/ready`)).status, 200);
    assert.equal(await (await fetch(`${t.url}/fs/pc/f.txt`, { headers: auth })).text(), 'original');
  });
});
