/**
 * The rebuild of a member by full copy plus log tail (ARCHITECTURE.md §10.13, steps 1–6 and "As
 * built"; the record `repl/rebuild`, ON-DISK-FORMAT.md §6.5): the member turns learner, empties
 * its log onto its source's applied index i0, copies every handle whose digest differs from the
 * source's, takes the source's pending rows (a DS set), then applies every entry after i0 and
 * votes again. A restart resumes from the record.
 *
 * Out of node.ts, which it reaches only through {@link RebuildHost}: the store, the peers, the
 * log reset, the swap of the core (learner, voter), and the apply loop's pause and replay.
 */
import type { Logger } from 'pino';
import { err, isErr, toDht2Error, type BrickFops, type DigestItem, type DigestPage, type FopRes, type ReplStatus } from '../../dht2-core/protocol/index.js';
import { crashPoint } from '../posix2/crash.js';
import type { PosixStore } from '../posix2/store.js';
import { ELECTION_MAX_MS } from './core.js';
import type { PendingRow } from './pending.js';
import { removeRebuild, writeCopiedOps, writeRebuild, type CopiedOps, type RebuildRecord } from './rebuild-file.js';

/** Handles per page of the full copy's digest walk; the rebuild record is rewritten after each. */
const COPY_PAGE = 64;
/** Pending rows per `rpending` page (a rebuild of a DS member). */
const ROWS_PAGE = 1000;
/** OpIds per `rops` page. */
const OPS_PAGE = 5000;
/** A rebuild run that failed or stopped short is tried again after this pause, doubled each time up to RETRY_MAX_MS. */
const RETRY_MS = 1000;
const RETRY_MAX_MS = 30_000;
/** How often a rebuild without a source asks the others which is primary. */
const ASK_EVERY_MS = 500;
/**
 * A rebuild the member started on itself after a reboot under `--no-sync` waits this long for a
 * primary (a few election timeouts: a set that has a voting majority elects within one or two)
 * before it considers that the whole set lost power (ON-DISK-FORMAT.md §6.5 "As built (boot id)").
 */
export const LOST_POWER_AFTER_MS = 5 * ELECTION_MAX_MS;

/** The pause before the rebuild's `n`th retry in a row (1: the first): 1 s doubling, at most 30 s. */
export function retryPauseMs(n: number): number {
  return Math.min(RETRY_MAX_MS, RETRY_MS * 2 ** Math.max(0, Math.min(n - 1, 16)));
}

/** A member that rebooted under `--no-sync` and has not chosen the source of its rebuild yet (its `rstatus`). */
function rebootedLearner(s: ReplStatus): boolean {
  return s.state === 'ok' && s.role === 'learner' && s.rebuild?.source === '';
}

/**
 * Which members of a set whose stores all may have lost writes (ON-DISK-FORMAT.md §6.5 "As built
 * (boot id)", the fallback) give up their rebuild and vote: none unless the rebooted learners
 * without a source (`self` included when it is one) are a majority of the set, since a majority
 * of healthy voters elects without them, and a healthy minority keeps the writes they may lack;
 * then only as many as, with the healthy voters that answered, make a majority, the lowest ids
 * first, so that a healthy member is outvoted by as few untrusted stores as can be. Every member
 * computes this from its own answers; two that decide at once both decided right by this rule.
 */
export function lostPowerChoice(self: string, members: readonly string[], answers: ReadonlyArray<ReplStatus | undefined>): { fallBack: boolean; learners: string[]; healthy: string[] } {
  const majority = Math.floor(members.length / 2) + 1;
  const learners = [self, ...answers.filter((s): s is ReplStatus => s !== undefined && rebootedLearner(s)).map((s) => s.brick)].sort();
  const healthy = answers.filter((s): s is ReplStatus => s !== undefined && s.state === 'ok' && s.role !== 'learner' && s.rebuild === undefined).map((s) => s.brick);
  const need = majority - healthy.length;
  const fallBack = learners.length >= majority && need > 0 && learners.slice(0, need).includes(self);
  return { fallBack, learners, healthy };
}

/** The member that answers as the primary with a valid lease, if one does. */
function primaryIn(answers: ReadonlyArray<ReplStatus | undefined>): string | null {
  return answers.find((s) => s?.role === 'primary' && s.leaseValid)?.brick ?? null;
}

function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

