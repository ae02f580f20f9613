/**
 * Data FOPs: file contents live on the DS chosen by the file's GFID; the MDS caches size and
 * mtime ("Size on MDS", DHT2_Size_On_MDS), refreshed when a write through this API completes.
 *  - writeFile (whole-object replace, an S3 PUT): data into a new GFID's object first, then
 *    inode + name in one MDS op that swaps the name atomically; then the old data goes.
 *    Readers see the old or the new object, never a mix; a cut-off body leaves the old one.
 *  - read: lookup, then the DS. A missing data object is an empty file (data is made lazily)
 *    when the size on the MDS is 0, lost data (EIO) when it is not; and when the name moved on
 *    to a new GFID meanwhile, the read starts over.
 *  - write at offset / truncate: in place on the DS, then the size on the MDS.
 *  - append: at the end on the DS under the object's lock, then the size (only ever raised).
 *  - with `intoDir`, a whole-object write onto a directory's name becomes the object the
 *    directory carries (dirobj.ts).
 */
import { Readable, Transform, pipeline } from 'node:stream';
import { setTimeout as sleep } from 'node:timers/promises';
import { err, gfidBucket, gfidLow16, isErr, newGfid, type Attrs, type CallContext, type DataStat } from '../protocol/index.js';
import { commitStep, isUnsettled, type VolumeCore } from './core.js';
import { commitIntoDir } from './dirobj.js';

export interface WriteFileOptions {
  mode?: number;
  uid?: number;
  gid?: number;
  /**
   * Xattrs (object metadata, base64 values) stored with the new inode, atomically with the
   * name. A function is called once the body is stored, so it can include digests of it.
   */
  xattrs?: Record<string, string> | (() => Record<string, string>);
  /** Only create: EEXIST when the name exists (S3 If-None-Match: *). */
  createOnly?: boolean;
  /** Only replace this GFID: ESTALE otherwise (S3 If-Match on an ETag the caller checked). */
  ifGfid?: string;
  mtimeMs?: number;
  /** Low 16 bits of the new GFID: puts the data on the DS they name (multipart parts). */
  low16?: number;
  /**
   * Called when the parent directory vanished while the data was being stored (another
   * client removed it, e.g. an S3 DELETE pruning an empty folder): returns the GFID of a
   * parent made anew, where the file is then named. Without it the write fails with ENOENT.
   */
  reparent?: () => Promise<string>;
  /**
   * When the name is a directory, store the data as the object the directory carries (S3 keys
   * `a` beside `a/b`, see dirobj.ts) instead of failing with EISDIR.
   */
  intoDir?: boolean;
}

/**
 * Names a data object that is already stored on its DS: inode (with size and xattrs) and name
 * in one MDS op, replacing what the name held, whose inode and data are then finished. On
 * failure the data object is removed, unless the name may point at it (the naming step's
 * outcome is unknown: {@link commitStep}): then it stays, an orphan at worst. `gfid` must carry
 * `parent`'s bucket.
 */
export async function commitDataAt(
  v: VolumeCore, parent: string, name: string, gfid: string, data: DataStat, o: WriteFileOptions = {}, ctx?: CallContext,
): Promise<Attrs> {
  try {
    return await nameData(v, parent, name, gfid, data, o, ctx);
  } catch (e) {
    if (!isUnsettled(e)) await v.dropData(gfid, ctx).catch(() => undefined);
    throw e;
  }
}

/** The attributes of `parent/name` when that name now holds `gfid`; undefined otherwise. */
async function namedAs(v: VolumeCore, parent: string, name: string, gfid: string, ctx?: CallContext): Promise<Attrs | undefined> {
  const cur = await v.lookupAt(parent, name, ctx);
  return cur.gfid === gfid ? cur : undefined;
}

