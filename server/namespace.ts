/**
 * S3 names on a DHT2 volume (docs/ARCHITECTURE.md "Object-and-file semantics"): bucket `b` is
 * the directory `/b`; key `a/b/c` is the file `/b/a/b/c`; a key ending in `/` is a directory
 * marker. Keys a path cannot hold are refused with an S3 error, never renamed.
 */
import { NAME_MAX } from '../dht2-core/gfid.js';
import { S3Error } from './s3/errors.js';

/** S3 bucket naming rules (https://docs.aws.amazon.com/AmazonS3/latest/userguide/bucketnamingrules.html). */
export function checkBucketName(name: string): void {
  const ok = /^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$/.test(name) && !name.includes('..') && !/^\d+\.\d+\.\d+\.\d+$/.test(name)
    && !name.startsWith('xn--') && !name.endsWith('-s3alias') && !name.includes('.-') && !name.includes('-.');
  if (!ok) throw new S3Error('InvalidBucketName', `The specified bucket is not valid: ${name}`, `/${name}`);
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
  const resource = `/${bucket}/${key}`;
  if (key.length === 0) throw new S3Error('InvalidArgument', 'The key must not be empty.', resource);
  if (Buffer.byteLength(key) > MAX_KEY_BYTES) throw new S3Error('KeyTooLongError', undefined, resource);
  const marker = key.endsWith('/');
  const segs = (marker ? key.slice(0, -1) : key).split('/');
  for (const s of segs) {
    if (s === '') throw new S3Error('InvalidArgument', 'Keys with empty path segments ("//" or a leading "/") are not supported.', resource);
    if (s === '.' || s === '..') throw new S3Error('InvalidArgument', 'Keys with "." or ".." path segments are not supported.', resource);
    if (s.includes('\0')) throw new S3Error('InvalidArgument', 'Keys must not contain NUL.', resource);
    if (Buffer.byteLength(s) > NAME_MAX) throw new S3Error('KeyTooLongError', `Each "/"-separated part of a key must be at most ${NAME_MAX} bytes.`, resource);
    if (!s.isWellFormed()) throw new S3Error('InvalidArgument', 'Keys must be valid UTF-8.', resource);
  }
  const name = segs.at(-1)!;
  const parent = ['', bucket, ...segs.slice(0, -1)].join('/');
  return { path: `${parent}/${name}`, parent, name, marker };
}