/** The items of a paged digest, in GFID order, from after `after`. */
async function* digestItems(page: (after: string | undefined) => Promise<DigestPage>, after: string | undefined): AsyncGenerator<DigestItem> {
  for (;;) {
    const p = await page(after);
    yield* p.items;
    if (p.eof || p.items.length === 0) return;
    after = p.items.at(-1)!.gfid;
  }
}

/** What a rebuild needs of the member it rebuilds (node.ts). */
export interface RebuildHost {
  readonly dir: string;
  readonly self: string;
  readonly setId: string;
  readonly store: PosixStore;
  readonly log: Logger;
  /** The other members of the set. */
  readonly others: readonly string[];
  /** A client of another member of the set (peer.ts: signed for it, `x-dht2-from` this brick). */
  peer(member: string): BrickFops;
  /** A DS set's pending fresh copies (§10.7), replaced by the source's; undefined on an MDS set. */
  readonly pending: { replaceAll(rows: readonly PendingRow[]): void } | undefined;
  /** The member is stopping: the rebuild stops where it is (the record resumes it). */
  closed(): boolean;
  /** Why the member takes no part (ReplStatus.state), or `ok`. */
  state(): 'ok' | 'diverged' | 'corrupt';
  /** The primary this member's core follows, if it knows one. */
  primary(): string | null;
  /** The core's last log index and commit index. */
  lastIndex(): number;
  commitIndex(): number;
  /** The term of the log entry at `index` (the base's included), if the log holds it. */
  termAt(index: number): number | undefined;
  /** The index up to which every entry is applied here. */
  appliedIndex(): number;
  /** The index before the log's first entry (its base, ON-DISK-FORMAT.md §6.1 "The base"). */
  logBase(): number;
  /** Apply stops (the copy writes the store); resolves once no entry is being applied. */
  pauseApply(): Promise<void>;
  /**
   * The member turns learner (voters: the others) over the same log and vote state, once every
   * vote and log write is durable; a diverged member takes part again (it applies nothing until
   * the copy is done).
   */
  becomeLearner(): Promise<void>;
  /** Empties the log onto (index, term) (`ReplLog.resetTo`); the core starts over as a learner's. */
  resetLog(base: { index: number; term: number }): Promise<void>;
  /**
   * The store holds every entry up to `from`: the applied index and mark are set to it, apply
   * resumes up to the commit index, and a `diverged` refusal is passed up to `passUpTo` (§10.13
   * step 5: the copy may hold a later state).
   */
  replayFrom(from: number, passUpTo: number): Promise<void>;
  /** Writes the applied mark now. */
  writeMark(): Promise<void>;
  /** The opIds the source applied up to the copy's index: kept here as applied (dedup.ts `copied`). */
  keepCopiedOps(items: CopiedOps['items']): void;
  /** The rebuild ended (record removed): the member is a voter again. */
  becomeVoter(): Promise<void>;
}

export class Rebuild {
  /** The rebuild under way (`repl/rebuild`): the member is a learner meanwhile. */
  private rec: RebuildRecord | undefined;
  private running: Promise<void> | undefined;
  /** Runs in a row that failed or stopped short (the pause before the next grows with it). */
  private retries = 0;

  constructor(private readonly h: RebuildHost, record: RebuildRecord | undefined) {
    this.rec = record;
  }

  /** The record of the rebuild under way, if one is (rstatus, the heal loop's pins). */
  get record(): RebuildRecord | undefined {
    return this.rec;
  }

  /**
   * `rrebuild`: this member becomes a learner and is rebuilt by full copy from its primary. A
   * member whose log is corrupt (ON-DISK-FORMAT.md §6.1 "Reading at open") has a core that took
   * no input, so it knows no primary: it asks the others; its log is reset onto the copy's index
   * before its core runs again (`run`, and ON-DISK-FORMAT.md §6.6 "rebuild of a corrupt log").
   */
  async start(): Promise<FopRes<'rrebuild'>> {
    const h = this.h;
    if (this.rec) return { started: false };
    const corrupt = h.state() === 'corrupt';
    const primary = corrupt ? await this.askPrimary() : h.primary();
    if (primary === null) throw err('EAGAIN', `member ${h.self} knows no primary of set ${h.setId} to copy from`);
    if (primary === h.self) throw err('EINVAL', `member ${h.self} is the primary of set ${h.setId}: it is the source of a rebuild, not its target`);
    this.rec = {
      source: primary, fromIndex: 0, phase: 'copy', copiedObjects: 0, copiedBytes: 0, skippedObjects: 0, removedObjects: 0,
      totalObjects: 0, totalBytes: 0, startedAt: Date.now(),
    };
    await writeRebuild(h.dir, this.rec);
    await h.pauseApply();
    // A corrupt member's core starts again, a learner's, once its log is reset (run).
    if (!corrupt) await h.becomeLearner();
    this.resume();
    return { started: true };
  }

