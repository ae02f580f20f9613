/**
 * Real clients against a loopback server that runs the auth layer on what arrives:
 *  - aws-cli v1 (botocore): SigV4 header (sha256 payload + x-amz-checksum-crc32 header over http,
 *    STREAMING-UNSIGNED-PAYLOAD-TRAILER over https), `aws s3 presign` (SigV2 query by default,
 *    SigV4 query with signature_version = s3v4).
 *  - boto3 with Config(signature_version='s3'): SigV2 header auth (aws-cli v1 1.45 ignores
 *    s3.signature_version = s3 for operations: the endpoint ruleset's sigv4 wins), and boto3
 *    generate_presigned_url in both versions.
 *  - @aws-sdk/client-s3 v3: sha256 payloads, STREAMING-UNSIGNED-PAYLOAD-TRAILER with CRC32 /
 *    CRC32C / CRC64NVME / SHA256 trailers, GET/LIST/HEAD/DELETE with awkward keys and queries.
 *  - @smithy/signature-v4 (the SDK v3 signer) for presigned URLs and header signing.
 * The aws-cli / boto3 suites only run when `aws` / python3 with boto3 are present (CI machines without it still run the
 * rest); HTTPS cases need the openssl CLI for a throwaway self-signed certificate.
 */
import assert from 'node:assert/strict';
import { execFile, execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { request as httpRequest } from 'node:http';
import { Agent as HttpsAgent } from 'node:https';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';

import {
  DeleteObjectCommand,
  GetObjectCommand,
  HeadObjectCommand,
  ListObjectsV2Command,
  PutObjectCommand,
  S3Client,
  type ChecksumAlgorithm as SdkChecksumAlgorithm,
} from '@aws-sdk/client-s3';
import { NodeHttpHandler } from '@smithy/node-http-handler';
import { SignatureV4 } from '@smithy/signature-v4';

import { authenticate, checksumBase64, type AuthRequest } from '../../../server/auth/index.js';
import { hasBoto3, runBoto3 } from '../../helpers/boto3.js';
import { NodeSha256 } from '../../helpers/sha256.js';
import { selfSignedCert, startCaptureServer, type CaptureServer, type Captured } from './capture-server.js';
import { KEY_ID, OTHER_SECRET, SECRET, creds, expectAuthError, testData } from './helpers.js';

// The SDK warns about Node 20 on every client construction; irrelevant here.
process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED = 'true';

const hasAws = ((): boolean => {
  try {
    execFileSync('aws', ['--version'], { stdio: 'ignore', timeout: 30_000 });
    return true;
  } catch {
    return false;
  }
})();

const tlsCert = selfSignedCert();

function last(server: CaptureServer, method?: string): Captured {
  const list = method ? server.requests.filter((r) => r.method === method) : server.requests;
  const r = list[list.length - 1];
  assert.ok(r, 'the server saw no request');
  return r;
}

function assertAuthenticated(r: Captured): void {
  assert.equal(r.error, undefined, `server rejected ${r.method} ${r.url}: ${r.error?.code} ${r.error?.message}`);
  assert.equal(r.auth?.accessKeyId, KEY_ID);
}

/** GET a URL with its path and query sent byte-for-byte as given. */
function getRaw(url: string, tamper?: (pathAndQuery: string) => string): Promise<{ status: number; body: string }> {
  const m = /^http:\/\/([^/]+)(\/.*)$/.exec(url);
  assert.ok(m, url);
  const [host, port] = m[1]!.split(':');
  const path = tamper ? tamper(m[2]!) : m[2]!;
  return new Promise((resolve, reject) => {
    const req = httpRequest({ host, port: Number(port), path, method: 'GET' }, (res) => {
      const parts: Buffer[] = [];
      res.on('data', (d: Buffer) => parts.push(d));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(parts).toString() }));
    });
    req.on('error', reject);
    req.end();
  });
}

