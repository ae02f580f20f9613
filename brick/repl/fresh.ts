/**
 * Fresh objects on a member of a replicated DS set (ARCHITECTURE.md §10.7): the fast path that
 * keeps a new object's bytes out of the log.
 *
 * - **Fresh `dput`** (step 2): served by every member, primary or not, as a set of one stores a
 *   `dput` (tmp, fsync), then `link(2)` into place (EEXIST if present), without the log. A
 *   `dunlink(G)` applied while a fresh `dput` of G is in flight here marks it, and one applied
 *   before it arrives leaves a tombstone: either way that `dput` discards its temp file instead
 *   of linking it (no resurrection of a deleted object by a straggler).
 * - **Pending records** (step 4): `pending`/`pendingDone` are logged FOPs; applying them changes
 *   `repl/pending.sqlite` (pending.ts). A `dunlink` entry drops the object's rows.
 * - **Heal**: a member that a row names as lacking G copies G (`rcopy`, CRC-checked by the
 *   install, from a member the rows do not name) before it applies any logged FOP on G (its
 *   apply would otherwise find no object, or write into a hole), before the primary plans one,
 *   before the primary answers a read of G ("heal on access"), and in a background loop once it
 *   is caught up with the log; then `pendingDone {gfid, member}` is logged through the primary.
 *   Every copy runs under the object's local lock, and is skipped when the rows or a tombstone
 *   say the object was removed meanwhile. A member that lacks G has applied no logged FOP on G
 *   (each would have healed it first), so any source's copy is at least as new as this member's
 *   state of G; entries on G applied after the copy find their effect there (idempotent apply).
 */
import { rm } from 'node:fs/promises';
import type { Readable } from 'node:stream';
import type { Logger } from 'pino';
import { err, isErr, toDht2Error, type BrickFops, type DataStat, type FopReq } from '../../dht2-core/protocol/index.js';
import type { DsStore } from '../posix2/ds.js';
import { dsKeys } from '../posix2/ds.js';
import type { DsMutating } from '../posix2/fop-out.js';
import { KeyedLocks } from '../posix2/locks.js';
import type { PosixStore } from '../posix2/store.js';
import { PendingStore } from './pending.js';

/** A dunlink's tombstone is kept this long: a straggler's body arrives well within it. */
const TOMBSTONE_MS = 10 * 60_000;
const TOMBSTONES_MAX = 100_000;
/** The background heal looks at the rows this often, and copies at most this many at a time. */
const HEAL_EVERY_MS = 1000;
const HEAL_BATCH = 64;
/** Test device (like DHT2_CRASH_AT): no background heal, so heal on access can be seen alone. */
const TEST_NO_HEAL_LOOP = process.env.DHT2_TEST_NO_FRESH_HEAL === '1';

export type PendingFop = 'pending' | 'pendingDone';

export function isPendingFop(fop: string): fop is PendingFop {
  return fop === 'pending' || fop === 'pendingDone';
}

export interface FreshHost {
  self: string;
  members: readonly string[];
  store: PosixStore;
  logger: Logger;
  /** The client of a peer member (signed as this brick). */
  peer(id: string): BrickFops;
  /** This member takes part (state ok, not being rebuilt) and has applied its commit index. */
  caughtUp(): boolean;
  /** Logs `pendingDone` through the set's primary (this member, or a peer). */
  done(gfid: string, member: string): Promise<void>;
}

export class FreshObjects {
  readonly pending: PendingStore;
  private readonly ds: DsStore;
  private readonly locks = new KeyedLocks();
  /** Fresh dputs in flight here, by GFID: a dunlink applied meanwhile sets `killed`. */
  private readonly inflight = new Map<string, Set<{ killed: boolean }>>();
  private readonly tombstones = new Map<string, number>();
  /**
   * Objects made by an entry passed here and gone on every other member: later entries on them
   * pass too (in memory: after a restart the passed entry is met again and says the same).
   */
  private readonly passedGone = new Set<string>();
  private timer: NodeJS.Timeout | undefined;
  private healing = false;
  private closed = false;