  /** The member of the set that answers it is the primary with a valid lease, if one does. */
  private async askPrimary(): Promise<string | null> {
    return primaryIn(await this.askOthers());
  }

  /** The other members' `rstatus` (undefined: no answer). */
  private askOthers(): Promise<Array<ReplStatus | undefined>> {
    return Promise.all(this.h.others.map((m) => this.h.peer(m).call('rstatus', {}, { timeoutMs: 2000 }).catch(() => undefined)));
  }

  /** Runs the rebuild of the record (at start, or after `start`), again after a failure, until it ends. */
  resume(): void {
    this.running ??= this.run()
      .then(async () => {
        // A run that returns with the record still there stopped short (the member went
        // diverged or corrupt in the replay, or is closing): it is not run again at once, or it
        // spins (each run rewrites the applied mark).
        if (!this.rec || this.h.closed()) { this.retries = 0; return; }
        const ms = retryPauseMs(++this.retries);
        this.h.log.warn({ state: this.h.state(), phase: this.rec.phase, retryInMs: ms }, 'rebuild stopped short; trying again');
        await sleep(ms);
      }, async (e: unknown) => {
        if (this.h.closed()) return;
        const ms = retryPauseMs(++this.retries);
        this.h.log.error({ err: e, retryInMs: ms }, 'rebuild failed; trying again');
        await sleep(ms);
      })
      .finally(() => {
        this.running = undefined;
        if (this.rec && !this.h.closed()) this.resume();
      });
  }