async function nameData(
  v: VolumeCore, parent: string, name: string, gfid: string, data: DataStat, o: WriteFileOptions, ctx?: CallContext,
): Promise<Attrs> {
  if (o.ifGfid !== undefined) {
    // Removed since the caller looked (a racing delete) is a change too: ESTALE (412 for
    // If-Match), not ENOENT (404 NoSuchKey to a write; ARCHITECTURE.md §10.11 "As built").
    const cur = await v.lookupAt(parent, name, ctx).catch((e: unknown) => {
      throw isErr(e, 'ENOENT') ? err('ESTALE', `${name} removed`) : e;
    });
    if ((cur.type === 'dir' ? cur.obj : cur.gfid) !== o.ifGfid) throw err('ESTALE', `${name} changed`);
  }
  const inode = {
    gfid, type: 'file' as const, mode: o.mode, uid: o.uid, gid: o.gid,
    xattrs: typeof o.xattrs === 'function' ? o.xattrs() : o.xattrs, size: data.size, mtimeMs: o.mtimeMs ?? data.mtimeMs,
  };
  for (let attempt = 0; ; attempt++) {
    try {
      const { replaced, ...attrs } = await commitStep(
        () => v.mds(parent).call('create', {
          ...inode, parent, name, replace: !o.createOnly,
          // The brick checks If-Match again under the name's lock: the lookup above only fails early.
          ...(o.ifGfid !== undefined ? { ifGfid: o.ifGfid } : {}),
        }, ctx),
        { applied: () => namedAs(v, parent, name, gfid, ctx) },
      );
      await v.finishFate(replaced, ctx);
      return attrs;
    } catch (e) {
      // The name is a directory (EISDIR on replace, EEXIST on create-only): it carries the object.
      if (o.intoDir && isErr(e, 'EISDIR', 'EEXIST')) {
        const cur = await v.lookupAt(parent, name, ctx).catch((e2: unknown) => {
          // Removed since the create saw it (a racing delete): create again. ENOENT would be
          // no answer to a write (S3 said 404 NoSuchKey to an If-None-Match PUT); the
          // linearizability checker found it (ARCHITECTURE.md §10.11 "As built"). Out of
          // attempts, the create's own answer stands: the name was there when it ran.
          if (!isErr(e2, 'ENOENT')) throw e2;
          if (attempt < 4) return undefined;
          throw e;
        });
        if (!cur) continue;
        if (cur.type !== 'dir') {
          if (isErr(e, 'EISDIR') && attempt < 4) continue; // turned back into a file meanwhile
          throw e;
        }
        try {
          return await commitIntoDir(v, cur.gfid, gfid, data, inode, o.createOnly ? null : o.ifGfid, ctx);
        } catch (e2) {
          // ENOENT: the directory is turning back into the file it carries; name the file then.
          if (!isErr(e2, 'ENOENT') || attempt >= 4) throw e2;
          await sleep(5 * (attempt + 1));
          continue;
        }
      }
      if (!o.reparent || !isErr(e, 'ENOENT')) throw e;
      break;
    }
  }
  // The parent is gone. The data's GFID carries the old parent's bucket, so its inode goes to
  // that bucket's MDS (icreate) and the name into the new parent (namelink): a remote inode,
  // as after a cross-directory rename. Inode first: a crash leaves an orphan, not a dangling name.
  const attrs = await v.mds(gfid).call('icreate', inode, ctx);
  let gone = parent;
  for (let attempt = 0; ; attempt++) {
    // The walk may find the same directory again while its remote rmdir is between its dying mark
    // and its namedel (entry.ts removeRemoteDir): wait for that to end rather than link into it.
    const newParent = await o.reparent();
    if (newParent === gone && attempt < REPARENT_ATTEMPTS) {
      await sleep(5 * (attempt + 1));
      continue;
    }
    try {
      const r = await commitStep(
        () => v.mds(newParent).call('namelink', { parent: newParent, name, gfid, type: 'file', replace: !o.createOnly }, ctx),
        { applied: async () => ((await namedAs(v, newParent, name, gfid, ctx)) ? {} : undefined) },
      );
      await v.finishFate(r.replaced, ctx);
      return attrs;
    } catch (e) {
      // ENOENT: the new parent went too (another DELETE pruned it again): make it once more. A
      // PUT must not answer 404 NoSuchKey, which S3 never says to a write (the whole-cluster
      // test of issue 16 saw it under replica 3, whose slower FOPs widen this window).
      if (isErr(e, 'ENOENT') && attempt < REPARENT_ATTEMPTS) {
        gone = newParent;
        await sleep(5 * (attempt + 1));
        continue;
      }
      // Refused for good: the inode would be an orphan; remove it now rather than leave it to fsck.
      if (!isUnsettled(e)) await v.mds(gfid).call('iunlink', { gfid }, ctx).catch(() => undefined);
      throw e;
    }
  }
}

