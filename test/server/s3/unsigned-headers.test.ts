/**
 * Issue 14, "Unsigned x-amz-* headers are trusted", through a real gateway over real bricks:
 * with SigV4 every x-amz-* header but x-amz-content-sha256 must be signed (S3's 403 AccessDenied
 * "There were headers present in the request which were not signed", with HeadersNotSigned), in
 * the Authorization header and in presigned URLs alike; the operation is never chosen from an
 * unsigned header; SigV2 signs every x-amz-* header (CanonicalizedAmzHeaders), so an added one
 * breaks its signature; a copy's source is checked like the request's own bucket.
 */
import assert from 'node:assert/strict';
import { createHmac } from 'node:crypto';
import { GetObjectCommand, HeadObjectCommand, PutObjectCommand, S3Client } from '@aws-sdk/client-s3';
import { request, s3Signer, type Reply } from '../../helpers/http-reply.js';
import { ACCESS_KEY, SECRET_KEY, sdkClient, startGateway, type TestGateway } from '../../helpers/gateway.js';

const MINE = 'unsigned-mine';
const OTHER = 'unsigned-other';

describe('S3: unsigned x-amz-* headers are refused (issue 14)', function () {
  this.timeout(120_000);
  let t: TestGateway;
  let s3: S3Client;
  let port: number;
  const signer = s3Signer();

  before(async () => {
    t = await startGateway();
    port = Number(new URL(t.url).port);
    s3 = sdkClient(t.url);
    await t.aws('s3', 'mb', `s3://${MINE}`);
    await t.aws('s3', 'mb', `s3://${OTHER}`);
    await s3.send(new PutObjectCommand({ Bucket: OTHER, Key: 'secret', Body: 'top secret' }));
  });
  after(async () => {
    s3?.destroy();
    await t?.stop();
  });

  const send = (method: string, path: string, headers: Record<string, string> = {}, body?: string) => request(port, method, path, headers, body);

  /** A presigned PUT URL as @aws-sdk/s3-request-presigner makes it: only `host` signed, extra headers hoisted or signed. */
  async function presignPut(path: string, signedHeaders: Record<string, string> = {}): Promise<string> {
    const p = await signer.presign({
      method: 'PUT', protocol: 'http:', hostname: '127.0.0.1', port, path, query: {},
      headers: { host: `127.0.0.1:${port}`, 'x-amz-content-sha256': 'UNSIGNED-PAYLOAD', ...signedHeaders },
    }, { expiresIn: 300, unhoistableHeaders: new Set(Object.keys(signedHeaders)) });
    const q = Object.entries(p.query as Record<string, string>).map(([k, v]) => `${encodeURIComponent(k)}=${encodeURIComponent(v)}`).join('&');
    return `${path}?${q}`;
  }

  const element = (r: Reply, name: string) => new RegExp(`<${name}>([^<]*)</${name}>`).exec(r.body)?.[1];

  function assertNotSigned(r: Reply, names: string): void {
    assert.equal(r.status, 403, r.body);
    assert.equal(element(r, 'Code'), 'AccessDenied', r.body);
    assert.equal(element(r, 'Message'), 'There were headers present in the request which were not signed', r.body);
    assert.equal(element(r, 'HeadersNotSigned'), names, r.body);
  }

  async function missing(bucket: string, key: string): Promise<void> {
    await assert.rejects(s3.send(new HeadObjectCommand({ Bucket: bucket, Key: key })), (e: Error) => e.name === 'NotFound');
  }

  it('a presigned PUT replayed with an added x-amz-copy-source is 403 and copies nothing', async () => {
    const url = await presignPut(`/${MINE}/upload.txt`);
    const r = await send('PUT', url, { 'x-amz-copy-source': `/${OTHER}/secret`, 'content-length': '0' }, '');
    assertNotSigned(r, 'x-amz-copy-source');
    await missing(MINE, 'upload.txt');
    // The URL itself still does what it was made for.
    assert.equal((await send('PUT', url, {}, 'mine')).status, 200);
    const got = await s3.send(new GetObjectCommand({ Bucket: MINE, Key: 'upload.txt' }));
    assert.equal(await got.Body!.transformToString(), 'mine');
  });

  it('a presigned PUT replayed with an added x-amz-meta-* is 403 and stores nothing', async () => {
    const url = await presignPut(`/${MINE}/meta.txt`);
    assertNotSigned(await send('PUT', url, { 'x-amz-meta-x': 'injected', 'x-amz-acl': 'public-read' }, 'data'), 'x-amz-acl, x-amz-meta-x');
    await missing(MINE, 'meta.txt');
  });

  it('an unsigned Content-Type on a presigned PUT is accepted, as S3 does (browser uploads)', async () => {
    const url = await presignPut(`/${MINE}/typed.txt`);
    const r = await send('PUT', url, { 'content-type': 'text/x-browser' }, 'typed');
    assert.equal(r.status, 200, r.body);
    const head = await s3.send(new HeadObjectCommand({ Bucket: MINE, Key: 'typed.txt' }));
    assert.equal(head.ContentType, 'text/x-browser');
  });

  it('a presigned PUT that signs x-amz-copy-source is a copy (the router reads only signed headers)', async () => {
    const url = await presignPut(`/${MINE}/copied.txt`, { 'x-amz-copy-source': `/${OTHER}/secret` });
    const r = await send('PUT', url, { 'x-amz-copy-source': `/${OTHER}/secret` });
    assert.equal(r.status, 200, r.body);
    assert.match(r.body, /<CopyObjectResult[ >]/);
    const got = await s3.send(new GetObjectCommand({ Bucket: MINE, Key: 'copied.txt' }));
    assert.equal(await got.Body!.transformToString(), 'top secret');
  });

  it('a header-signed request with an unsigned x-amz-meta-* is 403; x-amz-content-sha256 needs no signing', async () => {
    const path = `/${MINE}/header.txt`;
    const body = 'header-signed';
    const s = await signer.sign({
      method: 'PUT', protocol: 'http:', hostname: '127.0.0.1', port, path,
      headers: { host: `127.0.0.1:${port}`, 'content-length': String(body.length) }, body,
    });
    assertNotSigned(await send('PUT', path, { ...s.headers, 'x-amz-meta-added': 'later' }, body), 'x-amz-meta-added');
    await missing(MINE, 'header.txt');
    // The signer signs x-amz-content-sha256 too; unsigned, it is still covered by the signature
    // through the canonical request's payload hash.
    const signedList = /SignedHeaders=([^,]+)/.exec(s.headers.authorization!)![1]!;
    const withoutSha = signedList.split(';').filter((h) => h !== 'x-amz-content-sha256');
    const s2 = await signer.sign({
      method: 'PUT', protocol: 'http:', hostname: '127.0.0.1', port, path,
      headers: { host: `127.0.0.1:${port}`, 'content-length': String(body.length), 'x-amz-content-sha256': s.headers['x-amz-content-sha256']! }, body,
    }, { unsignableHeaders: new Set(['x-amz-content-sha256']) });
    assert.deepEqual(/SignedHeaders=([^,]+)/.exec(s2.headers.authorization!)![1]!.split(';'), withoutSha);
    const ok = await send('PUT', path, s2.headers, body);
    assert.equal(ok.status, 200, ok.body);
  });

  it('SigV2 (header and presigned) signs every x-amz-* header: an added one breaks the signature', async () => {
    const path = `/${MINE}/v2.txt`;
    const date = new Date().toUTCString();
    const sig = createHmac('sha1', SECRET_KEY).update(`PUT\n\n\n${date}\n${path}`).digest('base64');
    const headerForm = { date, authorization: `AWS ${ACCESS_KEY}:${sig}` };
    const added = await send('PUT', path, { ...headerForm, 'x-amz-copy-source': `/${OTHER}/secret` }, 'v2');
    assert.equal(added.status, 403, added.body);
    assert.equal(element(added, 'Code'), 'SignatureDoesNotMatch');
    await missing(MINE, 'v2.txt');
    assert.equal((await send('PUT', path, headerForm, 'v2')).status, 200);

    const expires = Math.floor(Date.now() / 1000) + 300;
    const qsig = createHmac('sha1', SECRET_KEY).update(`PUT\n\n\n${expires}\n/${MINE}/v2q.txt`).digest('base64');
    const url = `/${MINE}/v2q.txt?AWSAccessKeyId=${ACCESS_KEY}&Expires=${expires}&Signature=${encodeURIComponent(qsig)}`;
    const q = await send('PUT', url, { 'x-amz-meta-x': 'injected' }, 'v2q');
    assert.equal(q.status, 403, q.body);
    assert.equal(element(q, 'Code'), 'SignatureDoesNotMatch');
    await missing(MINE, 'v2q.txt');
    assert.equal((await send('PUT', url, {}, 'v2q')).status, 200);
  });

  it('a copy source is a bucket like any other: a reserved or invalid name is InvalidBucketName', async () => {
    // Make sure the multipart staging tree exists, then try to copy out of it.
    await t.aws('s3api', 'create-multipart-upload', '--bucket', MINE, '--key', 'mp.bin');
    for (const source of ['/.dht2/uploads', '.dht2/uploads/x', '/Bad%20Name/x', '/%2Edht2/uploads/x']) {
      const path = `/${MINE}/stolen.txt`;
      const s = await signer.sign({
        method: 'PUT', protocol: 'http:', hostname: '127.0.0.1', port, path,
        headers: { host: `127.0.0.1:${port}`, 'x-amz-copy-source': source },
      });
      const r = await send('PUT', path, s.headers);
      assert.equal(r.status, 400, `${source}: ${r.body}`);
      assert.equal(element(r, 'Code'), 'InvalidBucketName', `${source}: ${r.body}`);
    }
    await missing(MINE, 'stolen.txt');
  });
});
