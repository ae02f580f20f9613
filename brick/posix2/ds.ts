/**
 * The DS half of POSIX2: data objects at their handle paths, keyed by the file's GFID.
 * Replacement (dput, dconcat, dcopy) is write-to-temp, fsync, rename(2), fsync of the handle's
 * directory: a crash leaves the old object or the complete new one, plus garbage in tmp/ that
 * the next start removes. dwrite is an in-place write at an offset, as POSIX write(2), of a
 * body staged whole in tmp/ first, so that a body refused at its end never lands.
 *
 * Every mutating FOP is a `plan` (reads and checks; the values it decides, fop-out.ts) and an
 * `apply` (the changes, idempotent, deciding nothing: ARCHITECTURE.md §10.6), run one after the
 * other under the object's lock by the FOP's method, as a set of one does.
 */
import { constants, createReadStream, createWriteStream } from 'node:fs';
import { copyFile, link, open, rm, truncate, unlink, utimes, type FileHandle } from 'node:fs/promises';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { err, toDht2Error, type DataStat, type FopReq } from '../../dht2-core/protocol/index.js';
import { crashPoint } from './crash.js';
import type { FopCtx, StoreHandlers } from './fop-ctx.js';
import { diverged, type Blob, type DsMutating, type DsOut } from './fop-out.js';
import { codeOf, fsyncPath, handleWriter, syncHandle } from './fsutil.js';
import { HandleStore } from './handle-store.js';
import { handleParent, tmpPath } from './handles.js';
import { KeyedLocks } from './locks.js';
import { lstat, rename } from './meta-fs.js';

/** Largest data object a brick accepts (bounded so a runaway client cannot fill the disk in one go). */
export const DEFAULT_MAX_OBJECT = 5 * 1024 ** 4;

export class DsStore extends HandleStore implements StoreHandlers<'ds'> {
  /** Conflict keys of the DS FOPs (ARCHITECTURE.md §10.5): the object, and dconcat's parts, dcopy's source. */
  private readonly locks = new KeyedLocks();

  constructor(dir: string, sync: boolean, private readonly maxObject = DEFAULT_MAX_OBJECT) {
    super(dir, sync);
  }

  /**
   * The object's DataStat. Its times are its mtime, whole ms, for both: every FOP that changes
   * an object sets its mtime to the FOP's `at` (ARCHITECTURE.md §10.6), so any member of a set
   * answers the same; the handle's own ctime is local and never reported.
   */
  private async statOf(gfid: string): Promise<DataStat> {
    try {
      const s = await lstat(this.h(gfid)); // handles are plain files: lstat is stat
      const t = Math.round(s.mtimeMs);
      return { gfid, size: s.size, mtimeMs: t, ctimeMs: t };
    } catch (e) {
      throw toDht2Error(e, `data object ${gfid}`);
    }
  }

  /** The object's size, or undefined when it is absent. */
  private async sizeOf(gfid: string): Promise<number | undefined> {
    try {
      return (await lstat(this.h(gfid))).size;
    } catch (e) {
      if (codeOf(e) === 'ENOENT') return undefined;
      throw toDht2Error(e, `data object ${gfid}`);
    }
  }

  /** What a FOP that changed an object at `at` answers: the planned size, the FOP's times. */
  private static changed(gfid: string, size: number, at: number): DataStat {
    return { gfid, size, mtimeMs: at, ctimeMs: at };
  }

  /** Moves a finished temp file over the handle and makes the rename durable. */
  private async commit(tmp: string, gfid: string, synced = false): Promise<void> {
    if (!synced) await this.fsync(tmp);
    crashPoint('ds:before-rename');
    await this.handleDirs.ensure(handleParent(this.dir, gfid));
    await rename(tmp, this.h(gfid));
    await this.fsync(handleParent(this.dir, gfid));
  }

  /**
   * Runs `fn` to fill a temp file, sets its times to `at`, then commits it; on any failure the
   * temp file goes.
   */
  private async replace(gfid: string, at: number, fn: (tmp: string) => Promise<void>): Promise<void> {
    const tmp = tmpPath(this.dir, 'data');
    try {
      await fn(tmp);
      // Before the fsync, so it covers the time too.
      await utimes(tmp, at / 1000, at / 1000);
      await this.commit(tmp, gfid);
    } catch (e) {
      await rm(tmp, { force: true });
      throw toDht2Error(e);
    }
  }

