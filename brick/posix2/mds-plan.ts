/**
 * The mutating MDS FOPs split in two (ARCHITECTURE.md §10.6): `plan` reads and checks and
 * answers the values the FOP decides (fop-out.ts), changing nothing; `apply` carries them out
 * with the steps, fsyncs and crash points of ON-DISK-FORMAT.md §3.5–§3.6, deciding nothing and
 * reading no clock, and is idempotent: each step finds its effect already there and passes.
 * Both run with the FOP's conflict keys held (§10.5): mds.ts takes them for a set of one.
 */
import {
  err, ROOT_GFID, type Attrs, type FopReq, type FopRes, type InodeType,
} from '../../dht2-core/protocol/index.js';
import { crashPoint } from './crash.js';
import type { FopCtx } from './fop-ctx.js';
import { diverged, fateOf, type MdsMutating, type MdsOut } from './fop-out.js';
import { encodeMeta, readMeta, toAttrs, writeMeta, type InodeMeta } from './handles.js';
import { MdsBase } from './mds-base.js';
import { getAttribute, removeAttribute, rename } from './meta-fs.js';
import { setUserXattr, userKey, xattrOp } from './mds-util.js';

type Planners = { [F in MdsMutating]: (r: FopReq<F>, ctx: FopCtx) => Promise<MdsOut<F>> };
type Appliers = { [F in MdsMutating]: (r: FopReq<F>, out: MdsOut<F>, ctx: FopCtx) => Promise<FopRes<F>> };

export class MdsPlanner extends MdsBase {
  /** Checks `req` against the store and answers what apply needs; changes nothing. */
  async plan<F extends MdsMutating>(fop: F, req: FopReq<F>, ctx: FopCtx): Promise<MdsOut<F>> {
    return (this.planners[fop] as (r: FopReq<F>, c: FopCtx) => Promise<MdsOut<F>>)(req, ctx);
  }

  /** Makes the store match (req, out) at ctx.at; answers the FOP's reply. */
  async apply<F extends MdsMutating>(fop: F, req: FopReq<F>, out: MdsOut<F>, ctx: FopCtx): Promise<FopRes<F>> {
    return (this.appliers[fop] as (r: FopReq<F>, o: MdsOut<F>, c: FopCtx) => Promise<FopRes<F>>)(req, out, ctx);
  }

  /** plan then apply, with the keys held by the caller: a set of one. */
  protected async planApply<F extends MdsMutating>(fop: F, req: FopReq<F>, ctx: FopCtx): Promise<FopRes<F>> {
    return this.apply(fop, req, await this.plan(fop, req, ctx), ctx);
  }

