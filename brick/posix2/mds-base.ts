/**
 * The steps every MDS FOP is built from (mds.ts): handle paths, inode metadata, name entries
 * kept a superset of the index, the all-at-once entry locks, inode creation and removal, the
 * emptiness rule. Each step is atomic on disk on its own (docs/ON-DISK-FORMAT.md); the FOPs
 * order them so that a crash leaves at most an orphan.
 */
import { opendir, rm } from 'node:fs/promises';
import { createEmpty, link, lstat, mkdir, readlink, rename, symlink, unlink } from './meta-fs.js';
import { join } from 'node:path';
import { err, ROOT_GFID, toDht2Error, type FopReq, type InodeType } from '../../dht2-core/protocol/index.js';
import { crashPoint } from './crash.js';
import { diverged, type Dropped } from './fop-out.js';
import { codeOf } from './fsutil.js';
import { HandleStore } from './handle-store.js';
import { XATTR_INODE, encodeMeta, entryTarget, handleParent, newMeta, parseEntryTarget, readMeta, tmpPath, writeMeta, type InodeMeta } from './handles.js';
import { KeyedLocks } from './locks.js';
import { exists, rmdirHandle, setUserXattr, userKey } from './mds-util.js';
import type { NameIndex } from './name-index.js';
import { checkXattrSpace, xattrSizes } from './xattr-space.js';

export type NewInode = Omit<FopReq<'icreate'>, never>;

export class MdsBase extends HandleStore {
  protected readonly locks = new KeyedLocks();

  /**
   * @param xattrLimit the xattr-space limit of an inode in bytes (xattr-space.ts), or undefined
   *   to leave the refusal to the filesystem, as a set of one does.
   */
  constructor(dir: string, protected readonly index: NameIndex, sync: boolean, private readonly fixedXattrLimit?: number) {
    super(dir, sync);
  }

  /**
   * The limit in force: the store may raise it from the constructor's when the brick becomes a
   * member of a replicated set (PosixStore: every member must refuse the same FOPs, §10.6).
   */
  xattrLimitNow: () => number | undefined = () => this.fixedXattrLimit;

  protected get xattrLimit(): number | undefined {
    return this.xattrLimitNow();
  }

  /**
   * The xattr-space check of a change to an existing inode: its xattrs once `meta` is its
   * `user.dht2` and, when given, `set` one caller xattr (ARCHITECTURE.md §10.6).
   */
  protected async checkSpace(gfid: string, meta: InodeMeta | undefined, set?: { name: string; len: number }): Promise<void> {
    const limit = this.xattrLimit;
    if (limit === undefined) return;
    const sizes = await xattrSizes(this.h(gfid));
    if (meta) sizes.set(XATTR_INODE, encodeMeta(meta).length);
    if (set) sizes.set(userKey(set.name), set.len);
    checkXattrSpace(limit, sizes, gfid);
  }

  // ---------------------------------------------------------------- helpers

  /** The inode's metadata, creating the root directory on first use; ENOENT when absent. */
  protected async meta(gfid: string): Promise<InodeMeta> {
    const m = await readMeta(this.h(gfid));
    if (m) return m;
    if (gfid === ROOT_GFID) return this.ensureRoot();
    throw err('ENOENT', `no inode ${gfid} on this brick`, { gfid });
  }

  /**
   * Whether a missing root is made on first use (a set of one). A member of a replicated set
   * answers ENOENT instead: its root comes only from the `icreate` its first primary logs
   * (ARCHITECTURE.md §10.6), so no member makes one with its own clock.
   */
  rootOnFirstUse: () => boolean = () => true;

  protected async ensureRoot(): Promise<InodeMeta> {
    return this.locks.with(['root-init'], async () => {
      const m = await readMeta(this.h(ROOT_GFID));
      if (m) return m;
      if (!this.rootOnFirstUse()) throw err('ENOENT', 'the root directory is not made yet (its icreate is not applied)', { gfid: ROOT_GFID });
      // The one stored time not taken from a FOP's context: the root is made by whatever FOP
      // reads it first, reads included. A replicated set logs an `icreate` of the root instead
      // (ARCHITECTURE.md §10.6, "Two writes hide in today's reads").
      await this.makeInode({ gfid: ROOT_GFID, type: 'dir', mode: 0o755 }, Date.now());
      return (await readMeta(this.h(ROOT_GFID)))!;
    });
  }