  /** Runs plan then apply under the FOP's conflict keys: a set of one (ARCHITECTURE.md §10.6). */
  private async planApply<F extends DsMutating>(fop: F, req: FopReq<F>, ctx: FopCtx, blob?: Blob): Promise<DataStat> {
    return this.locks.with(dsKeys(fop, req), async () => this.apply(fop, req, await this.plan(fop, req, ctx, blob), ctx, blob));
  }

  // ---------------------------------------------------------------- plan: reads and checks only

  /** Checks `req` against the store and answers what apply needs; changes nothing. */
  async plan<F extends DsMutating>(fop: F, req: FopReq<F>, _ctx: FopCtx, blob?: Blob): Promise<DsOut<F>> {
    return (await this.planAny(fop, req as never, blob)) as DsOut<F>;
  }

  private async planAny(fop: DsMutating, req: FopReq<DsMutating>, blob: Blob | undefined): Promise<DsOut<DsMutating>> {
    switch (fop) {
      case 'dcreate': {
        const r = req as FopReq<'dcreate'>;
        if ((await this.sizeOf(r.gfid)) !== undefined) throw err('EEXIST', `data object ${r.gfid} exists`, { gfid: r.gfid });
        return { size: 0 };
      }
      case 'dtruncate': {
        const r = req as FopReq<'dtruncate'>;
        if (r.size > this.maxObject) throw err('EFBIG', `size over ${this.maxObject}`);
        await this.statOf(r.gfid);
        return { size: r.size };
      }
      case 'dunlink': {
        await this.statOf((req as FopReq<'dunlink'>).gfid);
        return {};
      }
      case 'dconcat': {
        const r = req as FopReq<'dconcat'>;
        if (r.parts.includes(r.gfid)) throw err('EINVAL', 'target is one of the parts');
        let total = 0;
        for (const p of r.parts) total += (await this.statOf(p)).size;
        if (total > this.maxObject) throw err('EFBIG', `concatenation over ${this.maxObject} bytes`);
        return { size: total };
      }
      case 'dcopy': {
        const r = req as FopReq<'dcopy'>;
        const src = await this.statOf(r.src);
        const start = r.offset ?? 0;
        if (start > src.size) throw err('EINVAL', `offset ${start} past end ${src.size}`);
        const end = r.length === undefined ? src.size : Math.min(src.size, start + r.length);
        return { size: end - start };
      }
      case 'dput': {
        return { size: (await lstat(blobOf(blob).path)).size };
      }
      case 'dwrite': {
        const r = req as FopReq<'dwrite'>;
        const len = (await lstat(blobOf(blob).path)).size;
        const cur = r.create ? ((await this.sizeOf(r.gfid)) ?? 0) : (await this.statOf(r.gfid)).size;
        const offset = r.append ? cur : r.offset;
        if (offset + len > this.maxObject) throw err('EFBIG', `object larger than ${this.maxObject} bytes`);
        return { offset, size: Math.max(cur, offset + len) };
      }
    }
  }

  // ---------------------------------------------------------------- apply: idempotent, no decision

