/**
 * Issue 14, "Bad input stored": whatever is stored can be sent back. Header values and user
 * metadata are checked on the way in (PutObject, CopyObject REPLACE, CreateMultipartUpload,
 * PostObject fields, the file API's PUT); non-ASCII user metadata is stored as text and returned
 * RFC 2047 encoded, as S3 does ("Working with object metadata",
 * https://docs.aws.amazon.com/AmazonS3/latest/userguide/UsingMetadata.html#UserMetadata);
 * `response-*` overrides that are not header values are a 400; an object whose metadata was
 * stored bad (by an older gateway, or behind the gateway's back) is still served.
 * Through a real gateway over real bricks: raw signed requests (aws4, so header bytes are
 * exactly what the test says), the SDK v3, and PostObject forms.
 */
import assert from 'node:assert/strict';
import { createHmac } from 'node:crypto';
import http from 'node:http';
import net from 'node:net';
import { CopyObjectCommand, GetObjectCommand, HeadObjectCommand, PutObjectCommand, type S3Client } from '@aws-sdk/client-s3';
import aws4 from 'aws4';
import { META_XATTR, encodeMeta } from '../../../server/objects/index.js';
import { ACCESS_KEY, SECRET_KEY, sdkClient, startGateway, type TestGateway } from '../../helpers/gateway.js';

process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED = 'true';

const BUCKET = 'meta-values';

interface Reply { status: number; headers: http.IncomingHttpHeaders; body: string }

/** UTF-8 text as the header bytes a client sends raw (Node's header strings are latin1: one char per byte). */
const rawUtf8 = (s: string) => Buffer.from(s, 'utf8').toString('latin1');
/** What a client does with an RFC 2047 `=?UTF-8?B?...?=` value (the SDK v3 hands it over as it is). */
function decodeWord(v: string | undefined): string | undefined {
  const m = /^=\?UTF-8\?B\?([A-Za-z0-9+/=]*)\?=$/i.exec(v ?? '');
  return m ? Buffer.from(m[1]!, 'base64').toString('utf8') : v;
}
const b64word = (s: string) => `=?UTF-8?B?${Buffer.from(s, 'utf8').toString('base64')}?=`;

