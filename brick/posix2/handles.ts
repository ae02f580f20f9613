/**
 * Handle paths and inode metadata of POSIX2 (docs/ON-DISK-FORMAT.md):
 * every object lives at `<dir>/<gfid[0] hex>/<gfid[1] hex>/<gfid>`, with no ancestry on disk.
 * Inode metadata is one binary xattr, `user.dht2`, written atomically by setxattr(2); caller
 * xattrs live under `user.dht2.x.` so they can never clobber the brick's own.
 */
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { getAttribute, setAttribute } from './meta-fs.js';
import { Crc32c } from '@aws-crypto/crc32c';
import { err, toDht2Error, type Attrs, type InodeType } from '../../dht2-core/protocol/index.js';
import { tmpDir } from './format.js';

export const XATTR_INODE = 'user.dht2';
/** Format 1 kept the metadata as JSON in this xattr; format.ts migrates it at open. */
export const XATTR_INODE_V1 = 'user.dht2.inode';
export const XATTR_USER_PREFIX = 'user.dht2.x.';

/** Path of the object with this GFID (the GFID must already be validated). */
export function handlePath(dir: string, gfid: string): string {
  return join(dir, gfid.slice(0, 2), gfid.slice(2, 4), gfid);
}

/** The `<xx>/<yy>` directory of a handle. */
export function handleParent(dir: string, gfid: string): string {
  return join(dir, gfid.slice(0, 2), gfid.slice(2, 4));
}

/** A fresh path in the brick's tmp/ folder (same filesystem, so rename(2) is atomic). */
export function tmpPath(dir: string, tag: string): string {
  return join(tmpDir(dir), `${tag}.${randomBytes(8).toString('hex')}`);
}

/** What `user.dht2.inode` holds. */
export interface InodeMeta {
  type: InodeType;
  mode: number;
  uid: number;
  gid: number;
  nlink: number;
  size: number;
  atimeMs: number;
  mtimeMs: number;
  ctimeMs: number;
  btimeMs: number;
  target?: string;
  /** Directories: parent directory GFID. */
  parent?: string;
  /** Directories being removed across MDSs refuse new entries (see mds.ts rmdir). */
  dying?: boolean;
  /** Directories: the file inode of the object carried at the directory's own name. */
  obj?: string;
}

export interface NewMeta {
  type: InodeType;
  mode?: number;
  uid?: number;
  gid?: number;
  target?: string;
  size?: number;
  mtimeMs?: number;
  parent?: string;
  obj?: string;
}

/** A new inode's metadata; its four times are `at`, the FOP's time (ARCHITECTURE.md §10.6). */
export function newMeta(n: NewMeta, at: number): InodeMeta {
  const now = Math.round(at);
  const perm = n.mode ?? (n.type === 'dir' ? 0o755 : n.type === 'symlink' ? 0o777 : 0o644);
  const size = n.type === 'symlink' ? Buffer.byteLength(n.target ?? '') : n.type === 'file' ? (n.size ?? 0) : 0;
  const m: InodeMeta = {
    type: n.type, mode: perm & 0o7777, uid: n.uid ?? 0, gid: n.gid ?? 0, nlink: n.type === 'dir' ? 2 : 1, size,
    atimeMs: now, mtimeMs: n.mtimeMs !== undefined ? Math.round(n.mtimeMs) : now, ctimeMs: now, btimeMs: now,
  };
  if (n.target !== undefined) m.target = n.target;
  if (n.type === 'dir' && n.parent !== undefined) m.parent = n.parent;
  if (n.type === 'dir' && n.obj !== undefined) m.obj = n.obj;
  return m;
}

