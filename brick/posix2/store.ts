/**
 * A brick's local store: the POSIX2 format on one directory, served as the shared FOP
 * interface ({@link BrickFops}) so the HTTP/2 server, tests and benchmarks all drive it the
 * same way. It opens the directory (identity check, lock, tmp cleanup, index) and dispatches
 * each FOP to the MDS or DS half, refusing FOPs of the other role with ENOTSUP.
 */
import { mkdir, statfs } from 'node:fs/promises';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import type { Readable } from 'node:stream';
import {
  err, isFopOfRole, toDht2Error, type BrickFops, type ControlFop, type Download, type DownloadFop,
  type FopName, type FopOfRole, type FopReq, type FopRes, type StatFs, type UploadFop,
} from '../../dht2-core/protocol/index.js';
import { DsStore } from './ds.js';
import { arrivalCtx, type FopCtx } from './fop-ctx.js';
import { isMdsMutating, type Blob, type DsMutating, type FopOut, type MutatingFop } from './fop-out.js';
import { upgradeFormat } from './migrate.js';
import { cleanTmp, formatOrCheck, lockBrickDir, metaDir, refuseForeign, type BrickIdentity, type OpenOptions } from './format.js';
import { MdsStore } from './mds.js';
import { NameIndex } from './name-index.js';
import { scanPage } from './scan.js';

export interface StoreOptions extends OpenOptions {
  /** fsync data and directories before every reply (default true). false trades durability on power loss for speed. */
  sync?: boolean;
  /** Largest data object, bytes. */
  maxObjectSize?: number;
  /**
   * MDS: refuse with ENOSPC a FOP that would give an inode xattrs of more than this many encoded
   * bytes (xattr-space.ts; ARCHITECTURE.md §10.6). Unset (the default, a set of one): the
   * filesystem's own ENOSPC.
   */
  xattrLimit?: number;
}

/**
 * Calls the store's handler named `fop`. The request was validated against FOPS[fop].req by the
 * caller (server or test), and StoreHandlers (fop-ctx.ts) makes each handler take exactly that
 * type, with the FOP's context.
 */
function serve<K extends ControlFop, F extends K>(
  handlers: { [G in K]: (req: FopReq<G>, ctx: FopCtx) => Promise<FopRes<G>> }, fop: F, req: FopReq<F>, ctx: FopCtx,
): Promise<FopRes<F>> {
  return handlers[fop](req, ctx);
}

export class PosixStore implements BrickFops {
  private constructor(
    readonly dir: string,
    readonly identity: BrickIdentity,
    private readonly mds: MdsStore | undefined,
    private readonly ds: DsStore | undefined,
    private readonly index: NameIndex | undefined,
    private readonly unlock: () => Promise<void>,
    /** Temp files of interrupted operations removed at open. */
    readonly cleanedTmp: number,
    /** Inodes converted from an older on-disk format at open (migrate.ts). */
    readonly migrated = 0,
  ) {}

  /** Formats or checks `opts.dir` and opens it for serving. */
  static async open(opts: StoreOptions): Promise<PosixStore> {
    // Lock first, so two processes can never format or check one directory at once; but never
    // put anything into a foreign directory.
    await refuseForeign(opts.dir);
    await mkdir(metaDir(opts.dir), { recursive: true, mode: 0o700 });
    const unlock = await lockBrickDir(opts.dir);
    let identity: BrickIdentity;
    try {
      identity = await formatOrCheck(opts);
    } catch (e) {
      await unlock();
      throw e;
    }
    try {
      const cleaned = await cleanTmp(opts.dir);
      const upgrade = await upgradeFormat(opts.dir, identity);
      identity = upgrade.identity;
      const sync = opts.sync ?? true;
      if (identity.role === 'mds') {
        const indexPath = join(metaDir(opts.dir), 'names.sqlite');
        const index = new NameIndex(indexPath, sync);
        const mds = new MdsStore(opts.dir, index, sync, opts.xattrLimit);
        if (!index.isBuilt()) await mds.rebuildIndex();
        return new PosixStore(opts.dir, identity, mds, undefined, index, unlock, cleaned, upgrade.converted);
      }
      return new PosixStore(opts.dir, identity, undefined, new DsStore(opts.dir, sync, opts.maxObjectSize), undefined, unlock, cleaned, upgrade.converted);
    } catch (e) {
      await unlock();
      throw e;
    }
  }

  private mdsOf(fop: FopName): MdsStore {
    if (!this.mds) throw err('ENOTSUP', `${fop} is an MDS operation; this brick is a DS`);
    return this.mds;
  }

