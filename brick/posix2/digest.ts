/**
 * The `digest` FOP: a logical fingerprint of every handle of the brick, in GFID order, so the
 * members of a replica set can be compared (docs/ARCHITECTURE.md §10.6 "identical replicas",
 * §10.12 `dht2 fsck`). It covers what §10.6 calls the logical content and nothing else: not
 * inode numbers, not the handles' own stat times, not the SQLite index, not `tmp/`.
 *
 * - MDS: SHA-256 over the `user.dht2` bytes as stored (times and CRC included), the caller
 *   xattrs (`user.dht2.x.*`) sorted by name in byte order, and for a directory its name entries
 *   sorted in byte order with their targets as stored (`<gfid>:<t>`, ON-DISK-FORMAT.md §3.2).
 *   Every field is length-prefixed, so no two different contents give the same byte string.
 * - DS: the object's size and the CRC32C of its bytes, read in 1 MiB pieces (never whole in
 *   memory). No times: a data object's logical content is its bytes (§10.6).
 *
 * Read only, and not atomic against FOPs running at the same time: a name removed between the
 * directory read and its readlink is left out, and a handle removed before it is read is
 * skipped. The comparison (dht2-core/fops/replica-compare.ts) checks a difference again later.
 */
import { createHash } from 'node:crypto';
import { lstat, open, readdir, readlink } from 'node:fs/promises';
import { join } from 'node:path';
import { crc32c } from '@node-rs/crc32';
import { listAttributes } from '@napi-rs/xattr';
import { err, isGfid, toDht2Error, type DigestItem, type DigestPage } from '../../dht2-core/protocol/index.js';
import { codeOf } from './fsutil.js';
import { decodeMeta, XATTR_INODE, XATTR_USER_PREFIX } from './handles.js';
import { getAttribute } from './meta-fs.js';
import { mapLimit } from './mds-util.js';
import { handlesFrom } from './scan.js';

/** Tags the byte string hashed for an MDS inode, so a later definition can never collide with this one. */
const MDS_TAG = Buffer.from('dht2 mds digest 1\0');
/** Piece size of a data object read. */
const READ_CHUNK = 1024 * 1024;
/**
 * A DS page ends early once it has read this many bytes (at least one item), so a page answers
 * well within the RPC's 30 s idle timeout. The CRC (@node-rs/crc32, CPU instructions, ~6 GB/s
 * here) is not the limit; the disk is, and one object of many GB read at disk speed may still
 * need a longer `timeoutMs` from the caller.
 */
const PAGE_BYTES = 128 * 1024 * 1024;

/** One page of the `digest` FOP: every handle after `after`, in GFID order, at most `limit`. */
export async function digestPage(dir: string, role: 'mds' | 'ds', after: string | undefined, limit: number): Promise<DigestPage> {
  const items: DigestItem[] = [];
  let bytes = 0;
  for await (const [gfid, path] of handlesFrom(dir, after)) {
    if (!isGfid(gfid)) continue; // not a handle (ON-DISK-FORMAT.md §1: only GFIDs live at <xx>/<yy>/)
    if (items.length === limit || bytes >= PAGE_BYTES) return { items, eof: false };
    const it = role === 'mds' ? await mdsDigest(gfid, path) : await dsDigest(gfid, path);
    if (!it) continue;
    items.push(it);
    bytes += it.size ?? 0;
  }
  return { items, eof: true };
}

function u32(n: number): Buffer {
  const b = Buffer.alloc(4);
  b.writeUInt32LE(n);
  return b;
}

/** Appends a length-prefixed field. */
function field(h: ReturnType<typeof createHash>, b: Buffer): void {
  h.update(u32(b.length));
  h.update(b);
}

