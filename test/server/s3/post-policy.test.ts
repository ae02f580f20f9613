/** The POST policy on its own: parsing and the condition table of sigv4-HTTPPOSTConstructPolicy. */
import assert from 'node:assert/strict';
import { checkPostPolicy, parsePostPolicy, type FormValue } from '../../../server/s3/post-policy.js';

const b64 = (doc: unknown) => Buffer.from(JSON.stringify(doc)).toString('base64');
const later = new Date(Date.now() + 3_600_000).toISOString();
const form = (o: Record<string, string | [string, string]>) =>
  new Map<string, FormValue>(Object.entries(o).map(([k, v]) => [k, typeof v === 'string' ? { value: v, sent: v } : { value: v[0], sent: v[1] }]));

function denied(fn: () => void, message: RegExp): void {
  assert.throws(fn, (e: { code?: string; message?: string }) => e.code === 'AccessDenied' && message.test(e.message ?? ''));
}

describe('S3 POST policy', () => {
  it('parses both condition forms, lower-cases field names and intersects content-length-ranges', () => {
    const p = parsePostPolicy(b64({ expiration: later, conditions: [
      { acl: 'private', Bucket: 'b' }, ['eq', '$Content-Type', 'image/png'], ['starts-with', '$key', 'a/'], ['content-length-range', 1, 100], ['content-length-range', '10', '1000'],
    ] }));
    assert.deepEqual(p.conditions.map((c) => [c.op, c.field, c.value]), [['eq', 'acl', 'private'], ['eq', 'bucket', 'b'], ['eq', 'content-type', 'image/png'], ['starts-with', 'key', 'a/']]);
    assert.deepEqual(p.length, { min: 10, max: 100 });
  });

  it('refuses malformed policies with InvalidPolicyDocument', () => {
    const bad = [
      'not base64!', Buffer.from('{').toString('base64'), b64([]), b64({ conditions: [] }), b64({ expiration: 'tomorrow', conditions: [] }),
      b64({ expiration: later }), b64({ expiration: later, conditions: {} }), b64({ expiration: later, conditions: [['between', '$key', 'a']] }),
      b64({ expiration: later, conditions: [['eq', 'key', 'a']] }), b64({ expiration: later, conditions: [['content-length-range', 10, 1]] }),
      b64({ expiration: later, conditions: [['content-length-range', -1, 1]] }), b64({ expiration: later, conditions: [{ a: 1 }] }), b64({ expiration: later, conditions: [{}] }),
      b64({ expiration: later, conditions: [['starts-with', '$bucket', 'b']] }), b64({ expiration: later, conditions: [['starts-with', '$x-amz-date', '2']] }),
    ];
    for (const p of bad) assert.throws(() => parsePostPolicy(p), (e: { code?: string }) => e.code === 'InvalidPolicyDocument', p);
  });

  it('checks expiry, eq, starts-with (each listed Content-Type), $bucket, values as sent and extra fields', () => {
    const p = parsePostPolicy(b64({ expiration: later, conditions: [
      { bucket: 'b1' }, ['starts-with', '$key', 'user/'], ['starts-with', '$content-type', 'image/'], { 'x-amz-meta-a': '' },
    ] }));
    const ok = { key: 'user/x', 'content-type': 'image/png, image/jpeg' };
    checkPostPolicy(p, form(ok), 'b1');
    checkPostPolicy(p, form({ ...ok, 'x-ignore-me': '1', policy: 'p', 'x-amz-signature': 's', file: '' }), 'b1');
    denied(() => checkPostPolicy(p, form(ok), 'b2'), /Policy Condition failed: \["eq", "\$bucket", "b1"\]/);
    denied(() => checkPostPolicy(p, form({ ...ok, key: 'other/x' }), 'b1'), /\["starts-with", "\$key", "user\/"\]/);
    denied(() => checkPostPolicy(p, form({ ...ok, 'content-type': 'image/png, text/html' }), 'b1'), /\$content-type/);
    denied(() => checkPostPolicy(p, form({ ...ok, 'x-amz-meta-a': 'set' }), 'b1'), /\$x-amz-meta-a/);
    denied(() => checkPostPolicy(p, form({ ...ok, 'x-amz-meta-b': '' }), 'b1'), /^Invalid according to Policy: Extra input fields: x-amz-meta-b$/);
    // ${filename}: a condition holds for the substituted value or the value as sent.
    const exact = parsePostPolicy(b64({ expiration: later, conditions: [{ key: 'up/${filename}' }] }));
    checkPostPolicy(exact, form({ key: ['up/cat.jpg', 'up/${filename}'] }), 'b1');
    const expired = parsePostPolicy(b64({ expiration: new Date(Date.now() - 1000).toISOString(), conditions: [] }));
    denied(() => checkPostPolicy(expired, form({}), 'b1'), /^Invalid according to Policy: Policy expired\.$/);
  });
});
