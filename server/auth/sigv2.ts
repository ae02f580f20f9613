/**
 * AWS Signature Version 2 verification for S3 (legacy, still produced by `aws s3 presign` in
 * aws-cli v1 / botocore's "s3" signer, boto2, old s3cmd and many hand-written tools).
 *
 * Reference: Amazon S3 Developer Guide, "Signing and Authenticating REST Requests"
 * (StringToSign, CanonicalizedAmzHeaders, CanonicalizedResource, "Query String Request
 * Authentication Alternative").
 *
 *   StringToSign = HTTP-Verb + "\n" + Content-MD5 + "\n" + Content-Type + "\n" +
 *                  Date + "\n" + CanonicalizedAmzHeaders + CanonicalizedResource
 *   Signature    = Base64( HMAC-SHA1( secret, UTF-8(StringToSign) ) )
 */
import { createHmac, timingSafeEqual, createHash } from 'node:crypto';

import {
  canonicalPathCandidates,
  checkRequestTime,
  headerValue,
  parseHttpDate,
  parseQuery,
  percentDecode,
  type QueryParam,
} from './common.js';
import type { CredentialStore } from './credentials.js';
import { S3AuthError } from './errors.js';
import type { AuthRequest, AuthResult } from './types.js';

/**
 * Query parameters that are part of the CanonicalizedResource. The AWS list (acl, delete,
 * lifecycle, location, logging, notification, partNumber, policy, requestPayment, tagging,
 * torrent, uploadId, uploads, versionId, versioning, versions, website and the response-*
 * overrides) extended with the ones botocore's HmacV1Auth.QSAOfInterest includes (accelerate,
 * cors, restore, replication, analytics, ...): a parameter both sides agree is a sub-resource
 * must be signed, and a parameter only one side lists would break every request using it.
 */
export const SIGV2_SUBRESOURCES: ReadonlySet<string> = new Set([
  'accelerate', 'acl', 'analytics', 'cors', 'defaultObjectAcl', 'delete', 'inventory',
  'lifecycle', 'location', 'logging', 'metrics', 'notification', 'object-lock', 'partNumber',
  'policy', 'replication', 'requestPayment', 'restore', 'select', 'select-type', 'storageClass',
  'tagging', 'torrent', 'uploadId', 'uploads', 'versionId', 'versioning', 'versions', 'website',
  'response-cache-control', 'response-content-disposition', 'response-content-encoding',
  'response-content-language', 'response-content-type', 'response-expires',
]);

/**
 * CanonicalizedAmzHeaders: every x-amz-* header, name lower-cased, sorted by name, repeated
 * values joined with ',', surrounding whitespace trimmed, each as `name:value\n`.
 */
export function canonicalAmzHeaders(headers: AuthRequest['headers']): string {
  const names = Object.keys(headers)
    .map((n) => n.toLowerCase())
    .filter((n) => n.startsWith('x-amz-') && headers[n] !== undefined)
    .sort();
  let out = '';
  for (const name of names) {
    const v = headers[name]!;
    const joined = Array.isArray(v) ? v.map((x) => x.trim()).join(',') : v.trim();
    out += `${name}:${joined.replace(/\s*\r?\n\s*/g, ' ')}\n`;
  }
  return out;
}

/**
 * CanonicalizedResource: "/bucket" for virtual-hosted requests, then the path as sent (still
 * encoded), then the sub-resources sorted by name as `?name[=value]&...` with values decoded
 * ("...the value must not be URL-encoded" for the response-* overrides).
 */
export function canonicalResource(path: string, params: readonly QueryParam[], virtualHostedBucket?: string): string {
  let out = (virtualHostedBucket ? '/' + virtualHostedBucket : '') + path;
  const subs = params
    .filter((p) => SIGV2_SUBRESOURCES.has(percentDecode(p.rawKey)))
    .map((p) => ({ key: percentDecode(p.rawKey), text: p.hasValue ? `${percentDecode(p.rawKey)}=${percentDecode(p.rawValue)}` : percentDecode(p.rawKey) }));
  // Stable sort by name only, like botocore (itemgetter(0)).
  subs.sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0));
  if (subs.length > 0) out += '?' + subs.map((s) => s.text).join('&');
  return out;
}

/** The SigV2 StringToSign with `dateField` as the Date line (Date header, '' or Expires). */
export function stringToSignV2(req: AuthRequest, dateField: string, path: string, params: readonly QueryParam[]): string {
  const md5 = (headerValue(req.headers, 'content-md5') ?? '').trim();
  const type = (headerValue(req.headers, 'content-type') ?? '').trim();
  return (
    `${req.method.toUpperCase()}\n${md5}\n${type}\n${dateField}\n` +
    canonicalAmzHeaders(req.headers) +
    canonicalResource(path, params, req.virtualHostedBucket)
  );
}

export function signV2(secret: string, stringToSign: string): string {
  return createHmac('sha1', secret).update(stringToSign, 'utf8').digest('base64');
}

function equalB64(a: string, b: string): boolean {
  const da = createHash('sha256').update(a).digest();
  const db = createHash('sha256').update(b).digest();
  return timingSafeEqual(da, db) && a.length === b.length;
}

function lookupSecret(creds: CredentialStore, accessKeyId: string): string {
  const secret = creds.secretFor(accessKeyId);
  if (secret === undefined) {
    throw new S3AuthError('InvalidAccessKeyId', 'The AWS Access Key Id you provided does not exist in our records.', {
      AWSAccessKeyId: accessKeyId,
    });
  }
  return secret;
}

