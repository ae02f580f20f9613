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
  type FopName, type FopOfRole, type FopReq, type FopRes, type LayoutState, type StatFs, type UploadFop,
} from '../../dht2-core/protocol/index.js';
import { installCopy, readCopy, removeCopy, type CopyHead } from './copy.js';
import { digestPage } from './digest.js';
import { DsStore } from './ds.js';
import { arrivalCtx, type FopCtx } from './fop-ctx.js';
import { isMdsMutating, type Blob, type DsMutating, type FopOut, type MutatingFop } from './fop-out.js';
import { upgradeFormat } from './migrate.js';
import { installLayout, isReplicated, openLayout, type BrickSet, type StoredLayout } from './layout-store.js';
import { cleanTmp, formatOrCheck, lockBrickDir, metaDir, refuseForeign, type BrickIdentity, type BrickLock, type OpenOptions } from './format.js';
import { MdsStore } from './mds.js';
import { XATTR_SPACE_EXT4 } from './xattr-space.js';
import { NameIndex } from './name-index.js';
import { scanPage } from './scan.js';

export interface StoreOptions extends OpenOptions {
  /** fsync data and directories before every reply (default true). false trades durability on power loss for speed. */
  sync?: boolean;
  /** Largest data object, bytes. */
  maxObjectSize?: number;
  /**
   * MDS: refuse with ENOSPC a FOP that would give an inode xattrs of more than this many encoded
   * bytes (xattr-space.ts; ARCHITECTURE.md §10.6). Unset (the default): the filesystem's own
   * ENOSPC on a set of one, XATTR_SPACE_EXT4 on a member of a replicated set.
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
  /** fsyncs on (StoreOptions.sync); set by `open`. */
  private durable = true;
  /**
   * Set when this replicated brick runs under `--no-sync` and found a stale lock of another boot
   * (ON-DISK-FORMAT.md §6.5): its store may lack writes below its applied mark, so the replication
   * module rebuilds it by full copy before it votes or serves, then clears the lock's mark.
   */
  rebooted: Pick<BrickLock, 'clearRebooted'> | undefined;
  /** Installs of a layout, one at a time. */
  private layoutQueue: Promise<unknown> = Promise.resolve();

  private constructor(
    readonly dir: string,
    private id: BrickIdentity,
    /** The installed layout and this brick's set in it (layout-store.ts); none on a replica-1 brick. */
    private placed: { stored: StoredLayout; set: BrickSet } | undefined,
    private readonly mds: MdsStore | undefined,
    private readonly ds: DsStore | undefined,
    private readonly index: NameIndex | undefined,
    private readonly unlock: () => Promise<void>,
    /** Temp files of interrupted operations removed at open. */
    readonly cleanedTmp: number,
    /** Inodes converted from an older on-disk format at open (migrate.ts). */
    readonly migrated = 0,
    /** The xattr-space limit the store was opened with (StoreOptions.xattrLimit). */
    xattrLimit?: number,
  ) {
    if (mds) {
      mds.rootOnFirstUse = () => !this.replicated;
      // ARCHITECTURE.md §10.6: in a replicated set the xattr space is a fixed limit checked at
      // planning, so that no member's filesystem refuses an entry the primary accepted.
      mds.xattrLimitNow = () => xattrLimit ?? (this.replicated ? XATTR_SPACE_EXT4 : undefined);
    }
  }

