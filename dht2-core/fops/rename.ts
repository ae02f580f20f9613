/**
 * rename(2) across the volume (docs/ARCHITECTURE.md, "Composite FOPs").
 *  - Both parents on one MDS: one `rename` on that MDS, atomic there.
 *  - Parents on two MDSs: namelink (new name, replacing a target) on the new parent's MDS,
 *    then namedel of the old name on the old parent's MDS. The inode stays on its MDS and is
 *    reached from the new name by EREMOTE. A crash in between leaves two names for one inode
 *    (fsck reports the nlink mismatch), never a name without an inode.
 *  - A replaced target's inode is finished afterwards (remote iunlink, data removal).
 *  - A target that is a directory on another MDS is removed first (dying mark, name, inode),
 *    so replacing a remote directory is not atomic; POSIX rules (empty, types) still hold.
 *  - Moving a directory under itself is EINVAL, found by walking parent pointers up.
 */
import { err, isErr, ROOT_GFID, type Attrs, type CallContext, type InodeFate } from '../protocol/index.js';
import type { VolumeCore } from './core.js';
import { removeRemoteDir } from './entry.js';

export interface RenameOptions {
  /** Fail with EEXIST instead of replacing an existing target (RENAME_NOREPLACE). */
  noReplace?: boolean;
}

export async function rename(v: VolumeCore, from: string, to: string, o: RenameOptions = {}, ctx?: CallContext): Promise<Attrs> {
  const src = await v.resolveParent(from, ctx);
  const dst = await v.resolveParent(to, ctx);
  const obj = await v.lookupAt(src.parent.gfid, src.name, ctx);
  if (obj.type === 'dir' && src.parent.gfid !== dst.parent.gfid) await checkNotUnder(v, dst.parent.gfid, obj.gfid, ctx);

  let replaced: InodeFate | undefined;
  for (let attempt = 0; ; attempt++) {
    try {
      replaced = await moveName(v, src.parent.gfid, src.name, dst.parent.gfid, dst.name, obj, o, ctx);
      break;
    } catch (e) {
      // The target is a directory on another MDS: remove it by the remote-rmdir protocol, once.
      if (attempt > 0 || o.noReplace || !isErr(e, 'EREMOTE') || !e.gfid) throw e;
      if (obj.type !== 'dir') throw err('EISDIR', `${dst.name} is a directory`);
      await removeRemoteDir(v, dst.parent.gfid, dst.name, e.gfid, ctx);
    }
  }
  await v.finishFate(replaced, ctx);
  if (obj.type === 'dir' && src.parent.gfid !== dst.parent.gfid) {
    await v.mds(obj.gfid).call('setattr', { gfid: obj.gfid, set: { parent: dst.parent.gfid } }, ctx);
  }
  return obj;
}

async function moveName(
  v: VolumeCore, sp: string, sn: string, dp: string, dn: string, obj: Attrs, o: RenameOptions, ctx?: CallContext,
): Promise<InodeFate | undefined> {
  if (v.sameMds(sp, dp)) {
    const r = await v.mds(sp).call('rename', { parent: sp, name: sn, newParent: dp, newName: dn, noReplace: o.noReplace }, ctx);
    return r.replaced;
  }
  // POSIX: when both names already refer to the same inode, rename does nothing.
  try {
    const cur = await v.mds(dp).call('lookup', { parent: dp, name: dn }, ctx);
    if (cur.gfid === obj.gfid) return undefined;
  } catch (e) {
    if (isErr(e, 'EREMOTE') && e.gfid === obj.gfid) return undefined;
    if (!isErr(e, 'ENOENT', 'EREMOTE')) throw e;
  }
  const r = await v.mds(dp).call('namelink', { parent: dp, name: dn, gfid: obj.gfid, type: obj.type, replace: !o.noReplace }, ctx);
  await v.mds(sp).call('namedel', { parent: sp, name: sn, gfid: obj.gfid }, ctx);
  return r.replaced;
}

/** EINVAL when `dir` is `ancestor` or lies below it (walks parent pointers to the root). */
async function checkNotUnder(v: VolumeCore, dir: string, ancestor: string, ctx?: CallContext): Promise<void> {
  let cur = dir;
  for (let depth = 0; depth < 4096; depth++) {
    if (cur === ancestor) throw err('EINVAL', 'cannot move a directory into itself or below itself');
    if (cur === ROOT_GFID) return;
    const a = await v.getattr(cur, ctx);
    if (!a.parent) return;
    cur = a.parent;
  }
  throw err('ELOOP', 'directory parent chain too deep');
}