function verify(
  req: AuthRequest,
  secret: string,
  accessKeyId: string,
  provided: string,
  dateFields: readonly string[],
  params: readonly QueryParam[],
): void {
  let first: string | undefined;
  let ok = false;
  // A path-style bucket-level request ("/bucket", "/bucket?acl") is signed with the bucket's
  // resource "/bucket/" (botocore's auth_path; the doc's "/johnsmith/" example).
  const paths = canonicalPathCandidates(req.rawPath).flatMap((p) =>
    req.virtualHostedBucket === undefined && /^\/[^/]+$/.test(p) ? [p, p + '/'] : [p],
  );
  for (const dateField of dateFields) {
    for (const path of paths) {
      const sts = stringToSignV2(req, dateField, path, params);
      first ??= sts;
      if (equalB64(signV2(secret, sts), provided)) ok = true;
    }
  }
  if (!ok) {
    throw new S3AuthError(
      'SignatureDoesNotMatch',
      'The request signature we calculated does not match the signature you provided. Check your key and signing method.',
      { AWSAccessKeyId: accessKeyId, StringToSign: first ?? '', SignatureProvided: provided },
    );
  }
}

/** Verify `Authorization: AWS AKID:base64(hmac-sha1)`. */
export function authenticateV2Header(req: AuthRequest, creds: CredentialStore, now: Date = new Date()): AuthResult {
  const authorization = (headerValue(req.headers, 'authorization') ?? '').trim();
  const m = /^AWS\s+(\S+)$/.exec(authorization);
  // The signature is base64 and cannot contain ':', so the last ':' separates it from the key id.
  const colon = m ? m[1]!.lastIndexOf(':') : -1;
  if (!m || colon <= 0 || colon === m[1]!.length - 1) {
    throw new S3AuthError('InvalidArgument', 'AWS authorization header is invalid.  Expected AwsAccessKeyId:signature');
  }
  const accessKeyId = m[1]!.slice(0, colon);
  const provided = m[1]!.slice(colon + 1);
  if (headerValue(req.headers, 'x-amz-security-token') !== undefined) {
    throw new S3AuthError('NotImplemented', 'Temporary security credentials (x-amz-security-token) are not supported by this gateway');
  }
  const secret = lookupSecret(creds, accessKeyId);

  // "Time Stamp Requirement": x-amz-date overrides Date, and then the Date line is empty.
  const xAmzDate = headerValue(req.headers, 'x-amz-date');
  const httpDate = headerValue(req.headers, 'date');
  const when = xAmzDate !== undefined ? parseHttpDate(xAmzDate) : httpDate !== undefined ? parseHttpDate(httpDate) : undefined;
  checkRequestTime(when, xAmzDate ?? httpDate ?? '', now);
  // Per the doc the Date line is '' when x-amz-date is present; botocore's HmacV1Auth always puts
  // its Date header there instead. Both forms sign x-amz-date (it is an x-amz-* header), so
  // accepting either does not weaken the binding to the request time.
  const dateFields =
    xAmzDate !== undefined ? (httpDate !== undefined ? ['', httpDate.trim()] : ['']) : [httpDate!.trim()];
  verify(req, secret, accessKeyId, provided, dateFields, parseQuery(req.rawQuery));
  return { accessKeyId, payload: { kind: 'unsigned' }, scheme: 'sigv2-header' };
}

/** Verify a SigV2 presigned URL: `?AWSAccessKeyId=...&Expires=<epoch seconds>&Signature=...`. */
export function authenticateV2Query(
  req: AuthRequest,
  creds: CredentialStore,
  now: Date = new Date(),
  params: readonly QueryParam[] = parseQuery(req.rawQuery),
): AuthResult {
  const auth = new Map<string, string>();
  for (const p of params) {
    if (p.key !== 'AWSAccessKeyId' && p.key !== 'Signature' && p.key !== 'Expires' && p.key !== 'x-amz-security-token') continue;
    if (auth.has(p.key)) throw new S3AuthError('InvalidArgument', `Query-string authentication parameter ${p.key} appears more than once.`);
    // A base64 signature may arrive with its '+' unescaped; '+' is never a space there.
    auth.set(p.key, p.key === 'Signature' ? percentDecode(p.rawValue, false) : p.value);
  }
  const accessKeyId = auth.get('AWSAccessKeyId');
  const provided = auth.get('Signature');
  const expires = auth.get('Expires');
  if (accessKeyId === undefined || provided === undefined || expires === undefined) {
    throw new S3AuthError('AccessDenied', 'Query-string authentication requires the Signature, Expires and AWSAccessKeyId parameters');
  }
  if (!/^\d{1,12}$/.test(expires)) {
    throw new S3AuthError('AccessDenied', 'Invalid date (should be seconds since epoch): ' + expires);
  }
  if (auth.has('x-amz-security-token')) {
    throw new S3AuthError('NotImplemented', 'Temporary security credentials (x-amz-security-token) are not supported by this gateway');
  }
  const secret = lookupSecret(creds, accessKeyId);
  if (now.getTime() > Number(expires) * 1000) {
    throw new S3AuthError('AccessDenied', 'Request has expired', {
      Expires: new Date(Number(expires) * 1000).toISOString(),
      ServerTime: now.toISOString(),
    });
  }
  verify(req, secret, accessKeyId, provided, [expires], params);
  return { accessKeyId, payload: { kind: 'unsigned' }, scheme: 'sigv2-query' };
}
