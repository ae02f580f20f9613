import assert from 'node:assert/strict';
import { createHmac } from 'node:crypto';

import { StaticCredentials, authenticate, type AuthRequest } from '../../../server/auth/index.js';
import { KEY_ID, OTHER_SECRET, SECRET, creds, expectAuthError } from './helpers.js';

/** HMAC-SHA1/base64 of a StringToSign written out by hand in each test. */
function sign(stringToSign: string, secret = SECRET): string {
  return createHmac('sha1', secret).update(stringToSign, 'utf8').digest('base64');
}

const MIN = 60_000;

describe('auth/sigv2: AWS documentation examples ("Signing and Authenticating REST Requests")', () => {
  const docCreds = new StaticCredentials([['AKIAIOSFODNN7EXAMPLE', 'wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY']]);
  const at = new Date('2007-03-27T19:36:42Z');

  it('virtual-hosted GET Object (header)', () => {
    for (const [bucket, sig] of [['johnsmith', 'bWq2s1WEIj+Ydj0vQ697zp+IXMU='], ['awsexamplebucket1', 'qgk2+6Sv9/oM7G3qLEjTH1a1l1g=']]) {
      const req: AuthRequest = {
        method: 'GET', rawPath: '/photos/puppy.jpg', rawQuery: '', virtualHostedBucket: bucket,
        headers: { host: `${bucket}.s3.amazonaws.com`, date: 'Tue, 27 Mar 2007 19:36:42 +0000', authorization: `AWS AKIAIOSFODNN7EXAMPLE:${sig}` },
      };
      const r = authenticate(req, docCreds, at);
      assert.equal(r.scheme, 'sigv2-header');
      assert.deepEqual(r.payload, { kind: 'unsigned' });
      // Without the virtual-hosted bucket the CanonicalizedResource differs.
      expectAuthError(() => authenticate({ ...req, virtualHostedBucket: undefined }, docCreds, at), 'SignatureDoesNotMatch');
    }
  });

  it('query string authentication', () => {
    const req: AuthRequest = {
      method: 'GET', rawPath: '/photos/puppy.jpg', virtualHostedBucket: 'johnsmith', headers: { host: 'johnsmith.s3.amazonaws.com' },
      rawQuery: 'AWSAccessKeyId=AKIAIOSFODNN7EXAMPLE&Signature=NpgCjnDzrM%2BWFzoENXmpNDUsSn8%3D&Expires=1175139620',
    };
    assert.equal(authenticate(req, docCreds, at).scheme, 'sigv2-query');
    expectAuthError(() => authenticate(req, docCreds, new Date(1175139621_000)), 'AccessDenied', 'Request has expired');
    // The signature's '+' sent unescaped is still a '+'.
    assert.equal(authenticate({ ...req, rawQuery: req.rawQuery.replace('%2B', '+') }, docCreds, at).accessKeyId, 'AKIAIOSFODNN7EXAMPLE');
  });
});