  /** A directory inode of this brick that accepts new entries. */
  protected async dirMeta(gfid: string): Promise<InodeMeta> {
    const m = await this.meta(gfid);
    if (m.type !== 'dir') throw err('ENOTDIR', `${gfid} is not a directory`, { gfid });
    if (m.dying) throw err('ENOENT', `directory ${gfid} is being removed`, { gfid });
    return m;
  }

  protected entryPath(parent: string, name: string): string {
    return join(this.h(parent), name);
  }

  /**
   * The inode a name entry points to, for the replication module's conflict keys (ARCHITECTURE.md
   * §10.5: "the GFIDs the entry points to"); undefined when absent. Read with no lock held.
   */
  async entryOf(parent: string, name: string): Promise<{ gfid: string; type: InodeType } | undefined> {
    return this.readEntry(parent, name);
  }

  /** Reads a name entry; undefined when absent. */
  protected async readEntry(parent: string, name: string): Promise<{ gfid: string; type: InodeType } | undefined> {
    const p = this.entryPath(parent, name);
    let t: string;
    try {
      t = await readlink(p);
    } catch (e) {
      const c = codeOf(e);
      if (c === 'ENOENT') return undefined;
      if (c === 'EINVAL') throw err('EIO', `name entry ${p} is not a symlink`);
      throw toDht2Error(e, 'readlink');
    }
    return parseEntryTarget(t, p);
  }

  /**
   * Creates an inode at its handle: built in tmp/ with its metadata xattr, made durable, then
   * moved into place in one step (link(2) for files, which fails on an existing handle;
   * rename(2) for directories after an existence check under the GFID's lock).
   */
  protected async makeInode(spec: NewInode, at: number): Promise<InodeMeta> {
    const meta = this.checkNewInode(spec, at);
    const handle = this.h(spec.gfid);
    const tmp = tmpPath(this.dir, 'inode');
    try {
      if (spec.type === 'dir') await mkdir(tmp, 0o700);
      else await createEmpty(tmp, 0o600);
      await writeMeta(tmp, meta);
      for (const [k, v] of Object.entries(spec.xattrs ?? {})) await setUserXattr(tmp, k, Buffer.from(v, 'base64'));
      await this.fsync(tmp);
      await this.handleDirs.ensure(handleParent(this.dir, spec.gfid));
      if (spec.type === 'dir') {
        if (await exists(handle)) throw err('EEXIST', `inode ${spec.gfid} exists`, { gfid: spec.gfid });
        await rename(tmp, handle);
      } else {
        try {
          await link(tmp, handle);
        } catch (e) {
          throw codeOf(e) === 'EEXIST' ? err('EEXIST', `inode ${spec.gfid} exists`, { gfid: spec.gfid }) : toDht2Error(e, 'link');
        }
      }
      await this.fsync(handleParent(this.dir, spec.gfid));
    } finally {
      // A file's temp name is a second link to the inode now: one unlink, no tree walk.
      if (spec.type === 'dir') await rm(tmp, { recursive: true, force: true });
      else await unlink(tmp).catch((e: unknown) => { if (codeOf(e) !== 'ENOENT') throw e; });
    }
    return meta;
  }

  /** The checks of a new inode (plan's part of makeInode): EINVAL, the xattr space. */
  protected checkNewInode(spec: NewInode, at: number): InodeMeta {
    const meta = newMeta(spec, at);
    if (spec.type === 'symlink' && spec.target === undefined) throw err('EINVAL', 'symlink needs a target');
    if (spec.type !== 'symlink' && spec.target !== undefined) throw err('EINVAL', 'only symlinks have a target');
    if (spec.type !== 'dir' && spec.obj !== undefined) throw err('EINVAL', 'only directories carry an object');
    const limit = this.xattrLimit;
    if (limit !== undefined) {
      const sizes = new Map([[XATTR_INODE, encodeMeta(meta).length]]);
      for (const [k, v] of Object.entries(spec.xattrs ?? {})) sizes.set(userKey(k), Buffer.from(v, 'base64').length);
      checkXattrSpace(limit, sizes, spec.gfid);
    }
    return meta;
  }