async function mdsDigest(gfid: string, path: string): Promise<DigestItem | undefined> {
  let raw: Buffer | null;
  try {
    raw = await getAttribute(path, XATTR_INODE);
  } catch (e) {
    const c = codeOf(e);
    if (c === 'ENOENT' || c === 'ENOTDIR') return undefined; // removed since the folder was read
    throw toDht2Error(e, 'getxattr');
  }
  if (raw === null) return undefined; // no inode metadata: skipped, as `scan` does
  const meta = decodeMeta(raw, path); // EIO when corrupt
  const h = createHash('sha256');
  h.update(MDS_TAG);
  field(h, raw);

  const xattrs = await xattrsOf(path);
  h.update(u32(xattrs.length));
  for (const [name, value] of xattrs) {
    field(h, name);
    field(h, value);
  }

  if (meta.type === 'dir') {
    const entries = await entriesOf(path);
    h.update(u32(entries.length));
    for (const [name, target] of entries) {
      field(h, name);
      field(h, target);
    }
  }
  return { gfid, kind: meta.type, hash: h.digest('hex') };
}

/** The caller xattrs of a handle as [name without prefix, value], sorted by name in byte order. */
async function xattrsOf(path: string): Promise<Array<[Buffer, Buffer]>> {
  let names: string[];
  try {
    names = await listAttributes(path);
  } catch (e) {
    if (codeOf(e) === 'ENOENT') return [];
    throw toDht2Error(e, 'listxattr');
  }
  const out: Array<[Buffer, Buffer]> = [];
  for (const n of names) {
    if (!n.startsWith(XATTR_USER_PREFIX)) continue;
    let v: Buffer | null;
    try {
      v = await getAttribute(path, n);
    } catch (e) {
      if (codeOf(e) === 'ENOENT') continue;
      throw toDht2Error(e, 'getxattr');
    }
    if (v !== null) out.push([Buffer.from(n.slice(XATTR_USER_PREFIX.length), 'utf8'), v]);
  }
  return out.sort((a, b) => Buffer.compare(a[0], b[0]));
}

/**
 * A directory's name entries as [name, target] in byte order of the names, read from the
 * entries themselves (the truth; the SQLite index is a superset, ON-DISK-FORMAT.md §3.3). The
 * whole list of one directory is held to sort it, as `rebuildIndex` does.
 */
async function entriesOf(path: string): Promise<Array<[Buffer, Buffer]>> {
  let st;
  try {
    st = await lstat(path);
  } catch (e) {
    if (codeOf(e) === 'ENOENT') return [];
    throw toDht2Error(e, 'lstat');
  }
  if (!st.isDirectory()) throw err('EIO', `directory inode ${path} is not a directory on disk`);
  let names: Buffer[];
  try {
    names = await readdir(path, { encoding: 'buffer' });
  } catch (e) {
    if (codeOf(e) === 'ENOENT') return [];
    throw toDht2Error(e, 'readdir');
  }
  names.sort(Buffer.compare);
  const pathBuf = Buffer.from(path + '/');
  const targets = await mapLimit(names, 64, async (n) => {
    try {
      return await readlink(Buffer.concat([pathBuf, n]), { encoding: 'buffer' });
    } catch (e) {
      const c = codeOf(e);
      if (c === 'ENOENT') return undefined; // removed since the directory was read
      if (c === 'EINVAL') throw err('EIO', `corrupt name entry ${join(path, n.toString('utf8'))}: not a symlink`);
      throw toDht2Error(e, 'readlink');
    }
  });
  const out: Array<[Buffer, Buffer]> = [];
  names.forEach((n, i) => {
    const t = targets[i];
    if (t !== undefined) out.push([n, t]);
  });
  return out;
}

async function dsDigest(gfid: string, path: string): Promise<DigestItem | undefined> {
  let fh;
  try {
    fh = await open(path, 'r');
  } catch (e) {
    if (codeOf(e) === 'ENOENT') return undefined; // removed since the folder was read
    throw toDht2Error(e, 'open');
  }
  try {
    if (!(await fh.stat()).isFile()) throw err('EIO', `data object ${path} is not a regular file`);
    let crc = 0;
    const buf = Buffer.allocUnsafe(READ_CHUNK);
    let size = 0;
    for (;;) {
      const { bytesRead } = await fh.read(buf, 0, buf.length, size);
      if (bytesRead === 0) break;
      crc = crc32c(buf.subarray(0, bytesRead), crc);
      size += bytesRead;
    }
    return { gfid, kind: 'data', size, hash: (crc >>> 0).toString(16).padStart(8, '0') };
  } catch (e) {
    throw toDht2Error(e, 'digest');
  } finally {
    await fh.close();
  }
}