/**
 * The binary value of `user.dht2` (docs/ON-DISK-FORMAT.md §3.1), little-endian:
 *
 *   0      u8   0xd2 (format 2; JSON, format 1, began with '{')
 *   1      u8   type (0 file, 1 dir, 2 symlink) | 0x04 dying | 0x08 parent | 0x10 obj | 0x20 target
 *   2      u16  mode & 0o7777
 *   4      u32  uid, u32 gid, u32 nlink
 *   16     u64  size (at most 2^53 - 1)
 *   24     i48  atime, mtime, ctime, btime: whole ms since the epoch
 *   48     [16 parent GFID] [16 obj GFID] [target, UTF-8]
 *   end    u32  CRC32C of everything before it
 *
 * Why binary: a file's value is 52 bytes and a directory's with its parent 68, which fit in the
 * 96 bytes of in-inode xattr space of a 256-byte ext4 inode (the name `dht2` costs 20). The JSON
 * of format 1 (~250 bytes) needed a 4 KiB xattr block per inode, and ext4's block path
 * (ext4_xattr_block_set with its mbcache search) was a third of an MDS create's CPU
 * (docs/PERFORMANCE.md). The design packed `trusted.inode` the same way, CRC32C included [S10].
 */
const META_MAGIC = 0xd2;
const TYPE_CODE: Record<InodeType, number> = { file: 0, dir: 1, symlink: 2 };
const CODE_TYPE: readonly InodeType[] = ['file', 'dir', 'symlink'];
const F_DYING = 0x04;
const F_PARENT = 0x08;
const F_OBJ = 0x10;
const F_TARGET = 0x20;
const FIXED = 48;
const MAX_TIME = 2 ** 47 - 1;

function gfidBytes(g: string): Buffer {
  return Buffer.from(g.replaceAll('-', ''), 'hex');
}