describe('auth/sigv2: header', () => {
  const date = new Date().toUTCString();

  function request(over: Partial<AuthRequest> = {}, headers: Record<string, string> = {}): AuthRequest {
    return { method: 'PUT', rawPath: '/bucket/dir/a%20b%2Bc%C3%BC.txt', rawQuery: '', ...over, headers: { host: '127.0.0.1:9000', date, ...headers } };
  }

  it('signs method, Content-MD5, Content-Type, Date, x-amz-* headers and sub-resources', () => {
    const sts =
      'PUT\n1B2M2Y8AsgTpgAmY7PhCfg==\ntext/plain\n' + date + '\n' +
      'x-amz-acl:public-read\nx-amz-meta-a:one,two\nx-amz-meta-b:x y\n' +
      '/bucket/dir/a%20b%2Bc%C3%BC.txt?partNumber=3&response-content-disposition=attachment; filename="x y"&uploadId=ab+c/d';
    const headers = {
      'content-md5': '1B2M2Y8AsgTpgAmY7PhCfg==', 'content-type': 'text/plain', 'x-amz-acl': 'public-read',
      'x-amz-meta-b': '  x y ', 'x-amz-meta-a': 'one,two', authorization: `AWS ${KEY_ID}:${sign(sts)}`,
    };
    // prefix/max-keys are not sub-resources: not signed, in any order.
    const rawQuery = 'uploadId=ab%2Bc%2Fd&prefix=zz&partNumber=3&response-content-disposition=attachment%3B%20filename%3D%22x%20y%22';
    const req = request({ rawQuery }, headers);
    assert.equal(authenticate(req, creds).accessKeyId, KEY_ID);

    expectAuthError(() => authenticate({ ...req, method: 'POST' }, creds), 'SignatureDoesNotMatch');
    expectAuthError(() => authenticate({ ...req, rawPath: '/bucket/dir/other' }, creds), 'SignatureDoesNotMatch');
    expectAuthError(() => authenticate({ ...req, rawQuery: rawQuery.replace('partNumber=3', 'partNumber=4') }, creds), 'SignatureDoesNotMatch');
    expectAuthError(() => authenticate({ ...req, rawQuery: rawQuery + '&versionId=1' }, creds), 'SignatureDoesNotMatch');
    expectAuthError(() => authenticate({ ...req, headers: { ...req.headers, 'x-amz-acl': 'private' } }, creds), 'SignatureDoesNotMatch');
    expectAuthError(() => authenticate({ ...req, headers: { ...req.headers, 'x-amz-meta-c': 'new' } }, creds), 'SignatureDoesNotMatch');
    expectAuthError(() => authenticate({ ...req, headers: { ...req.headers, 'content-type': 'text/html' } }, creds), 'SignatureDoesNotMatch');
    expectAuthError(() => authenticate({ ...req, headers: { ...req.headers, 'content-md5': 'XrY7u+Ae7tCTyyK7j1rNww==' } }, creds), 'SignatureDoesNotMatch');
    expectAuthError(() => authenticate({ ...req, headers: { ...req.headers, authorization: `AWS ${KEY_ID}:${sign(sts, OTHER_SECRET)}` } }, creds), 'SignatureDoesNotMatch');
    // A non-sub-resource parameter is outside SigV2's coverage (that is the protocol).
    assert.equal(authenticate({ ...req, rawQuery: rawQuery.replace('prefix=zz', 'prefix=yy') }, creds).accessKeyId, KEY_ID);
  });

  it('valueless sub-resources (?acl, ?uploads) are signed without "="', () => {
    const sts = `POST\n\n\n${date}\n/bucket/key?uploads`;
    const req = request({ method: 'POST', rawPath: '/bucket/key', rawQuery: 'uploads' }, { authorization: `AWS ${KEY_ID}:${sign(sts)}` });
    assert.equal(authenticate(req, creds).accessKeyId, KEY_ID);
    expectAuthError(() => authenticate({ ...req, rawQuery: 'acl' }, creds), 'SignatureDoesNotMatch');
  });

  it('a path-style bucket request "/bucket" is signed as "/bucket/" (botocore, AWS example)', () => {
    const sts = `GET\n\n\n${date}\n/bucket/?acl`;
    const req = request({ method: 'GET', rawPath: '/bucket', rawQuery: 'acl&prefix=x' }, { authorization: `AWS ${KEY_ID}:${sign(sts)}` });
    assert.equal(authenticate(req, creds).accessKeyId, KEY_ID);
    expectAuthError(() => authenticate({ ...req, rawPath: '/bucket2' }, creds), 'SignatureDoesNotMatch');
  });

  it('x-amz-date replaces Date: the Date line is empty', () => {
    const xdate = new Date().toUTCString();
    const sts = `GET\n\n\n\nx-amz-date:${xdate}\n/bucket/k`;
    const req: AuthRequest = {
      method: 'GET', rawPath: '/bucket/k', rawQuery: '',
      headers: { host: 'h', 'x-amz-date': xdate, authorization: `AWS ${KEY_ID}:${sign(sts)}` },
    };
    assert.equal(authenticate(req, creds).accessKeyId, KEY_ID);
  });

  it('rejects skew, unknown keys, malformed headers, missing dates, session tokens', () => {
    const sts = `GET\n\n\n${date}\n/bucket/k`;
    const req = request({ method: 'GET', rawPath: '/bucket/k' }, { authorization: `AWS ${KEY_ID}:${sign(sts)}` });
    assert.equal(authenticate(req, creds).accessKeyId, KEY_ID);
    expectAuthError(() => authenticate(req, creds, new Date(Date.now() + 16 * MIN)), 'RequestTimeTooSkewed');
    expectAuthError(() => authenticate({ ...req, headers: { ...req.headers, authorization: `AWS AKIDNOPE:${sign(sts)}` } }, creds), 'InvalidAccessKeyId');
    expectAuthError(() => authenticate({ ...req, headers: { ...req.headers, authorization: `AWS ${KEY_ID}` } }, creds), 'InvalidArgument');
    expectAuthError(() => authenticate({ ...req, headers: { host: 'h', authorization: `AWS ${KEY_ID}:${sign(sts)}` } }, creds), 'AccessDenied');
    expectAuthError(() => authenticate({ ...req, headers: { ...req.headers, 'x-amz-security-token': 't' } }, creds), 'NotImplemented');
  });
});

describe('auth/sigv2: presigned (query string)', () => {
  it('verifies Expires as the date line and rejects expired or tampered URLs', () => {
    const expires = Math.floor(Date.now() / 1000) + 300;
    const sts = `GET\n\n\n${expires}\n/bucket/a%20b.txt?response-content-type=text/plain; charset=utf-8`;
    const rawQuery =
      `AWSAccessKeyId=${KEY_ID}&Expires=${expires}&response-content-type=text%2Fplain%3B%20charset%3Dutf-8` +
      `&Signature=${encodeURIComponent(sign(sts))}`;
    const req: AuthRequest = { method: 'GET', rawPath: '/bucket/a%20b.txt', rawQuery, headers: { host: 'h' } };
    const r = authenticate(req, creds);
    assert.equal(r.scheme, 'sigv2-query');
    assert.deepEqual(r.payload, { kind: 'unsigned' });
    expectAuthError(() => authenticate(req, creds, new Date((expires + 1) * 1000)), 'AccessDenied', 'Request has expired');
    expectAuthError(() => authenticate({ ...req, rawQuery: rawQuery.replace(`Expires=${expires}`, `Expires=${expires + 100}`) }, creds), 'SignatureDoesNotMatch');
    expectAuthError(() => authenticate({ ...req, method: 'DELETE' }, creds), 'SignatureDoesNotMatch');
    expectAuthError(() => authenticate({ ...req, rawQuery: rawQuery.replace(/&Signature=[^&]+/, '') }, creds), 'AccessDenied');
    expectAuthError(() => authenticate({ ...req, rawQuery: rawQuery.replace(KEY_ID, 'AKIDNOPE') }, creds), 'InvalidAccessKeyId');
    expectAuthError(() => authenticate({ ...req, headers: { host: 'h', authorization: 'AWS x:y' } }, creds), 'InvalidArgument', 'Only one auth mechanism');
  });
});