  /** §10.13 steps 2–6; resumes from the record's cursor after a restart. */
  private async run(): Promise<void> {
    let r = this.rec;
    if (!r) return;
    const h = this.h;
    await h.pauseApply();
    if (r.source === '') {
      // A rebuild the member started on itself (a --no-sync store after a reboot, ON-DISK-FORMAT.md
      // §6.5): the source is the primary, once one answers; unless the whole set lost power.
      const since = Date.now();
      for (;;) {
        if (h.closed() || this.rec !== r) return;
        const answers = await this.askOthers();
        const p = primaryIn(answers);
        if (p !== null) {
          r.source = p;
          break;
        }
        // Any primary, even without a lease yet, means a set that elects: it is waited for.
        if (Date.now() - since >= LOST_POWER_AFTER_MS && h.state() === 'ok' && !answers.some((s) => s?.role === 'primary')) {
          const c = lostPowerChoice(h.self, [h.self, ...h.others], answers);
          if (c.fallBack) return this.lostPower(r, c);
        }
        await sleep(ASK_EVERY_MS);
      }
      await writeRebuild(h.dir, r);
    }
    if (h.state() === 'corrupt' && r.phase === 'replay') {
      // The log went corrupt after the copy (a disk fault): the tail it held is not trusted, so
      // the rebuild starts over from a new copy index (equal objects are skipped by digest).
      r = await this.startOver(r, r.source);
    } else if (h.state() === 'diverged' && r.phase === 'replay') {
      // The tail refused as diverged past the copy's index: replaying it again refuses again, so
      // the rebuild starts over from a new copy, the member taking part again as a learner.
      h.log.warn({ source: r.source, fromIndex: r.fromIndex }, 'rebuild: the log tail diverged from the copy; starting over from a new copy index');
      await h.becomeLearner();
      r = await this.startOver(r, r.source);
    }
    const src = h.peer(r.source);
    const store = h.store;
    if (r.phase === 'copy') {
      if (r.fromIndex === 0) {
        // Step 2: the source's applied index; entries after it are applied after the copy. The
        // primary pins its log from there once its heal loop sees this rebuild (log-keeper.ts);
        // until then the minimum retention keeps those entries, which are new.
        const st = await src.call('rstatus', {});
        r.fromIndex = st.appliedIndex;
        if (st.appliedTerm !== undefined) r.fromTerm = st.appliedTerm;
        await writeRebuild(h.dir, r);
      }
      // A log corrupt at open is reset whatever the record says (a reset written, and corruption
      // since): nothing in it is trusted.
      if (h.state() === 'corrupt') {
        if (r.fromTerm === undefined) throw err('ENOTSUP', `member ${h.self}: its log is corrupt and source ${r.source} does not report the term of its applied index (rstatus.appliedTerm): the log cannot be reset`);
        r.logReset = false;
      }
      if (!r.logReset && r.fromTerm !== undefined) {
        // The log goes on from the copy's index (the primary may have truncated what came before).
        await h.resetLog({ index: r.fromIndex, term: r.fromTerm });
        r.logReset = true;
        await writeRebuild(h.dir, r);
      }
      if (r.totalObjects === 0 && r.cursor === undefined) {
        let after: string | undefined;
        let objects = 0;
        let bytes = 0;
        for (;;) {
          const p = await src.call('scan', after === undefined ? { limit: 1000 } : { after, limit: 1000 });
          // Bytes are the data objects' sizes (a DS); an MDS's copy is counted in objects.
          for (const it of p.items) { objects++; if (store.identity.role === 'ds') bytes += it.size; }
          if (p.eof || p.items.length === 0) break;
          after = p.items.at(-1)!.gfid;
        }
        r.totalObjects = objects;
        r.totalBytes = bytes;
        await writeRebuild(h.dir, r);
        h.log.info({ source: r.source, fromIndex: r.fromIndex, objects, bytes }, 'rebuild: full copy starts');
      }
      // Before the walk: objects the source lacks now are not copied by it (and this member's
      // own copy is removed), and the source may heal them during the copy, its rows gone by
      // the time they are installed below: recorded for this member first (inheritLacks).
      await this.inheritLacks(await this.sourceRows(src), r.source, 'before');
      // Step 3: the source's handles and this member's, merged in GFID order.
      const theirs = digestItems((after) => src.call('digest', after === undefined ? { limit: COPY_PAGE } : { after, limit: COPY_PAGE }), r.cursor);
      const mine = digestItems((after) => store.callWith('digest', after === undefined ? { limit: COPY_PAGE } : { after, limit: COPY_PAGE }, { at: Date.now() }), r.cursor);
      let a = await theirs.next();
      let b = await mine.next();
      let sinceSave = 0;
      while (!a.done || !b.done) {
        if (h.closed() || this.rec !== r) return;
        if (!b.done && (a.done || b.value.gfid < a.value.gfid)) {
          await store.removeCopy(b.value.gfid);
          r.removedObjects++;
          b = await mine.next();
          continue;
        }
        const it = a.value as DigestItem;
        const same = !b.done && b.value.gfid === it.gfid;
        if (same && b.value.kind === it.kind && b.value.hash === it.hash && b.value.size === it.size) {
          r.skippedObjects++;
        } else {
          try {
            const d = await src.download('rcopy', { gfid: it.gfid });
            await store.installCopy(it.gfid, d.res, d.body);
            r.copiedObjects++;
            r.copiedBytes += d.res.size;
          } catch (e) {
            // Gone on the source since its digest was read: gone here too (the log tail agrees).
            if (!isErr(toDht2Error(e), 'ENOENT')) throw e;
            await store.removeCopy(it.gfid);
          }
        }
        if (same) b = await mine.next();
        r.cursor = it.gfid;
        a = await theirs.next();
        if (++sinceSave >= COPY_PAGE) {
          sinceSave = 0;
          await writeRebuild(h.dir, r);
          crashPoint('rebuild:page'); // the crash test of a resumed copy (test/core/heal-rebuild.test.ts)
        }
      }
      await store.rebuildNameIndex();
      if (await this.tailLost(r)) return;
      await this.copyPendingRows(src, r.source);
      await this.copyOpIds(src, r.fromIndex);
      r.replayTo = (await src.call('rstatus', {})).appliedIndex;
      r.phase = 'replay';
      await writeRebuild(h.dir, r);
      h.log.info({ copied: r.copiedObjects, bytes: r.copiedBytes, skipped: r.skippedObjects, removed: r.removedObjects, replayTo: r.replayTo }, 'rebuild: copy done; applying the log tail');
    }
    // Step 5: every entry after fromIndex, the divergence check off up to replayTo.
    const passUpTo = r.replayTo ?? r.fromIndex;
    await h.replayFrom(r.fromIndex, passUpTo);
    for (let k = 1; !(h.appliedIndex() >= passUpTo && h.appliedIndex() >= h.commitIndex() && h.commitIndex() > 0); k++) {
      if (h.closed() || h.state() !== 'ok') return;
      if (k % 40 === 0 && await this.tailLost(r)) return;
      await sleep(50);
    }
    // Step 6.
    await h.writeMark();
    await removeRebuild(h.dir);
    this.rec = undefined;
    await h.becomeVoter();
    h.log.info({ applied: h.appliedIndex() }, 'rebuild done: the member votes again');
  }