  /**
   * makeInode for apply (ARCHITECTURE.md §10.6): an inode already at its handle with the very
   * metadata this FOP gives it was made by an earlier apply of it (or by a set of one's create
   * before its name step), and passes; with other metadata, this replica diverged.
   */
  protected async ensureInode(spec: NewInode, at: number): Promise<InodeMeta> {
    const want = newMeta(spec, at);
    const cur = await readMeta(this.h(spec.gfid));
    if (!cur) return this.makeInode(spec, at);
    if (!encodeMeta(cur).equals(encodeMeta(want))) throw diverged(`inode ${spec.gfid} exists with other metadata`, spec.gfid);
    await this.fsync(handleParent(this.dir, spec.gfid)); // M7, in case the crash came before it
    return cur;
  }

  /**
   * putEntry for apply: the name is made to point to `gfid`. Already so (an earlier apply): the
   * index row and the parent's times are made sure of, and it passes. Otherwise it must point to
   * `from` (undefined: be absent), the state the FOP was planned against.
   */
  protected async putEntryOnce(parent: string, name: string, gfid: string, type: InodeType, from: string | undefined, at: number): Promise<void> {
    const cur = await this.readEntry(parent, name);
    if (cur?.gfid === gfid) {
      this.index.add(parent, name);
      await this.touchDir(parent, at);
      return;
    }
    if (cur?.gfid !== from) throw diverged(`${name} in ${parent} names ${cur?.gfid ?? 'nothing'}, not ${from ?? 'nothing'}`, parent);
    await this.putEntry(parent, name, gfid, type, cur !== undefined, at);
  }

  /** dropEntry for apply: the name must point to `gfid`, or be gone already (its steps are then finished). */
  protected async dropEntryOnce(parent: string, name: string, gfid: string, at: number): Promise<void> {
    const cur = await this.readEntry(parent, name);
    if (cur === undefined) {
      await this.touchDir(parent, at);
      this.index.remove(parent, name);
      return;
    }
    if (cur.gfid !== gfid) throw diverged(`${name} in ${parent} names ${cur.gfid}, not ${gfid}`, parent);
    await this.dropEntry(parent, name, at);
  }

  /** Adds a name entry atomically; with `replace`, an existing entry is swapped in one rename(2). */
  protected async putEntry(parent: string, name: string, gfid: string, type: InodeType, replace: boolean, at: number): Promise<void> {
    const p = this.entryPath(parent, name);
    this.index.add(parent, name); // superset rule: row before entry
    crashPoint('entry:after-index');
    if (replace) {
      const tmp = tmpPath(this.dir, 'entry');
      await symlink(entryTarget(gfid, type), tmp);
      await rename(tmp, p);
    } else {
      try {
        await symlink(entryTarget(gfid, type), p);
      } catch (e) {
        throw codeOf(e) === 'EEXIST' ? err('EEXIST', `${name} exists`, { path: name }) : toDht2Error(e, 'symlink');
      }
    }
    await this.touchDir(parent, at);
  }

  /** Removes a name entry (entry first, then its index row: the superset rule). */
  protected async dropEntry(parent: string, name: string, at: number): Promise<void> {
    await unlink(this.entryPath(parent, name));
    crashPoint('entry:after-unlink');
    await this.touchDir(parent, at);
    this.index.remove(parent, name);
  }

  /** POSIX: entry changes update the directory's mtime and ctime; one fsync persists both. */
  protected async touchDir(gfid: string, at: number): Promise<void> {
    const p = this.h(gfid);
    const m = await readMeta(p);
    if (m) {
      m.mtimeMs = m.ctimeMs = at;
      await writeMeta(p, m);
    }
    await this.fsync(p);
  }

