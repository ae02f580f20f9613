/**
 * PostObject (browser-based uploads) through a real gateway over real bricks. The policies and
 * their signatures are made here from the AWS pages ("POST Policy", "Browser-Based Uploads Using
 * POST": SigV4 Hex(HMAC-SHA256(kSigning, policy)), SigV2 Base64(HMAC-SHA1(secret, policy))),
 * the forms are real multipart bodies (fetch + FormData, or raw bytes for broken forms), and
 * every stored object is read back through S3 (@aws-sdk/client-s3).
 */
import assert from 'node:assert/strict';
import { createHash, createHmac, randomBytes } from 'node:crypto';
import { readdir } from 'node:fs/promises';
import http from 'node:http';
import { join } from 'node:path';
import { CreateBucketCommand, GetObjectCommand, HeadObjectCommand, NoSuchKey, PutObjectCommand, S3Client } from '@aws-sdk/client-s3';
import { hasBoto3, runBoto3 } from '../../helpers/boto3.js';
import { ACCESS_KEY, SECRET_KEY, startGateway, type TestGateway } from '../../helpers/gateway.js';

process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED = 'true';

const BUCKET = 'post-bucket';
const REGION = 'us-east-1';

type Condition = Record<string, string> | [string, string | number, string | number];
type Field = [string, string];

interface Reply { status: number; headers: Headers; body: string }

const md5 = (b: Buffer | string) => createHash('md5').update(b).digest('hex');
const hmac = (key: Buffer | string, data: string) => createHmac('sha256', key).update(data).digest();

/** A base64 POST policy document. */
function policyOf(conditions: Condition[], expiresInMs = 3_600_000): string {
  return Buffer.from(JSON.stringify({ expiration: new Date(Date.now() + expiresInMs).toISOString(), conditions })).toString('base64');
}

/** The SigV4 fields of a form (x-amz-algorithm, -credential, -date) and their policy conditions. */
function v4Fields(now = new Date(), accessKeyId = ACCESS_KEY): { fields: Field[]; conditions: Condition[] } {
  const amzDate = now.toISOString().replace(/[-:]|\.\d{3}/g, '');
  const fields: Field[] = [
    ['x-amz-algorithm', 'AWS4-HMAC-SHA256'],
    ['x-amz-credential', `${accessKeyId}/${amzDate.slice(0, 8)}/${REGION}/s3/aws4_request`],
    ['x-amz-date', amzDate],
  ];
  return { fields, conditions: fields.map(([k, v]) => ({ [k]: v })) };
}

/** Hex(HMAC-SHA256(kSigning, policy)), kSigning from "AWS4" + secret, date, region, s3, aws4_request. */
function signV4(policy: string, fields: Field[], secret = SECRET_KEY): string {
  const date = fields.find(([k]) => k === 'x-amz-date')![1].slice(0, 8);
  const key = hmac(hmac(hmac(hmac(`AWS4${secret}`, date), REGION), 's3'), 'aws4_request');
  return hmac(key, policy).toString('hex');
}

/** boto3's generate_presigned_post (SigV4 and SigV2), printed as JSON: an independent signer of POST policies. */
const BOTO3_PRESIGNED_POST = `
import json, sys
import boto3
from botocore.config import Config
a = json.loads(sys.argv[1])
out = {}
for sig in ('s3v4', 's3'):
    c = boto3.client('s3', endpoint_url=a['endpoint'], region_name='us-east-1', aws_access_key_id=a['key'], aws_secret_access_key=a['secret'],
        config=Config(signature_version=sig, s3={'addressing_style': 'path'}))
    out[sig] = c.generate_presigned_post(a['bucket'], 'boto3/' + sig + '/\${filename}',
        Fields={'Content-Type': 'text/plain', 'x-amz-meta-signer': 'boto3 ' + sig},
        Conditions=[{'Content-Type': 'text/plain'}, {'x-amz-meta-signer': 'boto3 ' + sig}, ['content-length-range', 1, 1000]], ExpiresIn=600)
print(json.dumps(out))
`;

