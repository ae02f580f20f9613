/**
 * AWS Signature Version 4 verification for S3: the building blocks and the Authorization header
 * (presigned URLs: presigned.ts; the dispatcher over every scheme: authenticate.ts).
 *
 * References (Amazon S3 API Reference):
 *  - "Authenticating Requests (AWS Signature Version 4)"
 *  - "Signature Calculations for the Authorization Header: Transferring Payload in a Single Chunk"
 *    (canonical request, string to sign, signing key)
 *  - "Authenticating Requests: Using Query Parameters (AWS Signature Version 4)" (presigned URLs)
 *  - "Authenticating Requests: Using the Authorization Header" (x-amz-content-sha256 values)
 *  - "Signature Calculations for the Authorization Header: Transferring Payload in Multiple Chunks
 *    (Chunked Upload)" and "... Including Trailing Headers" (streaming payload modes; the chunks
 *    themselves are verified by payload.ts)
 */
import {
  EMPTY_SHA256,
  canonicalPathCandidates,
  checkRequestTime,
  constantTimeEqual,
  headerValue,
  hmac,
  parseAmzDate,
  parseHttpDate,
  parseQuery,
  sha256Hex,
  toAmzDate,
  uriEncodeBytes,
  percentDecodeBytes,
  type QueryParam,
} from './common.js';
import type { CredentialStore } from './credentials.js';
import { S3AuthError, type S3AuthCode } from './errors.js';
import type { AuthRequest, AuthResult, ChunkSigningContext, PayloadMode } from './types.js';

export const SIGV4_ALGORITHM = 'AWS4-HMAC-SHA256';
/** The literal x-amz-content-sha256 values of the table in "Using the Authorization Header". */
export const UNSIGNED_PAYLOAD = 'UNSIGNED-PAYLOAD';
export const STREAMING_SIGNED = 'STREAMING-AWS4-HMAC-SHA256-PAYLOAD';
export const STREAMING_SIGNED_TRAILER = 'STREAMING-AWS4-HMAC-SHA256-PAYLOAD-TRAILER';
export const STREAMING_UNSIGNED_TRAILER = 'STREAMING-UNSIGNED-PAYLOAD-TRAILER';

/**
 * What the REST file API also accepts from generic SigV4 signers that are not S3 clients, such
 * as `curl --aws-sigv4` before 8.x (the issue's own example): S3 itself requires neither.
 */
export interface LenientV4 {
  /**
   * No `x-amz-content-sha256` header: the canonical request carries the hash of an empty
   * payload (what curl 7.x signs, body or not), and a body is then unsigned, as with
   * UNSIGNED-PAYLOAD.
   */
  optionalContentSha256?: boolean;
  /** Also accept the query string canonicalized as written (curl 7.x neither sorts nor re-encodes it). */
  queryAsWritten?: boolean;
}

// ---------------------------------------------------------------------------------------------
// Building blocks (exported for the chunk decoder and for tests)
// ---------------------------------------------------------------------------------------------

/** kSigning = HMAC(HMAC(HMAC(HMAC("AWS4" + secret, date), region), service), "aws4_request"). */
export function deriveSigningKey(secret: string, date: string, region: string, service = 's3'): Buffer {
  // The key changes once a day per credential and region: remember the last few (4 HMACs per
  // request otherwise). The secrets are in the credential store's memory anyway.
  const id = `${secret}\0${date}\0${region}\0${service}`;
  const known = signingKeys.get(id);
  if (known) return known;
  const kDate = hmac('AWS4' + secret, date);
  const kRegion = hmac(kDate, region);
  const kService = hmac(kRegion, service);
  const key = hmac(kService, 'aws4_request');
  if (signingKeys.size >= 256) signingKeys.delete(signingKeys.keys().next().value!);
  signingKeys.set(id, key);
  return key;
}

const signingKeys = new Map<string, Buffer>();

/**
 * CanonicalQueryString: every parameter name and value UriEncode()d (we decode what was sent and
 * re-encode it, so '%2f' and '%2F' or a raw '!' canonicalize identically), sorted by encoded name
 * then value, `name=value` joined with '&'; a parameter without value gets an empty value.
 * `exclude` drops a parameter (X-Amz-Signature for presigned URLs).
 */
