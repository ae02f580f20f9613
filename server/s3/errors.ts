/**
 * S3 errors: one closed table of the codes this gateway answers, with their HTTP status and
 * default message (https://docs.aws.amazon.com/AmazonS3/latest/API/ErrorResponses.html), and
 * the one place where a dht2-core errno becomes an S3 code.
 */
import { Dht2Error } from '../../dht2-core/index.js';
import { isS3AuthError, type S3AuthError } from '../auth/errors.js';

export const S3_ERRORS = {
  AccessDenied: [403, 'Access Denied'],
  AuthorizationHeaderMalformed: [400, 'The authorization header is malformed.'],
  AuthorizationQueryParametersError: [400, 'Error parsing the X-Amz-Credential parameter.'],
  BadDigest: [400, 'The Content-MD5 or checksum you specified did not match what we received.'],
  BucketAlreadyExists: [409, 'The requested bucket name is not available.'],
  BucketAlreadyOwnedByYou: [409, 'Your previous request to create the named bucket succeeded and you already own it.'],
  BucketNotEmpty: [409, 'The bucket you tried to delete is not empty.'],
  EntityTooLarge: [400, 'Your proposed upload exceeds the maximum allowed object size.'],
  EntityTooSmall: [400, 'Your proposed upload is smaller than the minimum allowed object size.'],
  ExpiredToken: [400, 'The provided token has expired.'],
  IncompleteBody: [400, 'You did not provide the number of bytes specified by the Content-Length HTTP header.'],
  InternalError: [500, 'We encountered an internal error. Please try again.'],
  InvalidAccessKeyId: [403, 'The AWS access key ID you provided does not exist in our records.'],
  InvalidArgument: [400, 'Invalid Argument'],
  InvalidBucketName: [400, 'The specified bucket is not valid.'],
  InvalidDigest: [400, 'The Content-MD5 you specified is not valid.'],
  InvalidPart: [400, 'One or more of the specified parts could not be found.'],
  InvalidPartOrder: [400, 'The list of parts was not in ascending order.'],
  InvalidPolicyDocument: [400, 'The content of the form does not meet the conditions specified in the policy document.'],
  InvalidRange: [416, 'The requested range is not satisfiable.'],
  InvalidRequest: [400, 'Invalid Request'],
  InvalidURI: [400, "Couldn't parse the specified URI."],
  KeyTooLongError: [400, 'Your key is too long.'],
  MalformedPOSTRequest: [400, 'The body of your POST request is not well-formed multipart/form-data.'],
  MalformedXML: [400, 'The XML you provided was not well-formed or did not validate against our published schema.'],
  MaxPostPreDataLengthExceededError: [400, 'Your POST request fields preceding the upload file were too large.'],
  MetadataTooLarge: [400, 'Your metadata headers exceed the maximum allowed metadata size.'],
  MethodNotAllowed: [405, 'The specified method is not allowed against this resource.'],
  MissingSecurityHeader: [400, 'Your request is missing a required header.'],
  MissingContentLength: [411, 'You must provide the Content-Length HTTP header.'],
  NoSuchBucket: [404, 'The specified bucket does not exist.'],
  NoSuchKey: [404, 'The specified key does not exist.'],
  NoSuchUpload: [404, 'The specified multipart upload does not exist.'],
  NotImplemented: [501, 'A header or operation you provided implies functionality that is not implemented.'],
  PreconditionFailed: [412, 'At least one of the preconditions you specified did not hold.'],
  RequestHeaderSectionTooLarge: [400, 'Your request header section exceeds the maximum allowed size.'],
  RequestTimeout: [400, 'Your socket connection to the server was not read from or written to within the timeout period.'],
  RequestTimeTooSkewed: [403, 'The difference between the request time and the current time is too large.'],
  ServiceUnavailable: [503, 'Please reduce your request rate.'],
  SignatureDoesNotMatch: [403, 'The request signature we calculated does not match the signature you provided.'],
  SlowDown: [503, 'Please reduce your request rate.'],
  InsufficientStorage: [507, 'The volume has no space left for this request.'],
  XAmzContentSHA256Mismatch: [400, 'The provided x-amz-content-sha256 header does not match what was computed.'],
} as const satisfies Record<string, readonly [number, string]>;

export type S3Code = keyof typeof S3_ERRORS;

export class S3Error extends Error {
  override readonly name = 'S3Error';
  readonly status: number;
  /**
   * Extra elements of the XML error body, after Message: what S3 adds for some codes
   * (RequestTimeTooSkewed: RequestTime, ServerTime, MaxAllowedSkewMilliseconds;
   * SignatureDoesNotMatch: AWSAccessKeyId, StringToSign, SignatureProvided, CanonicalRequest).
   */
  readonly details: Readonly<Record<string, string>>;

  constructor(readonly code: S3Code, message?: string, readonly resource?: string, options?: { cause?: unknown; details?: Record<string, string> }) {
    super(message ?? S3_ERRORS[code][1], options);
    this.status = S3_ERRORS[code][0];
    this.details = options?.details ?? {};
  }
}

/**
 * The body-verification or signature error behind `e`, if any: a PUT whose body fails its
 * checksum reaches the handler as the volume's ECANCELED with the verifier's error as cause.
 */
export function authErrorIn(e: unknown): S3AuthError | undefined {
  for (let c: unknown = e, depth = 0; c && depth < 8; c = (c as { cause?: unknown }).cause, depth++) {
    if (isS3AuthError(c)) return c;
  }
  return undefined;
}

/** What an errno means for an object request (ENOENT is NoSuchKey; a bucket caller maps it first). */
export function s3ErrorOf(e: unknown, resource?: string): S3Error {
  if (e instanceof S3Error) return e;
  const auth = authErrorIn(e);
  if (auth) return new S3Error(auth.code, auth.message, resource, { cause: e, details: { ...auth.details } }); // auth codes are S3 codes
  if (!(e instanceof Dht2Error)) return new S3Error('InternalError', undefined, resource, { cause: e });
  switch (e.errno) {
    case 'ENOENT': case 'ENOTDIR': return new S3Error('NoSuchKey', undefined, resource, { cause: e });
    case 'ENAMETOOLONG': return new S3Error('KeyTooLongError', undefined, resource, { cause: e });
    case 'EEXIST': case 'ESTALE': return new S3Error('PreconditionFailed', undefined, resource, { cause: e });
    case 'EISDIR': case 'ENOTEMPTY':
      return new S3Error('InvalidRequest', 'The key conflicts with a folder of the same name in this bucket (a key and its "key/" prefix cannot both hold data yet).', resource, { cause: e });
    case 'EINVAL': return new S3Error('InvalidArgument', e.message, resource, { cause: e });
    case 'EFBIG': return new S3Error('EntityTooLarge', undefined, resource, { cause: e });
    case 'ENOSPC': case 'EDQUOT': return new S3Error('InsufficientStorage', undefined, resource, { cause: e });
    case 'EACCES': case 'EPERM': return new S3Error('AccessDenied', undefined, resource, { cause: e });
    case 'EHOSTDOWN': case 'ENOTCONN': case 'ETIMEDOUT':
      return new S3Error('ServiceUnavailable', 'A storage brick is unreachable; try again.', resource, { cause: e });
    case 'ECANCELED': return new S3Error('IncompleteBody', undefined, resource, { cause: e });
    default: return new S3Error('InternalError', undefined, resource, { cause: e });
  }
}