  /**
   * Makes the store match `req` and `out` at `ctx.at`. Each step finds its effect already there
   * and passes, so a crash in the middle followed by a second apply completes the FOP; the steps
   * and their fsyncs are those of ON-DISK-FORMAT.md §4.1. Answers the FOP's reply.
   */
  async apply<F extends DsMutating>(fop: F, req: FopReq<F>, out: DsOut<F>, ctx: FopCtx, blob?: Blob): Promise<DataStat> {
    const at = ctx.at;
    switch (fop) {
      case 'dcreate': {
        const r = req as FopReq<'dcreate'>;
        await this.handleDirs.ensure(handleParent(this.dir, r.gfid));
        let fh: FileHandle;
        try {
          fh = await open(this.h(r.gfid), 'wx', 0o600);
        } catch (e) {
          if (codeOf(e) !== 'EEXIST') throw toDht2Error(e, `data object ${r.gfid}`);
          // Applied before: the object is there, and still empty.
          if ((await this.sizeOf(r.gfid)) !== 0) throw diverged(`data object ${r.gfid} exists with data`, r.gfid);
          fh = await open(this.h(r.gfid), 'r+');
        }
        try {
          await fh.utimes(at / 1000, at / 1000);
          if (this.sync) await syncHandle(fh, this.h(r.gfid));
        } finally {
          await fh.close();
        }
        await this.fsync(handleParent(this.dir, r.gfid));
        return DsStore.changed(r.gfid, 0, at);
      }
      case 'dtruncate': {
        const r = req as FopReq<'dtruncate'>;
        try {
          await truncate(this.h(r.gfid), r.size);
          await utimes(this.h(r.gfid), at / 1000, at / 1000);
        } catch (e) {
          if (codeOf(e) === 'ENOENT') throw diverged(`no data object ${r.gfid} to truncate`, r.gfid);
          throw toDht2Error(e, `data object ${r.gfid}`);
        }
        await this.fsync(this.h(r.gfid));
        return DsStore.changed(r.gfid, (out as DsOut<'dtruncate'>).size, at);
      }
      case 'dunlink': {
        const r = req as FopReq<'dunlink'>;
        await unlink(this.h(r.gfid)).catch((e: unknown) => {
          if (codeOf(e) !== 'ENOENT') throw toDht2Error(e, `data object ${r.gfid}`); // gone already: applied before
        });
        // A member that never held the object (a fresh object it lacked, ARCHITECTURE.md §10.7)
        // may not have its handle's directory either: nothing to make durable then.
        await this.fsync(handleParent(this.dir, r.gfid)).catch((e: unknown) => {
          if (codeOf(e) !== 'ENOENT') throw e;
        });
        return { gfid: r.gfid, size: 0, mtimeMs: at, ctimeMs: at };
      }
      case 'dconcat': {
        const r = req as FopReq<'dconcat'>;
        const size = (out as DsOut<'dconcat'>).size;
        const have = await Promise.all(r.parts.map((p) => this.sizeOf(p)));
        if (have.every((n) => n !== undefined)) {
          await this.replace(r.gfid, at, async (tmp) => {
            const o = createWriteStream(tmp, { flags: 'wx', mode: 0o600 });
            try {
              for (const p of r.parts) await pipeline(createReadStream(this.h(p)), o, { end: false });
            } finally {
              await new Promise<void>((resolve, reject) => o.end((e?: Error | null) => (e ? reject(e) : resolve())));
            }
          });
        } else if (!r.removeParts || (await this.sizeOf(r.gfid)) !== size) {
          // Parts go only after the target is committed, so a missing part means it is.
          throw diverged(`a part of ${r.gfid} is missing and the object is not built`, r.gfid);
        }
        crashPoint('dconcat:after-commit');
        if (r.removeParts) {
          for (const p of r.parts) await unlink(this.h(p)).catch(() => undefined);
          for (const d of new Set(r.parts.map((p) => handleParent(this.dir, p)))) await this.fsync(d);
        }
        return DsStore.changed(r.gfid, size, at);
      }
      case 'dcopy': {
        const r = req as FopReq<'dcopy'>;
        const size = (out as DsOut<'dcopy'>).size;
        if ((await this.sizeOf(r.src)) === undefined) {
          // Removed by a later entry applied before a crash: this one committed before it.
          if ((await this.sizeOf(r.gfid)) !== size) throw diverged(`the source of ${r.gfid} is gone and the copy is not there`, r.gfid);
          return DsStore.changed(r.gfid, size, at);
        }
        await this.replace(r.gfid, at, async (tmp) => {
          if (r.offset === undefined && r.length === undefined) {
            await copyFile(this.h(r.src), tmp, constants.COPYFILE_FICLONE);
            return;
          }
          const start = r.offset ?? 0;
          if (size === 0) { await open(tmp, 'wx', 0o600).then((fh) => fh.close()); return; }
          await pipeline(createReadStream(this.h(r.src), { start, end: start + size - 1 }), createWriteStream(tmp, { flags: 'wx', mode: 0o600 }));
        });
        return DsStore.changed(r.gfid, size, at);
      }
      case 'dput': {
        const r = req as FopReq<'dput'>;
        const b = blobOf(blob);
        if (b.consume) {
          if (!b.synced) await utimes(b.path, at / 1000, at / 1000);
          try {
            await this.commit(b.path, r.gfid, b.synced);
          } catch (e) {
            await rm(b.path, { force: true });
            throw toDht2Error(e);
          }
        } else {
          await this.replace(r.gfid, at, (tmp) => copyFile(b.path, tmp, constants.COPYFILE_FICLONE));
        }
        return DsStore.changed(r.gfid, (out as DsOut<'dput'>).size, at);
      }
      case 'dwrite':
        return this.applyWrite(req as FopReq<'dwrite'>, out as DsOut<'dwrite'>, at, blobOf(blob).path);
    }
    throw err('EINVAL', `${String(fop)} is not a mutating DS FOP`);
  }

