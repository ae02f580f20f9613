/**
 * One object of a brick, as the full copy of a rebuild moves it (ARCHITECTURE.md §10.13 step 3,
 * PROTOCOL.md `rcopy`): read whole on the source, installed whole on the member being rebuilt.
 *
 * - **MDS**: a JSON document of the handle: its type (directory or not), every `user.dht2*`
 *   xattr as stored (the inode metadata `user.dht2` bytes, CRC and times included, and the caller
 *   xattrs), and for a directory its name entries with their symlink targets as stored. Installed
 *   by making the handle the same: wrong type removed, xattrs set and extra ones removed, entries
 *   added, replaced or removed. The SQLite name index is not touched here: the rebuild rebuilds
 *   it once the copy ends (`PosixStore.rebuildNameIndex`), before any entry is applied.
 * - **DS**: the object's bytes, with their size and CRC32C computed first; installed through
 *   `tmp/`, checked against both, fsynced and renamed over the handle.
 *
 * Not atomic against FOPs applied on the source meanwhile: the rebuild applies every entry after
 * the index it started from, with the divergence check off (§10.13 step 5).
 */
import { createReadStream } from 'node:fs';
import { lstat, mkdir, open, readdir, readlink, rm, symlink, unlink, rename } from 'node:fs/promises';
import { Readable } from 'node:stream';
import { crc32c } from '@node-rs/crc32';
import { listAttributes } from '@napi-rs/xattr';
import { err, type Download } from '../../dht2-core/protocol/index.js';
import { codeOf, fsyncPath } from './fsutil.js';
import { handleParent, handlePath, tmpPath, XATTR_INODE } from './handles.js';
import { getAttribute, removeAttribute, setAttribute } from './meta-fs.js';

/** What `rcopy` answers before the body: the body's size and CRC32C. */
export interface CopyHead {
  kind: 'mds' | 'data';
  size: number;
  crc32c: number;
}

interface MdsDoc {
  dir: boolean;
  /** [xattr name, base64 value] of every `user.dht2*` xattr. */
  xattrs: Array<[string, string]>;
  /** [name, symlink target] of a directory's entries. */
  entries?: Array<[string, string]>;
}

const CHUNK = 1024 * 1024;

async function dht2Xattrs(path: string): Promise<Map<string, Buffer>> {
  const out = new Map<string, Buffer>();
  for (const n of await listAttributes(path)) {
    if (n !== XATTR_INODE && !n.startsWith(`${XATTR_INODE}.`)) continue;
    const v = await getAttribute(path, n);
    if (v !== null) out.set(n, v);
  }
  return out;
}

async function crcOf(path: string): Promise<{ size: number; crc: number }> {
  const fh = await open(path, 'r');
  try {
    const buf = Buffer.allocUnsafe(CHUNK);
    let crc = 0;
    let size = 0;
    for (;;) {
      const { bytesRead } = await fh.read(buf, 0, CHUNK, size);
      if (bytesRead === 0) break;
      crc = crc32c(buf.subarray(0, bytesRead), crc);
      size += bytesRead;
    }
    return { size, crc };
  } finally {
    await fh.close();
  }
}

/** The source side of `rcopy`: one handle, ENOENT when it is not there. */
export async function readCopy(dir: string, role: 'mds' | 'ds', gfid: string): Promise<Download<CopyHead>> {
  const path = handlePath(dir, gfid);
  try {
    if (role === 'ds') {
      const { size, crc } = await crcOf(path);
      // Read again to stream it: the member checks size and CRC, so a change in between is an
      // EIO there and the object is asked for again.
      return { res: { kind: 'data', size, crc32c: crc }, body: createReadStream(path, { highWaterMark: CHUNK }) };
    }
    const st = await lstat(path);
    const doc: MdsDoc = { dir: st.isDirectory(), xattrs: [...(await dht2Xattrs(path))].map(([n, v]) => [n, v.toString('base64')]) };
    if (doc.dir) {
      const names = await readdir(path);
      doc.entries = [];
      for (const n of names) {
        try {
          doc.entries.push([n, await readlink(`${path}/${n}`)]);
        } catch (e) {
          if (codeOf(e) !== 'ENOENT') throw e;
        }
      }
    }
    const b = Buffer.from(JSON.stringify(doc));
    return { res: { kind: 'mds', size: b.length, crc32c: crc32c(b) }, body: Readable.from([b]) };
  } catch (e) {
    const c = codeOf(e);
    if (c === 'ENOENT' || c === 'ENOTDIR') throw err('ENOENT', `rcopy: no handle ${gfid} here`, { gfid });
    throw e;
  }
}

