/**
 * Issue 15: one evaluation of conditional requests for every API and operation
 * (server/objects/conditions.ts), by RFC 9110 §13.1.1 (If-Match compares strongly, If-None-Match
 * weakly) and §13.2.2 (the order). Before it, GetObject compared both weakly, a copy's
 * x-amz-copy-source-if-* compared both strongly and only quoted: the rows marked "fix" failed.
 */
import assert from 'node:assert/strict';
import { CopyObjectCommand, GetObjectCommand, PutObjectCommand, S3Client } from '@aws-sdk/client-s3';
import { evaluateConditions, type Conditions } from '../../../server/objects/index.js';
import { sdkClient, startGateway, type TestGateway } from '../../helpers/gateway.js';

const ETAG = '"0123456789abcdef0123456789abcdef"';
const MTIME = Date.parse('Wed, 01 Apr 2026 10:00:00 GMT');
const BEFORE = 'Wed, 01 Apr 2026 09:00:00 GMT';
const AFTER = 'Wed, 01 Apr 2026 11:00:00 GMT';

describe('conditional requests: one evaluation (issue 15)', () => {
  const rows: Array<[string, Conditions, ReturnType<typeof evaluateConditions>]> = [
    ['no conditions', {}, 'pass'],
    ['If-Match the ETag', { ifMatch: ETAG }, 'pass'],
    ['If-Match unquoted', { ifMatch: ETAG.replaceAll('"', '') }, 'pass'],
    ['If-Match in a list', { ifMatch: `"x", ${ETAG}` }, 'pass'],
    ['If-Match *', { ifMatch: '*' }, 'pass'],
    ['If-Match another', { ifMatch: '"x"' }, 'failed'],
    ['If-Match weak: strong comparison never matches (fix)', { ifMatch: `W/${ETAG}` }, 'failed'],
    ['If-None-Match the ETag', { ifNoneMatch: ETAG }, 'not-modified'],
    ['If-None-Match weak: weak comparison matches', { ifNoneMatch: `W/${ETAG}` }, 'not-modified'],
    ['If-None-Match *', { ifNoneMatch: '*' }, 'not-modified'],
    ['If-None-Match another', { ifNoneMatch: '"x"' }, 'pass'],
    ['If-Unmodified-Since before', { ifUnmodifiedSince: BEFORE }, 'failed'],
    ['If-Unmodified-Since after', { ifUnmodifiedSince: AFTER }, 'pass'],
    ['If-Unmodified-Since ignored under If-Match', { ifMatch: ETAG, ifUnmodifiedSince: BEFORE }, 'pass'],
    ['If-Modified-Since after', { ifModifiedSince: AFTER }, 'not-modified'],
    ['If-Modified-Since before', { ifModifiedSince: BEFORE }, 'pass'],
    ['If-Modified-Since ignored under If-None-Match', { ifNoneMatch: '"x"', ifModifiedSince: AFTER }, 'pass'],
    ['an unparsable date is ignored', { ifUnmodifiedSince: 'yesterday', ifModifiedSince: 'Mon, 32 Foo 2026' }, 'pass'],
    ['If-Match holds, If-None-Match matches', { ifMatch: ETAG, ifNoneMatch: ETAG }, 'not-modified'],
  ];
  for (const [name, c, want] of rows) {
    it(name, () => assert.equal(evaluateConditions(c, ETAG, MTIME), want));
  }

  describe('through S3 (AWS SDK, real gateway and bricks)', function () {
    this.timeout(120_000);
    let t: TestGateway;
    let s3: S3Client;
    let etag = '';
    const code = (p: Promise<unknown>): Promise<string> => p.then(() => 'ok', (e: { name?: string; $metadata?: { httpStatusCode?: number } }) => `${e.$metadata?.httpStatusCode} ${e.name}`);

    before(async () => {
      t = await startGateway();
      s3 = sdkClient(t.url);
      await t.aws('s3', 'mb', 's3://cond');
      etag = (await s3.send(new PutObjectCommand({ Bucket: 'cond', Key: 'src', Body: 'source bytes' }))).ETag!;
    });
    after(async () => { s3.destroy(); await t.stop(); });

    it('GetObject: If-Match with a weak tag fails (strong comparison; fix)', async () => {
      assert.equal(await code(s3.send(new GetObjectCommand({ Bucket: 'cond', Key: 'src', IfMatch: `W/${etag}` }))), '412 PreconditionFailed');
      assert.equal(await code(s3.send(new GetObjectCommand({ Bucket: 'cond', Key: 'src', IfMatch: etag }))), 'ok');
    });

    it('CopyObject: x-amz-copy-source-if-none-match compares weakly (fix), -if-match takes an unquoted ETag (fix)', async () => {
      const copy = (c: { CopySourceIfNoneMatch?: string; CopySourceIfMatch?: string }) =>
        code(s3.send(new CopyObjectCommand({ Bucket: 'cond', Key: 'dst', CopySource: 'cond/src', ...c })));
      assert.equal(await copy({ CopySourceIfNoneMatch: `W/${etag}` }), '412 PreconditionFailed');
      assert.equal(await copy({ CopySourceIfMatch: etag.replaceAll('"', '') }), 'ok');
      assert.equal(await copy({ CopySourceIfMatch: `W/${etag}` }), '412 PreconditionFailed');
      assert.equal(await copy({ CopySourceIfNoneMatch: '"other"' }), 'ok');
    });
  });
});