  /**
   * Runs `fn` holding the locks of `parents` and of the inodes the entries `names` point to,
   * all taken at once in sorted order (taking a second lock while holding the first deadlocks
   * against an operation that takes them the other way round). The entries are read without
   * locks first, then again under them; if one changed meanwhile, the locks are dropped and
   * the whole thing starts over.
   */
  protected async withEntries<T>(
    parents: readonly string[], names: ReadonlyArray<readonly [string, string]>,
    fn: (found: Array<{ gfid: string; type: InodeType } | undefined>) => Promise<T>,
  ): Promise<T> {
    for (let attempt = 0; attempt < 100; attempt++) {
      const guess = await Promise.all(names.map(([p, n]) => this.readEntry(p, n)));
      const keys = [...parents, ...guess.flatMap((e) => (e ? [e.gfid] : []))];
      const r = await this.locks.with(keys, async () => {
        const found = await Promise.all(names.map(([p, n]) => this.readEntry(p, n)));
        if (found.some((e, i) => e?.gfid !== guess[i]?.gfid)) return { retry: true as const };
        return { retry: false as const, value: await fn(found) };
      });
      if (!r.retry) return r.value;
    }
    throw err('EAGAIN', 'directory entries keep changing; try again');
  }

  /**
   * dropInode's decision (plan): what losing one link does to an inode of this brick: deleted at
   * nlink 0 (a directory: always, it must be empty), otherwise linked with nlink − 1; remote
   * when the inode is not here. The root: EPERM.
   */
  protected async planDrop(gfid: string, type: InodeType): Promise<Dropped> {
    if (gfid === ROOT_GFID) throw err('EPERM', 'the root directory cannot be removed');
    const m = await readMeta(this.h(gfid));
    if (!m) return { gfid, type, inode: 'remote' };
    if (m.type === 'dir' || m.nlink <= 1) return { gfid, type, inode: 'deleted' };
    return { gfid, type, inode: 'linked', nlink: m.nlink - 1 };
  }

  /**
   * dropInode's steps (apply, ON-DISK-FORMAT.md §3.5): rmdir(2) or unlink(2) of the handle and
   * an fsync of its folder (a handle already gone passes), or nlink set to the planned value
   * (not decremented, so a second apply changes nothing) with ctime = at.
   */
  protected async applyDrop(d: Dropped, at: number): Promise<void> {
    const p = this.h(d.gfid);
    if (d.inode === 'remote') return;
    if (d.inode === 'deleted') {
      const st = await lstat(p).catch((e: unknown) => { if (codeOf(e) === 'ENOENT') return undefined; throw toDht2Error(e); });
      if (st?.isDirectory()) {
        await rmdirHandle(p);
        this.index.removeDir(d.gfid);
      } else if (st) {
        await unlink(p);
      } else if (d.type === 'dir') {
        this.index.removeDir(d.gfid);
      }
      await this.fsync(handleParent(this.dir, d.gfid));
      return;
    }
    const m = await readMeta(p);
    if (!m) throw diverged(`inode ${d.gfid} is gone, planned to keep ${d.nlink ?? '?'} links`, d.gfid);
    m.nlink = d.nlink ?? m.nlink;
    m.ctimeMs = at;
    await writeMeta(p, m);
    await this.fsync(p);
  }

  /** Fails unless a directory of this brick is empty: no entries, and no object carried at its name. */
  protected async checkEmpty(gfid: string, carrying = false): Promise<void> {
    if (!carrying && (await readMeta(this.h(gfid)))?.obj !== undefined) throw err('ENOTEMPTY', `directory ${gfid} carries an object`, { gfid });
    const d = await opendir(this.h(gfid));
    try {
      if ((await d.read()) !== null) throw err('ENOTEMPTY', `directory ${gfid} is not empty`, { gfid });
    } finally {
      await d.close().catch(() => undefined);
    }
  }
}