  /** Formats or checks `opts.dir` and opens it for serving. */
  static async open(opts: StoreOptions): Promise<PosixStore> {
    // Lock first, so two processes can never format or check one directory at once; but never
    // put anything into a foreign directory.
    await refuseForeign(opts.dir);
    await mkdir(metaDir(opts.dir), { recursive: true, mode: 0o700 });
    const lock = await lockBrickDir(opts.dir);
    const unlock = lock.release;
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
      const lay = await openLayout(opts.dir, upgrade.identity);
      identity = lay.identity;
      const placed = lay.stored && lay.set ? { stored: lay.stored, set: lay.set } : undefined;
      const sync = opts.sync ?? true;
      // ON-DISK-FORMAT.md §6.5: after a reboot only a replicated brick under --no-sync distrusts
      // its store (and rebuilds itself, brick/repl/node.ts); the mark means nothing to the others.
      const untrusted = lock.rebooted && !sync && placed !== undefined && isReplicated(placed.set);
      if (lock.rebooted && !untrusted) await lock.clearRebooted();
      if (identity.role === 'mds') {
        const indexPath = join(metaDir(opts.dir), 'names.sqlite');
        const index = new NameIndex(indexPath, sync);
        const mds = new MdsStore(opts.dir, index, sync, opts.xattrLimit);
        if (!index.isBuilt()) await mds.rebuildIndex();
        const s = new PosixStore(opts.dir, identity, placed, mds, undefined, index, unlock, cleaned, upgrade.converted, opts.xattrLimit);
        s.durable = sync;
        if (untrusted) s.rebooted = lock;
        return s;
      }
      const s = new PosixStore(opts.dir, identity, placed, undefined, new DsStore(opts.dir, sync, opts.maxObjectSize), undefined, unlock, cleaned, upgrade.converted);
      s.durable = sync;
      if (untrusted) s.rebooted = lock;
      return s;
    } catch (e) {
      await unlock();
      throw e;
    }
  }

  /** The brick's identity: format 3 and its set once a replicated layout is installed. */
  get identity(): BrickIdentity {
    return this.id;
  }

  /** Whether this brick is a member of a replicated set (3 or more members). */
  /** The epoch of the installed layout; 0 when the brick holds none (ARCHITECTURE.md §10.9). */
  get layoutEpoch(): number {
    return this.placed?.stored.layout.epoch ?? 0;
  }

  get replicated(): boolean {
    return this.placed !== undefined && isReplicated(this.placed.set);
  }

  /** The installed layout and this brick's set in it; none on a replica-1 brick. */
  get placement(): { layout: StoredLayout['layout']; set: BrickSet } | undefined {
    return this.placed && { layout: this.placed.stored.layout, set: this.placed.set };
  }

  private layoutState(): LayoutState | undefined {
    if (!this.placed) return undefined;
    const { stored, set } = this.placed;
    return { epoch: stored.layout.epoch, digest: stored.digest, set: set.id, replicated: isReplicated(set) };
  }

  private layoutset(r: FopReq<'layoutset'>): Promise<LayoutState> {
    const run = async (): Promise<LayoutState> => {
      const done = await installLayout(this.dir, this.id, this.placed?.stored, r.layout);
      this.id = done.identity;
      this.placed = { stored: done.stored, set: done.set };
      return this.layoutState()!;
    };
    const p = this.layoutQueue.then(run, run);
    this.layoutQueue = p.catch(() => undefined);
    return p;
  }

  private mdsOf(fop: FopName): MdsStore {
    if (!this.mds) throw err('ENOTSUP', `${fop} is an MDS operation; this brick is a DS`);
    return this.mds;
  }

  private dsOf(fop: FopName): DsStore {
    if (!this.ds) throw err('ENOTSUP', `${fop} is a DS operation; this brick is an MDS`);
    return this.ds;
  }

  /** fsyncs on (StoreOptions.sync): the replication module's own files follow it where allowed. */
  get syncOn(): boolean {
    return this.durable;
  }

  /** The DS half, for the replication module's fresh objects (brick/repl/fresh.ts); undefined on an MDS. */
  get dataStore(): DsStore | undefined {
    return this.ds;
  }

  async call<F extends ControlFop>(fop: F, req: FopReq<F>): Promise<FopRes<F>> {
    // A set of one decides alone: the FOP happens when it arrives (ARCHITECTURE.md §10.6).
    try {
      this.refuseReplicated(fop);
      return await this.dispatch(fop, req, arrivalCtx());
    } catch (e) {
      throw toDht2Error(e, fop);
    }
  }

  /**
   * A member of a replicated set serves the volume's FOPs only through its set's primary
   * (ARCHITECTURE.md §10.2): `call`, `upload` and `download` (the store used directly, with no
   * replication module in front) refuse them with EAGAIN. The module (brick/repl/node.ts) uses
   * `callWith`, `uploadWith`, `downloadLocal`, `plan` and `apply`, which do not refuse.
   */
  private refuseReplicated(fop: FopName): void {
    if (this.replicated && (isFopOfRole(fop, 'mds') || isFopOfRole(fop, 'ds'))) {
      throw err('EAGAIN', `replica set ${this.placed!.set.id} has no primary`);
    }
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
    if (fop === 'layoutset') return (await this.layoutset(req as FopReq<'layoutset'>)) as FopRes<F>;
    if (fop === 'layoutget') {
      if (!this.placed) throw err('ENOENT', `brick ${this.id.brickId} holds no layout (a replica-1 volume's brick)`);
      return { layout: this.placed.stored.layout, state: this.layoutState()! } as FopRes<F>;
    }
    // Answered by the replication module (brick/repl/node.ts) of a member, never by the store.
    if (isFopOfRole(fop, 'peer')) throw err('ENOTSUP', `${fop} is a replication FOP; brick ${this.id.brickId} runs no replication for its peers`);
    if (isFopOfRole(fop, 'mds')) return serve<FopOfRole<'mds', 'control'>, typeof fop>(this.mdsOf(fop), fop, req, ctx);
    if (isFopOfRole(fop, 'ds')) return serve<FopOfRole<'ds', 'control'>, typeof fop>(this.dsOf(fop), fop, req, ctx);
    // The FOPs every brick serves, whatever its role.
    if (fop === 'statfs') return (await this.statfs()) as FopRes<F>;
    // Answered by the replication module of a replicated member (§10.15 slice 5), never here.
    if (fop === 'rstatus') throw err('ENOTSUP', `brick ${this.id.brickId} is not a member of a replicated set`);
    if (fop === 'digest') {
      const r = req as FopReq<'digest'>;
      return (await digestPage(this.dir, this.identity.role, r.after, r.limit)) as FopRes<F>;
    }
    const r = req as FopReq<'scan'>;
    return (await scanPage(this.dir, this.identity.role, r.after, r.limit)) as FopRes<F>;
  }

  async upload<F extends UploadFop>(fop: F, req: FopReq<F>, body: Readable): Promise<FopRes<F>> {
    try {
      this.refuseReplicated(fop);
    } catch (e) {
      body.resume();
      throw toDht2Error(e, fop);
    }
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
      this.refuseReplicated(fop);
    } catch (e) {
      throw toDht2Error(e, fop);
    }
    return this.downloadLocal(fop, req);
  }

  /** `download` without the replicated member's refusal (see refuseReplicated). */
  async downloadLocal<F extends DownloadFop>(fop: F, req: FopReq<F>): Promise<Download<FopRes<F>>> {
    try {
      if (fop !== 'dread') throw err('ENOTSUP', `${fop} is a replication FOP; brick ${this.id.brickId} runs no replication for its peers`);
      return (await this.dsOf(fop).dread(req as FopReq<'dread'>)) as Download<FopRes<F>>;
    } catch (e) {
      throw toDht2Error(e, fop);
    }
  }

  // ------------------------------------------------------------------ full copy (ARCHITECTURE.md §10.13)

  /** `rcopy` on the source: one handle as a body with its size and CRC32C (copy.ts). */
  readCopy(gfid: string): Promise<Download<CopyHead>> {
    return readCopy(this.dir, this.id.role, gfid);
  }

  /** Makes this brick's handle of `gfid` what a source's `rcopy` body says (copy.ts). */
  installCopy(gfid: string, head: CopyHead, body: Readable): Promise<void> {
    return installCopy(this.dir, gfid, head, body, this.durable);
  }

  /** Removes a handle the source of a full copy does not have. */
  removeCopy(gfid: string): Promise<void> {
    return removeCopy(this.dir, gfid);
  }

  /** After a full copy of an MDS: the name index rebuilt from the entries (§3.3 of ON-DISK-FORMAT.md). */
  async rebuildNameIndex(): Promise<void> {
    if (!this.mds || !this.index) return;
    this.index.clear();
    await this.mds.rebuildIndex();
  }

  /** What the name `parent/name` points to on an MDS (MdsBase.entryOf); undefined on a DS or when absent. */
  async entryOf(parent: string, name: string): Promise<{ gfid: string } | undefined> {
    return this.mds?.entryOf(parent, name);
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
