/**
 * `Expect: 100-continue` (boto3 and aws-cli send it for uploads; RFC 9110 §10.1.1): the gateway
 * answers 100 Continue before the client sends the body, and the PUT then completes.
 */
import assert from 'node:assert/strict';
import http from 'node:http';
import aws4 from 'aws4';
import { ACCESS_KEY, SECRET_KEY, startGateway, type TestGateway } from '../../helpers/gateway.js';

describe('S3 Expect: 100-continue', function () {
  this.timeout(120_000);
  let t: TestGateway;
  before(async () => {
    t = await startGateway();
    await t.aws('s3', 'mb', 's3://continue-b');
  });
  after(async () => { await t.stop(); });

  it('sends 100 Continue before the body, then stores it', async () => {
    const body = Buffer.alloc(256 * 1024, 'c');
    const url = new URL(t.url);
    const o = aws4.sign({
      host: url.host, method: 'PUT', path: '/continue-b/obj', service: 's3', region: 'us-east-1',
      headers: { expect: '100-continue', 'content-length': String(body.length), 'x-amz-content-sha256': 'UNSIGNED-PAYLOAD' },
    }, { accessKeyId: ACCESS_KEY, secretAccessKey: SECRET_KEY });
    const events: string[] = [];
    const status = await new Promise<number>((resolve, reject) => {
      const req = http.request({ host: '127.0.0.1', port: url.port, method: 'PUT', path: '/continue-b/obj', headers: o.headers as http.OutgoingHttpHeaders }, (res) => {
        events.push(`response ${res.statusCode}`);
        res.resume();
        res.on('end', () => resolve(res.statusCode!));
      });
      req.on('continue', () => { events.push('continue'); req.end(body); });
      req.on('error', reject);
      req.flushHeaders(); // headers only: the body waits for 100 Continue
    });
    assert.equal(status, 200);
    assert.deepEqual(events, ['continue', 'response 200']);
    assert.equal((await t.aws('s3api', 'head-object', '--bucket', 'continue-b', '--key', 'obj')).includes('"ContentLength": 262144'), true);
  });
});
