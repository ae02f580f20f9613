/**
 * The MDS half of POSIX2: directories, name entries and inodes (ARCHITECTURE.md §3–§4), one
 * method per FOP, built from the steps in mds-base.ts.
 * Every mutation is ordered so that a crash (kill -9 or power cut) between any two steps
 * leaves at most an orphan inode or a stale index row, never a name that points to nothing;
 * `crashPoint` marks those steps for the crash tests. With `sync`, every reply comes after
 * the fsyncs that make the mutation durable.
 */
import { opendir, rm } from 'node:fs/promises';
import { listAttributes } from '@napi-rs/xattr';
import { getAttribute, lstat, removeAttribute, rename } from './meta-fs.js';
import {
  compareNames, err, ROOT_GFID, type Attrs, type DirEntry, type FopReq, type FopRes, type InodeFate, type InodeType,
} from '../../dht2-core/protocol/index.js';
import { crashPoint } from './crash.js';
import { XATTR_USER_PREFIX, handleParent, readMeta, toAttrs, writeMeta } from './handles.js';
import type { FopCtx, StoreHandlers } from './fop-ctx.js';
import { MdsBase } from './mds-base.js';
import { exists, listHandles, mapLimit, rmdirHandle, setUserXattr, userKey, xattrOp } from './mds-util.js';

export class MdsStore extends MdsBase implements StoreHandlers<'mds'> {
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

  async setattr(r: FopReq<'setattr'>, ctx: FopCtx): Promise<Attrs> {
    return this.locks.with([r.gfid], async () => {
      const m = await this.meta(r.gfid);
      const s = r.set;
      if (s.mode !== undefined) m.mode = s.mode & 0o7777;
      if (s.uid !== undefined) m.uid = s.uid;
      if (s.gid !== undefined) m.gid = s.gid;
      if (s.size !== undefined) {
        if (m.type !== 'file') throw err(m.type === 'dir' ? 'EISDIR' : 'EINVAL', 'size is only for files', { gfid: r.gfid });
        m.size = s.size;
      }
      if (s.sizeAtLeast !== undefined) {
        if (m.type !== 'file') throw err(m.type === 'dir' ? 'EISDIR' : 'EINVAL', 'size is only for files', { gfid: r.gfid });
        m.size = Math.max(m.size, s.sizeAtLeast);
      }
      if (s.nlink !== undefined) {
        if (m.type === 'dir') throw err('EISDIR', 'the link count of a directory is not settable', { gfid: r.gfid });
        m.nlink = s.nlink;
      }
      if (s.parent !== undefined) {
        if (m.type !== 'dir') throw err('ENOTDIR', 'only directories have a parent', { gfid: r.gfid });
        m.parent = s.parent;
      }
      if (s.atimeMs !== undefined) m.atimeMs = Math.round(s.atimeMs); // kept to the ms (handles.ts)
      if (s.mtimeMs !== undefined) m.mtimeMs = Math.round(s.mtimeMs);
      m.ctimeMs = ctx.at;
      if (s.parent !== undefined) await this.checkSpace(r.gfid, m); // the only field that can grow it
      await writeMeta(this.h(r.gfid), m);
      await this.fsync(this.h(r.gfid));
      return toAttrs(r.gfid, m);
    });
  }

  async icreate(r: FopReq<'icreate'>, ctx: FopCtx): Promise<Attrs> {
    return this.locks.with([r.gfid], async () => toAttrs(r.gfid, await this.makeInode(r, ctx.at)));
  }

  /**
   * Inode and name in one FOP. The inode is made outside the directory's lock (it has its own
   * GFID), so creates in one directory overlap their fsyncs; only the name step is serialized.
   */
  async create(r: FopReq<'create'>, ctx: FopCtx): Promise<FopRes<'create'>> {
    await this.dirMeta(r.parent);
    // Cheap EEXIST before making an inode that would only become an orphan.
    const early = await this.readEntry(r.parent, r.name);
    if (early && !r.replace) throw err('EEXIST', `${r.name} exists`, { path: r.name });
    if (early) await this.checkReplace(r.type, early);
    const spec = { ...r, parent: r.type === 'dir' ? r.parent : undefined };
    const meta = await this.locks.with([r.gfid], () => this.makeInode(spec, ctx.at));
    crashPoint('create:after-inode');
    try {
      return await this.withEntries([r.parent], [[r.parent, r.name]], async ([old]) => {
        await this.dirMeta(r.parent);
        if (old && !r.replace) throw err('EEXIST', `${r.name} exists`, { path: r.name });
        if (old?.gfid === r.gfid) return toAttrs(r.gfid, meta); // a retried create that already named it
        const replaced = await this.replaceEntry(r.parent, r.name, r.gfid, r.type, old, ctx.at);
        crashPoint('create:after-entry');
        const a: FopRes<'create'> = toAttrs(r.gfid, meta);
        if (replaced) a.replaced = replaced;
        return a;
      });
    } catch (e) {
      // Keep the inode if its name made it (a later step failed); otherwise it is garbage.
      const now = await this.readEntry(r.parent, r.name).catch(() => undefined);
      if (now?.gfid !== r.gfid) await rm(this.h(r.gfid), { recursive: true, force: true });
      throw e;
    }
  }