/** The AuthRequest a presigned URL produces when it arrives (Host as a client sends it). */
function authRequestOf(url: string): AuthRequest {
  const u = /^https?:\/\/([^/]+)(\/[^?]*)(?:\?(.*))?$/.exec(url);
  assert.ok(u, url);
  return { method: 'GET', rawPath: u[2]!, rawQuery: u[3] ?? '', headers: { host: u[1]! } };
}

// ---------------------------------------------------------------------------------------------
// aws-cli v1
// ---------------------------------------------------------------------------------------------

// Not describe.skip: .mocharc.json forbids pending tests, so a machine without aws-cli gets a
// single passing placeholder that says so.
describe('auth/real clients: aws-cli v1 (botocore)', hasAws ? awsCliSuite : () => it('needs aws-cli', () => assert.fail('aws is not on PATH (.ci/run installs it)')));

function awsCliSuite(this: Mocha.Suite): void {
  this.timeout(120_000);
  let dir: string;
  let server: CaptureServer;
  let tlsServer: CaptureServer | undefined;
  const payload = Buffer.concat([Buffer.from('aws-cli payload ü\n'), testData(70_000)]);

  interface AwsResult {
    code: number;
    stdout: string;
    stderr: string;
  }

  function aws(
    args: string[],
    o: { endpoint?: string; secret?: string; keyId?: string; config?: string; region?: string } = {},
  ): Promise<AwsResult> {
    const configFile = join(dir, `config-${Math.random().toString(36).slice(2)}`);
    writeFileSync(configFile, o.config ?? '[default]\n');
    const env: NodeJS.ProcessEnv = {
      PATH: process.env.PATH,
      HOME: dir,
      AWS_ACCESS_KEY_ID: o.keyId ?? KEY_ID,
      AWS_SECRET_ACCESS_KEY: o.secret ?? SECRET,
      AWS_DEFAULT_REGION: o.region ?? 'us-east-1',
      AWS_CONFIG_FILE: configFile,
      AWS_SHARED_CREDENTIALS_FILE: join(dir, 'no-credentials'),
      AWS_EC2_METADATA_DISABLED: 'true',
      AWS_MAX_ATTEMPTS: '1',
      PYTHONWARNINGS: 'ignore',
    };
    const endpoint = o.endpoint ?? server.url;
    const tls = endpoint.startsWith('https') ? ['--no-verify-ssl'] : [];
    return new Promise((resolve) => {
      execFile('aws', ['--endpoint-url', endpoint, ...tls, ...args], { env, encoding: 'utf8', timeout: 60_000 }, (err, stdout, stderr) => {
        const code = err ? (typeof err.code === 'number' ? err.code : 1) : 0;
        resolve({ code, stdout, stderr });
      });
    });
  }

  function ok(r: AwsResult): void {
    assert.equal(r.code, 0, `aws failed: ${r.stderr}`);
  }

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'auth-awscli-'));
    writeFileSync(join(dir, 'payload.bin'), payload);
    server = await startCaptureServer(creds);
    if (tlsCert) tlsServer = await startCaptureServer(creds, tlsCert);
  });
  after(async () => {
    await server?.close();
    await tlsServer?.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('put-object over http: SigV4, sha256 payload, x-amz-checksum-crc32 header, Content-MD5, awkward key', async () => {
    const md5 = createHash('md5').update(payload).digest('base64');
    ok(await aws(['s3api', 'put-object', '--bucket', 'bkt', '--key', "dir/a b+c ü~!*'().txt", '--body', join(dir, 'payload.bin'), '--content-md5', md5, '--metadata', 'color=blue,Note=x  y']));
    const r = last(server, 'PUT');
    assertAuthenticated(r);
    assert.equal(r.auth?.scheme, 'sigv4-header');
    assert.equal(r.auth?.payload.kind, 'sha256');
    assert.equal(r.checksums?.crc32, await checksumBase64('crc32', payload));
    assert.ok(r.body?.equals(payload));
    assert.match(r.url, /^\/bkt\/dir\/a%20b%2Bc%20%C3%BC~/);
  });

  it('list-objects-v2 with special characters in the query', async () => {
    ok(await aws(['s3api', 'list-objects-v2', '--bucket', 'bkt', '--prefix', 'a b/ü+&=*%', '--delimiter', '/', '--start-after', 'x=y']));
    assertAuthenticated(last(server, 'GET'));
  });

  it('get-object with Range and a response-* override', async () => {
    const out = join(dir, 'out.bin');
    ok(await aws(['s3api', 'get-object', '--bucket', 'bkt', '--key', 'k ü+.txt', '--range', 'bytes=0-4', '--response-content-disposition', 'attachment; filename="x y.txt"', out]));
    assertAuthenticated(last(server, 'GET'));
    assert.equal(readFileSync(out, 'utf8'), server.objectBody.toString());
  });

  it('a wrong secret is rejected with SignatureDoesNotMatch, an unknown key with InvalidAccessKeyId', async () => {
    const bad = await aws(['s3api', 'head-object', '--bucket', 'bkt', '--key', 'k'], { secret: OTHER_SECRET });
    assert.notEqual(bad.code, 0);
    assert.equal(last(server).error?.code, 'SignatureDoesNotMatch');
    const put = await aws(['s3api', 'put-object', '--bucket', 'bkt', '--key', 'k', '--body', join(dir, 'payload.bin')], { secret: OTHER_SECRET });
    assert.match(put.stderr, /SignatureDoesNotMatch/);
    const unknown = await aws(['s3api', 'list-objects-v2', '--bucket', 'bkt'], { keyId: 'AKIDUNKNOWN' });
    assert.match(unknown.stderr, /InvalidAccessKeyId/);
    assert.equal(last(server).error?.code, 'InvalidAccessKeyId');
  });

  it('another region in the credential scope is accepted', async () => {
    ok(await aws(['s3api', 'list-objects-v2', '--bucket', 'bkt'], { region: 'eu-west-3' }));
    const r = last(server, 'GET');
    assertAuthenticated(r);
    assert.match(String(r.headers.authorization), /\/eu-west-3\/s3\/aws4_request/);
  });

  it('`aws s3 presign` (default: SigV2 query string) works, expires, and resists tampering', async () => {
    const res = await aws(['s3', 'presign', 's3://bkt/some dir/key+ü (1).txt', '--expires-in', '300']);
    ok(res);
    const url = res.stdout.trim();
    assert.match(url, /AWSAccessKeyId=/, 'aws-cli v1 presigns with SigV2 by default');
    const got = await getRaw(url);
    assert.equal(got.status, 200, got.body);
    assert.equal(got.body, server.objectBody.toString());
    assert.equal(last(server).auth?.scheme, 'sigv2-query');

    const tampered = await getRaw(url, (p) => p.replace(/Expires=(\d+)/, (_m, e: string) => `Expires=${Number(e) + 1000}`));
    assert.equal(tampered.status, 403);
    assert.equal(last(server).error?.code, 'SignatureDoesNotMatch');
    const otherKey = await getRaw(url, (p) => p.replace('key%2B', 'kez%2B'));
    assert.equal(otherKey.status, 403);

    expectAuthError(() => authenticate(authRequestOf(url), creds, new Date(Date.now() + 301_000)), 'AccessDenied', 'Request has expired');
  });

  it('`aws s3 presign` with signature_version = s3v4 (SigV4 query string)', async () => {
    const res = await aws(['s3', 'presign', 's3://bkt/dir/ü b+c.txt', '--expires-in', '120'], {
      config: '[default]\ns3 =\n    signature_version = s3v4\n',
    });
    ok(res);
    const url = res.stdout.trim();
    assert.match(url, /X-Amz-Algorithm=AWS4-HMAC-SHA256/);
    const got = await getRaw(url);
    assert.equal(got.status, 200, got.body);
    assert.equal(last(server).auth?.scheme, 'sigv4-query');
    expectAuthError(() => authenticate(authRequestOf(url), creds, new Date(Date.now() + 121_000)), 'AccessDenied', 'Request has expired');
    const tampered = await getRaw(url, (p) => p.replace('X-Amz-Expires=120', 'X-Amz-Expires=999'));
    assert.equal(tampered.status, 403);
  });

  it('over https: STREAMING-UNSIGNED-PAYLOAD-TRAILER with checksum trailers (put-object and s3 cp)', async function () {
    assert.ok(tlsServer, 'openssl is needed for the https cases (.ci/run installs it)');
    ok(await aws(['s3api', 'put-object', '--bucket', 'bkt', '--key', 'tls/a b.bin', '--body', join(dir, 'payload.bin')], { endpoint: tlsServer.url }));
    let r = last(tlsServer, 'PUT');
    assertAuthenticated(r);
    assert.equal(r.auth?.payload.kind, 'streaming-unsigned-trailer');
    assert.equal(r.headers['x-amz-trailer'], 'x-amz-checksum-crc32');
    assert.equal(r.checksums?.crc32, await checksumBase64('crc32', payload));
    assert.ok(r.body?.equals(payload));

    ok(await aws(['s3api', 'put-object', '--bucket', 'bkt', '--key', 'tls/sha', '--body', join(dir, 'payload.bin'), '--checksum-algorithm', 'SHA256'], { endpoint: tlsServer.url }));
    r = last(tlsServer, 'PUT');
    assertAuthenticated(r);
    assert.equal(r.checksums?.sha256, await checksumBase64('sha256', payload));

    const big = testData(3 * 1024 * 1024 + 5, 42);
    writeFileSync(join(dir, 'big.bin'), big);
    ok(await aws(['s3', 'cp', join(dir, 'big.bin'), 's3://bkt/tls/big file.bin'], { endpoint: tlsServer.url }));
    r = last(tlsServer, 'PUT');
    assertAuthenticated(r);
    assert.equal(r.auth?.payload.kind, 'streaming-unsigned-trailer');
    assert.ok(r.body?.equals(big));
  });
}

// ---------------------------------------------------------------------------------------------
// boto3 (SigV2 header signing, presigned URLs)
// ---------------------------------------------------------------------------------------------

/** Runs boto3 operations and prints {name: 'ok' | error code | value} as JSON. */
const BOTO3_SCRIPT = `
import json, sys
import boto3
from botocore.config import Config
a = json.loads(sys.argv[1])
out = {}
def mk(sig, secret=None):
    return boto3.client('s3', endpoint_url=a['endpoint'], region_name='us-east-1',
        aws_access_key_id=a['key'], aws_secret_access_key=secret or a['secret'],
        config=Config(signature_version=sig, retries={'max_attempts': 1}, s3={'addressing_style': 'path'}))
def run(name, fn):
    try:
        fn()
        out[name] = 'ok'
    except Exception as e:
        out[name] = getattr(e, 'response', {}).get('Error', {}).get('Code', repr(e))
v2 = mk('s3')
run('put', lambda: v2.put_object(Bucket='bkt', Key='v2/a b+\u00fc.txt', Body=b'boto3 sigv2 body', ContentType='text/plain', Metadata={'k': 'v  w'}))
run('get', lambda: v2.get_object(Bucket='bkt', Key='v2/x y.txt', ResponseContentType='text/plain; charset=utf-8', ResponseContentDisposition='attachment; filename="a b.txt"', VersionId='v1')['Body'].read())
run('list', lambda: v2.list_objects_v2(Bucket='bkt', Prefix='a b/\u00fc+&=', Delimiter='/'))
run('bad', lambda: mk('s3', 'wrong-secret').get_object(Bucket='bkt', Key='k'))
out['presign_v2'] = v2.generate_presigned_url('get_object', Params={'Bucket': 'bkt', 'Key': 'p/a b+\u00fc.txt', 'ResponseContentDisposition': 'attachment; filename="a b.txt"'}, ExpiresIn=300)
out['presign_v4'] = mk('s3v4').generate_presigned_url('get_object', Params={'Bucket': 'bkt', 'Key': 'p/a b+\u00fc.txt', 'VersionId': 'x/y'}, ExpiresIn=600)
print(json.dumps(out))
`;

describe('auth/real clients: boto3', hasBoto3 ? boto3Suite : () => it('needs boto3', () => assert.fail('python3 cannot import boto3 (.ci/run installs python3-boto3)')));

function boto3Suite(this: Mocha.Suite): void {
  this.timeout(120_000);
  let server: CaptureServer;
  let results: Record<string, string>;

  before(async () => {
    server = await startCaptureServer(creds);
    results = await runBoto3<Record<string, string>>(BOTO3_SCRIPT, { endpoint: server.url, key: KEY_ID, secret: SECRET });
  });
  after(async () => server?.close());

  it('SigV2 header: PutObject, GetObject with response overrides and versionId, ListObjectsV2', () => {
    assert.equal(results.put, 'ok');
    assert.equal(results.get, 'ok');
    assert.equal(results.list, 'ok');
    const put = server.requests.find((r) => r.method === 'PUT')!;
    assertAuthenticated(put);
    assert.equal(put.auth?.scheme, 'sigv2-header');
    assert.equal(put.body?.toString(), 'boto3 sigv2 body');
    for (const r of server.requests.filter((x) => x.method === 'GET' && x.auth)) assert.equal(r.auth?.scheme, 'sigv2-header');
  });

  it('SigV2 header with a wrong secret -> SignatureDoesNotMatch', () => {
    assert.equal(results.bad, 'SignatureDoesNotMatch');
    assert.ok(server.requests.some((r) => r.error?.code === 'SignatureDoesNotMatch'));
  });

  it('generate_presigned_url: SigV2 and SigV4 URLs verify and expire', async () => {
    const v2 = results.presign_v2!;
    assert.match(v2, /AWSAccessKeyId=/);
    const got = await getRaw(v2);
    assert.equal(got.status, 200, got.body);
    assert.equal(authenticate(authRequestOf(v2), creds).scheme, 'sigv2-query');
    expectAuthError(() => authenticate(authRequestOf(v2), creds, new Date(Date.now() + 301_000)), 'AccessDenied', 'Request has expired');

    const v4 = results.presign_v4!;
    assert.match(v4, /X-Amz-Signature=/);
    assert.equal((await getRaw(v4)).status, 200);
    assert.equal(authenticate(authRequestOf(v4), creds).scheme, 'sigv4-query');
    expectAuthError(() => authenticate(authRequestOf(v4), creds, new Date(Date.now() + 601_000)), 'AccessDenied', 'Request has expired');
    assert.equal((await getRaw(v4, (p) => p.replace('versionId=x%2Fy', 'versionId=x%2Fz'))).status, 403);
  });
}

// ---------------------------------------------------------------------------------------------
// @aws-sdk/client-s3 v3
// ---------------------------------------------------------------------------------------------

describe('auth/real clients: @aws-sdk/client-s3 v3', function () {
  this.timeout(60_000);
  let server: CaptureServer;
  let tlsServer: CaptureServer | undefined;

  function client(o: { secret?: string; https?: boolean; region?: string; whenRequired?: boolean } = {}): S3Client {
    const endpoint = o.https ? tlsServer!.url : server.url;
    return new S3Client({
      endpoint,
      region: o.region ?? 'us-east-1',
      forcePathStyle: true,
      credentials: { accessKeyId: KEY_ID, secretAccessKey: o.secret ?? SECRET },
      maxAttempts: 1,
      ...(o.whenRequired ? { requestChecksumCalculation: 'WHEN_REQUIRED' as const } : {}),
      ...(o.https ? { requestHandler: new NodeHttpHandler({ httpsAgent: new HttpsAgent({ rejectUnauthorized: false }) }) } : {}),
    });
  }

  before(async () => {
    server = await startCaptureServer(creds);
    if (tlsCert) tlsServer = await startCaptureServer(creds, tlsCert);
  });
  after(async () => {
    await server?.close();
    await tlsServer?.close();
  });

  it('PutObject with a Buffer: sha256 payload and x-amz-checksum-crc32 header', async () => {
    const body = Buffer.from('hello sdk v3 ü');
    await client().send(new PutObjectCommand({ Bucket: 'bkt', Key: "dir/a b+c ü~!*'().txt", Body: body, Metadata: { note: 'x  y' } }));
    const r = last(server, 'PUT');
    assertAuthenticated(r);
    assert.equal(r.auth?.payload.kind, 'sha256');
    assert.equal(r.checksums?.crc32, await checksumBase64('crc32', body));
    assert.ok(r.body?.equals(body));
  });

  it('PutObject with a stream: STREAMING-UNSIGNED-PAYLOAD-TRAILER, CRC32 trailer, many chunks', async () => {
    const data = testData(1024 * 1024 + 3, 9);
    await client().send(new PutObjectCommand({
      Bucket: 'bkt', Key: 'stream/obj.bin', ContentLength: data.length,
      Body: Readable.from([data.subarray(0, 100_000), data.subarray(100_000, 100_001), data.subarray(100_001)]),
    }));
    const r = last(server, 'PUT');
    assertAuthenticated(r);
    assert.equal(r.auth?.payload.kind, 'streaming-unsigned-trailer');
    assert.equal(r.headers['x-amz-decoded-content-length'], String(data.length));
    assert.equal(r.checksums?.crc32, await checksumBase64('crc32', data));
    assert.ok(r.body?.equals(data));
  });

  for (const alg of ['CRC32C', 'CRC64NVME', 'SHA1', 'SHA256'] as const) {
    it(`PutObject with a stream and ChecksumAlgorithm ${alg}: trailer verified`, async () => {
      const data = testData(200_000, alg.length);
      await client().send(new PutObjectCommand({ Bucket: 'bkt', Key: `alg/${alg}`, ContentLength: data.length, Body: Readable.from([data]), ChecksumAlgorithm: alg as SdkChecksumAlgorithm }));
      const r = last(server, 'PUT');
      assertAuthenticated(r);
      const ours = alg.toLowerCase() as 'crc32c' | 'crc64nvme' | 'sha1' | 'sha256';
      assert.equal(r.checksums?.[ours], await checksumBase64(ours, data));
    });
  }

  it('PutObject with requestChecksumCalculation WHEN_REQUIRED (no flexible checksum)', async () => {
    const data = testData(50_000, 77);
    await client({ whenRequired: true }).send(new PutObjectCommand({ Bucket: 'bkt', Key: 'plain', Body: data }));
    const r = last(server, 'PUT');
    assertAuthenticated(r);
    assert.ok(r.body?.equals(data));
  });

  it('GET with response override, LIST with awkward prefix, HEAD and DELETE with unicode keys', async () => {
    const c = client({ region: 'ap-southeast-2' });
    const got = await c.send(new GetObjectCommand({ Bucket: 'bkt', Key: 'ü/k e+y', ResponseContentDisposition: 'attachment; filename="x y.txt"', Range: 'bytes=0-3' }));
    assert.equal(await got.Body?.transformToString(), server.objectBody.toString());
    assertAuthenticated(last(server, 'GET'));
    await c.send(new ListObjectsV2Command({ Bucket: 'bkt', Prefix: "a b/ü+&=*%'()!", Delimiter: '/', StartAfter: '~x' }));
    assertAuthenticated(last(server, 'GET'));
    await c.send(new HeadObjectCommand({ Bucket: 'bkt', Key: '日本/ファイル.txt' }));
    assertAuthenticated(last(server, 'HEAD'));
    await c.send(new DeleteObjectCommand({ Bucket: 'bkt', Key: 'del me+', VersionId: 'v 1' }));
    assertAuthenticated(last(server, 'DELETE'));
  });

  it('a wrong secret surfaces as SignatureDoesNotMatch in the SDK', async () => {
    await assert.rejects(client({ secret: OTHER_SECRET }).send(new PutObjectCommand({ Bucket: 'bkt', Key: 'k', Body: 'x' })), (e: unknown) => (e as Error).name === 'SignatureDoesNotMatch');
    assert.equal(last(server).error?.code, 'SignatureDoesNotMatch');
  });

  it('over https: stream upload with trailer', async function () {
    assert.ok(tlsServer, 'openssl is needed for the https cases (.ci/run installs it)');
    const data = testData(300_000, 3);
    await client({ https: true }).send(new PutObjectCommand({ Bucket: 'bkt', Key: 'tls/obj', ContentLength: data.length, Body: Readable.from([data]) }));
    const r = last(tlsServer, 'PUT');
    assertAuthenticated(r);
    assert.ok(r.auth?.payload.kind.startsWith('streaming-'));
    assert.ok(r.body?.equals(data));
  });
});

// ---------------------------------------------------------------------------------------------
// @smithy/signature-v4 (the SDK v3 signer), used directly
// ---------------------------------------------------------------------------------------------

describe('auth/real clients: @smithy/signature-v4 (SDK v3 signer)', () => {
  // S3 settings of the SDK: no double URI-encoding of the path, x-amz-content-sha256 applied.
  const signer = new SignatureV4({ credentials: { accessKeyId: KEY_ID, secretAccessKey: SECRET }, region: 'us-west-2', service: 's3', sha256: NodeSha256, uriEscapePath: false, applyChecksum: true });
  const path = '/bkt/' + ['dir', "a b+c ü~!*'().txt"].map((s) => encodeURIComponent(s).replace(/[!'()*]/g, (c) => '%' + c.charCodeAt(0).toString(16).toUpperCase())).join('/');

  function toAuthRequest(r: { method: string; path: string; query?: Record<string, string | string[] | null>; headers: Record<string, string> }): AuthRequest {
    const rawQuery = Object.entries(r.query ?? {})
      .map(([k, v]) => `${encodeURIComponent(k)}=${encodeURIComponent(String(v ?? ''))}`)
      .join('&');
    const headers: Record<string, string> = {};
    for (const [k, v] of Object.entries(r.headers)) headers[k.toLowerCase()] = v;
    return { method: r.method, rawPath: r.path, rawQuery, headers };
  }

  it('presign (7 days, with a response override) verifies; expiry enforced', async () => {
    // What @aws-sdk/s3-request-presigner does before calling the signer: declare
    // UNSIGNED-PAYLOAD (the signer hoists it into the query) and sign Host with its port.
    const presigned = await signer.presign(
      {
        method: 'GET', protocol: 'http:', hostname: '127.0.0.1', port: 9000, path,
        query: { 'response-content-type': 'text/plain; charset=utf-8' },
        headers: { host: '127.0.0.1:9000', 'x-amz-content-sha256': 'UNSIGNED-PAYLOAD' },
      },
      { expiresIn: 604800, unsignableHeaders: new Set(['content-type']) },
    );
    assert.equal((presigned.query as Record<string, string>)['x-amz-content-sha256'], 'UNSIGNED-PAYLOAD');
    const req = toAuthRequest(presigned as never);
    const r = authenticate(req, creds);
    assert.equal(r.scheme, 'sigv4-query');
    expectAuthError(() => authenticate(req, creds, new Date(Date.now() + 604_801_000)), 'AccessDenied', 'Request has expired');
  });

  it('header signing with an explicit payload hash verifies', async () => {
    const body = 'body for the smithy signer';
    const signed = await signer.sign({
      method: 'PUT', protocol: 'http:', hostname: '127.0.0.1', port: 9000, path, query: { 'x-id': 'PutObject' },
      headers: { host: '127.0.0.1:9000', 'content-type': 'text/plain', 'x-amz-meta-a': '  spaced   value ' }, body,
    });
    const r = authenticate(toAuthRequest(signed as never), creds);
    assert.equal(r.payload.kind, 'sha256');
  });
});
