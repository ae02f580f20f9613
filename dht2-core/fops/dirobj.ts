/**
 * A directory that carries an object (docs/ARCHITECTURE.md, "Keys a, a/ and a/b"). S3 lets the
 * keys `a`, `a/` and `a/b` coexist; a POSIX tree cannot have a file and a directory under one
 * name. So when the name is a directory, the object stored at that name is an unnamed file
 * inode the directory points to (its `obj`), with its data on a DS like any file's; `a/` is the
 * directory's marker metadata and `a/b` lives inside. Every step order leaves at most orphans on
 * a crash, which fsck counts and removes:
 *  - commitIntoDir: data (stored by the caller), then the file inode (icreate), then `objset` on
 *    the directory's MDS, then the replaced object's inode and data are finished.
 *  - adoptAsDir (a file `a` must become a directory so `a/b` can be written): a directory inode
 *    carrying the file (icreate), then `nameswap` of the name from the file to the directory.
 *    The file's inode, link count and data are not touched: it changes from named to carried.
 *  - dropDirObject: `objset` null, then the old inode and data are finished.
 *  - uncarry (the directory emptied, its object is all that is left): `imark dying` (refuses
 *    new entries), `nameswap` of the name back to the file, then the directory lets go of it
 *    (`objset` null) and goes (`iunlink`). A crash leaves a named dying directory (fsck clears
 *    the mark) or an unnamed one carrying a named file (fsck removes the directory).
 */
import { err, isErr, newGfid, type Attrs, type CallContext, type DataStat } from '../protocol/index.js';
import { commitStep, type VolumeCore } from './core.js';

export interface CarriedInode {
  mode?: number;
  uid?: number;
  gid?: number;
  xattrs?: Record<string, string>;
  mtimeMs?: number;
}

/**
 * Makes the stored data object `gfid` the object that directory `dir` carries. `expect`: null =
 * only if it carries none (EEXIST), a GFID = only if it carries that one (ESTALE).
 */
export async function commitIntoDir(
  v: VolumeCore, dir: string, gfid: string, data: DataStat, o: CarriedInode, expect: string | null | undefined, ctx?: CallContext,
): Promise<Attrs> {
  const attrs = await v.mds(gfid).call('icreate', {
    gfid, type: 'file', mode: o.mode, uid: o.uid, gid: o.gid, xattrs: o.xattrs, size: data.size, mtimeMs: o.mtimeMs ?? data.mtimeMs,
  }, ctx);
  // The commit step: once the directory carries the inode, it is never undone (core.ts, commitStep).
  const { prev } = await commitStep(
    async (): Promise<{ prev?: string }> =>
      v.mds(dir).call('objset', expect === undefined ? { gfid: dir, obj: gfid } : { gfid: dir, obj: gfid, expect }, ctx),
    {
      // Applied, the previous object is unknown: it is left an orphan inode for fsck.
      applied: async () => ((await v.getattr(dir, ctx)).obj === gfid ? {} : undefined),
      undo: () => v.mds(gfid).call('iunlink', { gfid }, ctx),
    },
  );
  if (prev !== undefined) await v.finishFate({ gfid: prev, type: 'file', inode: 'remote' }, ctx);
  return attrs;
}

/** Removes the object directory `dir` carries; false when it carries none. */
export async function dropDirObject(v: VolumeCore, dir: string, ctx?: CallContext): Promise<boolean> {
  const { prev } = await v.mds(dir).call('objset', { gfid: dir, obj: null }, ctx);
  if (prev === undefined) return false;
  await v.finishFate({ gfid: prev, type: 'file', inode: 'remote' }, ctx);
  return true;
}

/**
 * Turns the file `file` named `parent/name` into a directory that carries it. Answers the new
 * directory; ESTALE when the name moved on meanwhile (the caller looks again).
 */
export async function adoptAsDir(v: VolumeCore, parent: string, name: string, file: Attrs, ctx?: CallContext): Promise<Attrs> {
  if (file.type !== 'file') throw err('ENOTDIR', `${name} is not a directory`);
  const gfid = newGfid(v.layout.newDirBucket());
  const attrs = await v.mds(gfid).call('icreate', { gfid, type: 'dir', parent, obj: file.gfid }, ctx);
  // Once the name may point at the directory, the directory carries a named object: unhooking
  // the file then would leave it nowhere (core.ts, commitStep).
  await commitStep(
    () => v.mds(parent).call('nameswap', { parent, name, from: file.gfid, to: gfid, type: 'dir' }, ctx).then(() => ({})),
    {
      applied: async () => ((await v.mds(parent).call('entry', { parent, name }, ctx)).gfid === gfid ? {} : undefined),
      // Unhook the file first: iunlink refuses a directory that still carries an object.
      undo: () => v.mds(gfid).call('objset', { gfid, obj: null }, ctx).then(() => v.mds(gfid).call('iunlink', { gfid }, ctx)),
    },
  );
  return attrs;
}

/**
 * Turns directory `dir` (named `parent/name`), empty but carrying an object, back into that
 * plain file, so the file API shows a file again once `a/...` is gone. False (nothing changed)
 * when it carries nothing, holds entries or has xattrs of its own (a marker, user xattrs).
 */
export async function uncarry(v: VolumeCore, parent: string, name: string, dir: Attrs, ctx?: CallContext): Promise<boolean> {
  if (dir.type !== 'dir' || dir.obj === undefined) return false;
  if ((await v.mds(dir.gfid).call('listxattr', { gfid: dir.gfid }, ctx)).names.length > 0) return false;
  try {
    // Conditional on the object read above: a DELETE of key `a` may have taken it meanwhile,
    // and the name must never be pointed at a file that is gone.
    await v.mds(dir.gfid).call('imark', { gfid: dir.gfid, dying: true, carrying: dir.obj }, ctx);
  } catch (e) {
    if (isErr(e, 'ENOTEMPTY', 'ENOENT', 'ESTALE')) return false;
    throw e;
  }
  const file = dir.obj;
  // The mark is what keeps writers that resolved the directory before the swap from adding to
  // it: it is cleared only when the swap surely did not land (commitStep's undo); a swap whose
  // reply was lost is looked up, and one that may still land keeps the mark for fsck to clear.
  try {
    await commitStep(() => v.mds(parent).call('nameswap', { parent, name, from: dir.gfid, to: file, type: 'file' }, ctx).then(() => ({})), {
      applied: async () => ((await v.mds(parent).call('entry', { parent, name }, ctx)).gfid === file ? {} : undefined),
      undo: () => v.mds(dir.gfid).call('imark', { gfid: dir.gfid, dying: false }, ctx),
    });
  } catch (e) {
    if (isErr(e, 'ESTALE', 'ENOENT')) return false;
    throw e;
  }
  // The file is named again: the directory lets go of it without finishing it, then goes.
  await v.mds(dir.gfid).call('objset', { gfid: dir.gfid, obj: null, expect: dir.obj }, ctx);
  await v.mds(dir.gfid).call('iunlink', { gfid: dir.gfid }, ctx);
  return true;
}

/** The attributes (with wanted xattrs) of the object a directory carries; undefined when none. */
export async function carriedObject(v: VolumeCore, dir: Attrs, ctx?: CallContext, want?: string[]): Promise<Attrs | undefined> {
  if (dir.type !== 'dir' || dir.obj === undefined) return undefined;
  try {
    return await v.getattr(dir.obj, ctx, want);
  } catch (e) {
    if (isErr(e, 'ENOENT')) return undefined; // replaced or dropped since the directory was read
    throw e;
  }
}
