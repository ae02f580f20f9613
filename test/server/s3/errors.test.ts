/**
 * S3 errors and safety through raw signed requests (aws4): body checksums, anonymous access,
 * unimplemented operations, a brick that is down or busy, a client that disconnects mid-upload;
 * and the errno tables of the S3 and file APIs, side by side.
 */
import assert from 'node:assert/strict';
import http from 'node:http';
import { readdir } from 'node:fs/promises';
import { join } from 'node:path';
import type { AddressInfo } from 'node:net';
import aws4 from 'aws4';
import { pino } from 'pino';
import { Dht2Error, ERRNOS, err, type Errno } from '../../../dht2-core/index.js';
import { Volume } from '../../../dht2-core/index.js';
import { createApp } from '../../../server/app.js';
import { StaticCredentials } from '../../../server/auth/index.js';
import { ERRNO_STATUS } from '../../../server/files/errors.js';
import { GatewayMetrics } from '../../../server/ops/metrics.js';
import { S3_ERRORS, s3ErrorOf } from '../../../server/s3/errors.js';
import { ACCESS_KEY, SECRET_KEY, startGateway, type TestGateway } from '../../helpers/gateway.js';
import { HookFops, KillSwitch } from '../../helpers/hook-fops.js';

interface Reply { status: number; headers: http.IncomingHttpHeaders; body: string }