  /**
   * Points `parent/name` at `gfid`, replacing `old` when given: POSIX type rules, an
   * empty-directory check, and the old inode's fate. The caller holds the parent's lock and
   * the old inode's lock (withEntries), so no create can slip into an old directory between
   * its emptiness check and its removal.
   */
  private async replaceEntry(
    parent: string, name: string, gfid: string, type: InodeType, old: { gfid: string; type: InodeType } | undefined,
    at: number, move?: { parent: string; name: string },
  ): Promise<InodeFate | undefined> {
    const place = async (): Promise<void> => {
      if (move) {
        this.index.add(parent, name);
        await rename(this.entryPath(move.parent, move.name), this.entryPath(parent, name));
        crashPoint('rename:after-rename');
        await this.touchDir(parent, at);
        if (move.parent !== parent) await this.touchDir(move.parent, at);
        this.index.remove(move.parent, move.name);
      } else {
        await this.putEntry(parent, name, gfid, type, old !== undefined, at);
      }
    };
    if (!old) {
      await place();
      return undefined;
    }
    await this.checkReplace(type, old);
    await place();
    return this.dropInodeLocked(old.gfid, old.type, at);
  }

  async imark(r: FopReq<'imark'>): Promise<Attrs> {
    return this.locks.with([r.gfid], async () => {
      const m = await this.meta(r.gfid);
      if (m.type !== 'dir') throw err('ENOTDIR', `${r.gfid} is not a directory`, { gfid: r.gfid });
      if (r.dying) {
        if (r.carrying !== undefined && m.obj !== r.carrying) throw err('ESTALE', `directory ${r.gfid} no longer carries ${r.carrying}`, { gfid: r.gfid });
        await this.checkEmpty(r.gfid, r.carrying !== undefined);
        m.dying = true;
      } else {
        delete m.dying;
      }
      await writeMeta(this.h(r.gfid), m);
      await this.fsync(this.h(r.gfid));
      return toAttrs(r.gfid, m);
    });
  }

  async objset(r: FopReq<'objset'>, ctx: FopCtx): Promise<FopRes<'objset'>> {
    return this.locks.with([r.gfid], async () => {
      // A directory being removed (or turned back into the file it carries) takes no new object
      // and lets go of its object only to whoever names it in `expect`: the remover. Anyone
      // else clearing it could finish a file that just got its name back.
      const m = r.obj === null && typeof r.expect === 'string' ? await this.meta(r.gfid) : await this.dirMeta(r.gfid);
      if (m.type !== 'dir') throw err('ENOTDIR', `${r.gfid} is not a directory`, { gfid: r.gfid });
      const want = r.obj ?? undefined;
      // A retry after a lost reply finds its own change done: answer no `prev`, or the caller
      // would finish (delete) the object it has just stored.
      if (m.obj === want) return { attrs: toAttrs(r.gfid, m) };
      if (r.expect === null && m.obj !== undefined) throw err('EEXIST', `directory ${r.gfid} already carries an object`, { gfid: r.gfid });
      if (typeof r.expect === 'string' && m.obj !== r.expect) throw err('ESTALE', `the object of ${r.gfid} changed`, { gfid: r.gfid });
      const prev = m.obj;
      if (want === undefined) delete m.obj;
      else m.obj = want;
      m.ctimeMs = ctx.at;
      await this.checkSpace(r.gfid, m);
      await writeMeta(this.h(r.gfid), m);
      await this.fsync(this.h(r.gfid));
      return prev === undefined ? { attrs: toAttrs(r.gfid, m) } : { attrs: toAttrs(r.gfid, m), prev };
    });
  }