  private readonly planners: Planners = {
    setattr: (r) => this.planSetattr(r),
    icreate: async (r, c) => {
      this.checkNewInode(r, c.at);
      if (await readMeta(this.h(r.gfid))) throw err('EEXIST', `inode ${r.gfid} exists`, { gfid: r.gfid });
      return {};
    },
    create: (r, c) => this.planCreate(r, c, false),
    namelink: (r) => this.planName(r.parent, r.name, r.gfid, r.type, r.replace),
    nameswap: async (r) => {
      await this.dirMeta(r.parent);
      const cur = await this.readEntry(r.parent, r.name);
      if (!cur) throw err('ENOENT', `no entry ${r.name}`, { path: r.name });
      if (cur.gfid === r.to) return { noop: true }; // a retry that already swapped
      if (cur.gfid !== r.from) throw err('ESTALE', `${r.name} now names ${cur.gfid}`, { path: r.name });
      return {};
    },
    namedel: async (r) => {
      const e = await this.readEntry(r.parent, r.name);
      if (!e) throw err('ENOENT', `no entry ${r.name}`, { path: r.name });
      if (r.gfid !== undefined && e.gfid !== r.gfid) throw err('ESTALE', `${r.name} now names ${e.gfid}`, { path: r.name });
      return { gfid: e.gfid, type: e.type };
    },
    unlink: async (r) => {
      const e = await this.readEntry(r.parent, r.name);
      if (!e) throw err('ENOENT', `no entry ${r.name}`, { path: r.name });
      if (e.type === 'dir') throw err('EISDIR', `${r.name} is a directory`, { path: r.name });
      return this.planDrop(e.gfid, e.type);
    },
    rmdir: async (r) => {
      const e = await this.readEntry(r.parent, r.name);
      if (!e) throw err('ENOENT', `no entry ${r.name}`, { path: r.name });
      if (e.type !== 'dir') throw err('ENOTDIR', `${r.name} is not a directory`, { path: r.name });
      if (e.gfid === ROOT_GFID) throw err('EPERM', 'the root directory cannot be removed');
      if (!(await readMeta(this.h(e.gfid)))) throw err('EREMOTE', `directory ${r.name} lives on another MDS`, { gfid: e.gfid, path: r.name });
      await this.checkEmpty(e.gfid);
      return { gfid: e.gfid };
    },
    iunlink: async (r) => {
      const m = await this.meta(r.gfid);
      if (m.type === 'dir') await this.checkEmpty(r.gfid);
      return this.planDrop(r.gfid, m.type);
    },
    ilink: async (r) => ({ nlink: (await this.linkable(r.gfid)).nlink + 1 }),
    link: async (r) => {
      await this.dirMeta(r.parent);
      if (!(await readMeta(this.h(r.gfid)))) throw err('EREMOTE', `inode ${r.gfid} lives on another MDS`, { gfid: r.gfid });
      if (await this.readEntry(r.parent, r.name)) throw err('EEXIST', `${r.name} exists`, { path: r.name });
      const m = await this.linkable(r.gfid);
      return { nlink: m.nlink + 1, type: m.type };
    },
    rename: (r) => this.planRename(r),
    imark: async (r) => {
      const m = await this.meta(r.gfid);
      if (m.type !== 'dir') throw err('ENOTDIR', `${r.gfid} is not a directory`, { gfid: r.gfid });
      if (r.dying) {
        if (r.carrying !== undefined && m.obj !== r.carrying) throw err('ESTALE', `directory ${r.gfid} no longer carries ${r.carrying}`, { gfid: r.gfid });
        await this.checkEmpty(r.gfid, r.carrying !== undefined);
      }
      return {};
    },
    objset: (r) => this.planObjset(r),
    setxattr: async (r) => {
      await this.meta(r.gfid);
      const p = this.h(r.gfid);
      if (r.flag) {
        const had = (await xattrOp(() => getAttribute(p, userKey(r.name)))) !== null;
        if (r.flag === 'create' && had) throw err('EEXIST', `xattr ${r.name} exists`, { gfid: r.gfid });
        if (r.flag === 'replace' && !had) throw err('ENODATA', `no xattr ${r.name}`, { gfid: r.gfid });
      }
      await this.checkSpace(r.gfid, undefined, { name: r.name, len: Buffer.from(r.value, 'base64').length });
      userKey(r.name); // ERANGE now, not in apply
      return {};
    },
    removexattr: async (r) => {
      await this.meta(r.gfid);
      if ((await xattrOp(() => getAttribute(this.h(r.gfid), userKey(r.name)))) === null) throw err('ENODATA', `no xattr ${r.name}`, { gfid: r.gfid });
      return {};
    },
  };

