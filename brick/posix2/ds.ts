/**
 * The DS half of POSIX2: data objects at their handle paths, keyed by the file's GFID.
 * Replacement (dput, dconcat, dcopy) is write-to-temp, fsync, rename(2), fsync of the handle's
 * directory: a crash leaves the old object or the complete new one, plus garbage in tmp/ that
 * the next start removes. dwrite is an in-place write at an offset, as POSIX write(2), of a
 * body staged whole in tmp/ first, so that a body refused at its end never lands.
 */
import { constants, createReadStream, createWriteStream } from 'node:fs';
import { copyFile, open, rm, truncate, unlink, utimes } from 'node:fs/promises';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { err, toDht2Error, type DataStat, type FopReq } from '../../dht2-core/protocol/index.js';
import { crashPoint } from './crash.js';
import type { FopCtx, StoreHandlers } from './fop-ctx.js';
import { fsyncPath, handleWriter, syncHandle } from './fsutil.js';
import { HandleStore } from './handle-store.js';
import { handleParent, tmpPath } from './handles.js';
import { KeyedLocks } from './locks.js';
import { lstat, rename } from './meta-fs.js';

/** Largest data object a brick accepts (bounded so a runaway client cannot fill the disk in one go). */
export const DEFAULT_MAX_OBJECT = 5 * 1024 ** 4;

export class DsStore extends HandleStore implements StoreHandlers<'ds'> {
  private readonly appends = new KeyedLocks();

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

