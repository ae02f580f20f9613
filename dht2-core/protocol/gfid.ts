/**
 * GFIDs and names. A GFID is a 128-bit id written as a lowercase UUID string. DHT2 P2 puts the
 * volume bucket (one of 65536 tokens) in the GFID's top 16 bits, so any GFID names its own MDS
 * (see ../shared/design/DHT2-DESIGN-NOTES.md §2.2 "As built": bucket = gfid[0]<<8 | gfid[1]).
 */
import { randomPooled } from './random-pool.js';
import { err } from './errors.js';

/** Number of buckets (tokens) of every volume. */
export const BUCKET_COUNT = 65536;

/** The reserved root directory GFID (POSIX2: 00/00/00000000-0000-0000-0000-000000000001). */
export const ROOT_GFID = '00000000-0000-0000-0000-000000000001';

const GFID_RE = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

/** True for a canonical (lowercase, hyphenated) GFID string. */
export function isGfid(s: unknown): s is string {
  return typeof s === 'string' && GFID_RE.test(s);
}

/** Throws EINVAL unless `s` is a canonical GFID; the null GFID is never valid. */
export function checkGfid(s: unknown): string {
  if (!isGfid(s) || s === '00000000-0000-0000-0000-000000000000') {
    throw err('EINVAL', `malformed GFID ${JSON.stringify(String(s).slice(0, 64))}`);
  }
  return s;
}

/** The bucket (top 16 bits) a GFID carries. */
export function gfidBucket(gfid: string): number {
  return parseInt(gfid.slice(0, 4), 16);
}

function format(b: Buffer): string {
  const h = b.toString('hex');
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20)}`;
}

/**
 * A fresh random GFID whose top 16 bits are `bucket` (random when omitted) and, when given,
 * whose low 16 bits are `low16` (they choose the data's DS: objects meant to be concatenated
 * on one DS share them).
 */
export function newGfid(bucket?: number, low16?: number): string {
  const b = randomPooled(16);
  if (bucket !== undefined) {
    if (!Number.isInteger(bucket) || bucket < 0 || bucket >= BUCKET_COUNT) throw err('EINVAL', `bad bucket ${bucket}`);
    b.writeUInt16BE(bucket, 0);
  }
  if (low16 !== undefined) {
    if (!Number.isInteger(low16) || low16 < 0 || low16 > 0xffff) throw err('EINVAL', `bad low bits ${low16}`);
    b.writeUInt16BE(low16, 14);
  }
  // Never hand out the null GFID or the reserved root.
  const s = format(b);
  return s === ROOT_GFID || s === '00000000-0000-0000-0000-000000000000' ? newGfid(bucket, low16) : s;
}

/** The low 16 bits of a GFID (what places its data on a DS). */
export function gfidLow16(gfid: string): number {
  return parseInt(gfid.slice(-4), 16);
}

/** Longest name in bytes, as NAME_MAX on Linux. */
export const NAME_MAX = 255;

/**
 * Throws unless `name` can be one path component: EINVAL for empty, `.`, `..`, `/` or NUL;
 * ENAMETOOLONG past NAME_MAX bytes of UTF-8. This is what keeps a name from ever reaching
 * outside its directory on a brick.
 */
export function checkName(name: unknown): string {
  if (typeof name !== 'string' || name.length === 0) throw err('EINVAL', 'empty name');
  if (name === '.' || name === '..') throw err('EINVAL', `reserved name ${name}`, { path: name });
  if (name.includes('/') || name.includes('\0')) throw err('EINVAL', 'name contains / or NUL', { path: name });
  if (Buffer.byteLength(name, 'utf8') > NAME_MAX) throw err('ENAMETOOLONG', `name longer than ${NAME_MAX} bytes`, { path: name.slice(0, 64) });
  if (!name.isWellFormed()) throw err('EINVAL', 'name is not valid Unicode', { path: name });
  return name;
}

/** Compares two names in UTF-8 byte order, the order of every listing. */
export function compareNames(a: string, b: string): number {
  return Buffer.compare(Buffer.from(a, 'utf8'), Buffer.from(b, 'utf8'));
}
