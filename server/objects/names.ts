/**
 * S3 names on a DHT2 volume (docs/ARCHITECTURE.md "Object-and-file semantics"): bucket `b` is
 * the directory `/b`; key `a/b/c` is the file `/b/a/b/c`; a key ending in `/` is a directory
 * marker. Keys a path cannot hold are refused (ObjectError), never renamed.
 */
import { checkName, Dht2Error, NAME_MAX } from '../../dht2-core/index.js';
import { ObjectError } from './errors.js';

/**
 * Top-level names the gateway keeps for itself: `/.dht2` holds the multipart staging
 * (server/objects/uploads.ts). They are invisible and unwritable from every API: no bucket can
 * have such a name (isBucketName), and the file API answers them as docs/FILE-API.md says.
 */
export const RESERVED_NAMES: ReadonlySet<string> = new Set(['.dht2']);

/** Whether a volume path is, or is below, a reserved top-level name (`/.dht2`, `//.dht2/x`). */
export function isReservedPath(path: string): boolean {
  const first = path.split('/').find((p) => p !== '');
  return first !== undefined && RESERVED_NAMES.has(first);
}

/** EPERM for a path under a reserved name: no API writes there (file API writes, targets, uploads). */
export function refuseReservedWrite(path: string): void {
  if (isReservedPath(path)) throw new Dht2Error('EPERM', `${path}: the name is reserved for the gateway`, { path });
}

/**
 * S3 bucket naming rules for a new bucket
 * (https://docs.aws.amazon.com/AmazonS3/latest/userguide/bucketnamingrules.html).
 */
export function checkBucketName(name: string): void {
  const ok = /^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$/.test(name) && !name.includes('..') && !/^\d+\.\d+\.\d+\.\d+$/.test(name)
    && !name.startsWith('xn--') && !name.endsWith('-s3alias') && !name.includes('.-') && !name.includes('-.');
  if (!ok) throw invalidBucket(name);
}

/**
 * Whether `name` can address a bucket at all. Every S3 request is checked with this, not only
 * CreateBucket, before anything else: S3 answers InvalidBucketName to any request naming an
 * invalid bucket. A top-level directory made through the file API is a bucket too, under
 * whatever name it was given (`/fs/w`, `/fs/Photos_2026`), and stays reachable from S3 as it
 * always was; so what is refused here is only what can never be such a directory of the user's:
 * not one path component (empty, `/`, NUL, `..`, over 255 bytes), control characters, and any
 * name starting with `.` (hidden, like the reserved `/.dht2`).
 */
export function isBucketName(name: string): boolean {
  if (name.startsWith('.') || RESERVED_NAMES.has(name) || /[\x00-\x1f\x7f]/.test(name)) return false;
  try {
    checkName(name);
    return true;
  } catch {
    return false;
  }
}

/** InvalidBucketName unless `name` can address a bucket (isBucketName). */
export function checkBucketAccessName(name: string): void {
  if (!isBucketName(name)) throw invalidBucket(name);
}

/**
 * What a request naming a bucket that does not exist gets: NoSuchBucket for a name S3 could
 * have (its rules, or the legacy us-east-1 ones: 3 to 255 letters of either case, digits, `.`,
 * `-`, `_`), else InvalidBucketName, as S3 answers for a name that can never be a bucket.
 */
export function missingBucket(name: string): ObjectError {
  return /^[A-Za-z0-9][A-Za-z0-9._-]{2,254}$/.test(name) ? new ObjectError('BucketNotFound', undefined, { bucket: name }) : invalidBucket(name);
}

function invalidBucket(name: string): ObjectError {
  return new ObjectError('BucketNameInvalid', `The specified bucket is not valid: ${name}`, { bucket: name });
}

/** Longest key S3 accepts, in UTF-8 bytes. */
export const MAX_KEY_BYTES = 1024;

export interface KeyPath {
  /** Volume path of the object (`/bucket/a/b/c`), without a trailing slash. */
  path: string;
  /** Path of the parent directory. */
  parent: string;
  /** Last name. */
  name: string;
  /** The key ends with '/': a directory marker. */
  marker: boolean;
}

/** Maps a key to its volume path, or explains why a path cannot hold it. */
export function keyPath(bucket: string, key: string): KeyPath {
  const at = { bucket, key };
  if (key.length === 0) throw new ObjectError('ObjectNameInvalid', 'The key must not be empty.', at);
  if (Buffer.byteLength(key) > MAX_KEY_BYTES) throw new ObjectError('ObjectNameTooLong', undefined, at);
  const marker = key.endsWith('/');
  const segs = (marker ? key.slice(0, -1) : key).split('/');
  for (const s of segs) {
    if (s === '') throw new ObjectError('ObjectNameInvalid', 'Keys with empty path segments ("//" or a leading "/") are not supported.', at);
    if (s === '.' || s === '..') throw new ObjectError('ObjectNameInvalid', 'Keys with "." or ".." path segments are not supported.', at);
    if (s.includes('\0')) throw new ObjectError('ObjectNameInvalid', 'Keys must not contain NUL.', at);
    if (Buffer.byteLength(s) > NAME_MAX) throw new ObjectError('ObjectNameTooLong', `Each "/"-separated part of a key must be at most ${NAME_MAX} bytes.`, at);
    if (!s.isWellFormed()) throw new ObjectError('ObjectNameInvalid', 'Keys must be valid UTF-8.', at);
  }
  const name = segs.at(-1)!;
  const parent = ['', bucket, ...segs.slice(0, -1)].join('/');
  return { path: `${parent}/${name}`, parent, name, marker };
}