  private dsOf(fop: FopName): DsStore {
    if (!this.ds) throw err('ENOTSUP', `${fop} is a DS operation; this brick is an MDS`);
    return this.ds;
  }

  async call<F extends ControlFop>(fop: F, req: FopReq<F>): Promise<FopRes<F>> {
    // A set of one decides alone: the FOP happens when it arrives (ARCHITECTURE.md §10.6).
    return this.callWith(fop, req, arrivalCtx());
  }

  /** `call` with the FOP's context given: the same FOPs at the same `at` store the same bytes. */
  async callWith<F extends ControlFop>(fop: F, req: FopReq<F>, ctx: FopCtx): Promise<FopRes<F>> {
    try {
      return await this.dispatch(fop, req, ctx);
    } catch (e) {
      throw toDht2Error(e, fop);
    }
  }

  private async dispatch<F extends ControlFop>(fop: F, req: FopReq<F>, ctx: FopCtx): Promise<FopRes<F>> {
    if (isFopOfRole(fop, 'mds')) return serve<FopOfRole<'mds', 'control'>, typeof fop>(this.mdsOf(fop), fop, req, ctx);
    if (isFopOfRole(fop, 'ds')) return serve<FopOfRole<'ds', 'control'>, typeof fop>(this.dsOf(fop), fop, req, ctx);
    // The two FOPs every brick serves, whatever its role.
    if (fop === 'statfs') return (await this.statfs()) as FopRes<F>;
    const r = req as FopReq<'scan'>;
    return (await scanPage(this.dir, this.identity.role, r.after, r.limit)) as FopRes<F>;
  }

  async upload<F extends UploadFop>(fop: F, req: FopReq<F>, body: Readable): Promise<FopRes<F>> {
    return this.uploadWith(fop, req, body, arrivalCtx());
  }

  /** `upload` with the FOP's context given (see callWith). */
  async uploadWith<F extends UploadFop>(fop: F, req: FopReq<F>, body: Readable, ctx: FopCtx): Promise<FopRes<F>> {
    try {
      const ds = this.dsOf(fop);
      return (fop === 'dput' ? await ds.dput(req as FopReq<'dput'>, body, ctx) : await ds.dwrite(req as FopReq<'dwrite'>, body, ctx)) as FopRes<F>;
    } catch (e) {
      body.resume();
      throw toDht2Error(e, fop);
    }
  }

  /**
   * Plans a mutating FOP against this store (ARCHITECTURE.md §10.6): reads and checks only,
   * answering the values `apply` needs or throwing the FOP's error. For the replication module:
   * the caller holds the FOP's conflict keys (§10.5) from here until its apply has finished.
   * An upload FOP's body is a stored `blob`.
   */
  async plan<F extends MutatingFop>(fop: F, req: FopReq<F>, ctx: FopCtx, blob?: Blob): Promise<FopOut<F>> {
    try {
      if (isMdsMutating(fop)) return (await this.mdsOf(fop).plan(fop, req as never, ctx)) as FopOut<F>;
      return (await this.dsOf(fop).plan(fop as DsMutating, req as never, ctx, blob)) as FopOut<F>;
    } catch (e) {
      throw toDht2Error(e, fop);
    }
  }

  /**
   * Applies a planned FOP (ARCHITECTURE.md §10.6): idempotent, deciding nothing, reading no
   * clock; answers the FOP's reply. An error whose detail starts with `diverged:` (isDiverged,
   * fop-out.ts) means this store is not in the state the FOP was planned against.
   */
  async apply<F extends MutatingFop>(fop: F, req: FopReq<F>, out: FopOut<F>, ctx: FopCtx, blob?: Blob): Promise<FopRes<F>> {
    try {
      if (isMdsMutating(fop)) return (await this.mdsOf(fop).apply(fop, req as never, out as never, ctx)) as FopRes<F>;
      const st = await this.dsOf(fop).apply(fop as DsMutating, req as never, out as never, ctx, blob);
      return (fop === 'dunlink' ? {} : st) as FopRes<F>;
    } catch (e) {
      throw toDht2Error(e, fop);
    }
  }

  async download<F extends DownloadFop>(fop: F, req: FopReq<F>): Promise<Download<FopRes<F>>> {
    try {
      return (await this.dsOf(fop).dread(req)) as Download<FopRes<F>>;
    } catch (e) {
      throw toDht2Error(e, fop);
    }
  }

  async statfs(): Promise<StatFs> {
    const s = await statfs(this.dir);
    return { bsize: s.bsize, blocks: s.blocks, bfree: s.bfree, bavail: s.bavail, files: s.files, ffree: s.ffree };
  }

  async close(): Promise<void> {
    this.index?.close();
    if (existsSync(this.dir)) await this.unlock();
  }
}