async function readAll(body: Readable, max: number): Promise<Buffer> {
  const parts: Buffer[] = [];
  let n = 0;
  for await (const c of body) {
    const b = c as Buffer;
    n += b.length;
    if (n > max) throw err('EIO', `rcopy: body longer than the ${max} bytes announced`);
    parts.push(b);
  }
  return Buffer.concat(parts);
}

/** Removes a handle of this brick (a directory with its entries, or a file). */
export async function removeCopy(dir: string, gfid: string): Promise<void> {
  await rm(handlePath(dir, gfid), { recursive: true, force: true });
}

/** The member side of `rcopy`: makes this brick's handle what the source's body says. */
export async function installCopy(dir: string, gfid: string, head: CopyHead, body: Readable, sync: boolean): Promise<void> {
  const path = handlePath(dir, gfid);
  await mkdir(handleParent(dir, gfid), { recursive: true });
  if (head.kind === 'data') {
    const tmp = tmpPath(dir, 'copy');
    const fh = await open(tmp, 'w', 0o600);
    let size = 0;
    let crc = 0;
    try {
      for await (const c of body) {
        const b = c as Buffer;
        crc = crc32c(b, crc);
        size += b.length;
        await fh.write(b);
      }
      if (size !== head.size || crc !== head.crc32c) throw err('EIO', `rcopy ${gfid}: ${size} bytes CRC32C ${crc}, announced ${head.size} and ${head.crc32c}`);
      if (sync) await fh.datasync();
    } catch (e) {
      await fh.close();
      await unlink(tmp).catch(() => undefined);
      throw e;
    }
    await fh.close();
    const st = await lstat(path).catch(() => undefined);
    if (st?.isDirectory()) await rm(path, { recursive: true, force: true });
    await rename(tmp, path);
    if (sync) await fsyncPath(handleParent(dir, gfid));
    return;
  }
  const raw = await readAll(body, head.size);
  if (raw.length !== head.size || crc32c(raw) !== head.crc32c) throw err('EIO', `rcopy ${gfid}: the inode document does not match its size and CRC32C`);
  const doc = JSON.parse(raw.toString('utf8')) as MdsDoc;
  const st = await lstat(path).catch(() => undefined);
  if (st && st.isDirectory() !== doc.dir) await rm(path, { recursive: true, force: true });
  if (!st || st.isDirectory() !== doc.dir) {
    if (doc.dir) await mkdir(path, { mode: 0o700 });
    else await (await open(path, 'w', 0o600)).close();
  }
  const want = new Map(doc.xattrs.map(([n, v]) => [n, Buffer.from(v, 'base64')]));
  for (const [n, v] of await dht2Xattrs(path)) {
    if (!want.has(n)) await removeAttribute(path, n);
    else if (Buffer.compare(v, want.get(n)!) === 0) want.delete(n);
  }
  for (const [n, v] of want) await setAttribute(path, n, v);
  if (doc.dir) {
    const theirs = new Map(doc.entries ?? []);
    for (const n of await readdir(path)) {
      const t = await readlink(`${path}/${n}`).catch(() => undefined);
      if (theirs.get(n) === t) theirs.delete(n);
      else await rm(`${path}/${n}`, { recursive: true, force: true });
    }
    for (const [n, t] of theirs) await symlink(t, `${path}/${n}`);
  }
  if (sync) {
    await fsyncPath(path);
    await fsyncPath(handleParent(dir, gfid));
  }
}
