import assert from 'node:assert/strict';

import {
  StaticCredentials,
  authenticate,
  deriveSigningKey,
  type AuthRequest,
} from '../../../server/auth/index.js';
import {
  EMPTY_SHA256,
  KEY_ID,
  OTHER_SECRET,
  SECRET,
  awsEncode,
  creds,
  deriveKey,
  encodeKey,
  expectAuthError,
  hmacHex,
  sha256Hex,
  signAws4,
} from './helpers.js';

const MIN = 60_000;

function withHeader(req: AuthRequest, name: string, value: string | undefined): AuthRequest {
  const headers = { ...req.headers };
  if (value === undefined) delete headers[name];
  else headers[name] = value;
  return { ...req, headers };
}

describe('auth/sigv4: Authorization header (signed with aws4)', () => {
  it('accepts a GET and reports the empty-body sha256 payload', () => {
    const req = signAws4({ path: '/bucket/key.txt' });
    const r = authenticate(req, creds);
    assert.equal(r.accessKeyId, KEY_ID);
    assert.equal(r.scheme, 'sigv4-header');
    assert.deepEqual(r.payload, { kind: 'sha256', hex: EMPTY_SHA256 });
  });

  it('accepts a PUT with a sha256 payload hash', () => {
    const body = 'some object data\n';
    const req = signAws4({ method: 'PUT', path: '/bucket/obj', body, headers: { 'Content-Type': 'text/plain' } });
    assert.deepEqual(authenticate(req, creds).payload, { kind: 'sha256', hex: sha256Hex(body) });
  });

  it('accepts UNSIGNED-PAYLOAD', () => {
    const req = signAws4({ method: 'PUT', path: '/bucket/obj', headers: { 'X-Amz-Content-Sha256': 'UNSIGNED-PAYLOAD' } });
    assert.deepEqual(authenticate(req, creds).payload, { kind: 'unsigned' });
  });

  it('accepts keys with spaces, unicode, +, and RFC 3986 reserved characters', () => {
    for (const key of ['dir/a b+c.txt', 'ünïcødé/日本語 ファイル.bin', "weird/~!*()'@:$,;=&.txt", 'trailing/', 'a//double/slash', 'x/%41 literal percent']) {
      const req = signAws4({ method: 'PUT', path: '/bucket/' + encodeKey(key), body: 'x' });
      assert.equal(authenticate(req, creds).accessKeyId, KEY_ID, key);
    }
  });

  it('accepts a path sent with characters left unescaped that the signer UriEncode()d', () => {
    // aws4 signs /bucket/a%21b%40c while sending /bucket/a!b@c: the fallback canonical form.
    const req = signAws4({ path: '/bucket/a!b@c' });
    assert.equal(req.rawPath, '/bucket/a!b@c');
    assert.equal(authenticate(req, creds).accessKeyId, KEY_ID);
  });

  it('accepts query parameters with special characters and valueless parameters', () => {
    const prefix = 'a b/ü+&=*%';
    const req = signAws4({ path: `/bucket?list-type=2&prefix=${awsEncode(prefix)}&delimiter=%2F&encoding-type=url` });
    assert.ok(req.rawQuery.includes('prefix='));
    assert.equal(authenticate(req, creds).accessKeyId, KEY_ID);
    const uploads = signAws4({ method: 'POST', path: '/bucket/key?uploads' });
    assert.equal(authenticate(uploads, creds).accessKeyId, KEY_ID);
  });

  it('accepts any region in the credential scope', () => {
    for (const region of ['eu-west-3', 'ap-southeast-2', 'garage', 'us-east-1']) {
      assert.equal(authenticate(signAws4({ path: '/b/k', region }), creds).accessKeyId, KEY_ID, region);
    }
  });

  it('ignores headers that were not signed', () => {
    const req = withHeader(signAws4({ path: '/b/k' }), 'user-agent', 'something/else');
    assert.equal(authenticate(req, creds).accessKeyId, KEY_ID);
  });

  it('canonicalizes signed header values (trim, collapse inner whitespace)', () => {
    const req = signAws4({ path: '/b/k', headers: { 'X-Amz-Meta-Note': 'a   b  c' } });
    // Whitespace variations that the canonical form erases still verify.
    assert.equal(authenticate(withHeader(req, 'x-amz-meta-note', '  a b \t c '), creds).accessKeyId, KEY_ID);
  });

  describe('tampering', () => {
    const body = 'payload';
    const base = (): AuthRequest =>
      signAws4({ method: 'PUT', path: '/bucket/dir/key.txt?tagging=', body, headers: { 'X-Amz-Meta-Color': 'blue', 'Content-Type': 'text/plain' } });

    it('a changed method fails', () => {
      expectAuthError(() => authenticate({ ...base(), method: 'DELETE' }, creds), 'SignatureDoesNotMatch');
    });
    it('a changed path fails', () => {
      expectAuthError(() => authenticate({ ...base(), rawPath: '/bucket/dir/key.txT' }, creds), 'SignatureDoesNotMatch');
      expectAuthError(() => authenticate({ ...base(), rawPath: '/bucket/dir/./key.txt' }, creds), 'SignatureDoesNotMatch');
    });
    it('a changed signed header fails', () => {
      expectAuthError(() => authenticate(withHeader(base(), 'x-amz-meta-color', 'red'), creds), 'SignatureDoesNotMatch');
      expectAuthError(() => authenticate(withHeader(base(), 'content-type', 'text/html'), creds), 'SignatureDoesNotMatch');
      expectAuthError(() => authenticate(withHeader(base(), 'host', 'evil.example:9000'), creds), 'SignatureDoesNotMatch');
    });
    it('a removed signed header fails', () => {
      expectAuthError(() => authenticate(withHeader(base(), 'x-amz-meta-color', undefined), creds), 'SignatureDoesNotMatch');
    });
    it('a changed or added query parameter fails', () => {
      expectAuthError(() => authenticate({ ...base(), rawQuery: 'tagging=x' }, creds), 'SignatureDoesNotMatch');
      expectAuthError(() => authenticate({ ...base(), rawQuery: 'tagging=&versionId=1' }, creds), 'SignatureDoesNotMatch');
      expectAuthError(() => authenticate({ ...base(), rawQuery: '' }, creds), 'SignatureDoesNotMatch');
    });
    it('a changed date fails', () => {
      const req = base();
      const d = String(req.headers['x-amz-date']);
      const shifted = d.slice(0, -3) + String((Number(d.slice(-3, -1)) + 1) % 60).padStart(2, '0') + 'Z';
      expectAuthError(() => authenticate(withHeader(req, 'x-amz-date', shifted), creds), 'SignatureDoesNotMatch');
    });
    it('a changed payload hash fails', () => {
      expectAuthError(() => authenticate(withHeader(base(), 'x-amz-content-sha256', sha256Hex('other')), creds), 'SignatureDoesNotMatch');
      expectAuthError(() => authenticate(withHeader(base(), 'x-amz-content-sha256', 'UNSIGNED-PAYLOAD'), creds), 'SignatureDoesNotMatch');
    });
    it('a signature made with another secret fails', () => {
      const req = signAws4({ path: '/b/k', secretAccessKey: OTHER_SECRET });
      const err = expectAuthError(() => authenticate(req, creds), 'SignatureDoesNotMatch');
      // S3-style debugging details, never the secret.
      assert.ok(err.details.CanonicalRequest?.startsWith('GET\n/b/k\n'));
      assert.ok(err.details.StringToSign?.startsWith('AWS4-HMAC-SHA256\n'));
      assert.ok(!JSON.stringify(err.details).includes(SECRET));
    });
    it('a changed signature fails', () => {
      const req = base();
      const auth = String(req.headers.authorization);
      const flipped = auth.slice(0, -1) + (auth.endsWith('0') ? '1' : '0');
      expectAuthError(() => authenticate(withHeader(req, 'authorization', flipped), creds), 'SignatureDoesNotMatch');
    });
  });

  describe('rejections', () => {
    it('unknown access key -> InvalidAccessKeyId', () => {
      expectAuthError(() => authenticate(signAws4({ path: '/b/k', accessKeyId: 'AKIDUNKNOWN' }), creds), 'InvalidAccessKeyId');
    });
    it('clock skew over 15 minutes -> RequestTimeTooSkewed, either direction', () => {
      const req = signAws4({ path: '/b/k' });
      const t = Date.now();
      expectAuthError(() => authenticate(req, creds, new Date(t + 16 * MIN)), 'RequestTimeTooSkewed');
      expectAuthError(() => authenticate(req, creds, new Date(t - 16 * MIN)), 'RequestTimeTooSkewed');
      assert.equal(authenticate(req, creds, new Date(t + 14 * MIN)).accessKeyId, KEY_ID);
      assert.equal(authenticate(req, creds, new Date(t - 14 * MIN)).accessKeyId, KEY_ID);
    });
    it('no credentials at all -> AccessDenied', () => {
      expectAuthError(() => authenticate({ method: 'GET', rawPath: '/b/k', rawQuery: '', headers: { host: 'x' } }, creds), 'AccessDenied');
    });
    it('two auth mechanisms -> InvalidArgument', () => {
      const req = signAws4({ path: '/b/k' });
      expectAuthError(() => authenticate({ ...req, rawQuery: 'X-Amz-Algorithm=AWS4-HMAC-SHA256' }, creds), 'InvalidArgument', 'Only one auth mechanism');
    });
    it('unknown Authorization scheme -> InvalidArgument; SigV4a -> NotImplemented', () => {
      const req = { method: 'GET', rawPath: '/', rawQuery: '', headers: { host: 'x', authorization: 'Bearer abc' } };
      expectAuthError(() => authenticate(req, creds), 'InvalidArgument');
      expectAuthError(() => authenticate(withHeader(req, 'authorization', 'AWS4-ECDSA-P256-SHA256 Credential=x'), creds), 'NotImplemented');
    });
    it('a session token -> NotImplemented', () => {
      const req = signAws4({ path: '/b/k', headers: { 'X-Amz-Security-Token': 'token' } });
      expectAuthError(() => authenticate(req, creds), 'NotImplemented');
    });
    it('a service other than s3 or a wrong terminator -> AuthorizationHeaderMalformed', () => {
      const req = signAws4({ path: '/b/k' });
      const auth = String(req.headers.authorization);
      expectAuthError(() => authenticate(withHeader(req, 'authorization', auth.replace('/s3/', '/ec2/')), creds), 'AuthorizationHeaderMalformed', 'incorrect service');
      expectAuthError(() => authenticate(withHeader(req, 'authorization', auth.replace('aws4_request', 'aws5_request')), creds), 'AuthorizationHeaderMalformed', 'terminal');
    });
    it('a credential date different from x-amz-date -> AuthorizationHeaderMalformed', () => {
      const req = signAws4({ path: '/b/k' });
      const auth = String(req.headers.authorization).replace(/\/(\d{8})\//, '/20200101/');
      expectAuthError(() => authenticate(withHeader(req, 'authorization', auth), creds), 'AuthorizationHeaderMalformed', 'credential date');
    });
    it('malformed Authorization headers -> AuthorizationHeaderMalformed', () => {
      const req = signAws4({ path: '/b/k' });
      const auth = String(req.headers.authorization);
      const cases = [
        auth.replace(/, ?Signature=[0-9a-f]+/, ''),
        auth.replace('SignedHeaders=', 'SignedHeaderz='),
        auth.replace(/Signature=[0-9a-f]+/, 'Signature=xyz'),
        auth.replace(/SignedHeaders=[^,]+/, 'SignedHeaders=x-amz-date'),
        auth.replace(`Credential=${KEY_ID}/`, `Credential=${KEY_ID}/extra/`),
        'AWS4-HMAC-SHA256 ',
      ];
      for (const c of cases) expectAuthError(() => authenticate(withHeader(req, 'authorization', c), creds), 'AuthorizationHeaderMalformed');
    });
    it('missing x-amz-content-sha256 -> InvalidRequest; an unknown value -> InvalidArgument', () => {
      expectAuthError(() => authenticate(withHeader(signAws4({ path: '/b/k' }), 'x-amz-content-sha256', undefined), creds), 'InvalidRequest');
      const req = signAws4({ method: 'PUT', path: '/b/k', headers: { 'X-Amz-Content-Sha256': 'STREAMING-SOMETHING' } });
      expectAuthError(() => authenticate(req, creds), 'InvalidArgument');
    });
    it('missing date -> AccessDenied', () => {
      const req = withHeader(signAws4({ path: '/b/k' }), 'x-amz-date', undefined);
      expectAuthError(() => authenticate(req, creds), 'AccessDenied');
    });
  });

  describe('streaming payload modes', () => {
    for (const [value, kind] of [
      ['STREAMING-AWS4-HMAC-SHA256-PAYLOAD', 'streaming-signed'],
      ['STREAMING-AWS4-HMAC-SHA256-PAYLOAD-TRAILER', 'streaming-signed-trailer'],
      ['STREAMING-UNSIGNED-PAYLOAD-TRAILER', 'streaming-unsigned-trailer'],
    ] as const) {
      it(`${value} -> ${kind}, with what the chunk decoder needs`, () => {
        const req = signAws4({
          method: 'PUT',
          path: '/b/k',
          region: 'eu-central-1',
          headers: { 'X-Amz-Content-Sha256': value, 'Content-Encoding': 'aws-chunked', 'X-Amz-Decoded-Content-Length': '10' },
        });
        const r = authenticate(req, creds);
        assert.equal(r.payload.kind, kind);
        if (r.payload.kind === 'streaming-signed' || r.payload.kind === 'streaming-signed-trailer') {
          const amzDate = String(req.headers['x-amz-date']);
          assert.equal(r.payload.amzDate, amzDate);
          assert.equal(r.payload.scope, `${amzDate.slice(0, 8)}/eu-central-1/s3/aws4_request`);
          assert.equal(r.payload.seedSignature, /Signature=([0-9a-f]{64})/.exec(String(req.headers.authorization))![1]);
          assert.ok(r.payload.signingKey.equals(deriveKey(SECRET, amzDate.slice(0, 8), 'eu-central-1')));
        }
      });
    }
  });

  describe('AWS documentation examples (sig-v4-header-based-auth, sigv4-streaming, sigv4-streaming-trailers)', () => {
    const docCreds = new StaticCredentials([['AKIAIOSFODNN7EXAMPLE', 'wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY']]);
    const at = new Date('2013-05-24T00:00:00Z');
    const cred = 'AWS4-HMAC-SHA256 Credential=AKIAIOSFODNN7EXAMPLE/20130524/us-east-1/s3/aws4_request';

    it('GET Object with Range', () => {
      const r = authenticate({
        method: 'GET', rawPath: '/test.txt', rawQuery: '',
        headers: {
          host: 'examplebucket.s3.amazonaws.com', range: 'bytes=0-9', 'x-amz-content-sha256': EMPTY_SHA256, 'x-amz-date': '20130524T000000Z',
          authorization: `${cred},SignedHeaders=host;range;x-amz-content-sha256;x-amz-date,Signature=f0e8bdb87c964420e857bd35b5d6ed310bd44f0170aba48dd91039c6036bdb41`,
        },
      }, docCreds, at);
      assert.equal(r.accessKeyId, 'AKIAIOSFODNN7EXAMPLE');
    });

    it('presigned GET Object', () => {
      const rawQuery =
        'X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=AKIAIOSFODNN7EXAMPLE%2F20130524%2Fus-east-1%2Fs3%2Faws4_request' +
        '&X-Amz-Date=20130524T000000Z&X-Amz-Expires=86400&X-Amz-SignedHeaders=host' +
        '&X-Amz-Signature=aeeed9bbccd4d02ee5c0109b86d86835f995330da4c265957d157751f604d404';
      const req = { method: 'GET', rawPath: '/test.txt', rawQuery, headers: { host: 'examplebucket.s3.amazonaws.com' } };
      assert.equal(authenticate(req, docCreds, at).scheme, 'sigv4-query');
      expectAuthError(() => authenticate(req, docCreds, new Date(at.getTime() + 86_401_000)), 'AccessDenied', 'Request has expired');
    });

    it('chunked PUT seed signature (STREAMING-AWS4-HMAC-SHA256-PAYLOAD)', () => {
      const r = authenticate({
        method: 'PUT', rawPath: '/examplebucket/chunkObject.txt', rawQuery: '',
        headers: {
          host: 's3.amazonaws.com', 'x-amz-date': '20130524T000000Z', 'x-amz-storage-class': 'REDUCED_REDUNDANCY',
          'x-amz-content-sha256': 'STREAMING-AWS4-HMAC-SHA256-PAYLOAD', 'content-encoding': 'aws-chunked',
          'x-amz-decoded-content-length': '66560', 'content-length': '66824',
          authorization: `${cred},SignedHeaders=content-encoding;content-length;host;x-amz-content-sha256;x-amz-date;x-amz-decoded-content-length;x-amz-storage-class,Signature=4f232c4386841ef735655705268965c44a0e4690baa4adea153f7db9fa80a0a9`,
        },
      }, docCreds, at);
      assert.equal(r.payload.kind, 'streaming-signed');
    });
  });
});

describe('auth/sigv4: presigned URLs (signed with aws4 signQuery)', () => {
  const presign = (path: string, extra: Partial<Parameters<typeof signAws4>[0]> = {}): AuthRequest =>
    signAws4({ path, signQuery: true, ...extra });

  it('accepts a presigned GET; payload is unsigned', () => {
    const req = presign('/bucket/' + encodeKey('photos/a b+c ü.jpg'));
    const r = authenticate(req, creds);
    assert.equal(r.scheme, 'sigv4-query');
    assert.deepEqual(r.payload, { kind: 'unsigned' });
  });

  it('accepts a presigned PUT with response overrides and special characters in the query', () => {
    const disposition = 'attachment; filename="a b+ü.txt"';
    const req = presign(`/bucket/key?response-content-disposition=${awsEncode(disposition)}&x-id=PutObject`, { method: 'PUT' });
    assert.equal(authenticate(req, creds).accessKeyId, KEY_ID);
  });

  it('honours X-Amz-Expires', () => {
    const req = presign('/bucket/key?X-Amz-Expires=60');
    const t = Date.now();
    assert.equal(authenticate(req, creds, new Date(t + 55_000)).accessKeyId, KEY_ID);
    expectAuthError(() => authenticate(req, creds, new Date(t + 61_000)), 'AccessDenied', 'Request has expired');
  });

  it('accepts exactly 7 days, rejects more', () => {
    assert.equal(authenticate(presign('/b/k?X-Amz-Expires=604800'), creds).accessKeyId, KEY_ID);
    expectAuthError(() => authenticate(presign('/b/k?X-Amz-Expires=604801'), creds), 'AuthorizationQueryParametersError');
  });

  it('rejects a URL dated in the future', () => {
    const req = presign('/b/k');
    expectAuthError(() => authenticate(req, creds, new Date(Date.now() - 20 * MIN)), 'AccessDenied', 'not valid yet');
  });

  it('rejects tampering', () => {
    const req = presign('/bucket/key?X-Amz-Expires=300', { method: 'GET' });
    expectAuthError(() => authenticate({ ...req, method: 'PUT' }, creds), 'SignatureDoesNotMatch');
    expectAuthError(() => authenticate({ ...req, rawPath: '/bucket/key2' }, creds), 'SignatureDoesNotMatch');
    expectAuthError(() => authenticate({ ...req, rawQuery: req.rawQuery.replace('X-Amz-Expires=300', 'X-Amz-Expires=600') }, creds), 'SignatureDoesNotMatch');
    expectAuthError(() => authenticate({ ...req, rawQuery: req.rawQuery + '&versionId=3' }, creds), 'SignatureDoesNotMatch');
    expectAuthError(() => authenticate({ ...req, headers: { ...req.headers, host: 'other:1' } }, creds), 'SignatureDoesNotMatch');
    expectAuthError(() => authenticate({ ...req, rawQuery: req.rawQuery.replace(/&?X-Amz-Signature=[0-9a-f]+/, '') }, creds), 'AuthorizationQueryParametersError');
    expectAuthError(() => authenticate({ ...req, rawQuery: req.rawQuery.replace('X-Amz-Algorithm=AWS4-HMAC-SHA256', 'X-Amz-Algorithm=AWS4-HMAC-SHA512') }, creds), 'AuthorizationQueryParametersError');
    expectAuthError(() => authenticate({ ...req, rawQuery: req.rawQuery + '&X-Amz-Date=20200101T000000Z' }, creds), 'AuthorizationQueryParametersError');
  });

  it('rejects another secret, an unknown key and a session token', () => {
    expectAuthError(() => authenticate(presign('/b/k', { secretAccessKey: OTHER_SECRET }), creds), 'SignatureDoesNotMatch');
    expectAuthError(() => authenticate(presign('/b/k', { accessKeyId: 'AKIDNOPE' }), creds), 'InvalidAccessKeyId');
    const withToken = presign('/b/k');
    expectAuthError(() => authenticate({ ...withToken, rawQuery: withToken.rawQuery + '&X-Amz-Security-Token=abc' }, creds), 'NotImplemented');
  });

  it('is not subject to the 15-minute skew rule within its validity', () => {
    const req = presign('/b/k?X-Amz-Expires=3600');
    assert.equal(authenticate(req, creds, new Date(Date.now() + 50 * MIN)).accessKeyId, KEY_ID);
  });
});

/**
 * A request signed as `curl --aws-sigv4 aws:amz:us-east-1:s3` 7.x signs it (lib/http_aws_sigv4.c):
 * SignedHeaders host;x-amz-date, no x-amz-content-sha256, the empty payload's hash whatever the
 * body, and the query string as written (neither sorted nor re-encoded).
 */
function curlSigned(method: string, rawPath: string, rawQuery: string, now: Date, secret = SECRET): AuthRequest {
  const amzDate = now.toISOString().replace(/[-:]/g, '').replace(/\.\d{3}/, '');
  const date = amzDate.slice(0, 8);
  const scope = `${date}/us-east-1/s3/aws4_request`;
  const canonical = [method, rawPath, rawQuery, `host:gw.test\nx-amz-date:${amzDate}\n`, 'host;x-amz-date', EMPTY_SHA256].join('\n');
  const sts = ['AWS4-HMAC-SHA256', amzDate, scope, sha256Hex(canonical)].join('\n');
  const signature = hmacHex(deriveSigningKey(secret, date, 'us-east-1'), sts);
  return {
    method, rawPath, rawQuery,
    headers: { host: 'gw.test', 'x-amz-date': amzDate, authorization: `AWS4-HMAC-SHA256 Credential=${KEY_ID}/${scope}, SignedHeaders=host;x-amz-date, Signature=${signature}` },
  };
}

describe('auth/sigv4: what the file API also accepts from curl --aws-sigv4 (LenientV4)', () => {
  const now = new Date();
  const lenient = { optionalContentSha256: true, queryAsWritten: true };

  it('S3 itself still requires x-amz-content-sha256', () => {
    expectAuthError(() => authenticate(curlSigned('GET', '/fs/a.txt', '', now), creds, now), 'InvalidRequest', /x-amz-content-sha256/);
  });

  it('without the header, the empty payload hash is signed and the body is unsigned', () => {
    const r = authenticate(curlSigned('PUT', '/fs/a.txt', '', now), creds, now, lenient);
    assert.equal(r.accessKeyId, KEY_ID);
    assert.deepEqual(r.payload, { kind: 'unsigned' });
  });

  it('a query string signed as written verifies only when asked to, and a wrong secret never does', () => {
    const req = curlSigned('PUT', '/fs/a.txt', 'parents=1&create-only=1', now);
    expectAuthError(() => authenticate(req, creds, now, { optionalContentSha256: true }), 'SignatureDoesNotMatch');
    assert.equal(authenticate(req, creds, now, lenient).accessKeyId, KEY_ID);
    expectAuthError(() => authenticate(curlSigned('PUT', '/fs/a.txt', 'parents=1&create-only=1', now, OTHER_SECRET), creds, now, lenient), 'SignatureDoesNotMatch');
    // A query changed after signing fails whichever way it is canonicalized.
    expectAuthError(() => authenticate({ ...req, rawQuery: 'parents=1&create-only=0' }, creds, now, lenient), 'SignatureDoesNotMatch');
  });
});