  async nameswap(r: FopReq<'nameswap'>, ctx: FopCtx): Promise<Record<string, never>> {
    return this.withEntries([r.parent], [[r.parent, r.name]], async ([cur]) => {
      await this.dirMeta(r.parent);
      if (!cur) throw err('ENOENT', `no entry ${r.name}`, { path: r.name });
      if (cur.gfid === r.to) return {}; // a retry that already swapped
      if (cur.gfid !== r.from) throw err('ESTALE', `${r.name} now names ${cur.gfid}`, { path: r.name });
      await this.putEntry(r.parent, r.name, r.to, r.type, true, ctx.at);
      crashPoint('nameswap:after-entry');
      return {};
    });
  }

  async namelink(r: FopReq<'namelink'>, ctx: FopCtx): Promise<FopRes<'namelink'>> {
    return this.withEntries([r.parent], [[r.parent, r.name]], async ([old]) => {
      await this.dirMeta(r.parent);
      if (old && !r.replace) throw err('EEXIST', `${r.name} exists`, { path: r.name });
      if (old?.gfid === r.gfid) return {};
      const replaced = await this.replaceEntry(r.parent, r.name, r.gfid, r.type, old, ctx.at);
      return replaced ? { replaced } : {};
    });
  }

  async namedel(r: FopReq<'namedel'>, ctx: FopCtx): Promise<FopRes<'namedel'>> {
    return this.locks.with([r.parent], async () => {
      const e = await this.readEntry(r.parent, r.name);
      if (!e) throw err('ENOENT', `no entry ${r.name}`, { path: r.name });
      if (r.gfid !== undefined && e.gfid !== r.gfid) throw err('ESTALE', `${r.name} now names ${e.gfid}`, { path: r.name });
      await this.dropEntry(r.parent, r.name, ctx.at);
      return e;
    });
  }

  async unlink(r: FopReq<'unlink'>, ctx: FopCtx): Promise<InodeFate> {
    return this.withEntries([r.parent], [[r.parent, r.name]], async ([e]) => {
      if (!e) throw err('ENOENT', `no entry ${r.name}`, { path: r.name });
      if (e.type === 'dir') throw err('EISDIR', `${r.name} is a directory`, { path: r.name });
      await this.dropEntry(r.parent, r.name, ctx.at);
      crashPoint('unlink:after-entry');
      return this.dropInodeLocked(e.gfid, e.type, ctx.at);
    });
  }

  async rmdir(r: FopReq<'rmdir'>, ctx: FopCtx): Promise<InodeFate> {
    // Holding the directory's own lock keeps creates inside it out until it is gone.
    return this.withEntries([r.parent], [[r.parent, r.name]], async ([e]) => {
      if (!e) throw err('ENOENT', `no entry ${r.name}`, { path: r.name });
      if (e.type !== 'dir') throw err('ENOTDIR', `${r.name} is not a directory`, { path: r.name });
      if (e.gfid === ROOT_GFID) throw err('EPERM', 'the root directory cannot be removed');
      if (!(await readMeta(this.h(e.gfid)))) throw err('EREMOTE', `directory ${r.name} lives on another MDS`, { gfid: e.gfid, path: r.name });
      await this.checkEmpty(e.gfid);
      await this.dropEntry(r.parent, r.name, ctx.at);
      crashPoint('rmdir:after-entry');
      await rmdirHandle(this.h(e.gfid));
      this.index.removeDir(e.gfid);
      await this.fsync(handleParent(this.dir, e.gfid));
      return { gfid: e.gfid, type: 'dir' as const, inode: 'deleted' as const };
    });
  }

  async iunlink(r: FopReq<'iunlink'>, ctx: FopCtx): Promise<InodeFate> {
    const m = await this.meta(r.gfid);
    if (m.type === 'dir') {
      await this.locks.with([r.gfid], () => this.checkEmpty(r.gfid));
    }
    return this.dropInode(r.gfid, m.type, ctx.at);
  }

  async ilink(r: FopReq<'ilink'>, ctx: FopCtx): Promise<Attrs> {
    return this.locks.with([r.gfid], () => this.bumpLink(r.gfid, ctx.at));
  }

  private async bumpLink(gfid: string, at: number): Promise<Attrs> {
    const m = await this.meta(gfid);
    if (m.type === 'dir') throw err('EPERM', 'hard links to directories are not allowed', { gfid });
    m.nlink += 1;
    m.ctimeMs = at;
    await writeMeta(this.h(gfid), m);
    await this.fsync(this.h(gfid));
    return toAttrs(gfid, m);
  }

