/**
 * Entry FOPs across MDSs (docs/ARCHITECTURE.md, "Composite FOPs"): each order leaves only
 * orphans on a crash, never a name that points to nothing.
 *  - mkdir: icreate on the new directory's MDS, then namelink on the parent's MDS
 *    (one `create` when both are the same MDS).
 *  - create/symlink: inode and name in one op on the parent's MDS (the file inherits the
 *    parent's bucket); the data object is made on first write.
 *  - unlink: name (and a local inode) on the parent's MDS, then a remote inode, then the data.
 *  - rmdir: local directory in one op; a remote one is marked dying (refusing new entries,
 *    ENOTEMPTY if not empty), its name removed, then its inode.
 *  - link: nlink first (ilink on the inode's MDS), then the name.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { err, gfidBucket, isErr, newGfid, ROOT_GFID, type Attrs, type CallContext, type FopReq, type FopRes } from '../protocol/index.js';
import { commitStep, startOf, type KnownDir, type VolumeCore } from './core.js';
import { adoptAsDir } from './dirobj.js';

export interface MkdirOptions {
  mode?: number;
  uid?: number;
  gid?: number;
  /** Create missing parents, and succeed when the directory exists (mkdir -p). */
  parents?: boolean;
  /**
   * With `parents`: a file on the way becomes a directory that carries it (S3 keys `a` and
   * `a/b` coexist, see dirobj.ts) instead of failing with ENOTDIR.
   */
  adopt?: boolean;
}

export async function mkdir(v: VolumeCore, path: string, o: MkdirOptions = {}, ctx?: CallContext): Promise<Attrs> {
  if (o.parents) return mkdirParents(v, path, o, ctx);
  const { parent, name } = await v.resolveParent(path, ctx);
  return mkdirAt(v, parent.gfid, name, o, ctx);
}

/** `{}` when the entry `parent/name` names `gfid`, else undefined (a commit step's fate). */
async function namesGfid(v: VolumeCore, parent: string, name: string, gfid: string, ctx?: CallContext): Promise<object | undefined> {
  return (await v.mds(parent).call('entry', { parent, name }, ctx)).gfid === gfid ? {} : undefined;
}

export async function mkdirAt(v: VolumeCore, parent: string, name: string, o: MkdirOptions = {}, ctx?: CallContext): Promise<Attrs> {
  const gfid = newGfid(v.layout.newDirBucket());
  const spec = { gfid, type: 'dir' as const, mode: o.mode, uid: o.uid, gid: o.gid };
  if (v.sameMds(gfid, parent)) return v.mds(parent).call('create', { ...spec, parent, name }, ctx);
  const attrs = await v.mds(gfid).call('icreate', { ...spec, parent }, ctx);
  await commitStep(() => v.mds(parent).call('namelink', { parent, name, gfid, type: 'dir' }, ctx), {
    applied: () => namesGfid(v, parent, name, gfid, ctx),
    // Refused: the inode would be an orphan; remove it now rather than leave it to fsck.
    undo: () => v.mds(gfid).call('iunlink', { gfid }, ctx),
  });
  return attrs;
}

async function mkdirParents(v: VolumeCore, path: string, o: MkdirOptions, ctx?: CallContext): Promise<Attrs> {
  const { gfid, attrs } = await mkdirPath(v, path, o, ctx);
  return attrs ?? (await v.getattr(gfid, ctx));
}

/**
 * `mkdir -p` answering only the directory's GFID (the attributes when the walk had them for
 * free): what an S3 PUT of `a/b/key` needs, without a last hop to the directory's own MDS.
 */
export async function mkdirPath(v: VolumeCore, path: string, o: MkdirOptions, ctx?: CallContext, from?: KnownDir): Promise<{ gfid: string; attrs?: Attrs }> {
  const names = path.split('/').filter((p) => p !== '');
  for (let round = 0; ; round++) {
    try {
      return await mkdirWalk(v, names, o, ctx, from);
    } catch (e) {
      // A directory on the way went (or is going: dying) while we walked through it, e.g. an S3
      // DELETE pruning an empty folder: walk again from the root, where it is made anew.
      if (!(e instanceof ParentGone) || round >= 4) throw e instanceof ParentGone ? e.cause : e;
      await sleep(5 * (round + 1));
    }
  }
}

class ParentGone extends Error {
  constructor(override readonly cause: unknown) { super('parent directory gone'); }
}

/**
 * Walks `names` from the root by name entries (`entry`: one round trip to the parent's MDS,
 * never EREMOTE), making what is missing. Attributes come along when the inode is on the
 * parent's MDS or was just made; a file on the way is adopted as a directory with `adopt`.
 */
async function mkdirWalk(v: VolumeCore, names: readonly string[], o: MkdirOptions, ctx?: CallContext, from?: KnownDir): Promise<{ gfid: string; attrs?: Attrs }> {
  // The root is always a directory, and `from` one the caller just resolved: start there
  // without a round trip for it. (A `from` that went meanwhile fails the walk: it is not made anew.)
  if (names.length === 0) return { gfid: ROOT_GFID, attrs: await v.resolve('/', ctx) };
  const start = startOf(names, from);
  let cur: { gfid: string; attrs?: Attrs } = { gfid: start.gfid };
  for (const name of start.rest) {
    const parent = cur.gfid;
    for (let attempt = 0; ; attempt++) {
      let e: FopRes<'entry'> | undefined;
      try {
        e = await v.mds(parent).call('entry', { parent, name }, ctx);
      } catch (x) {
        if (!isErr(x, 'ENOENT')) throw x;
      }
      if (!e) {
        try {
          const made = await mkdirAt(v, parent, name, o, ctx);
          cur = { gfid: made.gfid, attrs: made };
          break;
        } catch (e2) {
          if (isErr(e2, 'ENOENT')) throw new ParentGone(e2);
          if (!isErr(e2, 'EEXIST') || attempt >= 4) throw e2;
          continue; // lost a race: someone else made it; look again
        }
      }
      if (e.type === 'dir') {
        cur = { gfid: e.gfid, attrs: e.attrs };
        break;
      }
      if (!o.adopt || e.type !== 'file' || attempt >= 4) throw err('ENOTDIR', `${name} is not a directory`);
      try {
        const adopted = await adoptAsDir(v, parent, name, e.attrs ?? (await v.getattr(e.gfid, ctx)), ctx);
        cur = { gfid: adopted.gfid, attrs: adopted };
        break;
      } catch (x) {
        if (!isErr(x, 'ESTALE', 'ENOENT')) throw x; // the name moved on meanwhile: look again
      }
    }
  }
  return cur;
}

