/** Virtual-host style addressing when a domain is configured (path style keeps working). */
import assert from 'node:assert/strict';
import http from 'node:http';
import aws4 from 'aws4';
import { ACCESS_KEY, SECRET_KEY, startGateway, type TestGateway } from '../../helpers/gateway.js';

describe('S3 virtual-host style', function () {
  this.timeout(60_000);
  let t: TestGateway;
  before(async () => { t = await startGateway({ domain: 's3.example.test' }); });
  after(async () => { await t.stop(); });

  /** A signed request whose Host names the bucket, sent to the gateway's loopback address. */
  function vhost(method: string, bucket: string, path: string, body?: string): Promise<{ status: number; body: string }> {
    const port = new URL(t.url).port;
    const o = aws4.sign({ host: `${bucket}.s3.example.test:${port}`, method, path, body, service: 's3', region: 'us-east-1' },
      { accessKeyId: ACCESS_KEY, secretAccessKey: SECRET_KEY });
    return new Promise((resolve, reject) => {
      const req = http.request({ host: '127.0.0.1', port, method, path, headers: o.headers as http.OutgoingHttpHeaders }, (res) => {
        let b = '';
        res.on('data', (c: Buffer) => { b += c.toString(); });
        res.on('end', () => resolve({ status: res.statusCode!, body: b }));
      });
      req.on('error', reject);
      req.end(body);
    });
  }

  it('addresses <bucket>.<domain>/key, and the same object by path style', async () => {
    await t.aws('s3', 'mb', 's3://vhost-bucket');
    assert.equal((await vhost('PUT', 'vhost-bucket', '/dir/v.txt', 'virtual host')).status, 200);
    assert.equal((await vhost('GET', 'vhost-bucket', '/dir/v.txt')).body, 'virtual host');
    assert.equal(await t.aws('s3', 'cp', 's3://vhost-bucket/dir/v.txt', '-'), 'virtual host');
    const list = await vhost('GET', 'vhost-bucket', '/?list-type=2');
    assert.match(list.body, /<Key>dir\/v\.txt<\/Key>/);
    assert.match((await vhost('GET', 'no-such-bucket', '/k')).body, /NoSuchBucket/);
  });
});