/** How often a write whose folder keeps being pruned makes it again before it gives up. */
const REPARENT_ATTEMPTS = 8;

/**
 * Builds a new file at `parent/name` from existing files' data objects, concatenated on their
 * DS (they must share one: same low 16 bits), without moving the bytes through the client;
 * then names it as commitDataAt does. The parts are left in place.
 */
export async function concatAt(
  v: VolumeCore, parent: string, name: string, parts: readonly string[], o: WriteFileOptions = {}, ctx?: CallContext,
): Promise<Attrs> {
  if (parts.length === 0) throw err('EINVAL', 'nothing to concatenate');
  const ds = v.layout.dsOf(parts[0]!);
  if (parts.some((p) => v.layout.dsOf(p) !== ds)) throw err('EXDEV', 'the parts live on different data bricks');
  const gfid = newGfid(gfidBucket(parent), gfidLow16(parts[0]!));
  const data = await v.ds(gfid).call('dconcat', { gfid, parts: [...parts] }, ctx);
  return commitDataAt(v, parent, name, gfid, data, o, ctx);
}

/**
 * Copies the file `src` to a new file at `parent/name` on the brick: the new GFID shares the
 * source's low 16 bits, so the copy is made by `dcopy` on the same DS (reflink where the
 * filesystem can) and no byte crosses the network. Then named as commitDataAt does.
 */
export async function copyAt(
  v: VolumeCore, src: Attrs, parent: string, name: string, o: WriteFileOptions = {}, ctx?: CallContext,
): Promise<Attrs> {
  if (src.type !== 'file') throw err(src.type === 'dir' ? 'EISDIR' : 'EINVAL', 'not a regular file');
  const gfid = newGfid(gfidBucket(parent), gfidLow16(src.gfid));
  let data: DataStat;
  try {
    data = await v.ds(gfid).call('dcopy', { src: src.gfid, gfid }, ctx);
  } catch (e) {
    if (!isErr(e, 'ENOENT')) throw e;
    noData(await stillThere(v, src, ctx)).destroy(); // a source with bytes and no data is lost, never copied as empty
    data = await v.ds(gfid).upload('dput', { gfid, fresh: true }, Readable.from([]), ctx); // source never written: empty
  }
  return commitDataAt(v, parent, name, gfid, data, o, ctx);
}

/** Replaces (or creates) the file at `parent/name` with `body`, atomically. */
export async function writeFileAt(
  v: VolumeCore, parent: string, name: string, body: Readable, o: WriteFileOptions = {}, ctx?: CallContext,
): Promise<Attrs> {
  const gfid = newGfid(gfidBucket(parent), o.low16);
  // A new GFID nothing names yet: a fresh dput (ARCHITECTURE.md §10.7), which a replica set
  // stores on every member without its log, and which never replaces an object.
  const data = await v.ds(gfid).upload('dput', { gfid, fresh: true }, body, ctx);
  return commitDataAt(v, parent, name, gfid, data, o, ctx);
}

export async function writeFile(v: VolumeCore, path: string, body: Readable, o: WriteFileOptions = {}, ctx?: CallContext): Promise<Attrs> {
  const { parent, name } = await v.resolveParent(path, ctx);
  return writeFileAt(v, parent.gfid, name, body, o, ctx);
}

export interface ReadRange {
  /** First byte (default 0). */
  offset?: number;
  /** Bytes to read (default: to the end). */
  length?: number;
  /** Xattrs to return with the attributes (same round trip as the lookup). */
  want?: string[];
}