  private readonly appliers: Appliers = {
    setattr: async (r, out, c) => {
      const m = await this.metaToApply(r.gfid);
      setAttrs(m, r.set, out, c.at);
      await writeMeta(this.h(r.gfid), m);
      await this.fsync(this.h(r.gfid));
      return toAttrs(r.gfid, m);
    },
    icreate: async (r, _out, c) => toAttrs(r.gfid, await this.ensureInode(r, c.at)),
    create: (r, out, c) => this.applyCreate(r, out, c),
    namelink: async (r, out, c) => {
      if (out.noop) return {};
      await this.putEntryOnce(r.parent, r.name, r.gfid, r.type, out.replaced?.gfid, c.at);
      if (!out.replaced) return {};
      await this.applyDrop(out.replaced, c.at);
      return { replaced: fateOf(out.replaced) };
    },
    nameswap: async (r, out, c) => {
      if (out.noop) return {};
      await this.putEntryOnce(r.parent, r.name, r.to, r.type, r.from, c.at);
      crashPoint('nameswap:after-entry');
      return {};
    },
    namedel: async (r, out, c) => {
      await this.dropEntryOnce(r.parent, r.name, out.gfid, c.at);
      return { gfid: out.gfid, type: out.type };
    },
    unlink: async (r, out, c) => {
      await this.dropEntryOnce(r.parent, r.name, out.gfid, c.at);
      crashPoint('unlink:after-entry');
      await this.applyDrop(out, c.at);
      return fateOf(out);
    },
    rmdir: async (r, out, c) => {
      await this.dropEntryOnce(r.parent, r.name, out.gfid, c.at);
      crashPoint('rmdir:after-entry');
      await this.applyDrop({ gfid: out.gfid, type: 'dir', inode: 'deleted' }, c.at);
      return { gfid: out.gfid, type: 'dir' as const, inode: 'deleted' as const };
    },
    iunlink: async (_r, out, c) => {
      await this.applyDrop(out, c.at);
      return fateOf(out);
    },
    ilink: (r, out, c) => this.setNlink(r.gfid, out.nlink, c.at),
    link: async (r, out, c) => {
      // nlink first, then the name: a crash in between leaves a count too high, never a name without an inode.
      const a = await this.setNlink(r.gfid, out.nlink, c.at);
      crashPoint('link:after-nlink');
      await this.putEntryOnce(r.parent, r.name, r.gfid, out.type, undefined, c.at);
      return a;
    },
    rename: (r, out, c) => this.applyRename(r, out, c),
    imark: async (r) => {
      const m = await this.metaToApply(r.gfid);
      if (r.dying) m.dying = true;
      else delete m.dying;
      await writeMeta(this.h(r.gfid), m);
      await this.fsync(this.h(r.gfid));
      return toAttrs(r.gfid, m);
    },
    objset: async (r, out, c) => {
      const m = await this.metaToApply(r.gfid);
      if (out.noop) return { attrs: toAttrs(r.gfid, m) };
      const want = r.obj ?? undefined;
      if (m.obj !== out.prev && m.obj !== want) throw diverged(`directory ${r.gfid} carries ${m.obj ?? 'nothing'}, not ${out.prev ?? 'nothing'}`, r.gfid);
      if (want === undefined) delete m.obj;
      else m.obj = want;
      m.ctimeMs = c.at;
      await writeMeta(this.h(r.gfid), m);
      await this.fsync(this.h(r.gfid));
      return out.prev === undefined ? { attrs: toAttrs(r.gfid, m) } : { attrs: toAttrs(r.gfid, m), prev: out.prev };
    },
    setxattr: async (r) => {
      const p = this.h(r.gfid);
      await this.metaToApply(r.gfid);
      await setUserXattr(p, r.name, Buffer.from(r.value, 'base64'));
      await this.fsync(p);
      return {};
    },
    removexattr: async (r) => {
      const p = this.h(r.gfid);
      await this.metaToApply(r.gfid);
      await xattrOp(() => removeAttribute(p, userKey(r.name))).catch((e: unknown) => {
        if ((e as { errno?: string }).errno !== 'ENODATA') throw e; // removed by an earlier apply
      });
      await this.fsync(p);
      return {};
    },
  };

  // ---------------------------------------------------------------- plans

  private async planSetattr(r: FopReq<'setattr'>): Promise<MdsOut<'setattr'>> {
    const m = await this.meta(r.gfid);
    const s = r.set;
    if ((s.size !== undefined || s.sizeAtLeast !== undefined) && m.type !== 'file') {
      throw err(m.type === 'dir' ? 'EISDIR' : 'EINVAL', 'size is only for files', { gfid: r.gfid });
    }
    if (s.nlink !== undefined && m.type === 'dir') throw err('EISDIR', 'the link count of a directory is not settable', { gfid: r.gfid });
    if (s.parent !== undefined && m.type !== 'dir') throw err('ENOTDIR', 'only directories have a parent', { gfid: r.gfid });
    const out: MdsOut<'setattr'> = {};
    const size = s.sizeAtLeast !== undefined ? Math.max(s.size ?? m.size, s.sizeAtLeast) : s.size;
    if (size !== undefined) out.size = size;
    if (s.parent !== undefined) {
      setAttrs(m, s, out, m.ctimeMs);
      await this.checkSpace(r.gfid, m); // the only field that can grow it
    }
    encodeMeta({ ...m, size: out.size ?? m.size }); // EFBIG now, not in apply
    return out;
  }