describe('S3 PostObject (browser-based uploads)', function () {
  this.timeout(120_000);
  let t: TestGateway;
  let s3: S3Client;
  let port: number;

  before(async () => {
    t = await startGateway();
    port = Number(new URL(t.url).port);
    s3 = new S3Client({ endpoint: t.url, forcePathStyle: true, region: REGION, credentials: { accessKeyId: ACCESS_KEY, secretAccessKey: SECRET_KEY } });
    await s3.send(new CreateBucketCommand({ Bucket: BUCKET }));
  });
  after(async () => {
    s3.destroy();
    await t.stop();
  });

  /** POSTs a form: the fields in order, then (unless null) the file. */
  async function post(fields: Field[], file: { name: string; data: Buffer | string; type?: string } | null, after: Field[] = [], bucket = BUCKET): Promise<Reply> {
    const form = new FormData();
    for (const [k, v] of fields) form.append(k, v);
    if (file) form.append('file', new Blob([file.data], { type: file.type ?? 'application/octet-stream' }), file.name);
    for (const [k, v] of after) form.append(k, v);
    const res = await fetch(`${t.url}/${bucket}`, { method: 'POST', body: form, redirect: 'manual' });
    return { status: res.status, headers: res.headers, body: await res.text() };
  }

  /** A SigV4-signed form for `key` whose policy has exactly `conditions` plus the signing fields. */
  function signedV4(key: string, extra: Field[], conditions: Condition[], o: { expiresInMs?: number; secret?: string; accessKeyId?: string } = {}): Field[] {
    const v4 = v4Fields(new Date(), o.accessKeyId);
    const policy = policyOf([...conditions, ...v4.conditions], o.expiresInMs);
    return [['key', key], ...extra, ...v4.fields, ['policy', policy], ['x-amz-signature', signV4(policy, v4.fields, o.secret)]];
  }

  async function get(key: string): Promise<{ data: Buffer; type?: string; meta: Record<string, string>; etag?: string; cacheControl?: string; disposition?: string }> {
    const r = await s3.send(new GetObjectCommand({ Bucket: BUCKET, Key: key }));
    return {
      data: Buffer.from(await r.Body!.transformToByteArray()), type: r.ContentType, meta: r.Metadata ?? {}, etag: r.ETag,
      cacheControl: r.CacheControl, disposition: r.ContentDisposition,
    };
  }

  async function absent(key: string): Promise<void> {
    await assert.rejects(s3.send(new HeadObjectCommand({ Bucket: BUCKET, Key: key })), (e: Error) => e.name === 'NotFound' || e instanceof NoSuchKey);
  }

  const ENTITIES: Record<string, string> = { '&quot;': '"', '&apos;': "'", '&lt;': '<', '&gt;': '>', '&amp;': '&' };
  const element = (body: string, name: string) => new RegExp(`<${name}>([^<]*)</${name}>`).exec(body)?.[1]?.replace(/&(quot|apos|lt|gt|amp);/g, (e) => ENTITIES[e]!);

  function assertError(r: Reply, status: number, code: string, message?: RegExp): void {
    assert.equal(r.status, status, r.body);
    assert.equal(element(r.body, 'Code'), code, r.body);
    if (message) assert.match(element(r.body, 'Message') ?? '', message, r.body);
    const id = r.headers.get('x-amz-request-id');
    assert.match(id ?? '', /^[0-9A-F]{16}$/);
    assert.equal(element(r.body, 'RequestId'), id);
  }

  const tmpFiles = async () => {
    let n = 0;
    for (let i = 0; i < 3; i++) n += (await readdir(join(t.cluster.dir, `ds${i}`, '.dht2', 'tmp'))).length;
    return n;
  };
  async function noTempFiles(): Promise<void> {
    for (let i = 0; i < 50 && (await tmpFiles()) > 0; i++) await new Promise((r) => setTimeout(r, 100));
    assert.equal(await tmpFiles(), 0);
  }

  it('SigV4: ${filename} in the key, Content-Type, Cache-Control, x-amz-meta-*, 201 with a PostResponse; the object reads back through S3', async () => {
    const data = randomBytes(300 * 1024);
    const fields = signedV4('uploads/${filename}', [
      ['Content-Type', 'image/png'], ['Cache-Control', 'max-age=60'], ['Content-Disposition', 'inline'],
      ['x-amz-meta-owner', 'alice'], ['x-amz-meta-note', 'from a browser'], ['success_action_status', '201'],
    ], [
      { bucket: BUCKET }, ['starts-with', '$key', 'uploads/'], ['starts-with', '$Content-Type', 'image/'], ['eq', '$cache-control', 'max-age=60'],
      { 'content-disposition': 'inline' }, { 'x-amz-meta-owner': 'alice' }, ['starts-with', '$x-amz-meta-note', ''], { success_action_status: '201' },
      ['content-length-range', 1, 1024 * 1024],
    ]);
    const r = await post(fields, { name: 'photo.png', data, type: 'image/png' });
    assert.equal(r.status, 201, r.body);
    assert.match(r.headers.get('content-type') ?? '', /^application\/xml/);
    assert.equal(element(r.body, 'Bucket'), BUCKET);
    assert.equal(element(r.body, 'Key'), 'uploads/photo.png');
    assert.equal(element(r.body, 'ETag'), `"${md5(data)}"`);
    assert.equal(element(r.body, 'Location'), `${t.url}/${BUCKET}/uploads/photo.png`);
    assert.equal(r.headers.get('etag'), `"${md5(data)}"`);
    assert.equal(r.headers.get('location'), `${t.url}/${BUCKET}/uploads/photo.png`);
    const o = await get('uploads/photo.png');
    assert.ok(o.data.equals(data));
    assert.equal(o.type, 'image/png');
    assert.equal(o.etag, `"${md5(data)}"`);
    assert.equal(o.cacheControl, 'max-age=60');
    assert.equal(o.disposition, 'inline');
    assert.deepEqual(o.meta, { owner: 'alice', note: 'from a browser' });
  });

  it('SigV2 (AWSAccessKeyId + signature): 204 by default, ETag and Location headers, default content type', async () => {
    const policy = policyOf([{ bucket: BUCKET }, { key: 'v2/object.txt' }]);
    const signature = createHmac('sha1', SECRET_KEY).update(policy).digest('base64');
    const r = await post([['key', 'v2/object.txt'], ['AWSAccessKeyId', ACCESS_KEY], ['policy', policy], ['signature', signature]], { name: 'local.txt', data: 'signed the old way' });
    assert.equal(r.status, 204, r.body);
    assert.equal(r.body, '');
    assert.equal(r.headers.get('etag'), `"${md5('signed the old way')}"`);
    assert.equal(r.headers.get('location'), `${t.url}/${BUCKET}/v2/object.txt`);
    const o = await get('v2/object.txt');
    assert.equal(o.data.toString(), 'signed the old way');
    assert.equal(o.type, 'binary/octet-stream');
    // A SigV2 signature made with another secret does not match.
    const bad = createHmac('sha1', 'another-secret').update(policy).digest('base64');
    const r2 = await post([['key', 'v2/object.txt'], ['AWSAccessKeyId', ACCESS_KEY], ['policy', policy], ['signature', bad]], { name: 'x', data: 'forged' });
    assertError(r2, 403, 'SignatureDoesNotMatch');
    assert.equal((await get('v2/object.txt')).data.toString(), 'signed the old way');
  });

  it('success_action_status 200 answers 200 with no body; an invalid one answers 204', async () => {
    const ok = await post(signedV4('status/200', [['success_action_status', '200']], [{ key: 'status/200' }, { success_action_status: '200' }]), { name: 'a', data: 'two hundred' });
    assert.equal(ok.status, 200);
    assert.equal(ok.body, '');
    const odd = await post(signedV4('status/odd', [['success_action_status', '302']], [{ key: 'status/odd' }, { success_action_status: '302' }]), { name: 'a', data: 'odd' });
    assert.equal(odd.status, 204);
    assert.equal((await get('status/200')).data.toString(), 'two hundred');
    assert.equal((await get('status/odd')).data.toString(), 'odd');
  });

  it('success_action_redirect answers 303 to that URL with bucket, key and etag', async () => {
    const target = 'https://app.example.com/done?from=form';
    const r = await post(signedV4('redirect/${filename}', [['success_action_redirect', target]], [['starts-with', '$success_action_redirect', 'https://app.example.com/'], ['starts-with', '$key', 'redirect/']]),
      { name: 'r.bin', data: 'redirected' });
    assert.equal(r.status, 303, r.body);
    const to = new URL(r.headers.get('location')!);
    assert.equal(to.origin + to.pathname, 'https://app.example.com/done');
    assert.equal(to.searchParams.get('from'), 'form');
    assert.equal(to.searchParams.get('bucket'), BUCKET);
    assert.equal(to.searchParams.get('key'), 'redirect/r.bin');
    assert.equal(to.searchParams.get('etag'), `"${md5('redirected')}"`);
    assert.equal((await get('redirect/r.bin')).data.toString(), 'redirected');
  });

  it('streams a large file (24 MiB) into the volume; fields after the file are ignored', async () => {
    const data = randomBytes(24 * 1024 * 1024);
    const r = await post(signedV4('large/blob', [], [{ key: 'large/blob' }, ['content-length-range', 0, 32 * 1024 * 1024]]),
      { name: 'blob', data }, [['x-amz-meta-late', 'not in the policy, after the file']]);
    assert.equal(r.status, 204, r.body);
    const o = await get('large/blob');
    assert.equal(o.data.length, data.length);
    assert.ok(o.data.equals(data));
    assert.deepEqual(o.meta, {});
  });

  it('takes the file as a plain text field too', async () => {
    const r = await post([...signedV4('text/field.txt', [['Content-Type', 'text/plain']], [{ key: 'text/field.txt' }, { 'Content-Type': 'text/plain' }]), ['file', 'typed into a textarea']], null);
    assert.equal(r.status, 204, r.body);
    const o = await get('text/field.txt');
    assert.equal(o.data.toString(), 'typed into a textarea');
    assert.equal(o.type, 'text/plain');
  });

  it('an expired policy, a failed condition or a field the policy does not name: 403 AccessDenied "Invalid according to Policy"', async () => {
    const expired = await post(signedV4('denied/a', [], [{ key: 'denied/a' }], { expiresInMs: -1000 }), { name: 'a', data: 'x' });
    assertError(expired, 403, 'AccessDenied', /^Invalid according to Policy: Policy expired\.$/);
    const cond = await post(signedV4('elsewhere/a', [], [['starts-with', '$key', 'denied/']]), { name: 'a', data: 'x' });
    assertError(cond, 403, 'AccessDenied', /^Invalid according to Policy: Policy Condition failed: \["starts-with", "\$key", "denied\/"\]$/);
    const bucket = await post(signedV4('denied/b', [], [{ bucket: 'another-bucket' }, { key: 'denied/b' }]), { name: 'a', data: 'x' });
    assertError(bucket, 403, 'AccessDenied', /Policy Condition failed: \["eq", "\$bucket", "another-bucket"\]/);
    const type = await post(signedV4('denied/c', [['Content-Type', 'text/html']], [{ key: 'denied/c' }, ['starts-with', '$Content-Type', 'image/']]), { name: 'a', data: 'x' });
    assertError(type, 403, 'AccessDenied', /Policy Condition failed/);
    const extra = await post(signedV4('denied/d', [['x-amz-meta-sneaky', 'yes']], [{ key: 'denied/d' }]), { name: 'a', data: 'x' });
    assertError(extra, 403, 'AccessDenied', /^Invalid according to Policy: Extra input fields: x-amz-meta-sneaky$/);
    // x-ignore-* fields need no condition.
    const ignored = await post(signedV4('denied/e', [['x-ignore-tracking', '42']], [{ key: 'denied/e' }]), { name: 'a', data: 'fine' });
    assert.equal(ignored.status, 204, ignored.body);
    for (const k of ['denied/a', 'elsewhere/a', 'denied/b', 'denied/c', 'denied/d']) await absent(k);
  });

  it('a wrong secret, a tampered policy or an unknown key: SignatureDoesNotMatch / InvalidAccessKeyId', async () => {
    const wrong = await post(signedV4('sig/a', [], [{ key: 'sig/a' }], { secret: 'not-the-secret' }), { name: 'a', data: 'x' });
    assertError(wrong, 403, 'SignatureDoesNotMatch');
    assert.equal(element(wrong.body, 'AWSAccessKeyId'), ACCESS_KEY);
    // The signature of one policy does not cover another.
    const fields = signedV4('sig/b', [], [{ key: 'sig/b' }]);
    const looser = policyOf([['starts-with', '$key', ''], ...v4Fields().conditions]);
    const tampered = await post(fields.map(([k, v]): Field => [k, k === 'policy' ? looser : v]), { name: 'a', data: 'x' });
    assertError(tampered, 403, 'SignatureDoesNotMatch');
    const unknown = await post(signedV4('sig/c', [], [{ key: 'sig/c' }], { accessKeyId: 'NOSUCHKEY0000' }), { name: 'a', data: 'x' });
    assertError(unknown, 403, 'InvalidAccessKeyId');
    assert.equal(element(unknown.body, 'AWSAccessKeyId'), 'NOSUCHKEY0000');
    const anonymous = await post([['key', 'sig/d']], { name: 'a', data: 'x' });
    assertError(anonymous, 403, 'AccessDenied');
    for (const k of ['sig/a', 'sig/b', 'sig/c', 'sig/d']) await absent(k);
  });

  it('missing key, missing file, a bad algorithm, a broken policy or no such bucket: InvalidArgument / InvalidPolicyDocument / NoSuchBucket', async () => {
    const noKey = await post(signedV4('x', [], [{ key: 'x' }]).filter(([k]) => k !== 'key'), { name: 'a', data: 'x' });
    assertError(noKey, 400, 'InvalidArgument', /must contain a field named 'key'/);
    const noFile = await post(signedV4('args/nofile', [], [{ key: 'args/nofile' }]), null);
    assertError(noFile, 400, 'InvalidArgument', /exactly one file/);
    const algo = await post(signedV4('args/algo', [], [{ key: 'args/algo' }]).map(([k, v]): Field => [k, k === 'x-amz-algorithm' ? 'AWS4-HMAC-SHA1' : v]), { name: 'a', data: 'x' });
    assertError(algo, 400, 'InvalidArgument', /x-amz-algorithm/);
    const v4 = v4Fields();
    const notJson = Buffer.from('{"expiration": ').toString('base64');
    const broken = await post([['key', 'args/json'], ...v4.fields, ['policy', notJson], ['x-amz-signature', signV4(notJson, v4.fields)]], { name: 'a', data: 'x' });
    assertError(broken, 400, 'InvalidPolicyDocument', /Invalid JSON/);
    const noExpiry = Buffer.from(JSON.stringify({ conditions: [] })).toString('base64');
    const r = await post([['key', 'args/json'], ...v4.fields, ['policy', noExpiry], ['x-amz-signature', signV4(noExpiry, v4.fields)]], { name: 'a', data: 'x' });
    assertError(r, 400, 'InvalidPolicyDocument', /expiration/);
    const big = await post(signedV4('args/big', [['x-amz-meta-big', 'x'.repeat(25 * 1024)]], [{ key: 'args/big' }, ['starts-with', '$x-amz-meta-big', '']]), { name: 'a', data: 'x' });
    assertError(big, 400, 'MaxPostPreDataLengthExceededError');
    const form = new FormData();
    for (const [k, v] of signedV4('args/name', [], [{ key: 'args/name' }])) form.append(k, v);
    form.append('upload', new Blob(['x']), 'a.txt');
    const res = await fetch(`${t.url}/${BUCKET}`, { method: 'POST', body: form });
    assertError({ status: res.status, headers: res.headers, body: await res.text() }, 400, 'InvalidArgument', /field named 'file'/);
    const noBucket = await post(signedV4('args/bucket', [], [{ key: 'args/bucket' }]), { name: 'a', data: 'x' }, [], 'no-such-bucket');
    assertError(noBucket, 404, 'NoSuchBucket');
    for (const k of ['args/nofile', 'args/algo', 'args/json', 'args/big', 'args/name']) await absent(k);
  });

  it('content-length-range: EntityTooLarge / EntityTooSmall, nothing stored, no temp file left', async () => {
    const range: Condition = ['content-length-range', 10, 1024];
    const large = await post(signedV4('range/large', [], [{ key: 'range/large' }, range]), { name: 'a', data: randomBytes(256 * 1024) });
    assertError(large, 400, 'EntityTooLarge');
    assert.equal(element(large.body, 'MaxSizeAllowed'), '1024');
    const small = await post(signedV4('range/small', [], [{ key: 'range/small' }, range]), { name: 'a', data: 'tiny' });
    assertError(small, 400, 'EntityTooSmall');
    assert.equal(element(small.body, 'ProposedSize'), '4');
    assert.equal(element(small.body, 'MinSizeAllowed'), '10');
    const edge = await post(signedV4('range/edge', [], [{ key: 'range/edge' }, range]), { name: 'a', data: Buffer.alloc(1024, 1) });
    assert.equal(edge.status, 204, edge.body);
    await absent('range/large');
    await absent('range/small');
    await noTempFiles();
  });

  it('a Content-MD5 field that does not match the file: BadDigest, nothing stored', async () => {
    const wrongMd5 = createHash('md5').update('something else').digest('base64');
    const r = await post(signedV4('md5/a', [['Content-MD5', wrongMd5]], [{ key: 'md5/a' }, { 'Content-MD5': wrongMd5 }]), { name: 'a', data: 'the file' });
    assertError(r, 400, 'BadDigest');
    await absent('md5/a');
    const rightMd5 = createHash('md5').update('the file').digest('base64');
    const ok = await post(signedV4('md5/b', [['Content-MD5', rightMd5]], [{ key: 'md5/b' }, { 'Content-MD5': rightMd5 }]), { name: 'a', data: 'the file' });
    assert.equal(ok.status, 204, ok.body);
  });

  it('forms made by boto3 generate_presigned_post (SigV4 and SigV2) upload', async () => {
    assert.ok(hasBoto3, 'python3 cannot import boto3 (.ci/run installs python3-boto3)');
    const made = await runBoto3<Record<string, { url: string; fields: Record<string, string> }>>(BOTO3_PRESIGNED_POST, { endpoint: t.url, key: ACCESS_KEY, secret: SECRET_KEY, bucket: BUCKET });
    assert.ok('x-amz-signature' in made.s3v4!.fields && 'signature' in made.s3!.fields, JSON.stringify(made));
    for (const sig of ['s3v4', 's3']) {
      const { url, fields } = made[sig]!;
      assert.equal(url, `${t.url}/${BUCKET}`);
      const r = await post(Object.entries(fields), { name: `${sig}.txt`, data: `signed by boto3 ${sig}` });
      assert.equal(r.status, 204, `${sig}: ${r.body}`);
      const o = await get(`boto3/${sig}/${sig}.txt`);
      assert.equal(o.data.toString(), `signed by boto3 ${sig}`);
      assert.equal(o.type, 'text/plain');
      assert.deepEqual(o.meta, { signer: `boto3 ${sig}` });
    }
  });

  /** Sends raw bytes as a POST on the bucket; `cut` closes the connection after them instead of finishing. */
  function raw(headers: Record<string, string>, body: Buffer, cut = false): Promise<Reply | undefined> {
    return new Promise((resolve, reject) => {
      const req = http.request({ host: '127.0.0.1', port, method: 'POST', path: `/${BUCKET}`, headers }, (res) => {
        let b = '';
        res.on('data', (c: Buffer) => { b += c.toString(); });
        res.on('end', () => resolve({ status: res.statusCode!, headers: new Headers(res.headers as Record<string, string>), body: b }));
      });
      req.on('error', (e) => (cut ? resolve(undefined) : reject(e)));
      if (cut) req.write(body, () => setTimeout(() => { req.destroy(); resolve(undefined); }, 300));
      else req.end(body);
    });
  }

  function multipartBody(boundary: string, fields: Field[], file?: { name: string; data: Buffer }): Buffer {
    const parts: Buffer[] = fields.map(([k, v]) => Buffer.from(`--${boundary}\r\nContent-Disposition: form-data; name="${k}"\r\n\r\n${v}\r\n`));
    if (file) parts.push(Buffer.from(`--${boundary}\r\nContent-Disposition: form-data; name="file"; filename="${file.name}"\r\nContent-Type: application/octet-stream\r\n\r\n`), file.data);
    return Buffer.concat(parts);
  }

  it('a body that is not a well-formed form: MalformedPOSTRequest; not a form at all: 412 PreconditionFailed', async () => {
    const boundary = 'xyzBOUNDARYxyz';
    const fields = signedV4('malformed/a', [], [{ key: 'malformed/a' }]);
    // The file part never ends: no closing boundary.
    const body = multipartBody(boundary, fields, { name: 'a', data: Buffer.from('no end') });
    const r = (await raw({ 'content-type': `multipart/form-data; boundary=${boundary}`, 'content-length': String(body.length) }, body))!;
    assertError(r, 400, 'MalformedPOSTRequest');
    const noBoundary = (await raw({ 'content-type': 'multipart/form-data', 'content-length': '4' }, Buffer.from('junk')))!;
    assertError(noBoundary, 400, 'MalformedPOSTRequest');
    const json = (await raw({ 'content-type': 'application/json', 'content-length': '2' }, Buffer.from('{}')))!;
    assertError(json, 412, 'PreconditionFailed');
    assert.match(json.body, /multipart\/form-data/);
    await absent('malformed/a');
  });

  it('a client that disconnects mid-file leaves the previous object and no temp file', async () => {
    await s3.send(new PutObjectCommand({ Bucket: BUCKET, Key: 'cut/obj', Body: 'original' }));
    const boundary = 'cutBOUNDARY';
    const body = multipartBody(boundary, signedV4('cut/obj', [], [{ key: 'cut/obj' }]), { name: 'big', data: randomBytes(4 * 1024 * 1024) });
    await raw({ 'content-type': `multipart/form-data; boundary=${boundary}`, 'content-length': String(body.length + 60 * 1024 * 1024) }, body, true);
    assert.equal((await get('cut/obj')).data.toString(), 'original');
    // A new key cut off the same way does not appear.
    const body2 = multipartBody(boundary, signedV4('cut/new', [], [{ key: 'cut/new' }]), { name: 'big', data: randomBytes(4 * 1024 * 1024) });
    await raw({ 'content-type': `multipart/form-data; boundary=${boundary}`, 'content-length': String(body2.length + 60 * 1024 * 1024) }, body2, true);
    await noTempFiles();
    await absent('cut/new');
    assert.equal((await get('cut/obj')).data.toString(), 'original');
  });
});