/** Opens a file for reading; the caller must consume or destroy `body`. */
export async function openRead(
  v: VolumeCore, path: string, r: ReadRange = {}, ctx?: CallContext,
): Promise<{ attrs: Attrs; data: DataStat; body: Readable }> {
  for (let attempt = 0; ; attempt++) {
    const attrs = await v.resolve(path, ctx, r.want);
    if (attrs.type === 'dir') throw err('EISDIR', 'is a directory');
    if (attrs.type !== 'file') throw err('EINVAL', 'not a regular file');
    try {
      const { res, body } = await v.ds(attrs.gfid).download('dread', { gfid: attrs.gfid, offset: r.offset, length: r.length }, ctx);
      return { attrs, data: res, body };
    } catch (e) {
      if (!isErr(e, 'ENOENT')) throw e;
      const now = await v.resolve(path, ctx, r.want);
      if (now.gfid !== attrs.gfid && attempt < 3) continue; // replaced under us: read the new one
      return { attrs, data: { gfid: attrs.gfid, size: 0, mtimeMs: attrs.mtimeMs, ctimeMs: attrs.ctimeMs }, body: noData(attrs) };
    }
  }
}

/**
 * Reads a file by its attributes: one DS round trip; no data object yet reads as empty. When
 * the data object is missing because the file was replaced or removed since `a` was read (its
 * inode is gone), ESTALE: the caller looks the name up again.
 */
export async function readGfid(v: VolumeCore, a: Attrs, r: ReadRange = {}, ctx?: CallContext): Promise<Readable> {
  if (a.type !== 'file') throw err(a.type === 'dir' ? 'EISDIR' : 'EINVAL', 'not a regular file');
  // At most the bytes of the stat `a`: a caller announced them (Content-Length) from it, and an
  // append racing the read must not add bytes past them (the client read the surplus as its next
  // response; found by the fuzz loop). A file found shorter is sent as it is: after a crash
  // between dtruncate and the inode's size (docs/CRASH-SAFETY.md) the data brick holds the truth.
  const offset = r.offset ?? 0;
  const length = r.length ?? Math.max(0, a.size - offset);
  try {
    const body = (await v.ds(a.gfid).download('dread', { gfid: a.gfid, offset, length }, ctx)).body;
    return atMost(body, Math.min(length, Math.max(0, a.size - offset)));
  } catch (e) {
    if (!isErr(e, 'ENOENT')) throw e;
    return noData(await stillThere(v, a, ctx));
  }
}

/** `body` cut at `n` bytes. Destroying the result destroys `body` (a brick stream closes on every path; issue 14). */
function atMost(body: Readable, n: number): Readable {
  let seen = 0;
  const out = new Transform({
    transform(chunk: Buffer, _enc, cb) {
      const room = n - seen;
      seen += chunk.length;
      if (room <= 0) { cb(); return; }
      cb(null, chunk.length > room ? chunk.subarray(0, room) : chunk);
    },
  });
  pipeline(body, out, () => undefined);
  return out;
}

/** The inode `a` as it is now; ESTALE when it is gone (replaced or removed since `a` was read). */
async function stillThere(v: VolumeCore, a: Attrs, ctx?: CallContext): Promise<Attrs> {
  if (a.size === 0) return a;
  try {
    return await v.getattr(a.gfid, ctx);
  } catch (e) {
    if (isErr(e, 'ENOENT')) throw err('ESTALE', `${a.gfid} was replaced or removed while being read`, { gfid: a.gfid });
    throw e;
  }
}

/**
 * The body of a file whose data object is missing: empty when its size is 0 (data is made on
 * the first write, so a new file has none), EIO otherwise. A size above 0 says bytes were
 * written, so a missing object is lost data, never an empty file: answered as an error before
 * any header is sent (issue 13: a GET used to answer 200 with the size and send nothing, and
 * the client waited forever). fsck reports such names (missingData).
 */
