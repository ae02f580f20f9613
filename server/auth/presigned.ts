/**
 * SigV4 presigned URLs: the signature and its parameters in the query string ("Authenticating
 * Requests: Using Query Parameters (AWS Signature Version 4)", Amazon S3 API Reference). The
 * building blocks are sigv4.ts's.
 */
import { MAX_SKEW_MS, parseAmzDate, parseQuery, type QueryParam } from './common.js';
import type { CredentialStore } from './credentials.js';
import { S3AuthError } from './errors.js';
import {
  SIGV4_ALGORITHM,
  UNSIGNED_PAYLOAD,
  canonicalQueryString,
  deriveSigningKey,
  lookupSecret,
  parseCredential,
  parseSignedHeaders,
  payloadModeFor,
  rejectSessionToken,
  requireSignedAmzHeaders,
  verifySignature,
} from './sigv4.js';
import type { AuthRequest, AuthResult } from './types.js';

/** Presigned URLs may live at most seven days ("Query Parameters", X-Amz-Expires). */
export const MAX_PRESIGNED_EXPIRES_SECONDS = 7 * 24 * 60 * 60;

/** Verify a presigned URL (`X-Amz-Algorithm`, `X-Amz-Credential`, ... `X-Amz-Signature`). */
export function authenticateV4Query(
  req: AuthRequest,
  creds: CredentialStore,
  now: Date = new Date(),
  params: readonly QueryParam[] = parseQuery(req.rawQuery),
): AuthResult {
  const Q = 'AuthorizationQueryParametersError' as const;
  const P = 'Error parsing the X-Amz-Credential parameter;';
  const auth = new Map<string, string>();
  for (const p of params) {
    if (!p.key.startsWith('X-Amz-')) continue;
    if (auth.has(p.key)) throw new S3AuthError(Q, `Query-string authentication parameter ${p.key} appears more than once.`);
    auth.set(p.key, p.value);
  }
  const algorithm = auth.get('X-Amz-Algorithm');
  const credentialField = auth.get('X-Amz-Credential');
  const dateField = auth.get('X-Amz-Date');
  const expiresField = auth.get('X-Amz-Expires');
  const signedField = auth.get('X-Amz-SignedHeaders');
  const signatureField = auth.get('X-Amz-Signature');
  if (
    algorithm === undefined || credentialField === undefined || dateField === undefined ||
    expiresField === undefined || signedField === undefined || signatureField === undefined
  ) {
    throw new S3AuthError(
      Q,
      'Query-string authentication version 4 requires the X-Amz-Algorithm, X-Amz-Credential, X-Amz-Signature, X-Amz-Date, X-Amz-SignedHeaders, and X-Amz-Expires parameters.',
    );
  }
  if (algorithm !== SIGV4_ALGORITHM) {
    throw new S3AuthError(Q, `X-Amz-Algorithm only supports "${SIGV4_ALGORITHM}"`);
  }
  const credential = parseCredential(credentialField, Q, P);
  const signedHeaders = parseSignedHeaders(signedField, Q, 'Error parsing the X-Amz-SignedHeaders parameter;');
  if (!/^[0-9a-fA-F]{64}$/.test(signatureField)) {
    throw new S3AuthError(Q, 'X-Amz-Signature must be 64 hexadecimal characters.');
  }
  const provided = signatureField.toLowerCase();
  const when = parseAmzDate(dateField);
  if (when === undefined) {
    throw new S3AuthError(Q, 'X-Amz-Date must be in the ISO8601 Long Format "yyyyMMdd\'T\'HHmmss\'Z\'"');
  }
  if (!/^\d{1,7}$/.test(expiresField)) {
    throw new S3AuthError(Q, 'X-Amz-Expires should be a number');
  }
  const expires = Number(expiresField);
  if (expires > MAX_PRESIGNED_EXPIRES_SECONDS) {
    throw new S3AuthError(Q, `X-Amz-Expires must be less than a week (in seconds) that is ${MAX_PRESIGNED_EXPIRES_SECONDS}`);
  }
  if (credential.date !== dateField.slice(0, 8)) {
    throw new S3AuthError(Q, `${P} Invalid credential date "${credential.date}". This date is not the same as X-Amz-Date: "${dateField.slice(0, 8)}".`);
  }
  rejectSessionToken(auth.has('X-Amz-Security-Token'));
  const secret = lookupSecret(creds, credential.accessKeyId);

  // Presigned URLs are not subject to the 15-minute skew rule, only to their validity window;
  // a URL dated in the future (beyond the skew allowance) is not valid yet.
  if (when.getTime() - now.getTime() > MAX_SKEW_MS) {
    throw new S3AuthError('AccessDenied', 'Request is not valid yet');
  }
  if (now.getTime() > when.getTime() + expires * 1000) {
    throw new S3AuthError('AccessDenied', 'Request has expired', {
      'X-Amz-Expires': expiresField,
      Expires: new Date(when.getTime() + expires * 1000).toISOString(),
      ServerTime: now.toISOString(),
    });
  }

  // "Query Parameters": the payload of a presigned request is UNSIGNED-PAYLOAD unless the signer
  // put an explicit X-Amz-Content-Sha256 in the query.
  // The SDK v3 presigner hoists its `x-amz-content-sha256: UNSIGNED-PAYLOAD` header into the
  // query under the lower-case name, so match the name case-insensitively.
  const payloadHash = params.find((p) => p.key.toLowerCase() === 'x-amz-content-sha256')?.value ?? UNSIGNED_PAYLOAD;
  const signingKey = deriveSigningKey(secret, credential.date, credential.region);
  const payload = payloadModeFor(payloadHash, {
    signingKey,
    amzDate: dateField,
    scope: credential.scope,
    seedSignature: provided,
  });
  verifySignature({
    req,
    canonicalQuery: canonicalQueryString(params, 'X-Amz-Signature'),
    signedHeaders,
    payloadHash,
    amzDate: dateField,
    credential,
    signingKey,
    provided,
  });
  requireSignedAmzHeaders(req.headers, signedHeaders);
  return { accessKeyId: credential.accessKeyId, payload, scheme: 'sigv4-query' };
}