  /**
   * create's checks. `inodeMade`: a set of one made the inode before taking the name's keys
   * (mds.ts), so its existence is no EEXIST here.
   */
  protected async planCreate(r: FopReq<'create'>, ctx: FopCtx, inodeMade: boolean): Promise<MdsOut<'create'>> {
    if (!inodeMade) {
      this.checkNewInode(r, ctx.at);
    }
    // If-Match decided here, under the name's keys, against the state the entry is planned on
    // (ARCHITECTURE.md §10.5): a lookup before the create would let two writers with the same
    // ETag both replace it (the linearizability checker found it, §10.11).
    // A directory at the name carries the object: the replace below refuses it (EISDIR) and the
    // caller's `objset` with `expect` decides the If-Match there.
    if (r.ifGfid !== undefined) {
      const cur = await this.readEntry(r.parent, r.name);
      if (cur?.type !== 'dir' && cur?.gfid !== r.ifGfid && cur?.gfid !== r.gfid) {
        throw err('ESTALE', `${r.name} ${cur ? 'changed' : 'removed'}`, { path: r.name });
      }
    }
    const out = await this.planName(r.parent, r.name, r.gfid, r.type, r.replace);
    if (!inodeMade && !out.noop && (await readMeta(this.h(r.gfid)))) throw err('EEXIST', `inode ${r.gfid} exists`, { gfid: r.gfid });
    return out;
  }

  /** The name step's checks of create and namelink: the parent, EEXIST, a replace's type rules and fate. */
  private async planName(parent: string, name: string, gfid: string, type: InodeType, replace: boolean | undefined): Promise<MdsOut<'namelink'>> {
    await this.dirMeta(parent);
    const old = await this.readEntry(parent, name);
    if (old && !replace) throw err('EEXIST', `${name} exists`, { path: name });
    if (!old) return {};
    if (old.gfid === gfid) return { noop: true }; // a retried create or namelink that already named it
    await this.checkReplace(type, old);
    return { replaced: await this.planDrop(old.gfid, old.type) };
  }

  private async planRename(r: FopReq<'rename'>): Promise<MdsOut<'rename'>> {
    const src = await this.readEntry(r.parent, r.name);
    if (!src) throw err('ENOENT', `no entry ${r.name}`, { path: r.name });
    await this.dirMeta(r.newParent);
    if (src.type === 'dir' && src.gfid === r.newParent) throw err('EINVAL', 'cannot move a directory into itself');
    const dst = await this.readEntry(r.newParent, r.newName);
    // POSIX: renaming onto another name of the same inode does nothing.
    if (dst?.gfid === src.gfid) return { gfid: src.gfid, type: src.type, noop: true };
    if (dst && r.noReplace) throw err('EEXIST', `${r.newName} exists`, { path: r.newName });
    if (!dst) return { gfid: src.gfid, type: src.type };
    await this.checkReplace(src.type, dst);
    return { gfid: src.gfid, type: src.type, replaced: await this.planDrop(dst.gfid, dst.type) };
  }

  private async planObjset(r: FopReq<'objset'>): Promise<MdsOut<'objset'>> {
    // A directory being removed (or turned back into the file it carries) takes no new object
    // and lets go of its object only to whoever names it in `expect`: the remover. Anyone
    // else clearing it could finish a file that just got its name back.
    const m = r.obj === null && typeof r.expect === 'string' ? await this.meta(r.gfid) : await this.dirMeta(r.gfid);
    if (m.type !== 'dir') throw err('ENOTDIR', `${r.gfid} is not a directory`, { gfid: r.gfid });
    const want = r.obj ?? undefined;
    // A retry after a lost reply finds its own change done: answer no `prev`, or the caller
    // would finish (delete) the object it has just stored.
    if (m.obj === want) return { noop: true };
    if (r.expect === null && m.obj !== undefined) throw err('EEXIST', `directory ${r.gfid} already carries an object`, { gfid: r.gfid });
    if (typeof r.expect === 'string' && m.obj !== r.expect) throw err('ESTALE', `the object of ${r.gfid} changed`, { gfid: r.gfid });
    const prev = m.obj;
    if (want === undefined) delete m.obj;
    else m.obj = want;
    await this.checkSpace(r.gfid, m);
    return prev === undefined ? {} : { prev };
  }

  /** A file or symlink of this brick that may get another link. */
  private async linkable(gfid: string): Promise<InodeMeta> {
    const m = await this.meta(gfid);
    if (m.type === 'dir') throw err('EPERM', 'hard links to directories are not allowed', { gfid });
    return m;
  }

  /** POSIX rename(2) rules for a target that exists. */
  protected async checkReplace(srcType: InodeType, dst: { gfid: string; type: InodeType }): Promise<void> {
    if (srcType === 'dir' && dst.type !== 'dir') throw err('ENOTDIR', 'cannot replace a non-directory with a directory');
    if (srcType !== 'dir' && dst.type === 'dir') throw err('EISDIR', 'cannot replace a directory with a non-directory');
    if (dst.type === 'dir') {
      if (!(await readMeta(this.h(dst.gfid)))) throw err('EREMOTE', 'target directory lives on another MDS', { gfid: dst.gfid });
      await this.checkEmpty(dst.gfid);
    }
  }