  constructor(private readonly h: FreshHost) {
    const ds = h.store.dataStore;
    if (!ds) throw err('EINVAL', 'fresh objects live on a DS');
    this.ds = ds;
    this.pending = PendingStore.open(h.store.dir, h.store.syncOn);
  }

  // ------------------------------------------------------------------ the fresh dput (step 2)

  /** A fresh `dput` on this member, whatever its role in the set. */
  async put(r: FopReq<'dput'>, body: Readable): Promise<DataStat> {
    const at = r.at ?? Date.now();
    const mark = { killed: false };
    let set = this.inflight.get(r.gfid);
    if (!set) this.inflight.set(r.gfid, (set = new Set()));
    set.add(mark);
    try {
      if (this.tombstoned(r.gfid)) { body.resume(); throw this.removed(r.gfid); }
      const tmp = await this.ds.stageFresh(body, at);
      try {
        return await this.locks.with([r.gfid], async () => {
          if (mark.killed || this.tombstoned(r.gfid)) throw this.removed(r.gfid);
          const size = await this.ds.linkFresh(tmp, r.gfid);
          return { gfid: r.gfid, size, mtimeMs: at, ctimeMs: at };
        });
      } finally {
        await rm(tmp, { force: true });
      }
    } finally {
      set.delete(mark);
      if (set.size === 0 && this.inflight.get(r.gfid) === set) this.inflight.delete(r.gfid);
    }
  }

  private removed(gfid: string): Error {
    return err('ESTALE', `data object ${gfid} was removed (dunlink applied) while its fresh body came in`, { gfid });
  }

  private tombstoned(gfid: string): boolean {
    const t = this.tombstones.get(gfid);
    return t !== undefined && Date.now() - t < TOMBSTONE_MS;
  }

  // ------------------------------------------------------------------ hooks of the apply path

  /** Before a `dunlink(G)` is applied here: in-flight fresh dputs of G discard their body, later ones too. */
  async beforeUnlink(gfid: string): Promise<void> {
    await this.locks.with([gfid], async () => {
      for (const m of this.inflight.get(gfid) ?? []) m.killed = true;
      this.tombstones.delete(gfid);
      this.tombstones.set(gfid, Date.now());
      for (const [g, t] of this.tombstones) {
        if (this.tombstones.size <= TOMBSTONES_MAX && Date.now() - t < TOMBSTONE_MS) break;
        this.tombstones.delete(g);
      }
    });
  }

  /** After a `dunlink(G)` is applied: G's pending rows go with it. */
  afterUnlink(gfid: string): void {
    this.pending.drop(gfid);
  }

  /**
   * Plans a `pending`/`pendingDone` on the primary: a refusal logs nothing.
   */
  plan(fop: PendingFop, req: unknown): Record<string, never> {
    if (fop === 'pending') {
      const r = req as FopReq<'pending'>;
      const bad = r.missing.filter((m) => !this.h.members.includes(m));
      if (bad.length > 0) throw err('EINVAL', `pending ${r.gfid}: ${bad.join(', ')} not in this set`);
      return {};
    }
    // Logged even when this primary holds no such row (a member's heal may race the entry that
    // drops the row, or the rows it took from its rebuild's source, node.ts copyPendingRows):
    // applying it where the row is gone changes nothing.
    return {};
  }

  /** Applies a logged `pending`/`pendingDone` (every member, in log order). */
  apply(index: number, fop: PendingFop, req: unknown): Record<string, never> {
    if (fop === 'pending') {
      const r = req as FopReq<'pending'>;
      this.pending.add(index, r.gfid, r.size, r.crc32c, r.missing);
    } else {
      const r = req as FopReq<'pendingDone'>;
      this.pending.done(r.gfid, r.member);
    }
    return {};
  }