function noData(a: Attrs): Readable {
  if (a.size > 0) throw err('EIO', `the data of ${a.gfid} (${a.size} bytes) is missing on its data brick`, { gfid: a.gfid });
  return Readable.from([]);
}

/** Writes `body` at `offset` in place; returns the inode with its new cached size. */
export async function write(v: VolumeCore, path: string, offset: number, body: Readable, ctx?: CallContext): Promise<Attrs> {
  const a = await v.resolve(path, ctx);
  if (a.type !== 'file') throw err(a.type === 'dir' ? 'EISDIR' : 'EINVAL', 'not a regular file');
  const st = await v.ds(a.gfid).upload('dwrite', { gfid: a.gfid, offset, create: true }, body, ctx);
  return v.mds(a.gfid).call('setattr', { gfid: a.gfid, set: { size: st.size, mtimeMs: st.mtimeMs } }, ctx);
}

/**
 * Appends `body` to the file atomically against other appends: the DS writes it at the end
 * under a per-object lock (O_APPEND), so two appenders never overwrite or interleave; the
 * cached size only grows, whichever append reports last.
 */
export async function append(v: VolumeCore, path: string, body: Readable, ctx?: CallContext): Promise<Attrs> {
  const a = await v.resolve(path, ctx);
  if (a.type !== 'file') throw err(a.type === 'dir' ? 'EISDIR' : 'EINVAL', 'not a regular file');
  let st: DataStat;
  try {
    // A file with bytes has its data object: a missing one was dropped by a write that replaced
    // or removed the file since the path was resolved, and must not be made again (its bytes
    // would go to an object no inode names). An empty file may have none yet.
    st = await v.ds(a.gfid).upload('dwrite', { gfid: a.gfid, offset: 0, create: a.size === 0, append: true }, body, ctx);
  } catch (e) {
    if (!isErr(e, 'ENOENT')) throw e;
    // Nothing was written. Removed: the append came after the removal, ENOENT (404) is its
    // answer. Replaced: the path never stopped existing, so not 404; the body is spent, so it
    // cannot go to the new file: EAGAIN (503), append again.
    const now = await v.resolve(path, ctx);
    if (now.gfid === a.gfid) throw err('EIO', `the data of ${a.gfid} is missing on its data brick`, { gfid: a.gfid });
    throw err('EAGAIN', 'the file was replaced while this append ran; append again', { gfid: a.gfid });
  }
  try {
    return await v.mds(a.gfid).call('setattr', { gfid: a.gfid, set: { sizeAtLeast: st.size, mtimeMs: st.mtimeMs } }, ctx);
  } catch (e) {
    if (!isErr(e, 'ENOENT')) throw e;
    // The file was replaced (or removed) after the bytes went to its data object: the append
    // took effect on it just before the write that replaced it (a point inside this call), so
    // it succeeded, with the size it left. Answering 404 for a path that never stopped existing
    // is no linearizable answer (test/server/linearizable-history.test.ts). The object goes with
    // its inode (the replacing write drops it too; twice is harmless).
    await v.dropData(a.gfid, ctx).catch(() => undefined);
    return { ...a, size: st.size, mtimeMs: st.mtimeMs };
  }
}

export async function truncate(v: VolumeCore, path: string, size: number, ctx?: CallContext): Promise<Attrs> {
  const a = await v.resolve(path, ctx);
  if (a.type !== 'file') throw err(a.type === 'dir' ? 'EISDIR' : 'EINVAL', 'not a regular file');
  let st: DataStat;
  try {
    st = await v.ds(a.gfid).call('dtruncate', { gfid: a.gfid, size }, ctx);
  } catch (e) {
    if (!isErr(e, 'ENOENT')) throw e;
    await v.ds(a.gfid).upload('dwrite', { gfid: a.gfid, offset: 0, create: true }, Readable.from([]), ctx);
    st = await v.ds(a.gfid).call('dtruncate', { gfid: a.gfid, size }, ctx);
  }
  return v.mds(a.gfid).call('setattr', { gfid: a.gfid, set: { size: st.size, mtimeMs: st.mtimeMs } }, ctx);
}
