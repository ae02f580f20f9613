/**
 * Issue 14, "The internal tree is reachable": the reserved `/.dht2` (multipart staging) is
 * invisible and unwritable from every API, and S3 checks the bucket name of every request, not
 * only CreateBucket's. Each way in is tried against a real gateway over real bricks, with an
 * upload in progress so that `/.dht2/uploads/<id>` exists and holds a part; afterwards the upload
 * must still complete with its part intact.
 */
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import {
  CompleteMultipartUploadCommand, CreateMultipartUploadCommand, ListBucketsCommand, S3Client, UploadPartCommand,
} from '@aws-sdk/client-s3';
import { request, s3Signer, type Reply } from '../helpers/http-reply.js';
import { ACCESS_KEY, SECRET_KEY, sdkClient, startGateway, type TestGateway } from '../helpers/gateway.js';

const BUCKET = 'reserved-names';

describe('reserved names: /.dht2 is invisible and unwritable from every API (issue 14)', function () {
  this.timeout(180_000);
  let t: TestGateway;
  let s3: S3Client;
  let port: number;
  let uploadId: string;
  const signer = s3Signer();
  const basic = `Basic ${Buffer.from(`${ACCESS_KEY}:${SECRET_KEY}`).toString('base64')}`;

  const send = (method: string, path: string, headers: Record<string, string> = {}, body?: string) => request(port, method, path, headers, body);

  /** An S3 request signed in the header; `host` for virtual-host style. */
  async function s3req(method: string, path: string, o: { body?: string; headers?: Record<string, string>; host?: string } = {}): Promise<Reply> {
    const host = o.host ?? `127.0.0.1:${port}`;
    const qi = path.indexOf('?');
    const query = qi < 0 ? {} : Object.fromEntries(new URLSearchParams(path.slice(qi + 1)));
    const s = await signer.sign({
      method, protocol: 'http:', hostname: host.replace(/:\d+$/, ''), port, path: qi < 0 ? path : path.slice(0, qi), query,
      headers: { host, ...(o.headers ?? {}), ...(o.body !== undefined ? { 'content-length': String(Buffer.byteLength(o.body)) } : {}) },
      ...(o.body !== undefined ? { body: o.body } : {}),
    });
    return send(method, path, s.headers, o.body);
  }

  const fsReq = (method: string, path: string, body?: string) => send(method, path, { authorization: basic, ...(body !== undefined ? { 'content-length': String(Buffer.byteLength(body)) } : {}) }, body);

  before(async () => {
    t = await startGateway({ domain: 's3.test' });
    port = Number(new URL(t.url).port);
    s3 = sdkClient(t.url);
    await t.aws('s3', 'mb', `s3://${BUCKET}`);
    uploadId = (await s3.send(new CreateMultipartUploadCommand({ Bucket: BUCKET, Key: 'big.bin' }))).UploadId!;
    await s3.send(new UploadPartCommand({ Bucket: BUCKET, Key: 'big.bin', UploadId: uploadId, PartNumber: 1, Body: 'part one' }));
    // The staging tree exists as the volume's own /.dht2/uploads/<id>.
    const st = await t.gw.volume.stat(`/.dht2/uploads/${uploadId}`);
    assert.equal(st.type, 'dir');
  });
  after(async () => {
    s3?.destroy();
    await t?.stop();
  });

  const code = (r: Reply) => /<Code>([^<]*)<\/Code>/.exec(r.body)?.[1];

  it('S3: every operation on the bucket ".dht2" (path style) is InvalidBucketName', async () => {
    const u = encodeURIComponent(uploadId);
    const attempts: Array<[string, string, string?]> = [
      ['GET', '/.dht2'], ['GET', '/.dht2?list-type=2'], ['GET', '/.dht2?uploads'], ['GET', '/.dht2?versions'], ['GET', '/.dht2?location'],
      ['HEAD', '/.dht2'], ['PUT', '/.dht2'], ['DELETE', '/.dht2'], ['POST', '/.dht2?delete', '<Delete><Object><Key>uploads</Key></Object></Delete>'],
      ['GET', `/.dht2/uploads/${u}/part-00001`], ['HEAD', `/.dht2/uploads/${u}`], ['PUT', '/.dht2/uploads/evil', 'x'], ['DELETE', `/.dht2/uploads/${u}/part-00001`],
      ['POST', '/.dht2/uploads/x?uploads'], ['GET', '/%2Edht2/uploads'], ['GET', '/%2edht2'],
    ];
    for (const [method, path, body] of attempts) {
      const r = await s3req(method, path, body !== undefined ? { body } : {});
      assert.equal(r.status, 400, `${method} ${path}: ${r.status} ${r.body}`);
      if (method !== 'HEAD') assert.equal(code(r), 'InvalidBucketName', `${method} ${path}: ${r.body}`);
    }
    // Without credentials too, and for a browser form (PostObject is not header-signed).
    assert.equal(code(await send('GET', '/.dht2/uploads')), 'InvalidBucketName');
    const form = await send('POST', '/.dht2', { 'content-type': 'multipart/form-data; boundary=b' }, '--b\r\nContent-Disposition: form-data; name="key"\r\n\r\nx\r\n--b--\r\n');
    assert.equal(code(form), 'InvalidBucketName', form.body);
  });

  it('S3: virtual-host style ".dht2.s3.test" is InvalidBucketName too', async () => {
    for (const [method, path] of [['GET', '/'], ['GET', '/uploads'], ['PUT', '/uploads/evil']] as const) {
      const r = await s3req(method, path, { host: '.dht2.s3.test', ...(method === 'PUT' ? { body: 'x' } : {}) });
      assert.equal(r.status, 400, `${method} ${path}: ${r.body}`);
      assert.equal(code(r), 'InvalidBucketName', r.body);
    }
  });

  it('S3: names no bucket can have are InvalidBucketName on every request; folders the file API made stay buckets', async () => {
    for (const bad of ['/ab', '/a%20b', '/-x-', '/%00abc', '//key']) {
      const r = await s3req('GET', bad);
      assert.equal(r.status, 400, `${bad}: ${r.body}`);
      assert.equal(code(r), 'InvalidBucketName', `${bad}: ${r.body}`);
    }
    // A top-level folder the file API made with a name S3 would not create (upper case,
    // underscore, one letter, a space) stays a bucket for S3 clients, as it always was.
    for (const name of ['Legacy_Name', 'w', 'my docs']) {
      assert.equal((await fsReq('PUT', `/fs/${encodeURIComponent(name)}/f.txt?parents=1`, name)).status, 201);
      const got = await s3req('GET', `/${encodeURIComponent(name)}/f.txt`);
      assert.equal(got.status, 200, got.body);
      assert.equal(got.body, name);
    }
    const names = (await s3.send(new ListBucketsCommand({}))).Buckets!.map((b) => b.Name);
    assert.ok(names.includes('Legacy_Name') && names.includes('w') && names.includes(BUCKET), names.join());
    assert.ok(!names.some((n) => n!.startsWith('.')), names.join());
    // CreateBucket keeps the strict rules.
    assert.equal(code(await s3req('PUT', '/Other_Legacy')), 'InvalidBucketName');
  });

  it('/fs/: the reserved tree is not listed, not readable, not statable', async () => {
    const root = JSON.parse((await fsReq('GET', '/fs/')).body) as { entries: Array<{ name: string }> };
    assert.ok(!root.entries.some((e) => e.name === '.dht2'), JSON.stringify(root));
    assert.ok(root.entries.some((e) => e.name === BUCKET));
    const deep = JSON.parse((await fsReq('GET', '/fs/?recursive=1&limit=10000')).body) as { entries: Array<{ name: string }> };
    assert.ok(!deep.entries.some((e) => e.name.startsWith('.dht2')), JSON.stringify(deep));
    assert.ok(deep.entries.some((e) => e.name === `${BUCKET}`));
    for (const path of ['/fs/.dht2', '/fs/.dht2/', '/fs/.dht2?stat', `/fs/.dht2/uploads/${uploadId}`, `/fs/.dht2/uploads/${uploadId}/part-00001`,
      '/fs//.dht2/uploads', '/fs/%2Edht2/uploads', '/fs/x/../.dht2/uploads', '/fs/.dht2?statfs', '/fs/.dht2?xattrs', '/fs/.dht2%2Fuploads']) {
      for (const method of ['GET', 'HEAD']) {
        const r = await fsReq(method, path);
        assert.equal(r.status, 404, `${method} ${path}: ${r.body}`);
        if (method === 'GET') assert.equal(JSON.parse(r.body).error, 'ENOENT', path);
      }
    }
  });

  it('/fs/: nothing is written, made, moved, linked or deleted under the reserved name', async () => {
    await fsReq('PUT', '/fs/reserved-src.txt', 'src');
    const attempts: Array<[string, string, string?]> = [
      ['PUT', '/fs/.dht2/evil.txt', 'x'], ['PUT', '/fs/.dht2/new/evil.txt?parents=1', 'x'], ['PUT', '/fs/.dht2?mkdir=1'],
      ['PUT', '/fs/.dht2/uploads/x?mkdir=1&parents=1'], ['PUT', `/fs/.dht2/uploads/${uploadId}/part-00001`, 'overwritten'],
      ['PATCH', `/fs/.dht2/uploads/${uploadId}/part-00001?append=1`, 'more'], ['PATCH', `/fs/.dht2/uploads/${uploadId}/part-00001?truncate=0`],
      ['PUT', `/fs/.dht2/uploads/${uploadId}?xattr=user.x`, 'v'], ['DELETE', `/fs/.dht2/uploads/${uploadId}/part-00001`],
      ['DELETE', '/fs/.dht2?recursive=1'], ['DELETE', `/fs/.dht2/uploads/${uploadId}?xattr=user.x`],
      ['POST', `/fs/.dht2/uploads/${uploadId}?op=rename&to=/stolen`], ['POST', `/fs/.dht2/uploads/${uploadId}/part-00001?op=copy&to=/stolen.bin`],
      ['POST', `/fs/.dht2/uploads/${uploadId}/part-00001?op=link&to=/stolen.bin`], ['POST', '/fs/.dht2/uploads?op=chmod&mode=777'],
      ['POST', '/fs/.dht2/link?op=symlink&target=/x'],
      ['POST', '/fs/reserved-src.txt?op=rename&to=/.dht2/uploads/planted'], ['POST', '/fs/reserved-src.txt?op=copy&to=.dht2/planted'],
      ['POST', '/fs/reserved-src.txt?op=link&to=//.dht2/planted'], ['POST', '/fs/reserved-src.txt?op=rename&to=/.dht2'],
    ];
    for (const [method, path, body] of attempts) {
      const r = await fsReq(method, path, body);
      assert.equal(r.status, 403, `${method} ${path}: ${r.status} ${r.body}`);
      assert.equal(JSON.parse(r.body).error, 'EPERM', `${method} ${path}: ${r.body}`);
    }
    // A form upload into the root cannot name a file .dht2 either.
    const boundary = 'reservedb';
    const form = `--${boundary}\r\nContent-Disposition: form-data; name="file"; filename=".dht2"\r\nContent-Type: text/plain\r\n\r\nx\r\n--${boundary}--\r\n`;
    const up = await send('POST', '/fs/', { authorization: basic, 'content-type': `multipart/form-data; boundary=${boundary}`, 'content-length': String(form.length) }, form);
    assert.equal(up.status, 403, up.body);
    assert.equal((await t.gw.volume.stat('/stolen').catch(() => undefined)), undefined);
    assert.equal((await t.gw.volume.stat('/stolen.bin').catch(() => undefined)), undefined);
  });

  it('the upload in staging is intact: it completes with its part', async () => {
    await s3.send(new CompleteMultipartUploadCommand({
      Bucket: BUCKET, Key: 'big.bin', UploadId: uploadId,
      MultipartUpload: { Parts: [{ PartNumber: 1, ETag: `"${createHash('md5').update('part one').digest('hex')}"` }] },
    }));
    const got = await fsReq('GET', `/fs/${BUCKET}/big.bin`);
    assert.equal(got.body, 'part one');
  });

  it('/fs/: a recursive delete of the whole volume leaves the gateway\'s own tree alone', async () => {
    const id = (await s3.send(new CreateMultipartUploadCommand({ Bucket: BUCKET, Key: 'later.bin' }))).UploadId!;
    const wipe = await fsReq('DELETE', '/fs/?recursive=1');
    assert.equal(wipe.status, 204, wipe.body);
    assert.equal((await t.gw.volume.stat(`/.dht2/uploads/${id}`)).type, 'dir');
    assert.equal(await t.gw.volume.stat(`/${BUCKET}`).catch(() => undefined), undefined);
  });
});