export function canonicalQueryString(params: readonly QueryParam[], exclude?: string): string {
  const pairs: Array<[string, string]> = [];
  for (const p of params) {
    if (exclude !== undefined && p.key === exclude) continue;
    pairs.push([
      uriEncodeBytes(percentDecodeBytes(p.rawKey, true), false),
      uriEncodeBytes(percentDecodeBytes(p.rawValue, true), false),
    ]);
  }
  pairs.sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : a[1] < b[1] ? -1 : a[1] > b[1] ? 1 : 0));
  return pairs.map(([k, v]) => `${k}=${v}`).join('&');
}

/**
 * CanonicalHeaders for the given signed header names: `name:value\n` for each, value trimmed and
 * internal runs of whitespace collapsed to one space ("Trimall" in the SigV4 docs).
 */
export function canonicalHeaders(
  headers: AuthRequest['headers'],
  signedHeaders: readonly string[],
): string {
  let out = '';
  for (const name of signedHeaders) {
    const v = headerValue(headers, name.toLowerCase()) ?? '';
    out += `${name}:${v.trim().replace(/\s+/g, ' ')}\n`;
  }
  return out;
}

export function stringToSignV4(amzDate: string, scope: string, canonicalRequest: string): string {
  return `${SIGV4_ALGORITHM}\n${amzDate}\n${scope}\n${sha256Hex(canonicalRequest)}`;
}

/**
 * Map an x-amz-content-sha256 value to the payload mode the body verifier must enforce.
 * Anything not in the documented table and not a SHA-256 hex digest is rejected.
 */
export function payloadModeFor(contentSha256: string, signing: ChunkSigningContext): PayloadMode {
  if (/^[0-9a-fA-F]{64}$/.test(contentSha256)) return { kind: 'sha256', hex: contentSha256.toLowerCase() };
  switch (contentSha256) {
    case UNSIGNED_PAYLOAD:
      return { kind: 'unsigned' };
    case STREAMING_SIGNED:
      return { kind: 'streaming-signed', ...signing };
    case STREAMING_SIGNED_TRAILER:
      return { kind: 'streaming-signed-trailer', ...signing };
    case STREAMING_UNSIGNED_TRAILER:
      return { kind: 'streaming-unsigned-trailer' };
    case 'STREAMING-AWS4-ECDSA-P256-SHA256-PAYLOAD':
    case 'STREAMING-AWS4-ECDSA-P256-SHA256-PAYLOAD-TRAILER':
      throw new S3AuthError('NotImplemented', 'SigV4a streaming payloads are not supported');
    default:
      throw new S3AuthError(
        'InvalidArgument',
        'x-amz-content-sha256 must be UNSIGNED-PAYLOAD, STREAMING-AWS4-HMAC-SHA256-PAYLOAD, STREAMING-AWS4-HMAC-SHA256-PAYLOAD-TRAILER, STREAMING-UNSIGNED-PAYLOAD-TRAILER or a valid sha256 value.',
      );
  }
}

// ---------------------------------------------------------------------------------------------
// Credential scope
// ---------------------------------------------------------------------------------------------

/** A parsed `AKID/YYYYMMDD/region/s3/aws4_request` credential. */
export interface Credential {
  accessKeyId: string;
  date: string;
  region: string;
  scope: string;
}

/**
 * `AKID/YYYYMMDD/region/s3/aws4_request`. Any region is accepted (the gateway has no regions and
 * clients default to different ones), but the service must be s3 and the terminator aws4_request.
 */
export function parseCredential(value: string, code: S3AuthCode, prefix: string): Credential {
  const parts = value.split('/');
  if (parts.length !== 5 || parts.some((p) => p === '')) {
    throw new S3AuthError(
      code,
      `${prefix} the Credential is mal-formed; expecting "<YOUR-AKID>/YYYYMMDD/REGION/SERVICE/aws4_request".`,
    );
  }
  const [accessKeyId, date, region, service, terminator] = parts as [string, string, string, string, string];
  if (!/^\d{8}$/.test(date) || parseAmzDate(`${date}T000000Z`) === undefined) {
    throw new S3AuthError(code, `${prefix} incorrect date format "${date}". This date in the credential must be in the format "yyyyMMdd".`);
  }
  if (service !== 's3') {
    throw new S3AuthError(code, `${prefix} incorrect service "${service}". This endpoint belongs to "s3".`);
  }
  if (terminator !== 'aws4_request') {
    throw new S3AuthError(code, `${prefix} incorrect terminal "${terminator}". This endpoint uses "aws4_request".`);
  }
  return { accessKeyId, date, region, scope: `${date}/${region}/${service}/${terminator}` };
}