  /**
   * Before a logged DS FOP is planned (primary) or applied (any member): its objects are here.
   * When every member that held one answers that it is gone, a later entry removed it (only a
   * logged removal takes a fresh object from the members that took it, and one at or below this
   * member's applied index would have dropped its rows): the FOP is then passed here without
   * effect, EALREADY (its outcome is the primary's; a resend asking this member is "unknown").
   */
  async beforeFop(fop: DsMutating, req: unknown): Promise<void> {
    if (fop === 'dunlink') return;
    const keys = dsKeys(fop, req as never);
    for (const g of keys) {
      if (this.passedGone.has(g)) {
        this.h.logger.info({ fop, gfid: g }, 'logged FOP passed: its object was made by a passed entry and is gone on every member');
        throw err('EALREADY', `${fop} passed here: its object ${g} was made by an entry passed here and is gone on every member`, { gfid: g });
      }
    }
    for (const g of keys) {
      if ((await this.ensureLocal(g)) === 'gone') {
        // An entry that makes an object from this one (a dconcat of lacked parts, which removes
        // them: CompleteMultipartUpload; a dcopy of a lacked source) made it on the others, and
        // later entries write to it (an append): fetch the made object from a member that holds
        // it, or a later entry finds nothing here and the member diverges (the whole-cluster
        // test of issue 16 did). A later state of it is fine: later entries set absolute
        // offsets and sizes (ARCHITECTURE.md §10.6), so applying them again changes nothing.
        const made = fop === 'dconcat' || fop === 'dcopy' ? keys[0] : undefined;
        if (made !== undefined && made !== g && (await this.fetchMade(made)) === 'gone') this.passedGone.add(made);
        this.h.logger.info({ fop, gfid: g, made }, 'logged FOP passed: its fresh object, lacked here, was removed by a later entry');
        throw err('EALREADY', `${fop} passed here: its object ${g}, which this member lacked, was removed by a later entry on every member that held it`, { gfid: g });
      }
    }
  }

  /**
   * Copies `gfid`, made by an entry this member passed, from a member that holds it; 'gone' when
   * every other member answers ENOENT (a later entry removed it), EIO (the apply is retried)
   * when none answered.
   */
  private async fetchMade(gfid: string): Promise<'here' | 'gone'> {
    return this.locks.with([gfid], async () => {
      if (await this.ds.has(gfid)) return 'here';
      return this.copyFrom(gfid, this.h.members.filter((m) => m !== this.h.self), 'object made by a passed entry copied here');
    });
  }

  /**
   * Copies the data object `gfid` from the first of `sources` that gives it (rcopy, CRC-checked
   * by installCopy); 'gone' when every source answers ENOENT, EIO when none gave it otherwise.
   * The caller holds the object's lock.
   */
  private async copyFrom(gfid: string, sources: readonly string[], done: string): Promise<'here' | 'gone'> {
    let gone = 0;
    let last: unknown;
    for (const src of sources) {
      try {
        const d = await this.h.peer(src).download('rcopy', { gfid });
        if (d.res.kind !== 'data') { d.body.destroy(); throw err('EIO', `rcopy ${gfid} from ${src}: not a data object`); }
        await this.h.store.installCopy(gfid, d.res, d.body);
        this.h.logger.info({ gfid, from: src }, done);
        return 'here';
      } catch (e) {
        last = e;
        if (isErr(toDht2Error(e), 'ENOENT')) gone++;
      }
    }
    if (sources.length > 0 && gone === sources.length) return 'gone';
    throw err('EIO', `data object ${gfid} could not be copied from ${sources.join(', ') || 'no member'}: ${(last as Error | undefined)?.message ?? 'none'}`, { gfid });
  }

  /**
   * The primary's plan of a logged FOP, with this module's part: `pending`/`pendingDone` planned
   * here; a DS FOP's objects healed here first; a `dunlink` of an object this member lacks (a
   * row says so) still logged, so the members that hold it remove it and its rows go (else a
   * later heal would bring the deleted object back).
   */
  async planWith<T>(fop: DsMutating | PendingFop, req: unknown, plan: () => Promise<T>): Promise<T | Record<string, never>> {
    if (isPendingFop(fop)) return this.plan(fop, req);
    await this.beforeFop(fop, req);
    try {
      return await plan();
    } catch (e) {
      if (fop === 'dunlink' && isErr(e, 'ENOENT') && this.pending.has((req as FopReq<'dunlink'>).gfid)) return {};
      throw e;
    }
  }