  /**
   * A DS set's pending rows (ARCHITECTURE.md §10.7, ON-DISK-FORMAT.md §6.4) are replicated state
   * the copy of the objects does not carry: the entries that made them may be truncated (§10.13
   * "As built (truncation)"), or this member's `pending.sqlite` wiped. So the source's rows,
   * paged with `rpending`, replace this member's, in one transaction, before the log tail is
   * replayed from `fromIndex`. Why that gives the right rows: each row (gfid, member) is set-like
   * state that only `pending` (present), `pendingDone` (absent) and `dunlink` (absent, every
   * member of the gfid) change, each apply idempotent and writing the row's value outright. The
   * pages are read after `fromIndex` was taken from the source's applied index, so each row is
   * read as it stood after some applied index ≥ fromIndex (pages partition the keys, so each is
   * read once, at one moment; a committed, applied entry only). Replaying every entry after
   * fromIndex then ends, for a row some entry there touches, on that entry's value (the last such
   * entry decides), and leaves any other row as the source had it at fromIndex, which is what the
   * page read (nothing after fromIndex changed it). Crash safe: the rows are installed before the
   * record says `replay`, so a restart in `copy` fetches them again.
   */
  private async copyPendingRows(src: BrickFops, source: string): Promise<void> {
    const pending = this.h.pending;
    if (!pending) return;
    const rows = await this.sourceRows(src);
    pending.replaceAll(rows);
    this.h.log.info({ rows: rows.length }, 'rebuild: the source\'s pending fresh copies installed');
    await this.inheritLacks(rows, source, 'after');
  }

  /** The source's pending rows, every page of `rpending` (none on an MDS set). */
  private async sourceRows(src: BrickFops): Promise<PendingRow[]> {
    const rows: PendingRow[] = [];
    if (!this.h.pending) return rows;
    let after: { gfid: string; member: string } | undefined;
    for (;;) {
      const p = await src.call('rpending', after === undefined ? { limit: ROWS_PAGE } : { after, limit: ROWS_PAGE });
      for (const it of p.items) rows.push({ gfid: it.gfid, member: it.member, size: it.size, crc: it.crc32c, idx: it.idx });
      if (p.eof || p.items.length === 0) break;
      const last = p.items.at(-1)!;
      after = { gfid: last.gfid, member: last.member };
    }
    return rows;
  }

  /**
   * A row naming the source says the source lacks that fresh object, so the copy did not bring
   * it here either: without a row naming this member, nothing would ever heal it here, and once
   * the source healed its own copy (its row gone) this member would lack the object for good,
   * one copy short with nothing counting it (ARCHITECTURE.md §10.13 "As built (truncation)", the
   * gap it named). So a `pending` naming this member is logged through the primary for each such
   * object not here: every member then holds the row (heal info counts it), the log tail brings it
   * here, and this member's heal loop copies the object from a member the rows do not name. Crash
   * story: the record still says `copy` until every one is logged, so a restart fetches the rows
   * again (now with the rows naming this member for those already logged, which are skipped);
   * logging one twice is harmless (a row is set-like state). An object deleted meanwhile gets a
   * row its `dunlink` came before: the heal loop finds it gone on every source and logs it done.
   * Done twice: `before` the walk, whatever this member holds (the walk removes what the source
   * lacks; the source may heal it during the copy and its row be gone `after`), and `after` it,
   * for rows that came during the copy, only for objects not here. A row for an object that the
   * copy brought after all is logged done by the heal loop, which finds it here.
   */
  private async inheritLacks(rows: readonly PendingRow[], source: string, when: 'before' | 'after'): Promise<void> {
    const ds = this.h.store.dataStore;
    if (!ds) return;
    const mine = new Set(rows.filter((x) => x.member === this.h.self).map((x) => x.gfid));
    let logged = 0;
    for (const row of rows) {
      if (row.member !== source || mine.has(row.gfid) || (when === 'after' && await ds.has(row.gfid))) continue;
      const primary = this.h.primary() ?? source;
      await this.h.peer(primary).call('pending', { gfid: row.gfid, size: row.size, crc32c: row.crc, missing: [this.h.self] });
      mine.add(row.gfid);
      logged++;
    }
    if (logged > 0) this.h.log.info({ logged, source }, 'rebuild: fresh objects the source lacks too, logged pending for this member');
  }

