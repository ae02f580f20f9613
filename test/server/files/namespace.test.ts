/**
 * One namespace seen from both sides (issue 4): an object PUT through S3 is read, listed,
 * renamed and appended to through /fs/, and a file written through /fs/ is read and listed
 * through S3, with Content-Type, stored headers and user metadata kept where both sides have
 * them, and ETags that agree.
 */
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { GetObjectCommand, HeadObjectCommand, ListObjectsV2Command, PutObjectCommand, S3Client } from '@aws-sdk/client-s3';
import request from 'supertest';
import { ACCESS_KEY, SECRET_KEY, sdkClient, startGateway, type TestGateway } from '../../helpers/gateway.js';

const md5 = (s: string) => createHash('md5').update(s).digest('hex');

describe('one namespace: S3 and /fs/', function () {
  this.timeout(120_000);
  let t: TestGateway;
  let s3: S3Client;
  const B = 'both-sides';
  before(async () => {
    t = await startGateway();
    s3 = sdkClient(t.url);
    await t.aws('s3', 'mb', `s3://${B}`);
  });
  after(async () => { s3.destroy(); await t.stop(); });
  const fs = () => request(t.url);

  it('S3 PUT -> /fs/ read, stat, list, rename: type, headers and metadata travel with the file', async () => {
    await s3.send(new PutObjectCommand({
      Bucket: B, Key: 'in/s3.json', Body: '{"a":1}', ContentType: 'application/json', CacheControl: 'max-age=60', Metadata: { owner: 'ann' },
    }));
    const get = await fs().get(`/fs/${B}/in/s3.json`).auth(ACCESS_KEY, SECRET_KEY).buffer(true).parse((res, cb) => { let b = ''; res.on('data', (c: Buffer) => { b += c.toString(); }); res.on('end', () => cb(null, b)); });
    assert.equal(get.status, 200);
    assert.equal(get.body, '{"a":1}');
    assert.equal(get.headers['content-type'], 'application/json');
    assert.equal(get.headers['cache-control'], 'max-age=60');
    assert.equal(get.headers['x-amz-meta-owner'], 'ann');
    assert.equal(get.headers.etag, `"${md5('{"a":1}')}"`, 'the same ETag as S3');
    const st = await fs().get(`/fs/${B}/in/s3.json?stat=1`).auth(ACCESS_KEY, SECRET_KEY);
    assert.deepEqual([st.body.contentType, st.body.metadata], ['application/json', { owner: 'ann' }]);
    const ls = await fs().get(`/fs/${B}/in/`).auth(ACCESS_KEY, SECRET_KEY);
    assert.deepEqual(ls.body.entries.map((e: { name: string }) => e.name), ['s3.json']);
    const mv = await fs().post(`/fs/${B}/in/s3.json?op=rename&to=/${B}/out/moved.json&parents=1`).auth(ACCESS_KEY, SECRET_KEY);
    assert.equal(mv.status, 200, JSON.stringify(mv.body));
    const head = await s3.send(new HeadObjectCommand({ Bucket: B, Key: 'out/moved.json' }));
    assert.deepEqual([head.ContentType, head.CacheControl, head.Metadata?.owner, head.ETag], ['application/json', 'max-age=60', 'ann', `"${md5('{"a":1}')}"`]);
  });

  it('/fs/ PUT -> S3 GET, HEAD, list: Content-Type, stored headers, x-amz-meta-* and the MD5 ETag', async () => {
    const put = await fs().put(`/fs/${B}/web/page.html?parents=1`).auth(ACCESS_KEY, SECRET_KEY)
      .set('content-type', 'text/html').set('content-disposition', 'inline').set('x-amz-meta-lang', 'en').send('<p>hi</p>');
    assert.equal(put.status, 201);
    const got = await s3.send(new GetObjectCommand({ Bucket: B, Key: 'web/page.html' }));
    assert.equal(await got.Body!.transformToString(), '<p>hi</p>');
    assert.deepEqual([got.ContentType, got.ContentDisposition, got.Metadata?.lang, got.ETag], ['text/html', 'inline', 'en', `"${md5('<p>hi</p>')}"`]);
    const list = await s3.send(new ListObjectsV2Command({ Bucket: B, Prefix: 'web/' }));
    assert.deepEqual(list.Contents?.map((c) => [c.Key, c.Size, c.ETag]), [['web/page.html', 9, `"${md5('<p>hi</p>')}"`]]);
    // An uploaded form part keeps its own Content-Type.
    const up = await fs().post(`/fs/${B}/web/`).auth(ACCESS_KEY, SECRET_KEY).attach('file', Buffer.from('a,b\n'), { filename: 'data.csv', contentType: 'text/csv' });
    assert.equal(up.status, 201, JSON.stringify(up.body));
    assert.equal((await s3.send(new HeadObjectCommand({ Bucket: B, Key: 'web/data.csv' }))).ContentType, 'text/csv');
  });

  it('a write in place drops the stored MD5: both sides then agree on an ETag that changes with the bytes', async () => {
    await s3.send(new PutObjectCommand({ Bucket: B, Key: 'log.txt', Body: 'one\n', ContentType: 'text/plain' }));
    const before = (await s3.send(new HeadObjectCommand({ Bucket: B, Key: 'log.txt' }))).ETag;
    assert.equal(before, `"${md5('one\n')}"`);
    const ap = await fs().patch(`/fs/${B}/log.txt?append=1`).auth(ACCESS_KEY, SECRET_KEY).send('two\n');
    assert.equal(ap.status, 200);
    const head = await s3.send(new HeadObjectCommand({ Bucket: B, Key: 'log.txt' }));
    assert.notEqual(head.ETag, before);
    assert.match(head.ETag!, /^"[0-9a-f]{32}"$/);
    assert.equal(head.ContentType, 'text/plain', 'the type stays');
    assert.equal(head.ContentLength, 8);
    const get = await fs().get(`/fs/${B}/log.txt`).auth(ACCESS_KEY, SECRET_KEY);
    assert.equal(get.headers.etag, head.ETag, 'both APIs give the same ETag');
  });
});