function gfidText(b: Buffer, at: number): string {
  const h = b.toString('hex', at, at + 16);
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20)}`;
}

function crc32c(b: Buffer, end: number): number {
  return new Crc32c().update(b.subarray(0, end)).digest();
}

/** Times are kept to the millisecond, within ±4,400 years of 1970. */
function timeField(t: number): number {
  const v = Math.round(t);
  if (!(Math.abs(v) <= MAX_TIME)) throw err('EINVAL', `time ${t} ms is out of range`);
  return v;
}

export function encodeMeta(m: InodeMeta): Buffer {
  const target = m.target === undefined ? undefined : Buffer.from(m.target, 'utf8');
  const len = FIXED + (m.parent !== undefined ? 16 : 0) + (m.obj !== undefined ? 16 : 0) + (target?.length ?? 0) + 4;
  const b = Buffer.alloc(len);
  b[0] = META_MAGIC;
  b[1] = TYPE_CODE[m.type] | (m.dying ? F_DYING : 0) | (m.parent !== undefined ? F_PARENT : 0)
    | (m.obj !== undefined ? F_OBJ : 0) | (target ? F_TARGET : 0);
  b.writeUInt16LE(m.mode & 0o7777, 2);
  b.writeUInt32LE(m.uid, 4);
  b.writeUInt32LE(m.gid, 8);
  b.writeUInt32LE(m.nlink, 12);
  if (!Number.isSafeInteger(m.size) || m.size < 0) throw err('EFBIG', `size ${m.size} cannot be stored`);
  b.writeUInt32LE(m.size % 2 ** 32, 16);
  b.writeUInt32LE(Math.floor(m.size / 2 ** 32), 20);
  [m.atimeMs, m.mtimeMs, m.ctimeMs, m.btimeMs].forEach((t, i) => b.writeIntLE(timeField(t), 24 + 6 * i, 6));
  let at = FIXED;
  if (m.parent !== undefined) at += gfidBytes(m.parent).copy(b, at);
  if (m.obj !== undefined) at += gfidBytes(m.obj).copy(b, at);
  if (target) at += target.copy(b, at);
  b.writeUInt32LE(crc32c(b, at), at);
  return b;
}

/** Decodes `user.dht2`; EIO (with `where`) when it is not a whole, unchanged format-2 value. */
export function decodeMeta(b: Buffer, where: string): InodeMeta {
  const bad = (why: string): never => { throw err('EIO', `corrupt inode metadata at ${where}: ${why}`); };
  if (b.length < FIXED + 4 || b[0] !== META_MAGIC) bad('not format-2 metadata');
  const end = b.length - 4;
  if (b.readUInt32LE(end) !== crc32c(b, end)) bad('checksum mismatch');
  const flags = b[1]!;
  const type = CODE_TYPE[flags & 0x03] ?? bad(`type ${flags & 0x03}`);
  const t = (i: number): number => b.readIntLE(24 + 6 * i, 6);
  const m: InodeMeta = {
    type, mode: b.readUInt16LE(2), uid: b.readUInt32LE(4), gid: b.readUInt32LE(8), nlink: b.readUInt32LE(12),
    size: b.readUInt32LE(16) + b.readUInt32LE(20) * 2 ** 32, atimeMs: t(0), mtimeMs: t(1), ctimeMs: t(2), btimeMs: t(3),
  };
  let at = FIXED;
  const gfid = (): string => { if (at + 16 > end) bad('truncated'); const g = gfidText(b, at); at += 16; return g; };
  if (flags & F_PARENT) m.parent = gfid();
  if (flags & F_OBJ) m.obj = gfid();
  if (flags & F_TARGET) { m.target = b.toString('utf8', at, end); at = end; }
  if (at !== end) bad('trailing bytes');
  if (flags & F_DYING) m.dying = true;
  return m;
}

/** Reads an inode's metadata; undefined when no inode with this GFID lives on this brick. */
export async function readMeta(path: string): Promise<InodeMeta | undefined> {
  let raw: Buffer | null;
  try {
    raw = await getAttribute(path, XATTR_INODE);
  } catch (e) {
    const de = toDht2Error(e, 'getxattr');
    if (de.errno === 'ENOENT' || de.errno === 'ENOTDIR') return undefined;
    throw de;
  }
  if (raw === null) return undefined;
  return decodeMeta(raw, path);
}

export async function writeMeta(path: string, meta: InodeMeta): Promise<void> {
  const value = encodeMeta(meta);
  try {
    await setAttribute(path, XATTR_INODE, value);
  } catch (e) {
    throw toDht2Error(e, 'setxattr');
  }
}

/** Format 1's JSON metadata (only the migration reads it); undefined when the xattr is absent. */
export async function readMetaV1(path: string): Promise<InodeMeta | undefined> {
  const raw = await getAttribute(path, XATTR_INODE_V1);
  if (raw === null) return undefined;
  try {
    const { v, ...m } = JSON.parse(raw.toString('utf8')) as InodeMeta & { v?: unknown };
    if (v !== 1) throw new Error(`inode metadata version ${String(v)}`);
    return m;
  } catch (e) {
    throw err('EIO', `corrupt inode metadata at ${path}: ${(e as Error).message}`);
  }
}

export function toAttrs(gfid: string, m: InodeMeta): Attrs {
  const a: Attrs = {
    gfid, type: m.type, mode: m.mode, uid: m.uid, gid: m.gid, nlink: m.nlink, size: m.size,
    atimeMs: m.atimeMs, mtimeMs: m.mtimeMs, ctimeMs: m.ctimeMs, btimeMs: m.btimeMs,
  };
  if (m.target !== undefined) a.target = m.target;
  if (m.parent !== undefined) a.parent = m.parent;
  if (m.obj !== undefined) a.obj = m.obj;
  return a;
}

/**
 * A name entry is a symlink `<parent handle>/<name>` whose target is `<gfid>:<t>` (t = d, f, l).
 * symlink(2) creates it exclusively and atomically in one call and rename(2) replaces it
 * atomically, so no crash can leave a name without its GFID (docs/ON-DISK-FORMAT.md).
 */
const TYPE_CHAR: Record<InodeType, string> = { dir: 'd', file: 'f', symlink: 'l' };
const CHAR_TYPE: Record<string, InodeType> = { d: 'dir', f: 'file', l: 'symlink' };
const ENTRY_RE = /^([0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}):([dfl])$/;

export function entryTarget(gfid: string, type: InodeType): string {
  return `${gfid}:${TYPE_CHAR[type]}`;
}

export function parseEntryTarget(target: string, where: string): { gfid: string; type: InodeType } {
  const m = ENTRY_RE.exec(target);
  if (!m) throw err('EIO', `corrupt name entry ${where}`);
  return { gfid: m[1]!, type: CHAR_TYPE[m[2]!]! };
}
