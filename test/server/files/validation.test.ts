/**
 * Run-time validation of /fs/ and /-/ requests against openapi.yaml, over a real gateway:
 * what is refused (400 EINVAL in the file API's JSON shape), that credentials are checked
 * first, that bodies are never read by the validator, and that S3 requests never meet it.
 */
import assert from 'node:assert/strict';
import aws4 from 'aws4';
import { ACCESS_KEY, SECRET_KEY, startGateway, type TestGateway } from '../../helpers/gateway.js';
import { openRequest } from './open-request.js';

type Json = Record<string, any>;

describe('REST file API: requests validated against openapi.yaml', function () {
  this.timeout(120_000);
  let t: TestGateway;
  const auth = { authorization: `Basic ${Buffer.from(`${ACCESS_KEY}:${SECRET_KEY}`).toString('base64')}` };
  const fs = (p: string, init: RequestInit = {}) => fetch(`${t.url}/fs${p}`, { ...init, headers: { ...auth, ...(init.headers ?? {}) } });
  /** Asserts a refusal: status, `EINVAL`, the path, and a message naming what is wrong. */
  const refused = async (p: string, init: RequestInit, message: RegExp, status = 400) => {
    const r = await fs(p, init);
    const body = (await r.json()) as Json;
    assert.equal(r.status, status, `${init.method ?? 'GET'} ${p}: ${JSON.stringify(body)}`);
    assert.deepEqual(Object.keys(body), ['error', 'message', 'path']);
    assert.equal(body.error, 'EINVAL');
    assert.equal(body.path, decodeURIComponent(p.split('?')[0]!) || '/');
    assert.match(body.message as string, message);
    return r;
  };
  const text = async (p: string) => (await fs(p)).text();

  before(async () => {
    t = await startGateway();
    assert.equal((await fs('/v/f.txt?parents=1', { method: 'PUT', body: 'original' })).status, 201);
  });
  after(async () => { await t?.stop(); });

  it('refuses unknown query parameters: a misspelt switch changes nothing', async () => {
    await refused('/v/f.txt?creat-only=1', { method: 'PUT', body: 'replaced' }, /Unknown query parameter 'creat-only'/);
    assert.equal(await text('/v/f.txt'), 'original');
    await refused('/v/?recursiv=1', { method: 'DELETE' }, /Unknown query parameter 'recursiv'/);
    assert.equal(await text('/v/f.txt'), 'original');
    await refused('/v/f.txt?offset=0&mode=0644', { method: 'PATCH', body: 'x' }, /Unknown query parameter 'mode'/);
    await refused('/?stat=1&verbose', {}, /Unknown query parameter 'verbose'/);
  });

  it('refuses values of the wrong type, outside their enum or range, empty or repeated', async () => {
    await refused('/v/?limit=ten', {}, /query parameter limit must be integer/);
    await refused('/v/?limit=0', {}, /query parameter limit must be >= 1/);
    await refused('/v/?limit=10001', {}, /query parameter limit must be <= 10000/);
    await refused('/v/f.txt?offset=-1', { method: 'PATCH', body: 'x' }, /query parameter offset must be >= 0/);
    await refused('/v/f.txt?truncate=1.5', { method: 'PATCH' }, /query parameter truncate must be integer/);
    await refused('/v/f.txt?op=chown', { method: 'POST' }, /query parameter op must be equal to one of the allowed values/);
    await refused('/v/f.txt?op=chmod&mode=0999', { method: 'POST' }, /query parameter mode must match pattern/);
    await refused('/v/f.txt?xattr=user.a&encoding=hex', {}, /query parameter encoding must be equal to one of the allowed values/);
    await refused('/v/f.txt?xattr=security.a', {}, /query parameter xattr must match pattern/);
    await refused('/v/f.txt?stat=yes', {}, /query parameter stat must be equal to one of the allowed values/);
    await refused('/v/f.txt?op=rename&to=/v/a&to=/v/b', { method: 'POST' }, /query parameter to must be string/);
    await refused('/v/?cursor=', {}, /Empty value found for query parameter 'cursor'/);
    await refused('/v/f.txt', { method: 'PUT', body: 'x', headers: { 'if-none-match': '"abc"' } }, /header if-none-match must be equal to constant/);
    assert.equal(await text('/v/f.txt'), 'original');
    // HEAD takes GET's parameters (any GET URL can be asked with HEAD).
    for (const q of ['stat=1', 'statfs=1', 'xattr=user.a&encoding=base64', 'xattrs&values', 'limit=5&detail=1&recursive=1&cursor=a']) {
      assert.equal((await fs(`/v/f.txt?${q}`, { method: 'HEAD' })).status, 200, q);
      assert.equal((await fs(`/?${q}`, { method: 'HEAD' })).status, 200, q);
    }
    assert.equal((await fs('/v/f.txt?mkdir=1', { method: 'HEAD' })).status, 400);
    // Switches take no value, 1, true, 0 or false.
    for (const v of ['', '=', '=1', '=true', '=0', '=false']) assert.equal((await fs(`/v/f.txt?stat${v}`)).status, 200, v);
  });

  it('refuses a POST body that is not a form; any Content-Type is a file body for PUT and PATCH', async () => {
    await refused('/v/', { method: 'POST', body: '{"a":1}', headers: { 'content-type': 'application/json' } }, /unsupported media type application\/json/);
    await refused('/v/f.txt?op=chmod&mode=0600', { method: 'POST', body: 'x', headers: { 'content-type': 'text/plain' } }, /unsupported media type text\/plain/);
    for (const type of ['application/json', 'text/plain; charset=utf-8', 'image/png', 'application/x-www-form-urlencoded']) {
      assert.equal((await fs('/v/typed.txt', { method: 'PUT', body: type, headers: { 'content-type': type } })).status, 201, type);
      assert.equal(await text('/v/typed.txt'), type);
      assert.equal((await fs('/v/typed.txt?append=1', { method: 'PATCH', body: '!', headers: { 'content-type': type } })).status, 200, type);
    }
  });

  it('checks credentials first: a request that is both unauthenticated and invalid is 401 or 403', async () => {
    for (const [method, url] of [['GET', '/fs/v/?limit=ten'], ['PUT', '/fs/v/f.txt?creat-only=1'], ['PROPFIND', '/fs/v/'], ['PATCH', '/fs/?truncate=0'], ['GET', '/-/admin/volume?verbose=1'], ['POST', '/-/admin/volume']]) {
      const r = await fetch(`${t.url}${url}`, { method });
      assert.equal(r.status, 401, `${method} ${url}`);
      assert.equal(((await r.json()) as Json).error, 'EACCES');
      const forged = await fetch(`${t.url}${url}`, { method, headers: { authorization: `AWS4-HMAC-SHA256 Credential=${ACCESS_KEY}/20260101/us-east-1/s3/aws4_request, SignedHeaders=host, Signature=${'0'.repeat(64)}` } });
      assert.equal(forged.status, url.startsWith('/-/') ? 401 : 403, `${method} ${url}`);
    }
  });

  it('/-/admin/volume: the root key signed with SigV4 (header or presigned) is accepted, then the request validated', async () => {
    const host = new URL(t.url).host;
    const creds = { accessKeyId: ACCESS_KEY, secretAccessKey: SECRET_KEY };
    const signed = aws4.sign({ host, path: '/-/admin/volume', method: 'GET', service: 's3', region: 'us-east-1', headers: { 'x-amz-content-sha256': 'UNSIGNED-PAYLOAD' } }, creds);
    assert.equal((await fetch(`${t.url}/-/admin/volume`, { headers: signed.headers as Record<string, string> })).status, 200);
    const pre = aws4.sign({ host, path: '/-/admin/volume?X-Amz-Expires=300', method: 'GET', service: 's3', region: 'us-east-1', signQuery: true }, creds);
    assert.equal((await fetch(`${t.url}${pre.path}`)).status, 200);
    const extra = aws4.sign({ host, path: '/-/admin/volume?verbose=1&X-Amz-Expires=300', method: 'GET', service: 's3', region: 'us-east-1', signQuery: true }, creds);
    assert.equal((await fetch(`${t.url}${extra.path}`)).status, 400);
  });

  it('presigned URLs: the signature\'s own query parameters are not operation parameters', async () => {
    const host = new URL(t.url).host;
    const creds = { accessKeyId: ACCESS_KEY, secretAccessKey: SECRET_KEY };
    const get = aws4.sign({ host, path: '/fs/v/f.txt?X-Amz-Expires=300', method: 'GET', service: 's3', region: 'us-east-1', signQuery: true }, creds);
    const r = await fetch(`${t.url}${get.path}`);
    assert.deepEqual([r.status, await r.text()], [200, 'original']);
    const stat = aws4.sign({ host, path: '/fs/v/f.txt?stat=1&X-Amz-Expires=300', method: 'GET', service: 's3', region: 'us-east-1', signQuery: true }, creds);
    assert.equal(((await (await fetch(`${t.url}${stat.path}`)).json()) as Json).size, 8);
    const bad = aws4.sign({ host, path: '/fs/v/f.txt?bogus=1&X-Amz-Expires=300', method: 'GET', service: 's3', region: 'us-east-1', signQuery: true }, creds);
    const b = await fetch(`${t.url}${bad.path}`);
    assert.equal(b.status, 400);
    assert.match(((await b.json()) as Json).message as string, /Unknown query parameter 'bogus'/);
  });

  it('never reads a body: a refused upload is answered while its body is still being sent', async () => {
    const { req, reply } = openRequest('PUT', `${t.url}/fs/v/slow.txt?bogus=1`, auth);
    req.write(Buffer.alloc(64 * 1024, 'x'));
    const r = await reply; // the body has not ended: the answer came from the headers alone
    assert.equal(r.status, 400);
    assert.equal((JSON.parse(r.body) as Json).error, 'EINVAL');
    req.destroy();
    assert.equal((await fs('/v/slow.txt')).status, 404);
  });

  it('/-/: unknown paths are 404 ENOENT, other methods 405; S3 requests are not validated', async () => {
    const nope = await fetch(`${t.url}/-/nope`);
    assert.equal(nope.status, 404);
    assert.deepEqual(await nope.json(), { error: 'ENOENT', message: 'no such operation (see /-/openapi.yaml)', path: '/-/nope' });
    const post = await fetch(`${t.url}/-/ready`, { method: 'POST' });
    assert.equal(post.status, 405);
    assert.equal(post.headers.get('allow'), 'GET');
    // S3 query parameters the spec does not know (it does not describe S3) reach the S3 API.
    await t.aws('s3', 'mb', 's3://not-validated');
    const host = new URL(t.url).host;
    const signed = aws4.sign({ host, path: '/not-validated?list-type=2&prefix=x&max-keys=5', method: 'GET', service: 's3', region: 'us-east-1' }, { accessKeyId: ACCESS_KEY, secretAccessKey: SECRET_KEY });
    const list = await fetch(`${t.url}${signed.path}`, { headers: signed.headers as Record<string, string> });
    assert.equal(list.status, 200);
    assert.match(await list.text(), /<ListBucketResult/);
  });
});