/** The names of X-Amz-SignedHeaders (or SignedHeaders=): well formed, and host among them. */
export function parseSignedHeaders(value: string, code: S3AuthCode, prefix: string): string[] {
  const names = value.split(';');
  if (names.some((n) => n === '' || /[\s:]/.test(n))) {
    throw new S3AuthError(code, `${prefix} SignedHeaders is mal-formed.`);
  }
  // Every SDK signs Host; requiring it stops a signature being replayed against another host.
  if (!names.some((n) => n.toLowerCase() === 'host')) {
    throw new S3AuthError(code, `${prefix} SignedHeaders must include host.`);
  }
  return names;
}

/**
 * S3 refuses a SigV4 request (header-signed or presigned) that carries an `x-amz-*` header the
 * signature does not cover: 403 AccessDenied "There were headers present in the request which
 * were not signed", naming them in a HeadersNotSigned element. Such a header could otherwise be
 * added to a captured request or a presigned URL: `x-amz-copy-source` turns a PUT into a copy,
 * `x-amz-meta-*` stores metadata the signer never chose. `x-amz-content-sha256` is exempt: the
 * signature covers it through the payload hash of the canonical request. A presigned URL
 * carries such values in its (signed) query instead.
 */
export function requireSignedAmzHeaders(headers: AuthRequest['headers'], signedHeaders: readonly string[]): void {
  const signed = new Set(signedHeaders.map((n) => n.toLowerCase()));
  const unsigned = Object.keys(headers)
    .map((n) => n.toLowerCase())
    .filter((n) => n.startsWith('x-amz-') && n !== 'x-amz-content-sha256' && headers[n] !== undefined && !signed.has(n))
    .sort();
  if (unsigned.length > 0) {
    throw new S3AuthError('AccessDenied', 'There were headers present in the request which were not signed', { HeadersNotSigned: unsigned.join(', ') });
  }
}

/** The secret of `accessKeyId`; InvalidAccessKeyId (naming the key) when it is unknown. */
export function lookupSecret(creds: CredentialStore, accessKeyId: string): string {
  const secret = creds.secretFor(accessKeyId);
  if (secret === undefined) {
    throw new S3AuthError(
      'InvalidAccessKeyId',
      'The AWS Access Key Id you provided does not exist in our records.',
      { AWSAccessKeyId: accessKeyId },
    );
  }
  return secret;
}

/** Temporary credentials (STS) are not supported: NotImplemented when a session token came. */
export function rejectSessionToken(present: boolean): void {
  if (present) {
    throw new S3AuthError('NotImplemented', 'Temporary security credentials (x-amz-security-token) are not supported by this gateway');
  }
}

/**
 * Compute the signature over each canonical-path candidate and accept the first match. Returns
 * normally on success; throws SignatureDoesNotMatch with the first candidate's canonical request
 * and string to sign (what S3 returns too, so client-side debug output can be compared).
 */
export function verifySignature(args: {
  req: AuthRequest;
  /** Accepted canonical query strings; the first is the standard one (reported on mismatch). */
  canonicalQuery: string | readonly string[];
  signedHeaders: string[];
  payloadHash: string;
  amzDate: string;
  credential: Credential;
  signingKey: Buffer;
  provided: string;
}): void {
  const { req, canonicalQuery, signedHeaders, payloadHash, amzDate, credential, signingKey, provided } = args;
  const headersPart = canonicalHeaders(req.headers, signedHeaders);
  const signedList = signedHeaders.join(';');
  let first: { canonicalRequest: string; stringToSign: string } | undefined;
  let ok = false;
  const queries = typeof canonicalQuery === 'string' ? [canonicalQuery] : canonicalQuery;
  for (const query of queries) {
    for (const path of canonicalPathCandidates(req.rawPath)) {
      const canonicalRequest = [req.method.toUpperCase(), path, query, headersPart, signedList, payloadHash].join('\n');
      const sts = stringToSignV4(amzDate, credential.scope, canonicalRequest);
      const expected = hmac(signingKey, sts).toString('hex');
      first ??= { canonicalRequest, stringToSign: sts };
      // No early exit on the candidate loop's result: always the same work per candidate list.
      if (constantTimeEqual(expected, provided)) ok = true;
    }
  }
  if (!ok) {
    throw new S3AuthError(
      'SignatureDoesNotMatch',
      'The request signature we calculated does not match the signature you provided. Check your key and signing method.',
      {
        AWSAccessKeyId: credential.accessKeyId,
        StringToSign: first!.stringToSign,
        SignatureProvided: provided,
        CanonicalRequest: first!.canonicalRequest,
      },
    );
  }
}

