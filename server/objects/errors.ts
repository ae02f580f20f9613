/**
 * What the object layer can refuse, beside the volume's errnos (Dht2Error): one closed set of
 * storage-level kinds, named for what went wrong and not for any API, as MinIO's object layer
 * does (cmd/object-api-errors.go: BucketNotFound, ObjectNotFound, InvalidUploadID, …). Each API
 * translates them once, with a table the compiler checks is complete: server/s3/errors.ts to S3
 * codes, server/files/errors.ts to HTTP statuses and errno names.
 */

export const OBJECT_ERROR_KINDS = [
  /** No bucket (top-level directory) of that name. */
  'BucketNotFound',
  /** A name that can never address a bucket (or, for a new bucket, breaks S3's naming rules). */
  'BucketNameInvalid',
  /** CreateBucket of a bucket that is there. */
  'BucketExists',
  /** DeleteBucket of a bucket that still holds names. */
  'BucketNotEmpty',
  /** No object at that key. */
  'ObjectNotFound',
  /** A key a path cannot hold (empty, `//`, `.`/`..` segments, NUL, not UTF-8). */
  'ObjectNameInvalid',
  /** A key, or one of its `/` parts, longer than S3 or a directory entry allows. */
  'ObjectNameTooLong',
  /** A key ending in `/` (a folder marker) given data or made a copy's or an upload's target. */
  'FolderHoldsNoData',
  /** A request header (If-Match, If-None-Match, dates) did not hold. */
  'PreconditionFailed',
  /** A byte range past the object's end. */
  'RangeNotSatisfiable',
  /** A metadata header that no header can carry, or not a header name. */
  'MetadataInvalid',
  /** Metadata over the size S3 allows or the xattr can hold. */
  'MetadataTooLarge',
  /** The key kept being replaced while it was read (a GET raced several PUTs). */
  'ObjectKeepsChanging',
  /** No multipart upload with that id for that key. */
  'UploadNotFound',
  /** A part named in a completion that was not uploaded, or whose ETag differs. */
  'PartInvalid',
  /** Parts of a completion not in ascending order. */
  'PartOrderInvalid',
  /** A part other than the last smaller than 5 MiB. */
  'PartTooSmall',
  /** Anything else the caller sent that the layer refuses (its message says what). */
  'ArgumentInvalid',
] as const;

export type ObjectErrorKind = (typeof OBJECT_ERROR_KINDS)[number];

export interface ObjectErrorOptions {
  bucket?: string;
  key?: string;
  /** Extra named values an API may show (S3: ArgumentName, ArgumentValue). */
  details?: Record<string, string>;
  /** For RangeNotSatisfiable: the Content-Range the reply carries (`bytes *\/size`, RFC 9110 §14.4). */
  contentRange?: string;
  cause?: unknown;
}

/** An object-layer refusal: a kind, a message for people (absent: the API's default text), and what it was about. */
export class ObjectError extends Error {
  override readonly name = 'ObjectError';
  readonly bucket: string | undefined;
  readonly key: string | undefined;
  readonly details: Readonly<Record<string, string>>;
  readonly contentRange: string | undefined;

  constructor(readonly kind: ObjectErrorKind, readonly detail?: string, o: ObjectErrorOptions = {}) {
    super(detail ?? kind, o.cause === undefined ? undefined : { cause: o.cause });
    this.bucket = o.bucket;
    this.key = o.key;
    this.details = o.details ?? {};
    this.contentRange = o.contentRange;
  }

  /** The S3 resource the error is about: `/bucket/key`, `/bucket`, or undefined. */
  get resource(): string | undefined {
    if (this.bucket === undefined) return undefined;
    return this.key === undefined ? `/${this.bucket}` : `/${this.bucket}/${this.key}`;
  }
}