  /** A logged entry's apply, with this module's part (module comment). */
  async applyWith(index: number, fop: DsMutating | PendingFop, req: unknown, apply: () => Promise<unknown>): Promise<unknown> {
    if (isPendingFop(fop)) return this.apply(index, fop, req);
    await this.beforeFop(fop, req);
    // What the entry removes: a dunlink's object, a dconcat's parts when it removes them.
    const gone = fop === 'dunlink' ? [(req as FopReq<'dunlink'>).gfid]
      : fop === 'dconcat' && (req as FopReq<'dconcat'>).removeParts ? (req as FopReq<'dconcat'>).parts : [];
    for (const g of gone) await this.beforeUnlink(g);
    const r = await apply();
    for (const g of gone) this.afterUnlink(g);
    return r;
  }

  /** Before the primary reads an object (`dstat`, `dread`): heal on access (§10.7, last paragraph). */
  async beforeRead(req: unknown): Promise<void> {
    const g = (req as { gfid?: unknown }).gfid;
    if (typeof g !== 'string' || !this.lacks(g)) return;
    if ((await this.ensureLocal(g)) === 'gone') return; // the read answers ENOENT; its dunlink drops the row
    // Healed here: its record goes now, not at the next round of the heal loop.
    void this.h.done(g, this.h.self).catch((e: unknown) => this.h.logger.debug({ err: e, gfid: g }, 'pendingDone after heal on access not logged'));
  }

  /** True when the rows say this member lacks `gfid` (a read must heal it first). */
  lacks(gfid: string): boolean {
    return this.pending.has(gfid, this.h.self);
  }

  /**
   * Copies `gfid` here when a pending row says this member lacks it and it is not here: from a
   * member the rows do not name, CRC-checked (installCopy). EIO when no member could give it.
   */
  async ensureLocal(gfid: string): Promise<'here' | 'gone'> {
    if (!this.lacks(gfid)) return 'here';
    return this.locks.with([gfid], async () => {
      if (!this.lacks(gfid) || this.tombstoned(gfid) || (await this.ds.has(gfid))) return 'here';
      const missing = this.pending.missing(gfid);
      // Every member that took it has removed it since: 'gone' (a later entry did, beforeFop).
      return this.copyFrom(gfid, this.h.members.filter((m) => m !== this.h.self && !missing.includes(m)), 'fresh object healed here');
    });
  }

  // ------------------------------------------------------------------ background heal

  start(): void {
    if (this.closed || TEST_NO_HEAL_LOOP) return;
    this.timer = setTimeout(() => void this.healRound().finally(() => this.start()), HEAL_EVERY_MS);
  }

  /** One round: every GFID this member lacks (a batch), copied, then its row logged done. */
  async healRound(): Promise<number> {
    if (this.healing || this.closed || !this.h.caughtUp()) return 0;
    this.healing = true;
    let n = 0;
    try {
      for (const g of this.pending.lackedBy(this.h.self, HEAL_BATCH)) {
        if (this.closed) break;
        try {
          if ((await this.ensureLocal(g)) === 'gone') {
            // Removed on every member that held it. Its dunlink drops the row, unless the row
            // came after it (a rebuilt member's inherited lack, rebuild.ts inheritLacks): then
            // nothing else would, and heal info would count it for ever.
            if (!this.pending.has(g, this.h.self)) continue;
            await this.h.done(g, this.h.self);
            n++;
            continue;
          }
          if (!(await this.ds.has(g))) continue; // removed meanwhile: its dunlink drops the row
          await this.h.done(g, this.h.self);
          n++;
        } catch (e) {
          const de = toDht2Error(e);
          if (!isErr(de, 'ENOENT')) this.h.logger.warn({ err: de, gfid: g }, 'pending copy not healed yet');
        }
      }
    } finally {
      this.healing = false;
    }
    return n;
  }

  close(): void {
    this.closed = true;
    if (this.timer) clearTimeout(this.timer);
    this.pending.close();
  }
}
