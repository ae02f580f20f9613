/**
 * The top-level `authenticate`: which scheme a request is signed with, and its verifier.
 */
import { headerValue, parseQuery } from './common.js';
import type { CredentialStore } from './credentials.js';
import { S3AuthError } from './errors.js';
import { authenticateV4Query } from './presigned.js';
import { authenticateV2Header, authenticateV2Query } from './sigv2.js';
import { SIGV4_ALGORITHM, authenticateV4Header, type LenientV4 } from './sigv4.js';
import type { AuthRequest, AuthResult } from './types.js';

/**
 * Authenticate an S3 request with whichever scheme it uses:
 *  - `Authorization: AWS4-HMAC-SHA256 ...`          SigV4, header
 *  - `X-Amz-Algorithm=AWS4-HMAC-SHA256` in query    SigV4, presigned
 *  - `Authorization: AWS AKID:signature`            SigV2, header
 *  - `AWSAccessKeyId`/`Signature`/`Expires` query   SigV2, presigned (`aws s3 presign` of
 *                                                   aws-cli v1 in us-east-1, boto "s3" signer)
 * Throws S3AuthError; returns who signed and how the body must be verified.
 */
export function authenticate(
  req: AuthRequest,
  creds: CredentialStore,
  now: Date = new Date(),
  opts: LenientV4 = {},
): AuthResult {
  const authorization = headerValue(req.headers, 'authorization');
  const params = parseQuery(req.rawQuery);
  const hasV4Query = params.some(
    (p) => p.key === 'X-Amz-Algorithm' || p.key === 'X-Amz-Credential' || p.key === 'X-Amz-Signature',
  );
  const hasV2Query = params.some((p) => p.key === 'AWSAccessKeyId' || p.key === 'Signature');
  const mechanisms = (authorization !== undefined ? 1 : 0) + (hasV4Query ? 1 : 0) + (hasV2Query ? 1 : 0);
  if (mechanisms > 1) {
    // S3's own wording for a request that mixes schemes.
    throw new S3AuthError(
      'InvalidArgument',
      'Only one auth mechanism allowed; only the X-Amz-Algorithm query parameter, Signature query string parameter or the Authorization header should be specified',
    );
  }
  if (authorization !== undefined) {
    const scheme = authorization.trimStart();
    if (scheme.startsWith(SIGV4_ALGORITHM + ' ')) return authenticateV4Header(req, creds, now, opts);
    if (scheme.startsWith('AWS ')) return authenticateV2Header(req, creds, now);
    if (scheme.startsWith('AWS4-ECDSA-P256-SHA256')) {
      throw new S3AuthError('NotImplemented', 'SigV4a (AWS4-ECDSA-P256-SHA256) is not supported');
    }
    throw new S3AuthError('InvalidArgument', 'Unsupported Authorization Type');
  }
  if (hasV4Query) return authenticateV4Query(req, creds, now, params);
  if (hasV2Query) return authenticateV2Query(req, creds, now, params);
  throw new S3AuthError('AccessDenied', 'Access Denied: anonymous requests are not allowed');
}