  /** Copies a staged body into the object at its planned offset, then makes it durable. */
  private async applyWrite(r: FopReq<'dwrite'>, out: DsOut<'dwrite'>, at: number, stage: string): Promise<DataStat> {
    const size = (await lstat(stage)).size;
    if (r.create) await this.handleDirs.ensure(handleParent(this.dir, r.gfid));
    let fh;
    try {
      // No O_APPEND: the offset of an append was resolved by plan, so a re-apply writes the
      // same bytes at the same place.
      fh = await open(this.h(r.gfid), r.create ? constants.O_RDWR | constants.O_CREAT : constants.O_RDWR, 0o600);
    } catch (e) {
      if (codeOf(e) === 'ENOENT') throw diverged(`no data object ${r.gfid} to write`, r.gfid);
      throw toDht2Error(e, `data object ${r.gfid}`);
    }
    try {
      if (size > 0) await pipeline(createReadStream(stage, { highWaterMark: 1024 * 1024 }), handleWriter(fh, out.offset));
      await fh.utimes(at / 1000, at / 1000);
      if (this.sync) await syncHandle(fh, this.h(r.gfid));
    } catch (e) {
      throw toDht2Error(e);
    } finally {
      await fh.close();
    }
    if (r.create) await this.fsync(handleParent(this.dir, r.gfid));
    return DsStore.changed(r.gfid, out.size, at);
  }

  // ---------------------------------------------------------------- FOPs (a set of one)

  async dcreate(r: FopReq<'dcreate'>, ctx: FopCtx): Promise<DataStat> {
    return this.planApply('dcreate', r, ctx);
  }

  async dstat(r: FopReq<'dstat'>): Promise<DataStat> {
    return this.statOf(r.gfid);
  }

  async dtruncate(r: FopReq<'dtruncate'>, ctx: FopCtx): Promise<DataStat> {
    return this.planApply('dtruncate', r, ctx);
  }

  async dunlink(r: FopReq<'dunlink'>, ctx: FopCtx): Promise<Record<string, never>> {
    await this.planApply('dunlink', r, ctx);
    return {};
  }

  async dfsync(r: FopReq<'dfsync'>): Promise<Record<string, never>> {
    try {
      await fsyncPath(this.h(r.gfid));
    } catch (e) {
      throw toDht2Error(e, `data object ${r.gfid}`);
    }
    return {};
  }

  /** Builds one object from parts on this brick (multipart completion), without the gateway. */
  async dconcat(r: FopReq<'dconcat'>, ctx: FopCtx): Promise<DataStat> {
    return this.planApply('dconcat', r, ctx);
  }

  /** Server-side copy within the brick, whole (reflink where the filesystem can) or a range. */
  async dcopy(r: FopReq<'dcopy'>, ctx: FopCtx): Promise<DataStat> {
    return this.planApply('dcopy', r, ctx);
  }

  /** Replaces the object with `body` atomically; a body cut short leaves the old object. */
  async dput(r: FopReq<'dput'>, body: Readable, ctx: FopCtx): Promise<DataStat> {
    // The body goes straight to the temp file the commit renames (a consumed blob): one write.
    const tmp = await this.stageFresh(body, ctx.at);
    if (r.fresh) {
      // A new GFID (ARCHITECTURE.md §10.7): linked into place, never replacing.
      try {
        return await this.locks.with([r.gfid], async () => DsStore.changed(r.gfid, await this.linkFresh(tmp, r.gfid), ctx.at));
      } finally {
        await rm(tmp, { force: true });
      }
    }
    try {
      return await this.planApply('dput', r, ctx, { path: tmp, consume: true, synced: true });
    } catch (e) {
      await rm(tmp, { force: true }); // gone already once it was renamed into place
      throw e;
    }
  }

  /**
   * Writes `body` to a new temp file with its times at `at`, fsynced (sync on): a whole object
   * ready to be put in place. On any failure the temp file goes.
   */
  async stageFresh(body: Readable, at: number): Promise<string> {
    const tmp = tmpPath(this.dir, 'data');
    // Open first: a write stream opens its file asynchronously, so a body that fails at once
    // could otherwise have the temp file created after the cleanup already ran.
    const fh = await open(tmp, 'wx', 0o600).catch((e: unknown) => { body.resume(); throw toDht2Error(e); });
    try {
      try {
        await pipeline(body, handleWriter(fh, undefined, tooBig(this.maxObject)));
        await fh.utimes(at / 1000, at / 1000);
        if (this.sync) await syncHandle(fh, tmp); // through this descriptor: no second open just to fsync
      } finally {
        await fh.close();
      }
    } catch (e) {
      await rm(tmp, { force: true });
      throw toDht2Error(e);
    }
    return tmp;
  }