export interface CreateOptions {
  mode?: number;
  uid?: number;
  gid?: number;
  /** Xattrs set atomically with the inode. */
  xattrs?: Record<string, string>;
}

/** Creates an empty file; EEXIST when the name exists. */
export async function create(v: VolumeCore, path: string, o: CreateOptions = {}, ctx?: CallContext): Promise<Attrs> {
  const { parent, name } = await v.resolveParent(path, ctx);
  return createAt(v, parent.gfid, name, { type: 'file', ...o }, ctx);
}

export async function createAt(
  v: VolumeCore, parent: string, name: string,
  spec: CreateOptions & { type: 'file' | 'symlink'; target?: string }, ctx?: CallContext,
): Promise<Attrs> {
  const gfid = newGfid(gfidBucket(parent));
  const req: FopReq<'create'> = { parent, name, gfid, ...spec };
  const { replaced: _r, ...attrs } = await v.mds(parent).call('create', req, ctx);
  return attrs;
}

export async function symlink(v: VolumeCore, target: string, path: string, ctx?: CallContext): Promise<Attrs> {
  const { parent, name } = await v.resolveParent(path, ctx);
  return createAt(v, parent.gfid, name, { type: 'symlink', target }, ctx);
}

export async function readlink(v: VolumeCore, path: string, ctx?: CallContext): Promise<string> {
  const a = await v.resolve(path, ctx);
  if (a.type !== 'symlink' || a.target === undefined) throw err('EINVAL', 'not a symlink');
  return a.target;
}

export async function unlink(v: VolumeCore, path: string, ctx?: CallContext): Promise<void> {
  const { parent, name } = await v.resolveParent(path, ctx);
  await unlinkAt(v, parent.gfid, name, ctx);
}

export async function unlinkAt(v: VolumeCore, parent: string, name: string, ctx?: CallContext): Promise<void> {
  const fate = await v.mds(parent).call('unlink', { parent, name }, ctx);
  await v.finishFate(fate, ctx);
}

export async function rmdir(v: VolumeCore, path: string, ctx?: CallContext): Promise<void> {
  const { parent, name } = await v.resolveParent(path, ctx);
  await rmdirAt(v, parent.gfid, name, ctx);
}

export async function rmdirAt(v: VolumeCore, parent: string, name: string, ctx?: CallContext): Promise<void> {
  try {
    await v.mds(parent).call('rmdir', { parent, name }, ctx);
    return;
  } catch (e) {
    if (!isErr(e, 'EREMOTE') || !e.gfid) throw e;
    await removeRemoteDir(v, parent, name, e.gfid, ctx);
  }
}

/** rmdir of a directory whose inode is on another MDS than its name (see the module comment). */
export async function removeRemoteDir(v: VolumeCore, parent: string, name: string, gfid: string, ctx?: CallContext): Promise<void> {
  const dirMds = v.mds(gfid);
  await dirMds.call('imark', { gfid, dying: true }, ctx);
  // The mark keeps writers that resolved the directory earlier out of it: cleared only when the
  // name surely stayed (commitStep's undo); a namedel that landed goes on to the inode.
  await commitStep(() => v.mds(parent).call('namedel', { parent, name, gfid }, ctx).then(() => ({})), {
    applied: () => v.mds(parent).call('entry', { parent, name }, ctx).then(
      (e) => (e.gfid === gfid ? undefined : {}),
      (e: unknown) => { if (isErr(e, 'ENOENT')) return {}; throw e; },
    ),
    undo: () => dirMds.call('imark', { gfid, dying: false }, ctx),
  });
  await dirMds.call('iunlink', { gfid }, ctx);
}

/** A new name for an existing non-directory (hard link). */
export async function link(v: VolumeCore, existing: string, path: string, ctx?: CallContext): Promise<Attrs> {
  const a = await v.resolve(existing, ctx);
  if (a.type === 'dir') throw err('EPERM', 'hard links to directories are not allowed');
  const { parent, name } = await v.resolveParent(path, ctx);
  if (v.sameMds(a.gfid, parent.gfid)) return v.mds(parent.gfid).call('link', { gfid: a.gfid, parent: parent.gfid, name }, ctx);
  const bumped = await v.mds(a.gfid).call('ilink', { gfid: a.gfid }, ctx);
  // Undone only when refused: a link count one too low would lose the inode while a name
  // still points at it; one too high is what fsck sets right.
  await commitStep(() => v.mds(parent.gfid).call('namelink', { parent: parent.gfid, name, gfid: a.gfid, type: a.type }, ctx), {
    applied: () => namesGfid(v, parent.gfid, name, a.gfid, ctx),
    undo: () => v.mds(a.gfid).call('iunlink', { gfid: a.gfid }, ctx),
  });
  return bumped;
}
