/**
 * S3 errors: one closed table of the codes this gateway answers, with their HTTP status and
 * default message (https://docs.aws.amazon.com/AmazonS3/latest/API/ErrorResponses.html), and
 * the one place where a dht2-core errno becomes an S3 code.
 */
import { Dht2Error, type Errno } from '../../dht2-core/index.js';
import { authErrorIn } from '../auth/errors.js';
import { S3_ERRORS, type S3Code } from './codes.js';
import { ObjectError, type ObjectErrorKind } from '../objects/index.js';

export { S3_ERRORS, type S3Code } from './codes.js';

export class S3Error extends Error {
  override readonly name = 'S3Error';
  readonly status: number;
  /**
   * Extra elements of the XML error body, after Message: what S3 adds for some codes
   * (RequestTimeTooSkewed: RequestTime, ServerTime, MaxAllowedSkewMilliseconds;
   * SignatureDoesNotMatch: AWSAccessKeyId, StringToSign, SignatureProvided, CanonicalRequest).
   */
  readonly details: Readonly<Record<string, string>>;
  /** InvalidRange: the Content-Range its reply carries (`bytes *\/size`, RFC 9110 §14.4). */
  readonly contentRange: string | undefined;

  constructor(
    readonly code: S3Code, message?: string, readonly resource?: string,
    options?: { cause?: unknown; details?: Record<string, string>; contentRange?: string },
  ) {
    super(message ?? S3_ERRORS[code][1], options?.cause === undefined ? undefined : { cause: options.cause });
    this.status = S3_ERRORS[code][0];
    this.details = options?.details ?? {};
    this.contentRange = options?.contentRange;
  }
}

export { authErrorIn };

/**
 * The S3 code of each object-layer refusal (server/objects/errors.ts), checked complete by the
 * compiler; the layer's message, when it has one, replaces the code's default text.
 */
export const OBJECT_ERROR_CODES: Record<ObjectErrorKind, S3Code> = {
  BucketNotFound: 'NoSuchBucket',
  BucketNameInvalid: 'InvalidBucketName',
  BucketExists: 'BucketAlreadyOwnedByYou',
  BucketNotEmpty: 'BucketNotEmpty',
  ObjectNotFound: 'NoSuchKey',
  ObjectNameInvalid: 'InvalidArgument',
  ObjectNameTooLong: 'KeyTooLongError',
  FolderHoldsNoData: 'InvalidRequest',
  PreconditionFailed: 'PreconditionFailed',
  RangeNotSatisfiable: 'InvalidRange',
  MetadataInvalid: 'InvalidArgument',
  MetadataTooLarge: 'MetadataTooLarge',
  ObjectKeepsChanging: 'SlowDown',
  UploadNotFound: 'NoSuchUpload',
  PartInvalid: 'InvalidPart',
  PartOrderInvalid: 'InvalidPartOrder',
  PartTooSmall: 'EntityTooSmall',
  ArgumentInvalid: 'InvalidArgument',
};

function fromObjectError(e: ObjectError, resource: string | undefined): S3Error {
  return new S3Error(OBJECT_ERROR_CODES[e.kind], e.detail, e.resource ?? resource, {
    cause: e, details: { ...e.details }, ...(e.contentRange !== undefined ? { contentRange: e.contentRange } : {}),
  });
}

const KEY_FOLDER_CONFLICT = 'The key conflicts with a folder of the same name in this bucket (a key and its "key/" prefix cannot both hold data yet).';
const BRICK_UNREACHABLE = 'A storage brick is unreachable; try again.';

/**
 * What each errno means for an object request (ENOENT is NoSuchKey; a bucket caller maps it
 * first): a code, or a code and the message to answer instead of its default. Typed over every
 * errno, so a new one does not compile until it has an answer. The file API's table
 * (server/files/errors.ts) gives the same HTTP status except where test/server/s3/errors.test.ts
 * lists why not (S3 fixes the status of its codes; S3 never asks for xattrs or links).
 */
export const ERRNO_S3: Readonly<Record<Errno, S3Code | readonly [S3Code, string | ((e: Dht2Error) => string)]>> = {
  ENOENT: 'NoSuchKey', ENOTDIR: 'NoSuchKey',
  ENAMETOOLONG: 'KeyTooLongError',
  EEXIST: 'PreconditionFailed', ESTALE: 'PreconditionFailed',
  EISDIR: ['InvalidRequest', KEY_FOLDER_CONFLICT], ENOTEMPTY: ['InvalidRequest', KEY_FOLDER_CONFLICT],
  EINVAL: ['InvalidArgument', (e) => e.message],
  EFBIG: 'EntityTooLarge',
  ENOSPC: 'InsufficientStorage', EDQUOT: 'InsufficientStorage',
  EACCES: 'AccessDenied', EPERM: 'AccessDenied',
  EHOSTDOWN: ['ServiceUnavailable', BRICK_UNREACHABLE], ENOTCONN: ['ServiceUnavailable', BRICK_UNREACHABLE],
  ETIMEDOUT: ['ServiceUnavailable', BRICK_UNREACHABLE],
  // A brick that gave up under concurrent changes of one directory: a client retries later, as
  // SDKs do after S3's SlowDown (503), not after an InternalError.
  EAGAIN: 'SlowDown',
  // Consumed by the replica-set layer (ARCHITECTURE.md §10.8); should one escape, the set is
  // between primaries: the client's retry is the right answer.
  ENOTPRIMARY: 'SlowDown', EALREADY: 'SlowDown',
  ECANCELED: 'IncompleteBody',
  EIO: 'InternalError', EREMOTE: 'InternalError', EXDEV: 'InternalError', ELOOP: 'InternalError',
  ENODATA: 'InternalError', E2BIG: 'InternalError', ERANGE: 'InternalError', EMLINK: 'InternalError',
  ENOTSUP: 'InternalError', EPROTO: 'InternalError', EROFS: 'InternalError', EBUSY: 'InternalError',
  EMSGSIZE: 'InternalError',
};

/** What an errno means for an object request, by {@link ERRNO_S3}. */
export function s3ErrorOf(e: unknown, resource?: string): S3Error {
  if (e instanceof S3Error) return e;
  if (e instanceof ObjectError) return fromObjectError(e, resource);
  const auth = authErrorIn(e);
  if (auth) return new S3Error(auth.code, auth.message, resource, { cause: e, details: { ...auth.details } }); // auth codes are S3 codes
  if (!(e instanceof Dht2Error)) return new S3Error('InternalError', undefined, resource, { cause: e });
  const answer = ERRNO_S3[e.errno];
  if (typeof answer === 'string') return new S3Error(answer, undefined, resource, { cause: e });
  const [code, message] = answer;
  return new S3Error(code, typeof message === 'string' ? message : message(e), resource, { cause: e });
}