  /**
   * A fresh object's staged body linked into place (ON-DISK-FORMAT.md §6.6 "fresh dput"):
   * `link(2)`, EEXIST when the object is there already (a fresh GFID is never replaced), then the
   * handle's directory fsynced. The temp file stays (the caller removes it). Answers the size.
   */
  async linkFresh(tmp: string, gfid: string): Promise<number> {
    const size = (await lstat(tmp)).size;
    await this.handleDirs.ensure(handleParent(this.dir, gfid));
    crashPoint('ds:before-link');
    try {
      await link(tmp, this.h(gfid));
    } catch (e) {
      if (codeOf(e) === 'EEXIST') throw err('EEXIST', `data object ${gfid} exists: a fresh dput never replaces`, { gfid });
      throw toDht2Error(e, `data object ${gfid}`);
    }
    await this.fsync(handleParent(this.dir, gfid));
    return size;
  }

  /** The object is here (a regular file at its handle). */
  async has(gfid: string): Promise<boolean> {
    return (await this.sizeOf(gfid)) !== undefined;
  }

  /** Only a member of a replicated set keeps pending records (brick/repl/fresh.ts). */
  pending(): Promise<Record<string, never>> {
    return Promise.reject(err('ENOTSUP', 'pending records are kept only by the members of a replicated DS set'));
  }

  pendingDone(): Promise<Record<string, never>> {
    return Promise.reject(err('ENOTSUP', 'pending records are kept only by the members of a replicated DS set'));
  }

  /**
   * Writes `body` at `offset` in place (POSIX write semantics), then fsyncs. The body is staged
   * first, in a temp file, and only a body that ended whole (on a brick server: whose MAC
   * trailer matched, brick/server.ts) is written into the object: a body that fails, is cut or
   * is refused changes nothing, not even the creation of the object (issue 14).
   */
  async dwrite(r: FopReq<'dwrite'>, body: Readable, ctx: FopCtx): Promise<DataStat> {
    if (!r.create) {
      // Answer a missing object before reading a body that could never be written.
      await this.statOf(r.gfid).catch((e: unknown) => { body.resume(); throw e; });
    }
    const stage = tmpPath(this.dir, 'stage');
    try {
      const fh = await open(stage, 'wx', 0o600).catch((e: unknown) => { body.resume(); throw toDht2Error(e); });
      try {
        // Not fsynced: it is read back at once and removed; a crash leaves it in tmp/, which
        // the next start empties, and the object as it was (docs/CRASH-SAFETY.md).
        await pipeline(body, handleWriter(fh, undefined, tooBig(this.maxObject - (r.append ? 0 : r.offset))));
      } catch (e) {
        throw toDht2Error(e);
      } finally {
        await fh.close();
      }
      crashPoint('dwrite:staged');
      // The object's lock covers plan and apply, not the staging: bodies stage concurrently,
      // and appends to one object each land whole, one after the other.
      return await this.planApply('dwrite', r, ctx, { path: stage });
    } finally {
      await rm(stage, { force: true });
    }
  }

  /** Opens the object for reading; the reply stream is the requested range (to EOF at most). */
  async dread(r: FopReq<'dread'>): Promise<{ res: DataStat; body: Readable }> {
    let fh;
    try {
      fh = await open(this.h(r.gfid), 'r');
    } catch (e) {
      throw toDht2Error(e, `data object ${r.gfid}`);
    }
    const s = await fh.stat();
    const start = Math.min(r.offset ?? 0, s.size);
    const end = r.length === undefined ? s.size : Math.min(s.size, start + r.length);
    const t = Math.round(s.mtimeMs); // as statOf
    const res = { gfid: r.gfid, size: s.size, mtimeMs: t, ctimeMs: t };
    if (end <= start) {
      await fh.close();
      return { res, body: Readable.from([]) };
    }
    return { res, body: fh.createReadStream({ start, end: end - 1, highWaterMark: 1024 * 1024 }) };
  }
}

/** The conflict keys of a DS FOP (ARCHITECTURE.md §10.5), all exclusive here. */
export function dsKeys<F extends DsMutating>(fop: F, req: FopReq<F>): string[] {
  if (fop === 'dconcat') return [(req as FopReq<'dconcat'>).gfid, ...(req as FopReq<'dconcat'>).parts];
  if (fop === 'dcopy') return [(req as FopReq<'dcopy'>).gfid, (req as FopReq<'dcopy'>).src];
  return [(req as { gfid: string }).gfid];
}

function blobOf(blob: Blob | undefined): Blob {
  if (!blob) throw err('EINVAL', 'this FOP carries a body');
  return blob;
}

/** handleWriter's limit for a body of at most `max` bytes: EFBIG past it. */
function tooBig(max: number): { max: number; error: () => Error } {
  return { max, error: () => err('EFBIG', `object larger than ${max} bytes`) };
}