  async link(r: FopReq<'link'>, ctx: FopCtx): Promise<Attrs> {
    return this.locks.with([r.parent, r.gfid], async () => {
      await this.dirMeta(r.parent);
      if (!(await readMeta(this.h(r.gfid)))) throw err('EREMOTE', `inode ${r.gfid} lives on another MDS`, { gfid: r.gfid });
      if (await this.readEntry(r.parent, r.name)) throw err('EEXIST', `${r.name} exists`, { path: r.name });
      // nlink first, then the name: a crash in between leaves a count too high, never a name without an inode.
      const a = await this.bumpLink(r.gfid, ctx.at);
      crashPoint('link:after-nlink');
      await this.putEntry(r.parent, r.name, r.gfid, a.type, false, ctx.at);
      return a;
    });
  }

  /** POSIX rename(2) rules for a target that exists. */
  private async checkReplace(srcType: InodeType, dst: { gfid: string; type: InodeType }): Promise<void> {
    if (srcType === 'dir' && dst.type !== 'dir') throw err('ENOTDIR', 'cannot replace a non-directory with a directory');
    if (srcType !== 'dir' && dst.type === 'dir') throw err('EISDIR', 'cannot replace a directory with a non-directory');
    if (dst.type === 'dir') {
      if (!(await readMeta(this.h(dst.gfid)))) throw err('EREMOTE', 'target directory lives on another MDS', { gfid: dst.gfid });
      await this.checkEmpty(dst.gfid);
    }
  }

  async rename(r: FopReq<'rename'>, ctx: FopCtx): Promise<FopRes<'rename'>> {
    const names = [[r.parent, r.name], [r.newParent, r.newName]] as const;
    return this.withEntries([r.parent, r.newParent], names, async ([src, dst]) => {
      if (!src) throw err('ENOENT', `no entry ${r.name}`, { path: r.name });
      await this.dirMeta(r.newParent);
      if (src.type === 'dir' && src.gfid === r.newParent) throw err('EINVAL', 'cannot move a directory into itself');
      // POSIX: renaming onto another name of the same inode does nothing.
      if (dst?.gfid === src.gfid) return { gfid: src.gfid, type: src.type };
      if (dst && r.noReplace) throw err('EEXIST', `${r.newName} exists`, { path: r.newName });
      const replaced = await this.replaceEntry(r.newParent, r.newName, src.gfid, src.type, dst, ctx.at, { parent: r.parent, name: r.name });
      return replaced ? { gfid: src.gfid, type: src.type, replaced } : { gfid: src.gfid, type: src.type };
    });
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

  async setxattr(r: FopReq<'setxattr'>): Promise<Record<string, never>> {
    return this.locks.with([r.gfid], async () => {
      await this.meta(r.gfid);
      const p = this.h(r.gfid);
      if (r.flag) {
        const had = (await xattrOp(() => getAttribute(p, userKey(r.name)))) !== null;
        if (r.flag === 'create' && had) throw err('EEXIST', `xattr ${r.name} exists`, { gfid: r.gfid });
        if (r.flag === 'replace' && !had) throw err('ENODATA', `no xattr ${r.name}`, { gfid: r.gfid });
      }
      await this.checkSpace(r.gfid, undefined, { name: r.name, len: Buffer.from(r.value, 'base64').length });
      await setUserXattr(p, r.name, Buffer.from(r.value, 'base64'));
      await this.fsync(p);
      return {};
    });
  }

  async listxattr(r: FopReq<'listxattr'>): Promise<{ names: string[] }> {
    await this.meta(r.gfid);
    const all = await xattrOp(() => listAttributes(this.h(r.gfid)));
    return { names: all.filter((n) => n.startsWith(XATTR_USER_PREFIX)).map((n) => n.slice(XATTR_USER_PREFIX.length)).sort() };
  }

  async removexattr(r: FopReq<'removexattr'>): Promise<Record<string, never>> {
    return this.locks.with([r.gfid], async () => {
      await this.meta(r.gfid);
      const p = this.h(r.gfid);
      if ((await xattrOp(() => getAttribute(p, userKey(r.name)))) === null) throw err('ENODATA', `no xattr ${r.name}`, { gfid: r.gfid });
      await xattrOp(() => removeAttribute(p, userKey(r.name)));
      await this.fsync(p);
      return {};
    });
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
