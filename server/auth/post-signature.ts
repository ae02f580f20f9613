/**
 * Who signed a browser-based POST upload (PostObject). The form, not the request, carries the
 * credentials: the signature covers the base64 `policy` field exactly as sent.
 *
 *  - SigV4 ("Authenticating Requests: Browser-Based Uploads Using POST (AWS Signature Version 4)",
 *    https://docs.aws.amazon.com/AmazonS3/latest/API/sigv4-UsingHTTPPOST.html): fields
 *    x-amz-algorithm, x-amz-credential, x-amz-date, x-amz-signature;
 *    signature = Hex(HMAC-SHA256(kSigning, policy)) with kSigning derived from the credential scope.
 *  - SigV2 ("HTML forms (AWS signature version 2)", "Constructing a signature"): fields
 *    AWSAccessKeyId and signature; signature = Base64(HMAC-SHA1(secret, policy)).
 *
 * No clock skew rule applies: the policy's own `expiration` bounds the form's life (checked with
 * the policy, server/s3/post-policy.ts).
 */
import { constantTimeEqual, hmac, parseAmzDate } from './common.js';
import type { CredentialStore } from './credentials.js';
import { S3AuthError } from './errors.js';
import { signV2 } from './sigv2.js';
import { SIGV4_ALGORITHM, deriveSigningKey, lookupSecret, parseCredential } from './sigv4.js';

/** The text fields of a POST form, names lower-cased (form field names are case-insensitive). */
export type PostFields = ReadonlyMap<string, string>;

export interface PostAuthResult {
  accessKeyId: string;
  scheme: 'sigv4-post' | 'sigv2-post';
}

/** S3's wording for a form that lacks a field it needs. */
export function missingField(name: string): S3AuthError {
  return new S3AuthError('InvalidArgument', `Bucket POST must contain a field named '${name}'.  If it is specified, please check the order of the fields.`, { ArgumentName: name });
}

function required(fields: PostFields, name: string, shown = name): string {
  const v = fields.get(name);
  if (v === undefined) throw missingField(shown);
  return v;
}

function mismatch(accessKeyId: string, policy: string, provided: string): S3AuthError {
  return new S3AuthError(
    'SignatureDoesNotMatch',
    'The request signature we calculated does not match the signature you provided. Check your key and signing method.',
    { AWSAccessKeyId: accessKeyId, StringToSign: policy, SignatureProvided: provided },
  );
}

/**
 * Verifies the signature of a POST form's policy. Throws S3AuthError: AccessDenied for a form
 * with neither policy nor signature (anonymous uploads are not allowed), InvalidArgument for a
 * missing or malformed field, InvalidAccessKeyId, SignatureDoesNotMatch.
 */
export function authenticatePostForm(fields: PostFields, creds: CredentialStore): PostAuthResult {
  const v4 = ['x-amz-algorithm', 'x-amz-credential', 'x-amz-signature'].some((n) => fields.has(n));
  const v2 = fields.has('awsaccesskeyid') || fields.has('signature');
  if (v4 && v2) {
    throw new S3AuthError('InvalidArgument', 'Only one auth mechanism allowed: either the x-amz-* fields (SigV4) or AWSAccessKeyId and signature (SigV2).');
  }
  if (!v4 && !v2) {
    if (fields.has('policy')) throw missingField('AWSAccessKeyId');
    throw new S3AuthError('AccessDenied', 'Access Denied: anonymous uploads are not allowed');
  }
  if (fields.has('x-amz-security-token')) {
    throw new S3AuthError('NotImplemented', 'Temporary security credentials (x-amz-security-token) are not supported by this gateway');
  }
  if (v2) {
    const accessKeyId = required(fields, 'awsaccesskeyid', 'AWSAccessKeyId');
    const provided = required(fields, 'signature');
    const policy = required(fields, 'policy');
    const secret = lookupSecret(creds, accessKeyId);
    if (!constantTimeEqual(signV2(secret, policy), provided)) throw mismatch(accessKeyId, policy, provided);
    return { accessKeyId, scheme: 'sigv2-post' };
  }
  const algorithm = required(fields, 'x-amz-algorithm');
  const credentialField = required(fields, 'x-amz-credential');
  const date = required(fields, 'x-amz-date');
  const provided = required(fields, 'x-amz-signature');
  const policy = required(fields, 'policy');
  if (algorithm !== SIGV4_ALGORITHM) {
    throw new S3AuthError('InvalidArgument', `x-amz-algorithm only supports "${SIGV4_ALGORITHM}"`, { ArgumentName: 'x-amz-algorithm', ArgumentValue: algorithm });
  }
  const credential = parseCredential(credentialField, 'InvalidArgument', 'Error parsing the x-amz-credential field;');
  if (parseAmzDate(date) === undefined) {
    throw new S3AuthError('InvalidArgument', 'x-amz-date must be in the ISO8601 Long Format "yyyyMMdd\'T\'HHmmss\'Z\'"', { ArgumentName: 'x-amz-date', ArgumentValue: date });
  }
  const secret = lookupSecret(creds, credential.accessKeyId);
  const expected = hmac(deriveSigningKey(secret, credential.date, credential.region), policy).toString('hex');
  if (!constantTimeEqual(expected, provided.toLowerCase())) throw mismatch(credential.accessKeyId, policy, provided);
  return { accessKeyId: credential.accessKeyId, scheme: 'sigv4-post' };
}