  /** The DataStat after a change made at `at`: the size on disk, the times of the FOP. */
  private async changed(gfid: string, at: number): Promise<DataStat> {
    const s = await this.statOf(gfid);
    return { ...s, mtimeMs: at, ctimeMs: at };
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
   * Runs `fn` to fill a temp file, then commits it; on any failure the temp file goes.
   * `synced`: `fn` made the temp file durable itself (with the descriptor it wrote through).
   */
  private async replace(gfid: string, at: number, fn: (tmp: string) => Promise<void>, synced = false): Promise<DataStat> {
    const tmp = tmpPath(this.dir, 'data');
    try {
      await fn(tmp);
      // Before the fsync, so it covers the time too; `synced` callers set it themselves.
      if (!synced) await utimes(tmp, at / 1000, at / 1000);
      await this.commit(tmp, gfid, synced);
    } catch (e) {
      await rm(tmp, { force: true });
      throw toDht2Error(e);
    }
    return this.changed(gfid, at);
  }

  async dcreate(r: FopReq<'dcreate'>, ctx: FopCtx): Promise<DataStat> {
    await this.handleDirs.ensure(handleParent(this.dir, r.gfid));
    try {
      const fh = await open(this.h(r.gfid), 'wx', 0o600);
      await fh.utimes(ctx.at / 1000, ctx.at / 1000);
      if (this.sync) await syncHandle(fh, this.h(r.gfid));
      await fh.close();
    } catch (e) {
      throw toDht2Error(e, `data object ${r.gfid}`);
    }
    await this.fsync(handleParent(this.dir, r.gfid));
    return this.changed(r.gfid, ctx.at);
  }

  async dstat(r: FopReq<'dstat'>): Promise<DataStat> {
    return this.statOf(r.gfid);
  }

  async dtruncate(r: FopReq<'dtruncate'>, ctx: FopCtx): Promise<DataStat> {
    if (r.size > this.maxObject) throw err('EFBIG', `size over ${this.maxObject}`);
    try {
      await truncate(this.h(r.gfid), r.size);
      await utimes(this.h(r.gfid), ctx.at / 1000, ctx.at / 1000);
    } catch (e) {
      throw toDht2Error(e, `data object ${r.gfid}`);
    }
    await this.fsync(this.h(r.gfid));
    return this.changed(r.gfid, ctx.at);
  }

  async dunlink(r: FopReq<'dunlink'>): Promise<Record<string, never>> {
    try {
      await unlink(this.h(r.gfid));
    } catch (e) {
      throw toDht2Error(e, `data object ${r.gfid}`);
    }
    await this.fsync(handleParent(this.dir, r.gfid));
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
    if (r.parts.includes(r.gfid)) throw err('EINVAL', 'target is one of the parts');
    let total = 0;
    for (const p of r.parts) total += (await this.statOf(p)).size;
    if (total > this.maxObject) throw err('EFBIG', `concatenation over ${this.maxObject} bytes`);
    const st = await this.replace(r.gfid, ctx.at, async (tmp) => {
      const out = createWriteStream(tmp, { flags: 'wx', mode: 0o600 });
      try {
        for (const p of r.parts) await pipeline(createReadStream(this.h(p)), out, { end: false });
      } finally {
        await new Promise<void>((resolve, reject) => out.end((e?: Error | null) => (e ? reject(e) : resolve())));
      }
    });
    if (r.removeParts) {
      for (const p of r.parts) await unlink(this.h(p)).catch(() => undefined);
      for (const d of new Set(r.parts.map((p) => handleParent(this.dir, p)))) await this.fsync(d);
    }
    return st;
  }

  /** Server-side copy within the brick, whole (reflink where the filesystem can) or a range. */
  async dcopy(r: FopReq<'dcopy'>, ctx: FopCtx): Promise<DataStat> {
    const src = await this.statOf(r.src);
    return this.replace(r.gfid, ctx.at, async (tmp) => {
      if (r.offset === undefined && r.length === undefined) {
        await copyFile(this.h(r.src), tmp, constants.COPYFILE_FICLONE);
        return;
      }
      const start = r.offset ?? 0;
      if (start > src.size) throw err('EINVAL', `offset ${start} past end ${src.size}`);
      const end = r.length === undefined ? src.size : Math.min(src.size, start + r.length);
      if (end === start) { await open(tmp, 'wx', 0o600).then((fh) => fh.close()); return; }
      await pipeline(createReadStream(this.h(r.src), { start, end: end - 1 }), createWriteStream(tmp, { flags: 'wx', mode: 0o600 }));
    });
  }

  /** Replaces the object with `body` atomically; a body cut short leaves the old object. */
  async dput(r: FopReq<'dput'>, body: Readable, ctx: FopCtx): Promise<DataStat> {
    return this.replace(r.gfid, ctx.at, async (tmp) => {
      // Open first: a write stream opens its file asynchronously, so a body that fails at once
      // could otherwise have the temp file created after the cleanup already ran.
      const fh = await open(tmp, 'wx', 0o600).catch((e: unknown) => { body.resume(); throw e; });
      try {
        await pipeline(body, limitBytes(this.maxObject), handleWriter(fh));
        await fh.utimes(ctx.at / 1000, ctx.at / 1000);
        if (this.sync) await syncHandle(fh, tmp); // through this descriptor: no second open just to fsync
      } finally {
        await fh.close();
      }
    }, true);
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
        await pipeline(body, limitBytes(this.maxObject - (r.append ? 0 : r.offset)), handleWriter(fh));
      } catch (e) {
        throw toDht2Error(e);
      } finally {
        await fh.close();
      }
      crashPoint('dwrite:staged');
      // Appends to one object run one at a time, each body whole: O_APPEND alone would
      // interleave two bodies. The lock covers only the copy: bodies stage concurrently.
      return await (r.append ? this.appends.with([r.gfid], () => this.applyStaged(r, stage, ctx.at)) : this.applyStaged(r, stage, ctx.at));
    } finally {
      await rm(stage, { force: true });
    }
  }

  /** Copies a staged body into the object at its offset (or its end), then makes it durable. */
  private async applyStaged(r: FopReq<'dwrite'>, stage: string, when: number): Promise<DataStat> {
    const size = (await lstat(stage)).size;
    if (r.create) await this.handleDirs.ensure(handleParent(this.dir, r.gfid));
    let fh;
    try {
      const flags = (r.create ? constants.O_RDWR | constants.O_CREAT : constants.O_RDWR) | (r.append ? constants.O_APPEND : 0);
      fh = await open(this.h(r.gfid), flags, 0o600);
    } catch (e) {
      throw toDht2Error(e, `data object ${r.gfid}`);
    }
    try {
      const at = r.append ? (await fh.stat()).size : r.offset;
      if (at + size > this.maxObject) throw err('EFBIG', `object larger than ${this.maxObject} bytes`);
      if (size > 0) {
        // With O_APPEND, write(2) goes to the end whatever the position: no `start`.
        const out = handleWriter(fh, r.append ? undefined : r.offset);
        await pipeline(createReadStream(stage, { highWaterMark: 1024 * 1024 }), out);
      }
      await fh.utimes(when / 1000, when / 1000);
      if (this.sync) await syncHandle(fh, this.h(r.gfid));
    } catch (e) {
      throw toDht2Error(e);
    } finally {
      await fh.close();
    }
    if (r.create) await this.fsync(handleParent(this.dir, r.gfid));
    return this.changed(r.gfid, when);
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

/** A pass-through that fails with EFBIG once more than `max` bytes went through. */
function limitBytes(max: number) {
  let n = 0;
  return async function* (src: AsyncIterable<Buffer>) {
    for await (const chunk of src) {
      n += chunk.length;
      if (n > max) throw err('EFBIG', `object larger than ${max} bytes`);
      yield chunk;
    }
  };
}