describe('metadata values: whatever is stored can be sent back (issue 14)', function () {
  this.timeout(120_000);
  let t: TestGateway;
  let s3: S3Client;
  let host: string;
  let port: number;
  const basic = `Basic ${Buffer.from(`${ACCESS_KEY}:${SECRET_KEY}`).toString('base64')}`;

  before(async () => {
    t = await startGateway();
    host = new URL(t.url).host;
    port = Number(new URL(t.url).port);
    s3 = sdkClient(t.url);
    assert.equal((await signed('PUT', `/${BUCKET}`)).status, 200);
    assert.equal((await signed('PUT', `/${BUCKET}/source`, 'the source')).status, 200);
  });
  after(async () => {
    s3.destroy();
    await t.stop();
  });

  function send(method: string, path: string, headers: http.OutgoingHttpHeaders, body?: string): Promise<Reply> {
    return new Promise((resolve, reject) => {
      const req = http.request({ host: '127.0.0.1', port, method, path, headers, agent: false }, (res) => {
        let b = '';
        res.on('data', (c: Buffer) => { b += c.toString(); });
        res.on('end', () => resolve({ status: res.statusCode!, headers: res.headers, body: b }));
      });
      req.on('error', reject);
      // A Buffer: a string body sent with the headers would make Node write the header bytes as UTF-8 too.
      req.end(body === undefined ? undefined : Buffer.from(body));
    });
  }

  function signed(method: string, path: string, body?: string, headers: Record<string, string> = {}): Promise<Reply> {
    const o = aws4.sign({ host, method, path, body, service: 's3', region: 'us-east-1', headers: { ...headers } }, { accessKeyId: ACCESS_KEY, secretAccessKey: SECRET_KEY });
    return send(method, path, o.headers as http.OutgoingHttpHeaders, body);
  }

  const code = (r: Reply) => /<Code>([^<]+)<\/Code>/.exec(r.body)?.[1];

  function assertInvalid(r: Reply, what: string): void {
    assert.equal(r.status, 400, `${what}: ${r.status} ${r.body}`);
    assert.equal(code(r), 'InvalidArgument', `${what}: ${r.body}`);
  }

  async function absent(key: string): Promise<void> {
    assert.equal((await signed('HEAD', `/${BUCKET}/${key}`)).status, 404, `${key} must not be stored`);
  }

  it('raw UTF-8 user metadata is stored as text and returned RFC 2047 encoded; the SDK v3 reads it back', async () => {
    const city = 'Zürich 東京';
    const put = await signed('PUT', `/${BUCKET}/utf8`, 'x', { 'x-amz-meta-city': rawUtf8(city), 'x-amz-meta-plain': 'ascii only' });
    assert.equal(put.status, 200, put.body);
    for (const method of ['GET', 'HEAD']) {
      const r = await signed(method, `/${BUCKET}/utf8`);
      assert.equal(r.status, 200, r.body);
      assert.equal(r.headers['x-amz-meta-city'], b64word(city));
      assert.equal(r.headers['x-amz-meta-plain'], 'ascii only');
    }
    const got = await s3.send(new GetObjectCommand({ Bucket: BUCKET, Key: 'utf8' }));
    await got.Body!.transformToString();
    assert.equal(decodeWord(got.Metadata?.city), city);
    assert.equal(got.Metadata?.plain, 'ascii only');
    // The file API shows the same text.
    const st = JSON.parse((await send('GET', `/fs/${BUCKET}/utf8?stat=1`, { authorization: basic })).body) as { metadata: Record<string, string> };
    assert.deepEqual(st.metadata, { city, plain: 'ascii only' });
  });

  it('RFC 2047 encoded user metadata (B and Q) is decoded before it is stored, as S3 does', async () => {
    const note = 'naïve café ✓';
    await s3.send(new PutObjectCommand({ Bucket: BUCKET, Key: 'rfc2047', Body: 'y', Metadata: { note: b64word(note), q: '=?utf-8?Q?caf=C3=A9_au_lait?=' } }));
    const h = await s3.send(new HeadObjectCommand({ Bucket: BUCKET, Key: 'rfc2047' }));
    assert.equal(decodeWord(h.Metadata?.note), note);
    assert.equal(decodeWord(h.Metadata?.q), 'café au lait');
    const st = JSON.parse((await send('GET', `/fs/${BUCKET}/rfc2047?stat=1`, { authorization: basic })).body) as { metadata: Record<string, string> };
    assert.deepEqual(st.metadata, { note, q: 'café au lait' });
  });

  it('a stored header sent as raw UTF-8 (Content-Disposition) comes back byte for byte', async () => {
    const disposition = rawUtf8('attachment; filename="résumé.pdf"');
    // Written on a socket: Node's HTTP client rewrites a Content-Disposition value it is given.
    const o = aws4.sign({ host, method: 'PUT', path: `/${BUCKET}/disposition`, body: 'z', service: 's3', region: 'us-east-1', headers: { 'content-disposition': disposition, 'content-type': 'application/pdf' } },
      { accessKeyId: ACCESS_KEY, secretAccessKey: SECRET_KEY });
    const head = Object.entries(o.headers as Record<string, string | number>).map(([k, v]) => `${k}: ${v}\r\n`).join('');
    const status = await new Promise<string>((resolve, reject) => {
      const sock = net.connect(port, '127.0.0.1', () => sock.write(Buffer.from(`PUT /${BUCKET}/disposition HTTP/1.1\r\n${head}connection: close\r\n\r\nz`, 'latin1')));
      let b = '';
      sock.on('data', (c: Buffer) => { b += c.toString('latin1'); });
      sock.on('close', () => resolve(b.split('\r\n')[0]!));
      sock.on('error', reject);
    });
    assert.equal(status, 'HTTP/1.1 200 OK');
    const r = await signed('GET', `/${BUCKET}/disposition`);
    assert.equal(r.status, 200);
    assert.equal(r.headers['content-disposition'], disposition);
    const f = await send('GET', `/fs/${BUCKET}/disposition`, { authorization: basic });
    assert.equal(f.status, 200);
    assert.equal(f.headers['content-disposition'], disposition);
  });

  it('multipart: raw UTF-8 metadata of CreateMultipartUpload is on the completed object; an upload begun by an older gateway too', async () => {
    const city = 'Zürich 東京';
    async function upload(key: string, old: boolean): Promise<Reply> {
      const init = await signed('POST', `/${BUCKET}/${key}?uploads`, undefined, { 'x-amz-meta-city': rawUtf8(city) });
      assert.equal(init.status, 200, init.body);
      const id = /<UploadId>([^<]+)</.exec(init.body)![1]!;
      if (old) {
        // What an older gateway stored: the header's bytes as a latin1 string, no metadata version.
        const path = `/.dht2/uploads/${id}`;
        const info = JSON.parse((await t.gw.volume.getxattr(path, 's3upload')).toString('utf8')) as { meta: { meta: Record<string, string> }; metaV?: number };
        assert.equal(info.meta.meta.city, city);
        info.meta.meta.city = rawUtf8(city);
        delete info.metaV;
        await t.gw.volume.setxattr(path, 's3upload', Buffer.from(JSON.stringify(info), 'utf8'));
      }
      const part = await signed('PUT', `/${BUCKET}/${key}?partNumber=1&uploadId=${id}`, 'one part');
      assert.equal(part.status, 200, part.body);
      const done = await signed('POST', `/${BUCKET}/${key}?uploadId=${id}`,
        `<CompleteMultipartUpload><Part><PartNumber>1</PartNumber><ETag>${part.headers.etag}</ETag></Part></CompleteMultipartUpload>`);
      assert.equal(done.status, 200, done.body);
      return signed('HEAD', `/${BUCKET}/${key}`);
    }
    for (const old of [false, true]) {
      const h = await upload(`mpu-${old ? 'old' : 'new'}`, old);
      assert.equal(h.status, 200);
      assert.equal(h.headers['x-amz-meta-city'], b64word(city), old ? 'an upload begun before' : 'a new upload');
    }
  });

  it('CR, LF, NUL in user metadata → 400 InvalidArgument and nothing stored (PutObject, CopyObject REPLACE, CreateMultipartUpload, /fs/ PUT)', async () => {
    // Node's parser refuses raw control characters in a header itself; encoded words carry them past it.
    for (const [i, bad] of [b64word('a\r\nb'), b64word('a\nSet-Cookie: x=1'), b64word('nul\0'), '=?UTF-8?Q?a=0Db?=', b64word('del\x7f')].entries()) {
      assertInvalid(await signed('PUT', `/${BUCKET}/bad-put-${i}`, 'data', { 'x-amz-meta-evil': bad }), `PutObject ${bad}`);
      await absent(`bad-put-${i}`);
      assertInvalid(await signed('PUT', `/${BUCKET}/bad-copy-${i}`, undefined, {
        'x-amz-copy-source': `/${BUCKET}/source`, 'x-amz-metadata-directive': 'REPLACE', 'x-amz-meta-evil': bad,
      }), `CopyObject ${bad}`);
      await absent(`bad-copy-${i}`);
      assertInvalid(await signed('POST', `/${BUCKET}/bad-mpu-${i}?uploads`, undefined, { 'x-amz-meta-evil': bad }), `CreateMultipartUpload ${bad}`);
      const f = await send('PUT', `/fs/${BUCKET}/bad-fs-${i}`, { authorization: basic, 'x-amz-meta-evil': bad }, 'data');
      assert.equal(f.status, 400, f.body);
      assert.equal((JSON.parse(f.body) as { error: string }).error, 'EINVAL');
      await absent(`bad-fs-${i}`);
    }
    const uploads = await signed('GET', `/${BUCKET}?uploads`);
    assert.doesNotMatch(uploads.body, /<Upload>/, 'no multipart upload was started');
    // The SDK v3's own copy with REPLACE too.
    await assert.rejects(s3.send(new CopyObjectCommand({
      Bucket: BUCKET, Key: 'bad-sdk-copy', CopySource: `${BUCKET}/source`, MetadataDirective: 'REPLACE', Metadata: { evil: b64word('x\r\ny') },
    })), (e: Error) => e.name === 'InvalidArgument');
    await absent('bad-sdk-copy');
  });

  it('metadata too large for the inode → 400 MetadataTooLarge, nothing stored (was 507 InsufficientStorage); the most that is allowed round-trips', async () => {
    // Found by test/server/fuzz.test.ts: a 9000-byte Expires on CreateMultipartUpload.
    const huge = { expires: 'x'.repeat(9000) };
    const tooLarge = (r: Reply, what: string): void => {
      assert.equal(r.status, 400, `${what}: ${r.status} ${r.body}`);
      assert.equal(code(r), 'MetadataTooLarge', `${what}: ${r.body}`);
    };
    tooLarge(await signed('PUT', `/${BUCKET}/big-put`, 'data', huge), 'PutObject');
    await absent('big-put');
    tooLarge(await signed('POST', `/${BUCKET}/big-mpu?uploads`, undefined, { 'cache-control': 'c'.repeat(4000) }), 'CreateMultipartUpload');
    tooLarge(await signed('PUT', `/${BUCKET}/big-copy`, undefined, {
      'x-amz-copy-source': `/${BUCKET}/source`, 'x-amz-metadata-directive': 'REPLACE', 'content-disposition': 'd'.repeat(5000),
    }), 'CopyObject REPLACE');
    await absent('big-copy');
    tooLarge(await signed('PUT', `/${BUCKET}/big-user`, 'data', { 'x-amz-meta-a': 'u'.repeat(2100) }), 'PutObject, over 2 KB of x-amz-meta-*');
    const f = await send('PUT', `/fs/${BUCKET}/big-fs`, { authorization: basic, 'content-disposition': 'd'.repeat(5000) }, 'data');
    assert.equal(f.status, 400, f.body);
    await absent('big-fs');
    const uploads = await signed('GET', `/${BUCKET}?uploads`);
    assert.doesNotMatch(uploads.body, /big-mpu/, 'no multipart upload was started');
    // 2 KB of user metadata and about 850 bytes of stored headers: within the limit, and served.
    const most = { 'x-amz-meta-a': 'u'.repeat(2040), 'cache-control': 'c'.repeat(400), 'content-disposition': 'd'.repeat(400) };
    assert.equal((await signed('PUT', `/${BUCKET}/most`, 'data', most)).status, 200);
    const back = await signed('HEAD', `/${BUCKET}/most`);
    assert.equal(back.status, 200);
    assert.equal(back.headers['x-amz-meta-a'], 'u'.repeat(2040));
    assert.equal(back.headers['cache-control'], 'c'.repeat(400));
  });

  it('PostObject: a stored field (x-amz-meta-*, Content-Disposition) with CR or LF → 400 InvalidArgument, nothing stored; UTF-8 fields round-trip', async () => {
    const REGION = 'us-east-1';
    const hmac = (key: Buffer | string, data: string) => createHmac('sha256', key).update(data).digest();
    async function post(key: string, extra: Array<[string, string]>): Promise<Reply> {
      const amzDate = new Date().toISOString().replace(/[-:]|\.\d{3}/g, '');
      const sig: Array<[string, string]> = [
        ['x-amz-algorithm', 'AWS4-HMAC-SHA256'], ['x-amz-credential', `${ACCESS_KEY}/${amzDate.slice(0, 8)}/${REGION}/s3/aws4_request`], ['x-amz-date', amzDate],
      ];
      const conditions = [{ bucket: BUCKET }, { key }, ...extra.map(([k]) => ['starts-with', `$${k}`, '']), ...sig.map(([k, v]) => ({ [k]: v }))];
      const policy = Buffer.from(JSON.stringify({ expiration: new Date(Date.now() + 600_000).toISOString(), conditions })).toString('base64');
      const kSigning = hmac(hmac(hmac(hmac(`AWS4${SECRET_KEY}`, amzDate.slice(0, 8)), REGION), 's3'), 'aws4_request');
      const form = new FormData();
      for (const [k, v] of [['key', key], ...extra, ...sig, ['policy', policy], ['x-amz-signature', hmac(kSigning, policy).toString('hex')]]) form.append(k!, v!);
      form.append('file', new Blob(['posted']), 'f.txt');
      const res = await fetch(`${t.url}/${BUCKET}`, { method: 'POST', body: form });
      return { status: res.status, headers: {}, body: await res.text() };
    }
    for (const [i, field] of ([['x-amz-meta-evil', 'a\r\nb'], ['x-amz-meta-evil', 'nul\0'], ['Content-Disposition', 'inline\r\nSet-Cookie: x=1'], ['Cache-Control', 'x\x7f']] as const).entries()) {
      assertInvalid(await post(`post-bad-${i}`, [[field[0], field[1]]]), `PostObject ${JSON.stringify(field)}`);
      await absent(`post-bad-${i}`);
    }
    const ok = await post('post-utf8', [['x-amz-meta-who', 'Åsa 東'], ['Content-Disposition', 'inline; filename="ü.txt"']]);
    assert.equal(ok.status, 204, ok.body);
    const r = await signed('GET', `/${BUCKET}/post-utf8`);
    assert.equal(r.status, 200, r.body);
    assert.equal(decodeWord(r.headers['x-amz-meta-who'] as string), 'Åsa 東');
    assert.equal(r.headers['content-disposition'], rawUtf8('inline; filename="ü.txt"'));
  });

  it('response-* overrides that are not header values → 400 InvalidArgument, never 500; valid ones apply', async () => {
    for (const q of ['response-content-disposition=%7F', 'response-expires=%00', 'response-content-language=a%0Ab', 'response-content-type=text%0D%0AX-Evil:%201',
      'response-cache-control=%01', 'response-content-encoding=gzip%0A']) {
      for (const method of ['GET', 'HEAD']) {
        const r = await signed(method, `/${BUCKET}/source?${q}`);
        assert.equal(r.status, 400, `${method} ?${q}: ${r.status}`);
        if (method === 'GET') assert.equal(code(r), 'InvalidArgument', r.body);
      }
    }
    // Refused before the object is looked up: the same 400 for a key that does not exist.
    assertInvalid(await signed('GET', `/${BUCKET}/no-such-key?response-expires=%00`), 'absent key');
    const r = await signed('GET', `/${BUCKET}/source?response-content-disposition=${encodeURIComponent('attachment; filename="ü.txt"')}&response-content-type=text%2Fplain`);
    assert.equal(r.status, 200);
    assert.equal(r.body, 'the source');
    assert.equal(r.headers['content-disposition'], rawUtf8('attachment; filename="ü.txt"'));
    assert.equal(r.headers['content-type'], 'text/plain');
  });

  it('an object whose metadata was stored bad (before values were checked) is still served, never a 500', async () => {
    assert.equal((await signed('PUT', `/${BUCKET}/old`, 'old bytes')).status, 200);
    // The format an older gateway wrote (no version): header bytes as a latin1 string, nothing checked.
    const old = {
      etag: 'd41d8cd98f00b204e9800998ecf8427e', contentType: 'text/plain\x7f',
      headers: { 'content-disposition': 'a\r\nb', 'cache-control': 'max-age=5', 'content-language': '東京' },
      meta: { crlf: 'x\r\ny', raw: rawUtf8('grüße'), ok: 'fine', 'bad name': 'v' },
    };
    await t.gw.volume.setxattr(`/${BUCKET}/old`, META_XATTR, Buffer.from(JSON.stringify(old), 'utf8'));
    for (const method of ['GET', 'HEAD']) {
      const r = await signed(method, `/${BUCKET}/old`);
      assert.equal(r.status, 200, `${method}: ${r.body}`);
      assert.equal(r.headers['content-type'], 'binary/octet-stream');
      assert.equal(r.headers['content-disposition'], undefined);
      assert.equal(r.headers['cache-control'], 'max-age=5');
      assert.equal(r.headers['content-language'], rawUtf8('東京'));
      assert.equal(decodeWord(r.headers['x-amz-meta-crlf'] as string), 'x\r\ny');
      assert.equal(decodeWord(r.headers['x-amz-meta-raw'] as string), 'grüße');
      assert.equal(r.headers['x-amz-meta-ok'], 'fine');
      if (method === 'GET') assert.equal(r.body, 'old bytes');
    }
    const f = await send('GET', `/fs/${BUCKET}/old`, { authorization: basic });
    assert.equal(f.status, 200, f.body);
    assert.equal(f.body, 'old bytes');
    assert.equal(f.headers['x-amz-meta-ok'], 'fine');
    // A metadata xattr that is not even JSON: the object is served without metadata.
    await t.gw.volume.setxattr(`/${BUCKET}/old`, META_XATTR, Buffer.from('\x00\xff{not json', 'latin1'));
    const g = await signed('GET', `/${BUCKET}/old`);
    assert.equal(g.status, 200);
    assert.equal(g.body, 'old bytes');
    // And what the gateway writes now reads back as it was written.
    await t.gw.volume.setxattr(`/${BUCKET}/old`, META_XATTR, Buffer.from(encodeMeta({ etag: 'e', contentType: 'text/plain', meta: { who: 'Zoë' } }), 'base64'));
    const n = await signed('HEAD', `/${BUCKET}/old`);
    assert.equal(decodeWord(n.headers['x-amz-meta-who'] as string), 'Zoë');
  });
});
