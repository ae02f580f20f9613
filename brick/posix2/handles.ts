/**
 * Handle paths and inode metadata of POSIX2 (docs/ON-DISK-FORMAT.md):
 * every object lives at `<dir>/<gfid[0] hex>/<gfid[1] hex>/<gfid>`, with no ancestry on disk.
 * Inode metadata is one JSON xattr, `user.dht2.inode`, written atomically by setxattr(2);
 * caller xattrs live under `user.dht2.x.` so they can never clobber the brick's own.
 */
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { getAttribute, setAttribute } from '@napi-rs/xattr';
import { err, toDht2Error } from '../../dht2-core/errors.js';
import type { Attrs, InodeType } from '../../dht2-core/protocol/fops.js';
import { tmpDir } from './format.js';

export const XATTR_INODE = 'user.dht2.inode';
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
  v: 1;
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

export function newMeta(n: NewMeta): InodeMeta {
  const now = Date.now();
  const perm = n.mode ?? (n.type === 'dir' ? 0o755 : n.type === 'symlink' ? 0o777 : 0o644);
  const size = n.type === 'symlink' ? Buffer.byteLength(n.target ?? '') : n.type === 'file' ? (n.size ?? 0) : 0;
  const m: InodeMeta = {
    v: 1, type: n.type, mode: perm & 0o7777, uid: n.uid ?? 0, gid: n.gid ?? 0, nlink: n.type === 'dir' ? 2 : 1, size,
    atimeMs: now, mtimeMs: n.mtimeMs ?? now, ctimeMs: now, btimeMs: now,
  };
  if (n.target !== undefined) m.target = n.target;
  if (n.type === 'dir' && n.parent !== undefined) m.parent = n.parent;
  if (n.type === 'dir' && n.obj !== undefined) m.obj = n.obj;
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
  try {
    const m = JSON.parse(raw.toString('utf8')) as InodeMeta;
    if (m.v !== 1) throw new Error(`inode metadata version ${String(m.v)}`);
    return m;
  } catch (e) {
    throw err('EIO', `corrupt inode metadata at ${path}: ${(e as Error).message}`);
  }
}

export async function writeMeta(path: string, meta: InodeMeta): Promise<void> {
  try {
    await setAttribute(path, XATTR_INODE, Buffer.from(JSON.stringify(meta), 'utf8'));
  } catch (e) {
    throw toDht2Error(e, 'setxattr');
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
