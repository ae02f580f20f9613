/**
 * Authentication errors through a real gateway over real bricks: what a client sees when its
 * clock is off, its presigned URL has expired, it signs nothing, with an unknown key or with the
 * wrong secret. Each answer is S3 XML with the right status and Code, the request id of the
 * x-amz-request-id header, and the extra elements S3 adds for the code
 * (https://docs.aws.amazon.com/AmazonS3/latest/API/ErrorResponses.html).
 * The requests are signed by the SDK v3 signer (@smithy/signature-v4) or, for SigV2, by hand
 * from the "Signing and Authenticating REST Requests" formula.
 */
import assert from 'node:assert/strict';
import { createHmac } from 'node:crypto';
import { request, s3Signer, type Reply } from '../../helpers/http-reply.js';
import { ACCESS_KEY, SECRET_KEY, startGateway, type TestGateway } from '../../helpers/gateway.js';

const BUCKET = 'auth-errors';
const KEY = 'dir/object.txt';
const PATH = `/${BUCKET}/${KEY}`;

describe('S3 authentication errors through the gateway', function () {
  this.timeout(120_000);
  let t: TestGateway;
  let port: number;

  const signer = s3Signer;

  const send = (method: string, path: string, headers: Record<string, string> = {}, body?: string) => request(port, method, path, headers, body);

  /** A header-signed request (SDK v3 signer); `signingDate` moves the request's clock. */
  async function signed(method: string, path: string, o: { body?: string; signingDate?: Date; accessKeyId?: string; secret?: string } = {}): Promise<Reply> {
    const s = await signer(o.accessKeyId, o.secret).sign({
      method, protocol: 'http:', hostname: '127.0.0.1', port, path,
      headers: { host: `127.0.0.1:${port}`, ...(o.body !== undefined ? { 'content-length': String(Buffer.byteLength(o.body)) } : {}) },
      ...(o.body !== undefined ? { body: o.body } : {}),
    }, o.signingDate ? { signingDate: o.signingDate } : {});
    return send(method, path, s.headers, o.body);
  }

  /** A SigV4 presigned GET URL (path and query), as @aws-sdk/s3-request-presigner makes it. */
  async function presignV4(path: string, expiresIn: number, signingDate: Date): Promise<string> {
    const p = await signer().presign({
      method: 'GET', protocol: 'http:', hostname: '127.0.0.1', port, path, query: {},
      headers: { host: `127.0.0.1:${port}`, 'x-amz-content-sha256': 'UNSIGNED-PAYLOAD' },
    }, { expiresIn, signingDate });
    const q = Object.entries(p.query as Record<string, string>).map(([k, v]) => `${encodeURIComponent(k)}=${encodeURIComponent(v)}`).join('&');
    return `${path}?${q}`;
  }

  /** A SigV2 presigned GET URL: Signature = Base64(HMAC-SHA1(secret, "GET\n\n\n<Expires>\n<path>")). */
  function presignV2(path: string, expires: number): string {
    const signature = createHmac('sha1', SECRET_KEY).update(`GET\n\n\n${expires}\n${path}`, 'utf8').digest('base64');
    return `${path}?AWSAccessKeyId=${encodeURIComponent(ACCESS_KEY)}&Expires=${expires}&Signature=${encodeURIComponent(signature)}`;
  }

  const element = (r: Reply, name: string) => new RegExp(`<${name}>([^<]*)</${name}>`).exec(r.body)?.[1];

  /** Status, XML Code, Message and the request id in both the header and the body. */
  function assertError(r: Reply, status: number, code: string, message?: RegExp): void {
    assert.equal(r.status, status, r.body);
    assert.match(String(r.headers['content-type']), /^application\/xml/);
    assert.equal(element(r, 'Code'), code, r.body);
    assert.ok(element(r, 'Message'), r.body);
    if (message) assert.match(element(r, 'Message')!, message);
    const id = r.headers['x-amz-request-id'];
    assert.equal(typeof id, 'string');
    assert.match(id as string, /^[0-9A-F]{16}$/);
    assert.equal(element(r, 'RequestId'), id);
    assert.equal(element(r, 'Resource'), PATH);
  }

  before(async () => {
    t = await startGateway();
    port = Number(new URL(t.url).port);
    assert.equal((await signed('PUT', `/${BUCKET}`)).status, 200);
    assert.equal((await signed('PUT', PATH, { body: 'the object' })).status, 200);
  });
  after(async () => { await t.stop(); });

  it('the signers used here are accepted when the request is right (control)', async () => {
    assert.equal((await signed('GET', PATH)).body, 'the object');
    assert.equal((await send('GET', await presignV4(PATH, 3600, new Date()))).body, 'the object');
    assert.equal((await send('GET', presignV2(PATH, Math.floor(Date.now() / 1000) + 3600))).body, 'the object');
  });

  it('a header-signed request dated 20 minutes off gets 403 RequestTimeTooSkewed with the server time', async () => {
    for (const offset of [-20, 20]) {
      const r = await signed('GET', PATH, { signingDate: new Date(Date.now() + offset * 60_000) });
      assertError(r, 403, 'RequestTimeTooSkewed', /difference between the request time and the current time is too large/);
      assert.match(element(r, 'RequestTime') ?? '', /^\d{8}T\d{6}Z$/);
      assert.ok(element(r, 'ServerTime'), r.body);
      assert.equal(element(r, 'MaxAllowedSkewMilliseconds'), '900000');
    }
    // A PUT so skewed stores nothing.
    const put = await signed('PUT', PATH, { body: 'skewed', signingDate: new Date(Date.now() - 20 * 60_000) });
    assertError(put, 403, 'RequestTimeTooSkewed');
    assert.equal((await signed('GET', PATH)).body, 'the object');
  });

  it('an expired SigV4 presigned URL gets 403 AccessDenied "Request has expired"', async () => {
    // Signed two minutes ago for one second.
    const url = await presignV4(PATH, 1, new Date(Date.now() - 120_000));
    const r = await send('GET', url);
    assertError(r, 403, 'AccessDenied', /^Request has expired$/);
    assert.equal(element(r, 'X-Amz-Expires'), '1');
    assert.ok(element(r, 'Expires'), r.body);
    assert.ok(element(r, 'ServerTime'), r.body);
  });

  it('an expired SigV2 presigned URL gets 403 AccessDenied "Request has expired"', async () => {
    const r = await send('GET', presignV2(PATH, Math.floor(Date.now() / 1000) - 60));
    assertError(r, 403, 'AccessDenied', /^Request has expired$/);
    assert.ok(element(r, 'ServerTime'), r.body);
  });

  it('an anonymous GET gets 403 AccessDenied', async () => {
    const r = await send('GET', PATH);
    assertError(r, 403, 'AccessDenied');
    // HEAD answers the same status and request id header, without a body.
    const h = await send('HEAD', PATH);
    assert.equal(h.status, 403);
    assert.equal(h.body, '');
    assert.match(String(h.headers['x-amz-request-id']), /^[0-9A-F]{16}$/);
  });

  it('an unknown access key gets 403 InvalidAccessKeyId naming the key', async () => {
    const r = await signed('GET', PATH, { accessKeyId: 'NOSUCHKEY123', secret: SECRET_KEY });
    assertError(r, 403, 'InvalidAccessKeyId', /does not exist in our records/);
    assert.equal(element(r, 'AWSAccessKeyId'), 'NOSUCHKEY123');
    // The same through a presigned SigV2 URL with an unknown key.
    const v2 = await send('GET', presignV2(PATH, Math.floor(Date.now() / 1000) + 60).replace(encodeURIComponent(ACCESS_KEY), 'NOSUCHKEY123'));
    assertError(v2, 403, 'InvalidAccessKeyId');
  });

  it('the wrong secret gets 403 SignatureDoesNotMatch with the string to sign, and a PUT stores nothing', async () => {
    const r = await signed('GET', PATH, { secret: 'not-the-secret-key' });
    assertError(r, 403, 'SignatureDoesNotMatch', /signature we calculated does not match/);
    assert.equal(element(r, 'AWSAccessKeyId'), ACCESS_KEY);
    assert.match(element(r, 'StringToSign') ?? '', /^AWS4-HMAC-SHA256\n\d{8}T\d{6}Z\n\d{8}\/us-east-1\/s3\/aws4_request\n[0-9a-f]{64}$/);
    assert.match(element(r, 'SignatureProvided') ?? '', /^[0-9a-f]{64}$/);
    assert.match(element(r, 'CanonicalRequest') ?? '', new RegExp(`^GET\n${PATH}\n`));
    assert.ok(!r.body.includes('not-the-secret-key'));
    const put = await signed('PUT', PATH, { body: 'forged', secret: 'not-the-secret-key' });
    assertError(put, 403, 'SignatureDoesNotMatch');
    assert.equal((await signed('GET', PATH)).body, 'the object');
  });
});