// ---------------------------------------------------------------------------------------------
// Authorization header
// ---------------------------------------------------------------------------------------------

/** Verify `Authorization: AWS4-HMAC-SHA256 Credential=..., SignedHeaders=..., Signature=...`. */
export function authenticateV4Header(
  req: AuthRequest,
  creds: CredentialStore,
  now: Date = new Date(),
  opts: LenientV4 = {},
): AuthResult {
  const M = 'AuthorizationHeaderMalformed' as const;
  const P = 'The authorization header is malformed;';
  const authorization = (headerValue(req.headers, 'authorization') ?? '').trim();
  if (!authorization.startsWith(SIGV4_ALGORITHM + ' ')) {
    throw new S3AuthError(M, `${P} the authorization header requires "${SIGV4_ALGORITHM}".`);
  }
  const fields = new Map<string, string>();
  for (const raw of authorization.slice(SIGV4_ALGORITHM.length).split(',')) {
    const part = raw.trim();
    if (part === '') continue;
    const eq = part.indexOf('=');
    const name = eq < 0 ? part : part.slice(0, eq).trim();
    if (eq < 0 || !['Credential', 'SignedHeaders', 'Signature'].includes(name) || fields.has(name)) {
      throw new S3AuthError(M, `${P} unexpected or repeated component "${name}".`);
    }
    fields.set(name, part.slice(eq + 1).trim());
  }
  const credentialField = fields.get('Credential');
  const signedField = fields.get('SignedHeaders');
  const signatureField = fields.get('Signature');
  if (credentialField === undefined || signedField === undefined || signatureField === undefined) {
    throw new S3AuthError(M, `${P} it must contain Credential, SignedHeaders and Signature.`);
  }
  const credential = parseCredential(credentialField, M, P);
  const signedHeaders = parseSignedHeaders(signedField, M, P);
  if (!/^[0-9a-fA-F]{64}$/.test(signatureField)) {
    throw new S3AuthError(M, `${P} the Signature must be 64 hexadecimal characters.`);
  }
  const provided = signatureField.toLowerCase();
  rejectSessionToken(headerValue(req.headers, 'x-amz-security-token') !== undefined);
  const secret = lookupSecret(creds, credential.accessKeyId);

  // x-amz-date wins over Date ("Using the Authorization Header": the time stamp is x-amz-date
  // or Date); the string to sign always uses the ISO 8601 basic form.
  const xAmzDate = headerValue(req.headers, 'x-amz-date');
  const httpDate = headerValue(req.headers, 'date');
  const when = xAmzDate !== undefined ? parseAmzDate(xAmzDate.trim()) : httpDate !== undefined ? parseHttpDate(httpDate) : undefined;
  checkRequestTime(when, xAmzDate ?? httpDate ?? '', now);
  const amzDate = xAmzDate !== undefined ? xAmzDate.trim() : toAmzDate(when);
  if (credential.date !== amzDate.slice(0, 8)) {
    throw new S3AuthError(M, `${P} Invalid credential date "${credential.date}". This date is not the same as X-Amz-Date: "${amzDate.slice(0, 8)}".`);
  }

  // S3 requires x-amz-content-sha256 on every SigV4 header-signed request.
  const sentSha256 = headerValue(req.headers, 'x-amz-content-sha256')?.trim();
  if (sentSha256 === undefined && !opts.optionalContentSha256) {
    throw new S3AuthError('InvalidRequest', 'Missing required header for this request: x-amz-content-sha256');
  }
  const contentSha256 = sentSha256 ?? EMPTY_SHA256;
  const signingKey = deriveSigningKey(secret, credential.date, credential.region);
  const payload = sentSha256 === undefined ? { kind: 'unsigned' as const } : payloadModeFor(contentSha256, {
    signingKey,
    amzDate,
    scope: credential.scope,
    seedSignature: provided,
  });

  const sortedQuery = canonicalQueryString(parseQuery(req.rawQuery));
  verifySignature({
    req,
    canonicalQuery: opts.queryAsWritten && req.rawQuery !== sortedQuery ? [sortedQuery, req.rawQuery] : sortedQuery,
    signedHeaders,
    payloadHash: contentSha256,
    amzDate,
    credential,
    signingKey,
    provided,
  });
  requireSignedAmzHeaders(req.headers, signedHeaders);
  return { accessKeyId: credential.accessKeyId, payload, scheme: 'sigv4-header' };
}

/** Re-exported so callers of the chunk decoder need not import common.ts. */
export { EMPTY_SHA256 };