describe('S3 errors and safety', function () {
  this.timeout(120_000);
  let t: TestGateway;
  let host: string;
  before(async () => {
    t = await startGateway();
    host = new URL(t.url).host;
    await signed('PUT', '/err-bucket');
    await signed('PUT', '/err-bucket/obj', 'original');
  });
  after(async () => { await t.stop(); });

  function send(opts: http.RequestOptions, body?: string | Buffer): Promise<Reply> {
    return new Promise((resolve, reject) => {
      const req = http.request({ host: '127.0.0.1', port: new URL(t.url).port, ...opts }, (res) => {
        let b = '';
        res.on('data', (c: Buffer) => { b += c.toString(); });
        res.on('end', () => resolve({ status: res.statusCode!, headers: res.headers, body: b }));
      });
      req.on('error', reject);
      req.end(body);
    });
  }

  function signed(method: string, path: string, body?: string, headers: Record<string, string> = {}): Promise<Reply> {
    const o = aws4.sign({ host, method, path, body, service: 's3', region: 'us-east-1', headers: { ...headers } }, { accessKeyId: ACCESS_KEY, secretAccessKey: SECRET_KEY });
    return send({ method, path, headers: o.headers as http.OutgoingHttpHeaders }, body);
  }

  const code = (r: Reply) => /<Code>([^<]+)<\/Code>/.exec(r.body)?.[1];
  const tmpFiles = async () => {
    let n = 0;
    for (let i = 0; i < 3; i++) n += (await readdir(join(t.cluster.dir, `ds${i}`, '.dht2', 'tmp'))).length;
    return n;
  };
  const current = async () => (await signed('GET', '/err-bucket/obj')).body;

  it('answers anonymous requests with AccessDenied in S3 XML with a request id', async () => {
    const r = await send({ method: 'GET', path: '/err-bucket/obj' });
    assert.equal(r.status, 403);
    assert.equal(code(r), 'AccessDenied');
    assert.match(r.body, /<Message>[^<]+<\/Message>/);
    assert.match(r.body, /<Resource>\/err-bucket\/obj<\/Resource>/);
    assert.match(r.body, new RegExp(`<RequestId>${r.headers['x-amz-request-id']}</RequestId>`));
  });

  it('a body that does not match x-amz-content-sha256 or Content-MD5 is refused and nothing is stored', async () => {
    const o = aws4.sign({ host, method: 'PUT', path: '/err-bucket/obj', body: 'the signed body', service: 's3', region: 'us-east-1' }, { accessKeyId: ACCESS_KEY, secretAccessKey: SECRET_KEY });
    const r = await send({ method: 'PUT', path: '/err-bucket/obj', headers: o.headers as http.OutgoingHttpHeaders }, 'the signed BODY');
    assert.equal(r.status, 400, r.body);
    assert.equal(code(r), 'XAmzContentSHA256Mismatch');
    const md5 = await signed('PUT', '/err-bucket/obj', 'new body', { 'content-md5': '1B2M2Y8AsgTpgAmY7PhCfg==' });
    assert.equal(md5.status, 400);
    assert.equal(code(md5), 'BadDigest');
    assert.equal(code(await signed('PUT', '/err-bucket/obj', 'x', { 'content-md5': 'not-md5' })), 'InvalidDigest');
    assert.equal(await current(), 'original');
    // The brick removes the refused upload's temp file when its stream is reset, which may come
    // a moment after the gateway's 400 (seen once in four runs on Node 24).
    for (let i = 0; i < 40 && (await tmpFiles()) !== 0; i++) await new Promise((r) => setTimeout(r, 50));
    assert.equal(await tmpFiles(), 0);
  });

  it('a request refused before its body is read: a small body is drained and the connection kept, a large one closes it (issue 14)', async () => {
    const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
    const sockets = new Set<unknown>();
    const onAgent = (method: string, path: string, body?: Buffer): Promise<Reply> => {
      const o = aws4.sign({ host, method, path, body, service: 's3', region: 'us-east-1', headers: body ? { 'x-amz-content-sha256': 'UNSIGNED-PAYLOAD' } : {} },
        { accessKeyId: ACCESS_KEY, secretAccessKey: SECRET_KEY });
      return new Promise((resolve, reject) => {
        const req = http.request({ host: '127.0.0.1', port: new URL(t.url).port, method, path, headers: o.headers as http.OutgoingHttpHeaders, agent }, (res) => {
          let b = '';
          res.on('data', (c: Buffer) => { b += c.toString(); });
          res.on('end', () => resolve({ status: res.statusCode!, headers: res.headers, body: b }));
        });
        req.on('socket', (sock) => sockets.add(sock));
        req.on('error', reject);
        req.end(body);
      });
    };
    try {
      // 16 KiB, within the refused-body bound (64 KiB): read whole, the connection serves the next request.
      const small = await onAgent('PUT', '/no-such-bucket/obj', Buffer.alloc(16 * 1024, 7));
      assert.equal(small.status, 404);
      assert.equal(code(small), 'NoSuchBucket');
      assert.notEqual(small.headers.connection, 'close');
      const next = await onAgent('GET', '/err-bucket/obj');
      assert.equal(next.status, 200);
      assert.equal(next.body, 'original');
      assert.equal(sockets.size, 1, 'both requests went over one keep-alive connection');
      // 8 MiB: far more than the bound. The answer still arrives, says `Connection: close`, and
      // the next request goes over a new connection (server/refused-body.ts).
      const large = await onAgent('PUT', '/no-such-bucket/obj', Buffer.alloc(8 * 1024 * 1024, 7));
      assert.equal(large.status, 404);
      assert.equal(code(large), 'NoSuchBucket');
      assert.equal(large.headers.connection, 'close');
      const after = await onAgent('GET', '/err-bucket/obj');
      assert.equal(after.status, 200);
      assert.equal(after.body, 'original');
      assert.equal(sockets.size, 2, 'the connection of the large refused body was closed');
    } finally {
      agent.destroy();
    }
  });

  it('answers operations it does not implement with 501 NotImplemented at once', async () => {
    for (const path of ['/err-bucket?acl', '/err-bucket/obj?tagging', '/err-bucket?policy']) {
      const r = await signed('GET', path);
      assert.equal(r.status, 501, path);
      assert.equal(code(r), 'NotImplemented');
    }
  });

  it('answers IAM and STS requests signed for this endpoint with 501 NotImplemented', async () => {
    for (const service of ['sts', 'iam']) {
      const body = 'Action=GetCallerIdentity&Version=2011-06-15';
      const o = aws4.sign({ host, method: 'POST', path: '/', body, service, region: 'us-east-1', headers: { 'content-type': 'application/x-www-form-urlencoded' } },
        { accessKeyId: ACCESS_KEY, secretAccessKey: SECRET_KEY });
      const r = await send({ method: 'POST', path: '/', headers: o.headers as http.OutgoingHttpHeaders }, body);
      assert.equal(r.status, 501, service);
      assert.equal(code(r), 'NotImplemented');
    }
  });

  it('a client that disconnects mid-upload leaves the previous object and no temp file', async () => {
    const o = aws4.sign({ host, method: 'PUT', path: '/err-bucket/obj', service: 's3', region: 'us-east-1', headers: { 'x-amz-content-sha256': 'UNSIGNED-PAYLOAD', 'content-length': String(64 * 1024 * 1024) } },
      { accessKeyId: ACCESS_KEY, secretAccessKey: SECRET_KEY });
    await new Promise<void>((resolve) => {
      const req = http.request({ host: '127.0.0.1', port: new URL(t.url).port, method: 'PUT', path: '/err-bucket/obj', headers: o.headers as http.OutgoingHttpHeaders });
      req.on('error', () => resolve());
      req.write(Buffer.alloc(4 * 1024 * 1024, 7), () => setTimeout(() => { req.destroy(); resolve(); }, 200));
    });
    assert.equal(await current(), 'original');
    for (let i = 0; i < 50 && (await tmpFiles()) > 0; i++) await new Promise((r) => setTimeout(r, 100));
    assert.equal(await tmpFiles(), 0);
  });

  it('answers 503 ServiceUnavailable, not a hang, when a brick is down', async () => {
    const st = await t.cluster.volume.stat('/err-bucket/obj');
    const i = t.cluster.volume.layout.dsOf(st.gfid);
    await t.cluster.ds[i]!.kill();
    try {
      const r = await signed('GET', '/err-bucket/obj');
      assert.equal(r.status, 503);
      assert.equal(code(r), 'ServiceUnavailable');
    } finally {
      await t.cluster.restart('ds', i);
    }
    assert.equal(await current(), 'original');
  });

  it('GET of an object whose data is lost answers 500 at once, before any header (issue 13, defect 2)', async () => {
    await signed('PUT', '/err-bucket/lost', 'these bytes will be lost');
    const a = await t.cluster.volume.stat('/err-bucket/lost');
    await t.cluster.dsCount[t.cluster.volume.layout.dsOf(a.gfid)]!.call('dunlink', { gfid: a.gfid });
    const started = Date.now();
    const r = await signed('GET', '/err-bucket/lost');
    assert.equal(r.status, 500);
    assert.match(r.body, /<Code>InternalError<\/Code>/);
    assert.ok(Date.now() - started < 5000, 'answered at once');
    assert.equal((await signed('HEAD', '/err-bucket/lost')).status, 200, 'HEAD is answered by the MDS alone');
    await t.cluster.volume.fsck({ graceMs: 0, repair: true });
    assert.equal((await signed('GET', '/err-bucket/lost')).status, 404, 'fsck --repair removed the name of the lost data');
  });

  it('answers 503 SlowDown on S3 and 503 EAGAIN on /fs/ when a brick gives up with EAGAIN (issue 15: was 500 on S3)', async () => {
    // A gateway whose MDS lookups fail as a brick does after 100 rounds of a directory changing
    // under it (brick/posix2/mds-base.ts): too rare to provoke, so injected below the clients.
    const sw = new KillSwitch();
    sw.before = (fop, role) => { if (role === 'mds' && fop === 'lookup') throw err('EAGAIN', 'directory entries keep changing; try again'); };
    const volume = await Volume.open(t.cluster.volfile, { wrap: (b, fops) => new HookFops(fops, sw, b.role) });
    const app = createApp({
      volume, credentials: new StaticCredentials([[ACCESS_KEY, SECRET_KEY]]), rootAccessKey: ACCESS_KEY, region: 'us-east-1',
      logger: pino({ level: 'silent' }), metrics: new GatewayMetrics(),
    });
    const server = http.createServer(app);
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    try {
      const port = (server.address() as AddressInfo).port;
      const o = aws4.sign({ host: `127.0.0.1:${port}`, method: 'GET', path: '/err-bucket/obj', service: 's3', region: 'us-east-1' }, { accessKeyId: ACCESS_KEY, secretAccessKey: SECRET_KEY });
      const s3 = await send({ port, method: 'GET', path: '/err-bucket/obj', headers: o.headers as http.OutgoingHttpHeaders });
      assert.equal(s3.status, 503, s3.body);
      assert.equal(code(s3), 'SlowDown');
      const basic = `Basic ${Buffer.from(`${ACCESS_KEY}:${SECRET_KEY}`).toString('base64')}`;
      const fs = await send({ port, method: 'GET', path: '/fs/err-bucket/obj', headers: { authorization: basic } });
      assert.equal(fs.status, 503, fs.body);
      assert.equal((JSON.parse(fs.body) as { error: string }).error, 'EAGAIN');
    } finally {
      await new Promise<void>((resolve) => server.close(() => resolve()));
      await volume.close();
    }
  });
});

