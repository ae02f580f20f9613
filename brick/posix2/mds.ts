/**
 * The MDS half of POSIX2: directories, name entries and inodes (ARCHITECTURE.md §3–§4), one
 * method per FOP. The mutating FOPs are a plan and an apply (mds-plan.ts, built from the steps
 * in mds-base.ts), run here one after the other under the FOP's locks, as a set of one does.
 * Every mutation is ordered so that a crash (kill -9 or power cut) between any two steps
 * leaves at most an orphan inode or a stale index row, never a name that points to nothing;
 * `crashPoint` marks those steps for the crash tests. With `sync`, every reply comes after
 * the fsyncs that make the mutation durable.
 */
import { opendir, rm } from 'node:fs/promises';
import { listAttributes } from '@napi-rs/xattr';
import { getAttribute, lstat } from './meta-fs.js';
import {
  compareNames, err, type Attrs, type DirEntry, type FopReq, type FopRes, type InodeFate,
} from '../../dht2-core/protocol/index.js';
import { XATTR_USER_PREFIX, readMeta, toAttrs } from './handles.js';
import type { FopCtx, StoreHandlers } from './fop-ctx.js';
import { MdsPlanner } from './mds-plan.js';
import { exists, listHandles, mapLimit, userKey, xattrOp } from './mds-util.js';

export class MdsStore extends MdsPlanner implements StoreHandlers<'mds'> {
  // ---------------------------------------------------------------- FOPs

  async lookup(r: FopReq<'lookup'>): Promise<Attrs> {
    await this.meta(r.parent).then((m) => {
      if (m.type !== 'dir') throw err('ENOTDIR', `${r.parent} is not a directory`, { gfid: r.parent });
    });
    const e = await this.readEntry(r.parent, r.name);
    if (!e) throw err('ENOENT', `no entry ${r.name}`, { path: r.name });
    const m = await readMeta(this.h(e.gfid));
    if (!m) throw err('EREMOTE', `inode of ${r.name} lives on another MDS`, { gfid: e.gfid, path: r.name });
    return this.withXattrs(toAttrs(e.gfid, m), r.want);
  }

  /** Adds the wanted caller xattrs (base64) that exist to `a`. */
  private async withXattrs(a: Attrs, want: readonly string[] | undefined): Promise<Attrs> {
    if (!want || want.length === 0) return a;
    const p = this.h(a.gfid);
    const out: Record<string, string> = {};
    for (const name of want) {
      const v = await xattrOp(() => getAttribute(p, userKey(name)));
      if (v !== null) out[name] = v.toString('base64');
    }
    a.xattrs = out;
    return a;
  }

  async entry(r: FopReq<'entry'>): Promise<FopRes<'entry'>> {
    const m = await this.meta(r.parent);
    if (m.type !== 'dir') throw err('ENOTDIR', `${r.parent} is not a directory`, { gfid: r.parent });
    const e = await this.readEntry(r.parent, r.name);
    if (!e) throw err('ENOENT', `no entry ${r.name}`, { path: r.name });
    const im = await readMeta(this.h(e.gfid));
    return im ? { ...e, attrs: toAttrs(e.gfid, im) } : e;
  }

  async getattr(r: FopReq<'getattr'>): Promise<Attrs> {
    return this.withXattrs(toAttrs(r.gfid, await this.meta(r.gfid)), r.want);
  }

  // ---------------------------------------------------------------- mutating FOPs, a set of one
  //
  // Each runs plan then apply (mds-plan.ts) holding its locks across both (ARCHITECTURE.md
  // §10.5: the conflict keys are held from planning until the apply has finished), taken as
  // ON-DISK-FORMAT.md §3.5 says: all at once, in sorted order, entries read again under them.

  async setattr(r: FopReq<'setattr'>, ctx: FopCtx): Promise<Attrs> {
    return this.locks.with([r.gfid], () => this.planApply('setattr', r, ctx));
  }

  async icreate(r: FopReq<'icreate'>, ctx: FopCtx): Promise<Attrs> {
    return this.locks.with([r.gfid], () => this.planApply('icreate', r, ctx));
  }