  /**
   * The opIds of the entries the source applied up to the copy's index (ARCHITECTURE.md §10.4
   * "Duplicates", §10.13 "As built (op ids)"): the copy holds their effects and this member's log,
   * reset onto that index, does not hold their entries, so without them a resend of one (the
   * gateway resends with the same opId after a failover) would be planned and applied a second
   * time once this member is primary. Paged with `rops`, written to `repl/copied-ops` (a restart
   * keeps them: the log cannot) and kept in the duplicate table, before the record says `replay`
   * (a restart in `copy` fetches them again). Entries after the copy's index come in the log tail
   * with their opIds.
   */
  private async copyOpIds(src: BrickFops, upTo: number): Promise<void> {
    const items: CopiedOps['items'] = [];
    let after = 0;
    for (;;) {
      const p = await src.call('rops', { after, upTo, limit: OPS_PAGE });
      items.push(...p.items);
      if (p.eof || p.items.length === 0) break;
      after = p.items.at(-1)!.index;
    }
    await writeCopiedOps(this.h.dir, { fromIndex: upTo, items });
    this.h.keepCopiedOps(items);
    this.h.log.info({ opIds: items.length, upTo }, 'rebuild: the source\'s applied opIds kept');
  }

  /**
   * The primary's log no longer holds the entries after this learner's log (its pin was lost:
   * a new primary truncated before its heal loop learnt of this rebuild, ARCHITECTURE.md §10.13
   * "As built (truncation)"): the tail can never arrive, so the rebuild starts over from a new
   * copy index (objects already equal are skipped by digest). Answers true when it did.
   */
  private async tailLost(r: RebuildRecord): Promise<boolean> {
    const h = this.h;
    const primary = h.primary() ?? r.source;
    const st = await h.peer(primary).call('rstatus', {}, { timeoutMs: 2000 }).catch(() => undefined);
    if (st?.firstIndex === undefined || st.role !== 'primary' || st.firstIndex <= h.lastIndex() + 1) return false;
    h.log.warn({ primary, firstIndex: st.firstIndex, lastIndex: h.lastIndex(), fromIndex: r.fromIndex }, 'rebuild: the primary no longer holds the entries after this log; starting over from a new copy index');
    await h.pauseApply();
    await this.startOver(r, primary);
    return true;
  }

  /**
   * The fallback of the boot-id rule (ON-DISK-FORMAT.md §6.5 "As built (boot id)"): a majority
   * of the set rebooted under `--no-sync` and none has a source, so no primary can be elected to
   * copy from. This member gives up the rebuild it started on itself and votes, as after a
   * `kill -9`, but applies its log again from the log's base, not from its applied mark: the
   * mark and the log are fsynced under `--no-sync` (applied.ts, log.ts), the store is not, so the
   * store may lack writes below the mark that the log still holds. Order for a crash: the mark
   * lowered first (a restart in between finds the record and waits, or falls back, again), then
   * the record unlinked (a restart after it is a voter that applies from the lowered mark, the
   * entries it held at start passed when diverged, node.ts `heldAtOpen`).
   */
  private async lostPower(r: RebuildRecord, c: { learners: string[]; healthy: string[] }): Promise<void> {
    const h = this.h;
    const base = h.logBase();
    h.log.warn({ rebooted: c.learners, healthy: c.healthy, appliedMark: h.appliedIndex(), replayFrom: base, lastIndex: h.lastIndex() },
      `set ${h.setId}: every member lost power under --no-sync (a majority rebooted with no source to copy from); `
      + `state the stores had not flushed before the log's first entry (after index ${base}) may be lost: this member gives up its rebuild, votes, and applies its log again from there`);
    await h.replayFrom(base, 0);
    await removeRebuild(h.dir);
    if (this.rec === r) this.rec = undefined;
    await h.becomeVoter();
  }

  /** A new record for the same rebuild, from a new copy index of `source`. */
  private async startOver(r: RebuildRecord, source: string): Promise<RebuildRecord> {
    const again: RebuildRecord = {
      source, fromIndex: 0, phase: 'copy', copiedObjects: 0, copiedBytes: 0, skippedObjects: 0, removedObjects: 0,
      totalObjects: 0, totalBytes: 0, startedAt: r.startedAt,
    };
    await writeRebuild(this.h.dir, again);
    this.rec = again;
    return again;
  }
}