  // ---------------------------------------------------------------- applies

  /** An inode an apply changes: it must be here (the plan read it). */
  private async metaToApply(gfid: string): Promise<InodeMeta> {
    const m = await readMeta(this.h(gfid));
    if (!m) throw diverged(`no inode ${gfid}`, gfid);
    return m;
  }

  /** nlink set to the planned count (ilink, link), ctime = at. */
  private async setNlink(gfid: string, nlink: number, at: number): Promise<Attrs> {
    const m = await this.metaToApply(gfid);
    m.nlink = nlink;
    m.ctimeMs = at;
    await writeMeta(this.h(gfid), m);
    await this.fsync(this.h(gfid));
    return toAttrs(gfid, m);
  }

  /** M1–M8 (or the inode found made), then the name step E1–E4, then the replaced inode's fate. */
  private async applyCreate(r: FopReq<'create'>, out: MdsOut<'create'>, ctx: FopCtx): Promise<FopRes<'create'>> {
    const meta = await this.ensureInode({ ...r, parent: r.type === 'dir' ? r.parent : undefined }, ctx.at);
    crashPoint('create:after-inode');
    if (out.noop) return toAttrs(r.gfid, meta);
    await this.putEntryOnce(r.parent, r.name, r.gfid, r.type, out.replaced?.gfid, ctx.at);
    if (out.replaced) await this.applyDrop(out.replaced, ctx.at);
    crashPoint('create:after-entry');
    const a: FopRes<'create'> = toAttrs(r.gfid, meta);
    if (out.replaced) a.replaced = fateOf(out.replaced);
    return a;
  }

  /**
   * INSERT row (newParent, newName) → rename(2) of the entry → the parents' times and fsyncs →
   * DELETE row (parent, name) → the replaced inode's fate (ON-DISK-FORMAT.md §3.6). A second
   * apply finds the entry moved and finishes the steps after the rename(2).
   */
  private async applyRename(r: FopReq<'rename'>, out: MdsOut<'rename'>, ctx: FopCtx): Promise<FopRes<'rename'>> {
    const reply: FopRes<'rename'> = { gfid: out.gfid, type: out.type };
    if (out.noop) return reply;
    const src = await this.readEntry(r.parent, r.name);
    const dst = await this.readEntry(r.newParent, r.newName);
    const moved = src === undefined && dst?.gfid === out.gfid; // by an earlier apply
    if (!moved && (src?.gfid !== out.gfid || dst?.gfid !== out.replaced?.gfid)) {
      throw diverged(`rename of ${r.name} finds ${src?.gfid ?? 'nothing'} → ${dst?.gfid ?? 'nothing'}`, r.parent);
    }
    this.index.add(r.newParent, r.newName); // superset rule: row before entry
    if (!moved) {
      await rename(this.entryPath(r.parent, r.name), this.entryPath(r.newParent, r.newName));
      crashPoint('rename:after-rename');
    }
    await this.touchDir(r.newParent, ctx.at);
    if (r.parent !== r.newParent) await this.touchDir(r.parent, ctx.at);
    this.index.remove(r.parent, r.name);
    if (out.replaced) {
      await this.applyDrop(out.replaced, ctx.at);
      reply.replaced = fateOf(out.replaced);
    }
    return reply;
  }
}

/** setattr's change of an inode's metadata: the request's values, the planned size, ctime = at. */
function setAttrs(m: InodeMeta, s: FopReq<'setattr'>['set'], out: MdsOut<'setattr'>, at: number): void {
  if (s.mode !== undefined) m.mode = s.mode & 0o7777;
  if (s.uid !== undefined) m.uid = s.uid;
  if (s.gid !== undefined) m.gid = s.gid;
  if (out.size !== undefined) m.size = out.size;
  if (s.nlink !== undefined) m.nlink = s.nlink;
  if (s.parent !== undefined) m.parent = s.parent;
  if (s.atimeMs !== undefined) m.atimeMs = Math.round(s.atimeMs); // kept to the ms (handles.ts)
  if (s.mtimeMs !== undefined) m.mtimeMs = Math.round(s.mtimeMs);
  m.ctimeMs = at;
}