  /**
   * Inode and name in one FOP. The inode is made outside the directory's lock (it has its own
   * GFID), so creates in one directory overlap their fsyncs; only the name step is serialized.
   * Apply then finds the inode made and passes over M1–M8 (mds-base.ts ensureInode).
   */
  async create(r: FopReq<'create'>, ctx: FopCtx): Promise<FopRes<'create'>> {
    await this.dirMeta(r.parent);
    // Cheap EEXIST before making an inode that would only become an orphan.
    const early = await this.readEntry(r.parent, r.name);
    if (early && !r.replace) throw err('EEXIST', `${r.name} exists`, { path: r.name });
    if (early) await this.checkReplace(r.type, early);
    const spec = { ...r, parent: r.type === 'dir' ? r.parent : undefined };
    await this.locks.with([r.gfid], () => this.makeInode(spec, ctx.at));
    try {
      return await this.withEntries([r.parent], [[r.parent, r.name]], async () =>
        this.apply('create', r, await this.planCreate(r, ctx, true), ctx));
    } catch (e) {
      // Keep the inode if its name made it (a later step failed); otherwise it is garbage.
      const now = await this.readEntry(r.parent, r.name).catch(() => undefined);
      if (now?.gfid !== r.gfid) await rm(this.h(r.gfid), { recursive: true, force: true });
      throw e;
    }
  }

  async imark(r: FopReq<'imark'>, ctx: FopCtx): Promise<Attrs> {
    return this.locks.with([r.gfid], () => this.planApply('imark', r, ctx));
  }

  async objset(r: FopReq<'objset'>, ctx: FopCtx): Promise<FopRes<'objset'>> {
    return this.locks.with([r.gfid], () => this.planApply('objset', r, ctx));
  }

  async nameswap(r: FopReq<'nameswap'>, ctx: FopCtx): Promise<Record<string, never>> {
    return this.withEntries([r.parent], [[r.parent, r.name]], () => this.planApply('nameswap', r, ctx));
  }

  async namelink(r: FopReq<'namelink'>, ctx: FopCtx): Promise<FopRes<'namelink'>> {
    return this.withEntries([r.parent], [[r.parent, r.name]], () => this.planApply('namelink', r, ctx));
  }

  async namedel(r: FopReq<'namedel'>, ctx: FopCtx): Promise<FopRes<'namedel'>> {
    return this.locks.with([r.parent], () => this.planApply('namedel', r, ctx));
  }

  async unlink(r: FopReq<'unlink'>, ctx: FopCtx): Promise<InodeFate> {
    return this.withEntries([r.parent], [[r.parent, r.name]], () => this.planApply('unlink', r, ctx));
  }

  async rmdir(r: FopReq<'rmdir'>, ctx: FopCtx): Promise<InodeFate> {
    // Holding the directory's own lock keeps creates inside it out until it is gone.
    return this.withEntries([r.parent], [[r.parent, r.name]], () => this.planApply('rmdir', r, ctx));
  }

  async iunlink(r: FopReq<'iunlink'>, ctx: FopCtx): Promise<InodeFate> {
    // A directory's lock is held from its emptiness check to its rmdir(2).
    return this.locks.with([r.gfid], () => this.planApply('iunlink', r, ctx));
  }

  async ilink(r: FopReq<'ilink'>, ctx: FopCtx): Promise<Attrs> {
    return this.locks.with([r.gfid], () => this.planApply('ilink', r, ctx));
  }

  async link(r: FopReq<'link'>, ctx: FopCtx): Promise<Attrs> {
    return this.locks.with([r.parent, r.gfid], () => this.planApply('link', r, ctx));
  }

  async rename(r: FopReq<'rename'>, ctx: FopCtx): Promise<FopRes<'rename'>> {
    const names = [[r.parent, r.name], [r.newParent, r.newName]] as const;
    return this.withEntries([r.parent, r.newParent], names, () => this.planApply('rename', r, ctx));
  }