describe('errno tables: S3 (ERRNO_S3) and file API (ERRNO_STATUS) answer the same HTTP status', () => {
  /**
   * Where the two differ on purpose, and why. Everywhere else they agree, so a client of either
   * API reads the same from a status (retry later, no space, refused, ...).
   */
  const ON_PURPOSE: Partial<Record<Errno, string>> = {
    EEXIST: 'S3 meets it only in a conditional write (If-None-Match: *): 412 PreconditionFailed',
    ENOTDIR: 'S3 keys are flat: a key below an object is just absent, 404 NoSuchKey',
    EISDIR: 'a key that conflicts with a folder: 400 InvalidRequest (S3 has no 409 for it)',
    ENOTEMPTY: 'a key that conflicts with a folder: 400 InvalidRequest (S3 has no 409 for it)',
    EFBIG: 'S3 answers EntityTooLarge with 400, not 413',
    ENODATA: 'xattrs: the S3 API never reads one it has not written, so there it is unexpected (500)',
    ERANGE: 'xattr names: file API only, unexpected on S3 (500)',
    E2BIG: 'xattr values and form uploads: file API only, unexpected on S3 (500)',
    ELOOP: 'symlinks: file API only, unexpected on S3 (500)',
    EXDEV: 'links and renames across trees: file API only, unexpected on S3 (500)',
  };

  it('for every errno, or the difference is listed with its reason', () => {
    for (const errno of ERRNOS) {
      const s3 = s3ErrorOf(new Dht2Error(errno, 'test'), '/b/k');
      assert.equal(s3.status, S3_ERRORS[s3.code][0]);
      if (ON_PURPOSE[errno]) assert.notEqual(s3.status, ERRNO_STATUS[errno], `${errno} is listed as differing, but both answer ${s3.status}`);
      else assert.equal(s3.status, ERRNO_STATUS[errno], `${errno}: S3 ${s3.code} ${s3.status}, file API ${ERRNO_STATUS[errno]}`);
    }
  });

  it('the retry-later errnos are 503 on both: brick unreachable, lost, late or busy', () => {
    for (const errno of ['EHOSTDOWN', 'ENOTCONN', 'ETIMEDOUT', 'EAGAIN'] as const) {
      const s3 = s3ErrorOf(new Dht2Error(errno, 'test'));
      assert.equal(ERRNO_STATUS[errno], 503, errno);
      assert.equal(s3.status, 503, errno);
      assert.equal(s3.code, errno === 'EAGAIN' ? 'SlowDown' : 'ServiceUnavailable', errno);
    }
  });
});