  async readlink(r: FopReq<'readlink'>): Promise<{ target: string }> {
    const m = await this.meta(r.gfid);
    if (m.type !== 'symlink' || m.target === undefined) throw err('EINVAL', `${r.gfid} is not a symlink`, { gfid: r.gfid });
    return { target: m.target };
  }

  async getxattr(r: FopReq<'getxattr'>): Promise<{ value: string }> {
    await this.meta(r.gfid);
    const v = await xattrOp(() => getAttribute(this.h(r.gfid), userKey(r.name)));
    if (v === null) throw err('ENODATA', `no xattr ${r.name}`, { gfid: r.gfid });
    return { value: v.toString('base64') };
  }

  async setxattr(r: FopReq<'setxattr'>, ctx: FopCtx): Promise<Record<string, never>> {
    return this.locks.with([r.gfid], () => this.planApply('setxattr', r, ctx));
  }

  async listxattr(r: FopReq<'listxattr'>): Promise<{ names: string[] }> {
    await this.meta(r.gfid);
    const all = await xattrOp(() => listAttributes(this.h(r.gfid)));
    return { names: all.filter((n) => n.startsWith(XATTR_USER_PREFIX)).map((n) => n.slice(XATTR_USER_PREFIX.length)).sort() };
  }

  async removexattr(r: FopReq<'removexattr'>, ctx: FopCtx): Promise<Record<string, never>> {
    return this.locks.with([r.gfid], () => this.planApply('removexattr', r, ctx));
  }

  /**
   * One page of a directory in byte order: a range scan of the index (O(log n + page)), each
   * row checked against its entry on disk. Rows whose entry is gone (a crash between index and
   * entry) are skipped and removed under the directory's lock.
   */
  async readdir(r: FopReq<'readdir'>): Promise<FopRes<'readdir'>> {
    const m = await this.meta(r.gfid);
    if (m.type !== 'dir') throw err('ENOTDIR', `${r.gfid} is not a directory`, { gfid: r.gfid });
    const entries: DirEntry[] = [];
    const stale: string[] = [];
    let after = r.after;
    let eof = false;
    while (entries.length < r.limit) {
      const want = r.limit - entries.length;
      const names = this.index.page(r.gfid, after, want + 1);
      const batch = names.slice(0, want);
      // Entries are checked (and stat'ed for readdirp) in parallel; order is kept by index.
      const found = await mapLimit(batch, 64, async (name) => {
        const e = await this.readEntry(r.gfid, name);
        if (!e) return undefined;
        const d: DirEntry = { name, gfid: e.gfid, type: e.type };
        if (r.plus) {
          const im = await readMeta(this.h(e.gfid));
          if (im) d.attrs = await this.withXattrs(toAttrs(e.gfid, im), r.want);
        }
        return d;
      });
      found.forEach((d, i) => (d ? entries.push(d) : stale.push(batch[i]!)));
      if (names.length <= want) { eof = true; break; }
      after = names[want - 1];
    }
    if (stale.length > 0) void this.dropStaleRows(r.gfid, stale);
    return { entries, eof };
  }

  private async dropStaleRows(parent: string, names: string[]): Promise<void> {
    await this.locks.with([parent], async () => {
      for (const n of names) if (!(await exists(this.entryPath(parent, n)))) this.index.remove(parent, n);
    }).catch(() => undefined);
  }

  /**
   * Rebuilds the index from the entries on disk: run when the index file is new on a brick that
   * already holds data (lost or deleted index). O(all entries), once.
   */
  async rebuildIndex(): Promise<number> {
    let n = 0;
    const rows: Array<[string, string]> = [];
    for (const [gfid, path] of await listHandles(this.dir)) {
      const st = await lstat(path);
      if (!st.isDirectory()) continue;
      const d = await opendir(path);
      for await (const ent of d) rows.push([gfid, ent.name]);
    }
    rows.sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : compareNames(a[1], b[1])));
    this.index.transaction(() => {
      for (const [g, name] of rows) { this.index.add(g, name); n++; }
      this.index.markBuilt();
    });
    return n;
  }
}
