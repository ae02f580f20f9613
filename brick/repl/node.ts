/**
 * The replication module of one member of a replica set (ARCHITECTURE.md §10.2–§10.8, slice 5
 * of §10.15): it hosts the consensus core (core.ts) on the brick's real files and serves the
 * brick's FOPs through it.
 *
 * - **The core's inputs**: a timer at `nextWake`, the peer FOPs `rvote`/`rappend` (peer.ts
 *   carries the outgoing ones), and the report that a vote or log write is durable. Its actions:
 *   sends, the vote file (vote.ts, written and fsynced before `persisted`), the log (log.ts,
 *   appended and fdatasynced before `persisted`), apply, role changes, serving.
 * - **The log seam**: the core reads a `MemLog` that mirrors `repl/log` (read whole at open;
 *   every `write-log` action changes both). The core's `LogView` is synchronous and ReplLog reads
 *   from disk, so the mirror is what lets the core stay pure; it costs the entries' JSON in
 *   memory, bounded by the head truncation (log-keeper.ts, ARCHITECTURE.md §10.13 "As built
 *   (truncation)"): the mirror starts after the log's base.
 * - **Apply** in index order, one entry at a time, with `ctx.at` from the entry and the blob from
 *   `repl/blobs/`; the applied mark (`repl/applied`, ON-DISK-FORMAT §6.5) every 100 ms. Entries
 *   the log held at start (same index, same term) may have been applied before a crash, after
 *   the mark, and with later entries on the same keys applied too: for those a `diverged` refusal
 *   means "a later state is already here" (§10.6 "Not yet"), so it is logged and passed, and
 *   their reply is not kept (a resend gets EALREADY). Every other entry is checked for real; a
 *   member that diverges stops applying and goes silent (no heartbeats, votes or appends).
 * - **Client FOPs** (§10.4, §10.5, §10.8): on the serving primary, a mutating FOP takes its
 *   conflict keys, is planned against applied state (a refusal gets no entry), proposed with
 *   `{opId, at, fop, req, out, blob?}`, and answered with its own apply's result once committed
 *   and applied; duplicates by opId get the kept reply, wait, or EALREADY. Reads run on the
 *   primary's applied state, and the lease is checked after the read. Elsewhere: ENOTPRIMARY
 *   naming the primary, or EAGAIN.
 */
import { performance } from 'node:perf_hooks';
import type { Readable } from 'node:stream';
import type { Logger } from 'pino';
import {
  err, isErr, isFopName, isFopOfRole, newOpId, parseFopArgs, ROOT_GFID, toDht2Error, type ControlFop,
  type Dht2Error, type Download, type DownloadFop, type FopName, type FopReq, type FopRes, type LayoutDoc,
  type ReplEntry, type ReplStatus, type UploadFop,
} from '../../dht2-core/protocol/index.js';
import { isDiverged, isDsMutating, isMdsMutating, type DsMutating, type FopOut, type MutatingFop } from '../posix2/fop-out.js';
import { KeyedRwLocks } from '../posix2/locks.js';
import { conflictKeys } from './keys.js';
import { KEEP_REPLIES_MS, OpTable, type Outcome } from './dedup.js';
import { FreshObjects, isPendingFop, type PendingFop } from './fresh.js';
import type { PosixStore } from '../posix2/store.js';
import type { FopMeta, FopRouter } from '../server.js';
import { readApplied, writeApplied } from './applied.js';
import { MemLog, ReplCore, type Action, type LogEntry as CoreEntry, type Message } from './core.js';
import { ReplLog, type EntryPayload, type LogEntry as DiskEntry, type StagedBlob } from './log.js';
import { LogKeeper } from './log-keeper.js';
import { DEFAULT_RETENTION, type Retention } from './truncate.js';
import { PeerLinks, type PeerConnector } from './peer.js';
import { readCopiedOps, readRebuild, writeRebuild, type CopiedOps, type RebuildRecord } from './rebuild-file.js';
import { Rebuild, type RebuildHost } from './rebuild.js';
import { readVote, writeVote } from './vote.js';

export type { PeerConnector } from './peer.js';

/** The applied mark is written at most this often (ON-DISK-FORMAT §6.5). */
const MARK_EVERY_MS = 100;
/** A peer request whose answer the core does not give within this time is answered EAGAIN. */
const PEER_ANSWER_MS = 3000;
/** An apply that failed for a reason of this brick (EIO, ENOSPC) is tried again after this pause. */
const APPLY_RETRY_MS = 1000;
/** A brick without a vote file asks its peers this often whether the set is new (§10.13). */
const NEW_SET_PROBE_MS = 500;
/**
 * An `rappend` waits at most this long for the bodies of its entries (§10.16 "false failovers"):
 * past it, the follower answers for the entries whose bodies are here and fetches the rest on,
 * so a slow body never keeps the primary's lease round and leadership unanswered (1000 ms).
 */
const APPEND_HOLD_MS = 250;
/** A fetched body not appended within this long is removed (a later `rappend` fetches it again). */
const FETCHED_KEEP_MS = 60_000;
/** Test device (like DHT2_CRASH_AT): every `rblob` fetch is slowed by this many ms. */
const TEST_FETCH_DELAY_MS = Number(process.env.DHT2_TEST_RBLOB_DELAY_MS ?? 0);

/**
 * One body being fetched (or fetched and staged) for entry (index, term): shared by every
 * `rappend` that carries that entry, so a body is downloaded once (§10.16).
 */
interface BodyFetch {
  readonly index: number;
  readonly term: number;
  /** Settles (never rejects) when the fetch ends; `blob` is then set if it succeeded. */
  done: Promise<void>;
  blob?: StagedBlob;
  settledAt?: number;
  /** `rappend`s using it right now: not swept while > 0. */
  pins: number;
}

function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

const fetchKey = (index: number, term: number): string => `${index}/${term}`;

interface Waiter {
  term: number;
  resolve(o: Outcome): void;
}

export interface ReplNodeOptions {
  store: PosixStore;
  dir: string;
  /** This brick's id. */
  self: string;
  layout: LayoutDoc;
  setId: string;
  members: readonly string[];
  connect: PeerConnector;
  logger: Logger;
  /** Log retention (ARCHITECTURE.md §10.13; brick flags, DHT2_REPL_* variables): the defaults of truncate.ts. */
  retention?: Partial<Retention>;
  /** The log's segment size (64 MiB); tests use small segments so that truncation has whole segments to remove. */
  segmentBytes?: number;
  /** The primary's heal loop period (10 s; log-keeper.ts). */
  healEveryMs?: number;
}

function now(): number {
  return performance.now();
}

function toCore(e: DiskEntry): CoreEntry<EntryPayload> {
  return e.kind === 'noop' ? { term: e.term, index: e.index, kind: 'noop' } : { term: e.term, index: e.index, kind: 'op', payload: e.payload };
}

function fromWire(e: ReplEntry): CoreEntry<EntryPayload> {
  if (e.kind === 'noop') return { term: e.term, index: e.index, kind: 'noop' };
  if (!e.payload) throw err('EINVAL', `rappend: entry ${e.index} has no payload`);
  return { term: e.term, index: e.index, kind: 'op', payload: e.payload as EntryPayload };
}

function settle(o: Outcome): unknown {
  if (o.ok) return o.res;
  throw o.error;
}

export class ReplNode implements FopRouter {
  /** Replaced (same log, same vote state) when the member turns learner or voter again (§10.13). */
  private core: ReplCore<EntryPayload>;
  private readonly mem: MemLog<EntryPayload>;
  /**
   * ON-DISK-FORMAT.md §6.2, ARCHITECTURE.md §10.13: opened without a vote file, this member votes
   * and campaigns only once it has heard a primary's term (stored as voted for that primary), or
   * once every other member answers that it is empty at term 0 (a new set).
   */
  private awaitTerm: boolean;
  /** No vote is granted in a term at or below this one (the term heard by a brick without a vote file). */
  private voteFloor = 0;
  private heardFrom: string | undefined;
  /** Opened without a vote file and with an empty log, and not found to be a new set: a wiped brick (rstatus `wiped`). */
  private wiped: boolean;
  /** The rebuild by full copy (rebuild.ts): while its record exists this member is a learner. */
  private readonly rebuild: Rebuild;
  /** Apply waits while the full copy writes the store. */
  private applyPaused = false;
  /** Up to this index a `diverged` refusal is passed: the copy may hold a later state (§10.13 step 5). */
  private passDivergedUpTo = 0;
  private readonly peers: PeerLinks;
  /** A DS set's fresh objects and pending records (fresh.ts, ARCHITECTURE.md §10.7). */
  private readonly fresh: FreshObjects | undefined;
  private readonly locks = new KeyedRwLocks();
  private readonly log: Logger;
  private timer: NodeJS.Timeout | undefined;
  private closed = false;
  /** The core's commit index before the input being carried out. */
  private commitBefore = 0;
  /** `ok`, or why this member serves nothing and applies nothing more (ReplStatus.state). */
  private state: 'ok' | 'diverged' | 'corrupt';

  // Durability: the vote file is rewritten one write at a time; log writes report in seq order.
  private voteChain: Promise<void> = Promise.resolve();
  private logChain: Promise<void> = Promise.resolve();
  /** Blobs staged for entries not yet appended, by the entry's payload object. */
  private readonly staged = new Map<EntryPayload, StagedBlob>();
  /** Bodies fetched from the primary for entries not yet appended, by fetchKey (§10.16). */
  private readonly fetches = new Map<string, BodyFetch>();

  // Apply.
  private applied: number;
  private applyTarget = 0;
  private applying = false;
  /**
   * The log at this start, as runs of one term from `index` on: an entry still at its index with
   * its term may have been applied before the start (module comment); one that replaced it since
   * (a suffix dropped) was not.
   */
  private readonly openRuns: Array<{ index: number; term: number }> = [];
  private readonly openLast: number;
  private markTimer: NodeJS.Timeout | undefined;
  /** Truncates the log head and, on the primary, runs the heal loop (log-keeper.ts). */
  private readonly keeper: LogKeeper;
  /** While the log is emptied onto a full copy's index, the core takes no input (resetLog). */
  private holdInput = false;
  private markWritten: number;
  private markChain: Promise<void> = Promise.resolve();
  private readonly waiters = new Map<number, Waiter[]>();

  // Duplicates (§10.4): where each opId is in the log, the replies of the entries applied, and the
  // opIds of applied entries whose log head was truncated (dedup.ts).
  private readonly ops = new OpTable();
  /** The `at` of the last entry: a new entry's `at` never goes below it (§10.4). */
  private lastAt = 0;

  /** The primary serves from this index on once applied (its no-op, then the root's icreate). */
  private readyIndex = Infinity;

  // Peer requests waiting for the core's answer: rappend by the round given to it, rvote by sender.
  private roundSeq = 0;
  private readonly appendAnswers = new Map<number, (m: Extract<Message, { type: 'rappend-reply' }>) => void>();
  private readonly voteAnswers: Array<{ from: string; pre: boolean; answer(m: Extract<Message, { type: 'rvote-reply' }>): void }> = [];

  private constructor(
    private readonly o: ReplNodeOptions,
    private readonly rlog: ReplLog,
    entries: readonly DiskEntry[],
    vote: { term: number; votedFor: string | null } | undefined,
    mark: number,
    rebuild: RebuildRecord | undefined,
    copiedOps: CopiedOps | undefined,
  ) {
    this.log = o.logger.child({ set: o.setId });
    this.state = rlog.opened.corrupt !== undefined ? 'corrupt' : 'ok';
    const base = { index: rlog.base.index, term: rlog.base.term ?? 0 };
    const mem = new MemLog<EntryPayload>(entries.map(toCore), base);
    this.mem = mem;
    for (const e of entries) this.noteEntry(e.index, e.term, e.kind === 'noop' ? undefined : e.payload);
    // A full copy's opIds (rebuild.ts `copyOpIds`): applied, their entries not in this log.
    if (copiedOps) this.ops.copied(copiedOps.items);
    this.awaitTerm = vote === undefined;
    this.wiped = vote === undefined && rlog.lastIndex === 0;
    this.applyPaused = rebuild !== undefined;
    this.core = this.makeCore(vote ?? { term: 0, votedFor: null }, rebuild !== undefined);
    // The mark is written before any truncation (log-keeper.ts), so it is at least the base, but
    // for a log emptied onto a full copy's index (the copy sets it again when it ends).
    this.applied = Math.max(base.index, Math.min(mark, rlog.lastIndex));
    this.markWritten = this.applied;
    this.openLast = rlog.lastIndex;
    for (const e of entries) if (this.openRuns.at(-1)?.term !== e.term) this.openRuns.push({ index: e.index, term: e.term });
    const urls = Object.fromEntries(o.members.filter((m) => m !== o.self).map((m) => [m, o.layout.bricks[m]!]));
    this.peers = new PeerLinks(o.self, urls, o.connect, {
      reply: (to, msg) => this.input(() => this.core.receive(to, msg, now())),
      callFailed: (e) => this.log.debug({ err: e }, 'peer call failed'),
    });
    const retention = { ...DEFAULT_RETENTION, ...o.retention };
    this.keeper = new LogKeeper({
      mem, rlog, ops: this.ops, log: this.log,
      core: () => this.core,
      active: () => !this.closed && this.state === 'ok' && !this.rebuild.record && !this.holdInput,
      markApplied: async () => { await this.writeMark(); return this.markWritten; },
      status: (m) => this.peers.client(m).call('rstatus', {}, { timeoutMs: 2000 }).catch(() => undefined),
      rebuild: (m) => this.peers.client(m).call('rrebuild', {}, { timeoutMs: 10_000 }),
    }, retention, o.healEveryMs);
    this.fresh = o.store.identity.role === 'ds' ? new FreshObjects({
      self: o.self, members: o.members, store: o.store, logger: this.log,
      peer: (id) => this.peers.client(id),
      caughtUp: () => this.state === 'ok' && !this.rebuild.record && !this.awaitTerm && this.core.commitIndex > 0 && this.applied >= this.core.commitIndex,
      done: (gfid, member) => this.pendingDone(gfid, member),
    }) : undefined;
    this.rebuild = new Rebuild(this.rebuildHost(), rebuild);
  }

  /** What the rebuild by full copy reaches of this member (rebuild.ts). */
  private rebuildHost(): RebuildHost {
    return {
      dir: this.o.dir, self: this.o.self, setId: this.o.setId, store: this.o.store, log: this.log,
      others: this.o.members.filter((m) => m !== this.o.self),
      peer: (m) => this.peers.client(m),
      pending: this.fresh?.pending,
      closed: () => this.closed,
      state: () => this.state,
      primary: () => this.core.primary,
      lastIndex: () => this.core.log.lastIndex,
      commitIndex: () => this.core.commitIndex,
      termAt: (i) => this.core.log.termAt(i),
      appliedIndex: () => this.applied,
      logBase: () => this.core.log.baseIndex,
      pauseApply: async () => {
        this.applyPaused = true;
        while (this.applying) await sleep(20);
      },
      becomeLearner: async () => {
        // A diverged member takes part again, as a learner: it applies nothing until the copy is done.
        this.state = 'ok';
        await this.swapCore(true);
      },
      resetLog: (base) => this.resetLog(base),
      replayFrom: async (from, passUpTo) => {
        this.passDivergedUpTo = passUpTo;
        this.applied = from;
        this.markWritten = -1;
        await writeApplied(this.o.dir, { index: from, term: this.core.log.termAt(from) ?? 0 });
        this.markWritten = from;
        this.applyPaused = false;
        this.applyTarget = Math.max(this.applyTarget, this.core.commitIndex);
        void this.applyLoop();
      },
      writeMark: () => this.writeMark(),
      keepCopiedOps: (items) => this.ops.copied(items),
      becomeVoter: async () => {
        this.wiped = false;
        await this.swapCore(false);
      },
    };
  }

  /**
   * Opens the replication state of the brick at `o.dir` (vote, applied mark, log) and starts the
   * core, quiet for its first second as a restart requires (§10.3).
   */
  static async start(o: ReplNodeOptions): Promise<ReplNode> {
    const vote = await readVote(o.dir);
    let rebuild = await readRebuild(o.dir);
    if (o.store.rebooted) {
      // ON-DISK-FORMAT.md §6.5 "With --no-sync": the machine went down since this store was last
      // served, and its writes were not synced; it is not trusted. A rebuild record is written
      // before the core starts (so it starts a learner: no vote, nothing served), its source
      // chosen once a primary answers (rebuild.ts); only then is the lock's mark cleared.
      // A rebuild under way starts over too: what it copied, removed and installed before the
      // power cut was not synced either, and its cursor and phase would skip it. Its source is
      // kept (a member that was rebuilding never counts towards the all-rebooted fallback, whose
      // voters must hold a whole store).
      rebuild = {
        source: rebuild?.source ?? '', fromIndex: 0, phase: 'copy', copiedObjects: 0, copiedBytes: 0, skippedObjects: 0, removedObjects: 0,
        totalObjects: 0, totalBytes: 0, startedAt: Date.now(),
      };
      await writeRebuild(o.dir, rebuild);
      o.logger.warn({ set: o.setId }, 'the machine restarted since this --no-sync store was served: rebuilding it by full copy before it votes or serves');
      await o.store.rebooted.clearRebooted();
      o.store.rebooted = undefined;
    }
    const copiedOps = await readCopiedOps(o.dir);
    const mark = await readApplied(o.dir);
    const rlog = await ReplLog.open(o.dir, { appliedIndex: mark?.index, ...(o.segmentBytes ? { segmentBytes: o.segmentBytes } : {}) });
    let entries: DiskEntry[] = [];
    if (rlog.opened.corrupt === undefined) {
      // The mirror starts after the log's base (ON-DISK-FORMAT.md §6.1 "The base").
      if (rlog.base.term === undefined) {
        await rlog.close();
        throw err('ENOTSUP', `replication log of ${o.dir} starts at index ${rlog.firstIndex} without a base (repl/logbase): the term before it is not known`);
      }
      if (rlog.lastIndex >= rlog.firstIndex) entries = await rlog.read(rlog.firstIndex, rlog.lastIndex);
    }
    const n = new ReplNode(o, rlog, entries, vote && { term: vote.term, votedFor: vote.votedFor ?? null }, mark?.index ?? 0, rebuild, copiedOps);
    o.logger.info({
      set: o.setId, members: o.members, term: n.core.term, lastIndex: rlog.lastIndex, applied: n.applied,
      truncatedTail: rlog.opened.truncatedTail, corrupt: rlog.opened.corrupt,
    }, 'replication started');
    if (n.state === 'ok') n.input(() => n.core.tick(now()));
    if (rebuild) n.rebuild.resume();
    n.keeper.start();
    n.fresh?.start();
    return n;
  }

  private makeCore(vote: { term: number; votedFor: string | null }, learner: boolean): ReplCore<EntryPayload> {
    const voters = learner ? this.o.members.filter((m) => m !== this.o.self) : this.o.members;
    return new ReplCore<EntryPayload>({
      id: this.o.self, voters, learners: learner ? [this.o.self] : [], rng: Math.random, now: now(), vote, log: this.mem,
    });
  }

  /**
   * Replaces the core by one of the other kind (learner or voter) over the same log and vote
   * state, once every vote and log write of the old one is durable and reported (the new core
   * takes the log as stored).
   */
  private async swapCore(learner: boolean): Promise<void> {
    await this.writesSettled();
    this.core = this.makeCore({ term: this.core.term, votedFor: this.core.votedFor }, learner);
    this.log.info({ learner, term: this.core.term }, learner ? 'member is a learner until its rebuild ends' : 'member votes again');
    this.input(() => this.core.tick(now()));
  }

  /** Every vote and log write asked for so far is done and reported to the core. */
  private async writesSettled(): Promise<void> {
    for (;;) {
      const v = this.voteChain;
      const l = this.logChain;
      await Promise.all([v.catch(() => undefined), l.catch(() => undefined)]);
      if (v === this.voteChain && l === this.logChain) break;
    }
  }

  /**
   * Empties the log onto a full copy's index (ARCHITECTURE.md §10.13 "As built (truncation)"): the
   * learner's store will hold every entry up to `base.index` once the copy ends, and its log goes
   * on from `base.index + 1`, whatever the primary truncated before it. The core takes no input
   * meanwhile (the primary's messages get EAGAIN and are sent again), then a learner's core starts
   * over the empty log. Discarding entries this member acknowledged is safe because a learner
   * votes for nobody until its log holds everything up to the commit index again (§10.13).
   */
  private async resetLog(base: { index: number; term: number }): Promise<void> {
    this.holdInput = true;
    try {
      await this.writesSettled();
      await this.rlog.resetTo(base);
      this.mem.reset(base);
      this.ops.clearLog();
      this.core = this.makeCore({ term: this.core.term, votedFor: this.core.votedFor }, true);
      // A corrupt log (ON-DISK-FORMAT.md §6.1) is gone with the reset: the member takes part
      // again, as a learner (§10.13 "As built (corrupt)").
      const was = this.state;
      if (was === 'corrupt') this.state = 'ok';
      this.log.info({ base, was }, 'log emptied onto the full copy\'s index');
    } finally {
      this.holdInput = false;
    }
    this.input(() => this.core.tick(now()));
  }

  // ------------------------------------------------------------------ the core's loop

  /** Feeds one input to the core and carries out its actions; re-arms the timer. */
  private input(step: () => Action<EntryPayload>[]): void {
    // A member that diverged or failed takes no part any more: no heartbeats (a diverged primary
    // goes silent, so the others elect), no votes, no appends; it waits for a full copy (§10.13).
    if (this.closed || this.state !== 'ok' || this.holdInput) return;
    let actions: Action<EntryPayload>[];
    try {
      this.commitBefore = this.core.commitIndex;
      actions = step();
    } catch (e) {
      // The core throws only on a broken invariant (two primaries in a term, a conflict below
      // the commit index): this member stops taking part rather than guess.
      this.fatal(e);
      return;
    }
    this.run(actions);
  }

  private run(actions: readonly Action<EntryPayload>[]): void {
    for (const a of actions) {
      switch (a.type) {
        case 'send': this.send(a.to, a.msg); break;
        case 'persist-vote': {
          const { seq, state } = a;
          // §6.2: the term heard by a brick without a vote file is stored as voted for that primary.
          const votedFor = state.votedFor ?? (state.term === this.voteFloor ? this.heardFrom ?? null : null);
          this.voteChain = this.voteChain.then(async () => {
            await writeVote(this.o.dir, votedFor === null ? { term: state.term } : { term: state.term, votedFor });
            this.input(() => this.core.persisted('vote', seq, now()));
          }).catch((e: unknown) => this.fatal(e));
          break;
        }
        case 'write-log': this.writeLog(a.seq, a.truncateFrom, a.entries); break;
        case 'apply':
          this.applyTarget = Math.max(this.applyTarget, a.upTo);
          void this.applyLoop();
          break;
        case 'role':
          this.log.info({ role: a.role, term: a.term, primary: a.primary }, 'replication role');
          if (a.role !== 'primary') {
            this.readyIndex = Infinity;
            // Entries proposed here may still commit under the next primary: the gateway resends
            // with the same opId and gets their outcome there (§10.4 "Duplicates").
            this.failWaiters(() => this.notServing());
          }
          break;
        case 'serving': void this.onServing(a.term, a.index); break;
      }
    }
    this.arm();
  }

  private arm(): void {
    if (this.timer) clearTimeout(this.timer);
    if (this.closed) return;
    if (this.awaitTerm) {
      // No ticks, so no campaign, until a primary's term is heard or the set is found new.
      this.timer = setTimeout(() => void this.probeNewSet(), NEW_SET_PROBE_MS);
      return;
    }
    const wait = Math.max(0, Math.ceil(this.core.nextWake() - now()));
    this.timer = setTimeout(() => this.input(() => this.core.tick(now())), Math.min(wait, 2 ** 31 - 1));
  }

  /** §10.13: a brick without a vote file takes part at once only in a new set (every other member empty at term 0). */
  private async probeNewSet(): Promise<void> {
    if (!this.awaitTerm || this.closed) return;
    const others = this.o.members.filter((m) => m !== this.o.self);
    const answers = await Promise.all(others.map((m) => this.peers.client(m).call('rstatus', {}).catch(() => undefined)));
    if (this.awaitTerm && answers.every((a) => a !== undefined && a.term === 0 && a.lastIndex === 0)) {
      await writeVote(this.o.dir, { term: 0 });
      this.awaitTerm = false;
      this.wiped = false;
      this.log.info('no vote file, and every member is empty at term 0: a new set');
      this.input(() => this.core.tick(now()));
      return;
    }
    this.arm();
  }

  /** §10.13: the first primary's term heard by a brick without a vote file, stored as voted for it. */
  private async heardPrimary(term: number, from: string): Promise<void> {
    if (!this.awaitTerm) return;
    await writeVote(this.o.dir, { term, votedFor: from });
    if (!this.awaitTerm) return;
    this.awaitTerm = false;
    this.voteFloor = term;
    this.heardFrom = from;
    this.log.info({ term, primary: from }, 'no vote file: heard a primary; votes from the next term on');
  }

  private fatal(e: unknown): void {
    if (this.closed) return;
    this.log.error({ err: e }, 'replication stopped on this member');
    this.state = 'corrupt';
    if (this.timer) clearTimeout(this.timer);
    this.failWaiters(() => err('EAGAIN', `replica set ${this.o.setId}: this member stopped replicating`));
  }

  private send(to: string, msg: Message<EntryPayload>): void {
    if (msg.type === 'rappend-reply') {
      const answer = this.appendAnswers.get(msg.round);
      if (answer) { this.appendAnswers.delete(msg.round); answer(msg); }
      return;
    }
    if (msg.type === 'rvote-reply') {
      const i = this.voteAnswers.findIndex((v) => v.from === to && v.pre === msg.pre);
      if (i >= 0) this.voteAnswers.splice(i, 1)[0]!.answer(msg);
      return;
    }
    this.peers.send(to, msg);
  }

  /** The `write-log` action: the mirror has changed already; the disk follows, then `persisted`. */
  private writeLog(seq: number, truncateFrom: number | undefined, entries: readonly CoreEntry<EntryPayload>[]): void {
    const steps: Array<Promise<void>> = [];
    // Both calls queue in the log in call order (log.ts), so they are made here at once.
    // The log's own guard takes the commit index from before the input: the core may have raised
    // it with the same message that dropped the suffix (an rappend carries both).
    if (truncateFrom !== undefined) steps.push(this.rlog.dropSuffix(truncateFrom, this.commitBefore));
    const disk = entries.map((e) => {
      if (e.kind === 'noop') return { term: e.term, index: e.index, kind: 'noop' as const, payload: { at: 0 } };
      const blob = this.staged.get(e.payload) ?? this.takeFetched(e.index, e.term);
      this.staged.delete(e.payload);
      this.noteEntry(e.index, e.term, e.payload);
      return { term: e.term, index: e.index, kind: 'fop' as const, payload: e.payload, ...(blob ? { blob } : {}) };
    });
    steps.push(this.rlog.append(disk));
    const all = Promise.all(steps);
    this.logChain = this.logChain.then(() => all).then(
      () => this.input(() => this.core.persisted('log', seq, now())),
      (e: unknown) => this.fatal(e),
    );
  }

  private noteEntry(index: number, term: number, p: EntryPayload | undefined): void {
    if (!p) return;
    if (p.opId !== undefined) this.ops.noteEntry(p.opId, index, term);
    this.lastAt = Math.max(this.lastAt, p.at);
  }

  // ------------------------------------------------------------------ apply

  private async applyLoop(): Promise<void> {
    if (this.applying) return;
    this.applying = true;
    try {
      while (!this.closed && this.state === 'ok' && !this.applyPaused && this.applied < this.applyTarget) {
        const i = this.applied + 1;
        if (i <= this.core.log.baseIndex) {
          // Never: truncation waits for the applied mark, a reset for the copy's replay.
          this.log.error({ index: i, base: this.core.log.baseIndex }, 'entry to apply is below the log base');
          break;
        }
        const e = this.core.log.entries(i, i)[0];
        if (!e) break;
        let outcome: Outcome | undefined;
        if (e.kind === 'op') {
          try {
            outcome = { ok: true, res: await this.applyEntry(i, e.payload) };
          } catch (x) {
            const de = toDht2Error(x);
            if (isDiverged(de) && (this.heldAtOpen(i, e.term) || i <= this.passDivergedUpTo)) {
              // Applied before this start, with later entries on its keys applied too (module
              // comment): the store already holds a later state. Its reply is not known.
              this.log.warn({ index: i, fop: e.payload.fop, err: de.message }, 'entry applied again after later ones; passed');
            } else if (isDiverged(de)) {
              this.state = 'diverged';
              if (this.timer) clearTimeout(this.timer);
              this.log.error({ index: i, fop: e.payload.fop, err: de.message }, 'this member diverged from its set; it applies nothing more and waits for a full copy');
              this.failWaiters(() => err('EAGAIN', `replica set ${this.o.setId}: this member diverged`));
              break;
            } else if (isErr(de, 'EIO', 'ENOSPC', 'EDQUOT')) {
              // This brick's trouble, not the entry's: it is never skipped (§10.6); try again.
              this.log.error({ index: i, fop: e.payload.fop, err: de.message }, 'apply failed; trying again');
              await new Promise((r) => setTimeout(r, APPLY_RETRY_MS));
              continue;
            } else {
              // The FOP's own answer (the same on every member: apply is deterministic).
              outcome = { ok: false, error: de };
            }
          }
        }
        this.applied = i;
        if (outcome && e.kind === 'op' && e.payload.opId !== undefined) this.ops.keep(e.payload.opId, outcome);
        const ws = this.waiters.get(i);
        if (ws) {
          this.waiters.delete(i);
          for (const w of ws) {
            w.resolve(w.term === e.term && outcome ? outcome
              : w.term === e.term ? { ok: false, error: err('EALREADY', `entry ${i} was applied before; its reply is not known`) }
                : { ok: false, error: this.notServing() });
          }
        }
        this.scheduleMark();
      }
    } finally {
      this.applying = false;
    }
    // Waiters of indexes at or below `applied` that no entry matched (a replaced suffix).
    for (const [i, ws] of this.waiters) {
      if (i <= this.applied) { this.waiters.delete(i); for (const w of ws) w.resolve({ ok: false, error: this.notServing() }); }
    }
    if (this.applied < this.applyTarget && this.state === 'ok' && !this.closed && !this.applyPaused) void this.applyLoop();
  }

  /** The log held this entry (index and term) when this member started. */
  private heldAtOpen(index: number, term: number): boolean {
    if (index > this.openLast) return false;
    let t: number | undefined;
    for (const r of this.openRuns) {
      if (r.index > index) break;
      t = r.term;
    }
    return t === term;
  }

  private async applyEntry(index: number, p: EntryPayload): Promise<unknown> {
    const fop = p.fop ?? '';
    const fresh = this.fresh && (isDsMutating(fop) || isPendingFop(fop)) ? this.fresh : undefined;
    if (!isFopName(fop) || !(isMdsMutating(fop) || isDsMutating(fop) || fresh)) throw err('EIO', `diverged: entry ${index} names FOP ${fop}, which this brick cannot apply`);
    const req = parseFopArgs(fop, p.req);
    const blob = p.blob ? { path: this.rlog.blobPath(index)! } : undefined;
    const apply = (): Promise<unknown> => this.o.store.apply(fop as MutatingFop, req as FopReq<MutatingFop>, p.out as FopOut<MutatingFop>, { at: p.at }, blob);
    return fresh ? fresh.applyWith(index, fop as DsMutating | PendingFop, req, apply) : apply();
  }

  private scheduleMark(): void {
    if (this.markTimer || this.closed) return;
    this.markTimer = setTimeout(() => {
      this.markTimer = undefined;
      void this.writeMark();
    }, MARK_EVERY_MS);
  }

  private writeMark(): Promise<void> {
    this.markChain = this.markChain.then(async () => {
      const index = this.applied;
      if (index <= this.markWritten) return;
      const term = this.core.log.termAt(index) ?? 0;
      await writeApplied(this.o.dir, { index, term });
      this.markWritten = index;
    }).catch((e: unknown) => this.log.error({ err: e }, 'applied mark not written'));
    return this.markChain;
  }

  private waitApplied(index: number, term: number): Promise<Outcome> {
    if (index <= this.applied) {
      return Promise.resolve(this.core.log.termAt(index) === term
        ? { ok: false, error: err('EALREADY', `entry ${index} was applied before; its reply is not known`) }
        : { ok: false, error: this.notServing() });
    }
    return new Promise((resolve) => {
      const ws = this.waiters.get(index) ?? [];
      ws.push({ term, resolve });
      this.waiters.set(index, ws);
    });
  }

  private failWaiters(error: () => Dht2Error): void {
    const all = [...this.waiters.values()].flat();
    this.waiters.clear();
    for (const w of all) w.resolve({ ok: false, error: error() });
  }

  // ------------------------------------------------------------------ serving

  /** The primary's no-op is committed: it serves once that is applied, and the root exists. */
  private async onServing(term: number, index: number): Promise<void> {
    this.readyIndex = Infinity;
    const o = await this.waitApplied(index, term);
    if (!o.ok && !isErr(o.error, 'EALREADY')) return;
    // The root's icreate, tried again while this term lasts: a primary that heartbeats but never
    // serves would hold its set without serving it.
    for (;;) {
      if (this.closed || this.state !== 'ok' || this.core.term !== term || !this.core.serving) return;
      try {
        await this.makeRoot(term);
        break;
      } catch (e) {
        this.log.warn({ err: e }, 'root icreate not logged; trying again');
        await new Promise((r) => setTimeout(r, APPLY_RETRY_MS));
      }
    }
    if (this.core.term === term && this.core.serving) {
      this.readyIndex = index;
      this.log.info({ term, index: this.applied }, 'primary serving');
    }
  }

  /**
   * §10.6 "Two writes hide in today's reads": the first primary of the set that holds the root
   * logs the root's `icreate` right after its no-op, so every member makes it with the same `at`
   * (a member of a replicated set never makes it on first use, mds-base.ts rootOnFirstUse).
   */
  private async makeRoot(term: number): Promise<void> {
    if (this.o.store.identity.role !== 'mds' || !this.holdsRoot()) return;
    const req: FopReq<'icreate'> = { gfid: ROOT_GFID, type: 'dir', mode: 0o755 };
    await this.withKeys('icreate', req, async () => {
      const at = Math.max(Date.now(), this.lastAt);
      let out: FopOut<'icreate'>;
      try {
        out = await this.o.store.plan('icreate', req, { at });
      } catch (e) {
        if (isErr(e, 'EEXIST')) return;
        throw e;
      }
      const payload: EntryPayload = { opId: newOpId(), at, fop: 'icreate', req, out };
      const { result, actions } = this.core.propose(payload, now());
      this.run(actions);
      if (!result.ok) throw err('EAGAIN', `root icreate refused: ${result.reason}`);
      const o = await this.waitApplied(result.index, term);
      if (!o.ok) throw o.error;
    });
  }

  private holdsRoot(): boolean {
    const bucket = Buffer.from(ROOT_GFID.replace(/-/g, '').slice(0, 4), 'hex').readUInt16BE(0);
    return this.o.layout.mdsRanges.some((r) => r.set === this.o.setId && bucket >= r.first && bucket <= r.last);
  }

  private notServing(): Dht2Error {
    const primary = this.core.primary;
    if (this.state !== 'ok') return err('EAGAIN', `replica set ${this.o.setId}: member ${this.o.self} is ${this.state}`);
    if (primary !== null && primary !== this.o.self) {
      return err('ENOTPRIMARY', `replica set ${this.o.setId}: ${this.o.self} is not the primary; ${primary} is (term ${this.core.term})`, { primary, term: this.core.term });
    }
    return err('EAGAIN', `replica set ${this.o.setId} has no serving primary here (term ${this.core.term}, ${this.core.role})`);
  }

  /** Throws unless this member is the primary, serving, with everything up to its start applied. */
  private requireServing(): void {
    if (this.state !== 'ok' || !this.core.serving || this.applied < this.readyIndex) throw this.notServing();
  }

  /** §10.8: a read runs on applied state, and counts only if the lease held after it. */
  private async read<T>(fn: () => Promise<T>, drop?: (v: T) => void): Promise<T> {
    this.requireServing();
    const v = await fn();
    if (!this.core.readLease(now()) || this.state !== 'ok') {
      drop?.(v);
      throw err('EAGAIN', `replica set ${this.o.setId}: the primary's lease ran out during the read`);
    }
    return v;
  }

  /** Runs `fn` holding the FOP's keys, read again under them until they hold still. */
  private async withKeys<T>(fop: MutatingFop | PendingFop, req: unknown, fn: () => Promise<T>): Promise<T> {
    for (;;) {
      const keys = await conflictKeys(this.o.store, fop, req);
      const r = await this.locks.with(keys, async () => {
        const again = await conflictKeys(this.o.store, fop, req);
        for (const [key, mode] of again) {
          const held = keys.get(key);
          if (held === undefined || (mode === 'X' && held === 'S')) return { retry: true as const };
        }
        return { retry: false as const, v: await fn() };
      });
      if (!r.retry) return r.v;
    }
  }

  /** §10.4 "Duplicates": the outcome of an opId already in the log, if it is. */
  private duplicate(opId: string): Promise<unknown> | undefined {
    const known = this.ops.lookup(opId);
    if (!known) return undefined;
    if (known.kind === 'reply') return Promise.resolve(known.outcome).then(settle);
    if (known.kind === 'truncated') {
      // Applied here, then truncated from the log (§10.13): never a second entry.
      return Promise.reject(err('EALREADY', `operation ${opId} was applied at index ${known.index}; its reply is no longer kept`));
    }
    const at = known;
    // A row at or below the base is stale (a dropped suffix's): truncation moved the live ones.
    if (at.index <= this.core.log.baseIndex || this.core.log.termAt(at.index) !== at.term) return undefined;
    if (at.index <= this.applied) {
      return Promise.reject(err('EALREADY', `operation ${opId} was applied at index ${at.index}; its reply is no longer kept`));
    }
    this.requireServing();
    return this.waitApplied(at.index, at.term).then(settle);
  }

  private async mutate(fop: MutatingFop | PendingFop, req: unknown, opId: string, body?: Readable): Promise<unknown> {
    const id = opId || newOpId();
    let staged: StagedBlob | undefined;
    try {
      const dup = this.duplicate(id);
      if (dup) { body?.resume(); return await dup; }
      this.requireServing();
      // The body is stored (fsynced, MAC checked by the server while it streams) before planning:
      // the entry names it by size and CRC32C, and apply copies it from repl/blobs/ (§6.1).
      if (body) staged = await this.rlog.stageBlob(body);
      const blob = staged;
      return await this.withKeys(fop, req, async () => {
        const d = this.duplicate(id);
        if (d) return d;
        this.requireServing();
        const at = Math.max(Date.now(), this.lastAt);
        const plan = (): Promise<unknown> => this.o.store.plan(fop as MutatingFop, req as FopReq<MutatingFop>, { at }, blob && { path: blob.path });
        const out = this.fresh && (isDsMutating(fop) || isPendingFop(fop)) ? await this.fresh.planWith(fop, req, plan) : await plan();
        // Planned at `at`; logged at no less than the entry before it, which another FOP (on other
        // keys) may have logged while this one planned (§10.4: times never go back). Plan reads
        // `at` only to check it, never into `out`.
        const payload: EntryPayload = {
          opId: id, at: Math.max(at, this.lastAt), fop, req, out, ...(blob ? { blob: { size: blob.size, crc32c: blob.crc32c } } : {}),
        };
        if (blob) this.staged.set(payload, blob);
        const { result, actions } = this.core.propose(payload, now());
        if (result.ok) staged = undefined; // the log owns it now
        else this.staged.delete(payload);
        this.run(actions);
        if (!result.ok) throw this.notServing();
        return settle(await this.waitApplied(result.index, result.term));
      });
    } finally {
      if (staged) await this.rlog.discardBlob(staged).catch(() => undefined);
    }
  }

  // ------------------------------------------------------------------ FopRouter

  async call(fop: ControlFop, req: unknown, meta: FopMeta): Promise<unknown> {
    try {
      if (isFopOfRole(fop, 'peer')) return await this.peerCall(fop, req, meta.from);
      if (fop === 'rstatus') return this.status();
      if (fop === 'rrebuild') return await this.rebuild.start();
      // What every member answers about itself (§10.2's table): its digest for the replica
      // comparison, its layout.
      if (fop === 'digest' || fop === 'layoutget' || fop === 'layoutset') return await this.o.store.callWith(fop, req as never, { at: Date.now() });
      if (isMdsMutating(fop) || isDsMutating(fop) || isPendingFop(fop)) return await this.mutate(fop, req, meta.opId);
      return await this.read(async () => {
        if (fop === 'dstat') await this.fresh?.beforeRead(req);
        return this.o.store.callWith(fop, req as never, { at: Date.now() });
      });
    } catch (e) {
      throw toDht2Error(e, fop);
    }
  }

  async upload(fop: UploadFop, req: unknown, body: Readable, meta: FopMeta): Promise<unknown> {
    try {
      if (fop === 'dput' && (req as FopReq<'dput'>).fresh && this.fresh) {
        // §10.7 step 2: on every member, primary or not; not on one that serves nothing or is
        // being rebuilt (a full copy may remove what it has not seen on its source).
        if (this.state !== 'ok' || this.rebuild.record) throw err('EAGAIN', `replica set ${this.o.setId}: member ${this.o.self} takes no fresh objects now (${this.rebuild.record ? 'being rebuilt' : this.state})`);
        return await this.fresh.put(req as FopReq<'dput'>, body);
      }
      return await this.mutate(fop, req, meta.opId, body);
    } catch (e) {
      body.resume();
      throw toDht2Error(e, fop);
    }
  }

  async download(fop: DownloadFop, req: unknown, meta: FopMeta): Promise<Download<unknown>> {
    try {
      if (fop === 'rblob') {
        this.checkPeer(meta.from, fop);
        return await this.blob(req as FopReq<'rblob'>);
      }
      if (fop === 'rcopy') {
        this.checkPeer(meta.from, fop);
        // A member being rebuilt holds a partial store: its ENOENT would read as "removed by a
        // later entry" to a heal that asks it (fresh.ts copyFrom), so it answers nothing.
        if (this.rebuild.record) throw err('EAGAIN', `member ${this.o.self} is being rebuilt: not a source of copies`);
        return await this.o.store.readCopy((req as FopReq<'rcopy'>).gfid);
      }
      return await this.read(async () => {
        await this.fresh?.beforeRead(req);
        return this.o.store.downloadLocal(fop, req as FopReq<typeof fop>);
      }, (d) => d.body.destroy());
    } catch (e) {
      throw toDht2Error(e, fop);
    }
  }

  // ------------------------------------------------------------------ peer FOPs (§10.2 role `peer`)

  private checkPeer(from: string, fop: FopName): void {
    if (from === '' || from === this.o.self || !this.o.members.includes(from)) {
      throw err('ENOTSUP', `${fop} is served only to the members of replica set ${this.o.setId}${from ? `, not to ${from}` : ' (no x-dht2-from)'}`);
    }
  }

  private async peerCall(fop: ControlFop, req: unknown, from: string): Promise<unknown> {
    this.checkPeer(from, fop);
    if (this.state !== 'ok') throw err('EAGAIN', `replica set ${this.o.setId}: member ${this.o.self} is ${this.state}`);
    if (fop === 'rvote') {
      const r = req as FopReq<'rvote'>;
      // §10.13: no vote before a primary's term is heard, and none in that term (voted for it).
      if (this.awaitTerm || r.term <= this.voteFloor) return { term: this.core.term, granted: false };
      return new Promise<FopRes<'rvote'>>((resolve, reject) => {
        const entry = {
          from, pre: r.pre,
          answer: (m: Extract<Message, { type: 'rvote-reply' }>) => { clearTimeout(t); resolve({ term: m.term, granted: m.granted }); },
        };
        const t = setTimeout(() => {
          const i = this.voteAnswers.indexOf(entry);
          if (i >= 0) this.voteAnswers.splice(i, 1);
          reject(err('EAGAIN', 'rvote: no answer in time'));
        }, PEER_ANSWER_MS);
        this.voteAnswers.push(entry);
        this.input(() => this.core.receive(from, { type: 'rvote', term: r.term, pre: r.pre, lastTerm: r.lastTerm, lastIndex: r.lastIndex }, now()));
      });
    }
    if (fop === 'rappend') return this.onAppend(req as FopReq<'rappend'>, from);
    if (fop === 'rops') return this.opsPage(req as FopReq<'rops'>);
    if (fop === 'rpending') {
      if (!this.fresh) throw err('ENOTSUP', `rpending: replica set ${this.o.setId} is not a DS set (no pending fresh copies)`);
      const r = req as FopReq<'rpending'>;
      const rows = this.fresh.pending.page(r.after, r.limit);
      return {
        items: rows.map((x) => ({ gfid: x.gfid, member: x.member, size: x.size, crc32c: x.crc, idx: x.idx })),
        eof: rows.length < r.limit,
      } satisfies FopRes<'rpending'>;
    }
    throw err('ENOTSUP', `${fop} is not a control FOP of the replication module`);
  }

  /**
   * `rops` (a rebuild's source, §10.13 "As built (op ids)"): the opIds applied here at or below
   * `upTo`, in index order after `after`: the truncated ones first (their indexes are at or below
   * the log's base), then those of the log's entries up to the applied index.
   */
  private opsPage(r: FopReq<'rops'>): FopRes<'rops'> {
    const t = Date.now();
    const items = this.ops.truncatedPage(r.after, r.upTo, r.limit, t);
    const base = this.core.log.baseIndex;
    const last = Math.min(r.upTo, this.applied, this.core.log.lastIndex);
    for (let i = Math.max(r.after, base) + 1; i <= last && items.length < r.limit; i++) {
      const e = this.core.log.entries(i, i)[0];
      if (e?.kind === 'op' && e.payload.opId !== undefined && t - e.payload.at < KEEP_REPLIES_MS) items.push({ opId: e.payload.opId, index: i, at: e.payload.at });
    }
    return { items, eof: items.length < r.limit };
  }

  /**
   * `rappend`: the bodies of entries this member lacks are fetched from the sender (`rblob`,
   * staged and fsynced), so the entries can be appended, and acknowledged, with their bodies
   * (an ack only for durable entries, §10.4).
   *
   * ARCHITECTURE.md §10.16 "false failovers": the answer waits at most APPEND_HOLD_MS for the
   * bodies. Past it, the core is given the message cut to the entries whose bodies are here (a
   * shorter rappend, or a heartbeat: same prevIndex/prevTerm/commit/round), so the answer is `ok`
   * up to the last durable matching index; it refreshes the primary's lease round and this
   * member's heard-from-primary timer. The fetches go on; the next rappend carrying those entries
   * (the next heartbeat resends from nextIndex) shares them (one download per body) and appends
   * the entries once their bodies are staged.
   */
  private async onAppend(r: FopReq<'rappend'>, from: string): Promise<FopRes<'rappend'>> {
    if (this.awaitTerm && r.term > 0) await this.heardPrimary(r.term, from);
    const entries = r.entries.map(fromWire);
    const used: BodyFetch[] = [];
    try {
      // Every body fetched at once, not one after the other: each stage ends with an fsync
      // (§10.15 row 10).
      const needs = (e: (typeof entries)[number]): boolean =>
        e.kind === 'op' && e.payload.blob !== undefined && e.index > this.core.log.baseIndex && this.core.log.termAt(e.index) !== e.term;
      for (const e of entries) {
        if (e.kind !== 'op' || !needs(e)) continue;
        const f = this.fetchBody(from, e.index, e.term, e.payload.blob!);
        f.pins += 1;
        used.push(f);
      }
      if (used.some((f) => !f.blob)) {
        let t: NodeJS.Timeout | undefined;
        await Promise.race([
          Promise.all(used.map((f) => f.done)),
          new Promise<void>((resolve) => { t = setTimeout(resolve, APPEND_HOLD_MS); }),
        ]);
        clearTimeout(t);
      }
      // The entries up to the first whose body is not staged. Checked again here, after the
      // wait: an entry that was here may have been dropped with a suffix meanwhile.
      let k = 0;
      for (; k < entries.length; k++) {
        const e = entries[k]!;
        if (e.kind === 'op' && needs(e) && !this.fetches.get(fetchKey(e.index, e.term))?.blob) break;
      }
      const round = ++this.roundSeq;
      return await new Promise<FopRes<'rappend'>>((resolve, reject) => {
        const t = setTimeout(() => {
          this.appendAnswers.delete(round);
          reject(err('EAGAIN', 'rappend: no answer in time'));
        }, PEER_ANSWER_MS);
        this.appendAnswers.set(round, (m) => { clearTimeout(t); resolve({ term: m.term, ok: m.ok, lastIndex: m.lastIndex }); });
        this.input(() => this.core.receive(from, {
          type: 'rappend', term: r.term, prevIndex: r.prevIndex, prevTerm: r.prevTerm, commit: r.commit,
          lowestMatch: r.lowestMatch, round, entries: k === entries.length ? entries : entries.slice(0, k),
        }, now()));
      });
    } finally {
      for (const f of used) f.pins -= 1;
      this.sweepFetches();
    }
  }

  /** The fetch of entry (index, term)'s body: the one under way or staged, else a new one. */
  private fetchBody(from: string, index: number, term: number, want: { size: number; crc32c: number }): BodyFetch {
    const key = fetchKey(index, term);
    const had = this.fetches.get(key);
    if (had) return had;
    const f: BodyFetch = { index, term, done: Promise.resolve(), pins: 0 };
    this.fetches.set(key, f);
    f.done = (async () => {
      try {
        if (TEST_FETCH_DELAY_MS > 0) await new Promise((r) => setTimeout(r, TEST_FETCH_DELAY_MS));
        const b = await this.peers.fetchBlob(from, index, term, (body) => this.rlog.stageBlob(body));
        if (b.size !== want.size || b.crc32c !== want.crc32c || this.closed || this.fetches.get(key) !== f) {
          await this.rlog.discardBlob(b).catch(() => undefined);
          if (b.size !== want.size || b.crc32c !== want.crc32c) {
            throw err('EIO', `rblob ${index}/${term} from ${from}: ${b.size} bytes CRC32C ${b.crc32c}, the entry says ${want.size} and ${want.crc32c}`);
          }
          if (this.fetches.get(key) === f) this.fetches.delete(key);
          return;
        }
        f.blob = b;
        f.settledAt = Date.now();
      } catch (e) {
        // Fetched again by a later rappend that carries the entry.
        if (this.fetches.get(key) === f) this.fetches.delete(key);
        this.log.debug({ err: e }, `rblob ${index}/${term} from ${from} failed`);
      }
    })();
    return f;
  }

  /** The staged body of entry (index, term), now the log's (writeLog). */
  private takeFetched(index: number, term: number): StagedBlob | undefined {
    const key = fetchKey(index, term);
    const f = this.fetches.get(key);
    if (!f?.blob) return undefined;
    this.fetches.delete(key);
    return f.blob;
  }

  /**
   * Removes the staged bodies no entry will take: their index is committed (with another entry,
   * or this one appended already), the log holds their entry already, or they waited too long.
   */
  private sweepFetches(): void {
    const t = Date.now();
    for (const [key, f] of this.fetches) {
      if (!f.blob || f.pins > 0) continue;
      if (f.index <= this.core.commitIndex || this.core.log.termAt(f.index) === f.term || t - f.settledAt! > FETCHED_KEEP_MS) {
        this.fetches.delete(key);
        void this.rlog.discardBlob(f.blob).catch(() => undefined);
      }
    }
  }

  private async blob(r: FopReq<'rblob'>): Promise<Download<FopRes<'rblob'>>> {
    const e = r.index > this.core.log.baseIndex && this.core.log.termAt(r.index) === r.term ? this.core.log.entries(r.index, r.index)[0] : undefined;
    if (!e || e.kind !== 'op' || !e.payload.blob) throw err('ENOENT', `no blob of entry ${r.index} in term ${r.term} here`);
    return { res: { size: e.payload.blob.size, crc32c: e.payload.blob.crc32c }, body: await this.rlog.openBlob(r.index) };
  }

  // ------------------------------------------------------------------ status, close

  status(): ReplStatus {
    const t = now();
    const role = this.core.role;
    const primary = this.core.primary;
    const s: ReplStatus = {
      set: this.o.setId, brick: this.o.self,
      role: role === 'precandidate' ? 'candidate' : role,
      term: this.core.term,
      lastIndex: this.core.log.lastIndex,
      commitIndex: this.core.commitIndex,
      appliedIndex: this.applied,
      firstIndex: this.core.log.baseIndex + 1,
      appliedTerm: this.core.log.termAt(this.applied) ?? 0,
      logBytes: this.rlog.segmentInfo().reduce((n, x) => n + x.bytes, 0),
      leaseValid: this.core.readLease(t) && this.applied >= this.readyIndex,
      state: this.state,
    };
    if (primary !== null) s.primary = primary;
    if (this.wiped) s.wiped = true;
    const r = this.rebuild.record;
    if (r) {
      s.role = 'learner';
      s.rebuild = {
        source: r.source, fromIndex: r.fromIndex, phase: r.phase, copiedObjects: r.copiedObjects, copiedBytes: r.copiedBytes,
        skippedObjects: r.skippedObjects, removedObjects: r.removedObjects, totalObjects: r.totalObjects, totalBytes: r.totalBytes,
      };
    }
    if (role === 'primary') s.members = this.core.peers(t);
    if (this.fresh) s.pending = this.fresh.pending.counts();
    return s;
  }

  /** §10.7 heal: `member` holds `gfid` now; its pending row goes, logged through the primary. */
  private async pendingDone(gfid: string, member: string): Promise<void> {
    const req: FopReq<'pendingDone'> = { gfid, member };
    const primary = this.core.primary;
    if (primary === this.o.self) { await this.mutate('pendingDone', req, newOpId()); return; }
    if (primary === null) throw err('EAGAIN', `replica set ${this.o.setId}: no primary to log pendingDone`);
    await this.peers.client(primary).call('pendingDone', req);
  }

  async close(): Promise<void> {
    this.closed = true;
    this.keeper.stop();
    if (this.timer) clearTimeout(this.timer);
    if (this.markTimer) clearTimeout(this.markTimer);
    this.failWaiters(() => err('EAGAIN', `replica set ${this.o.setId}: member ${this.o.self} is stopping`));
    await this.peers.close();
    await Promise.all([...this.fetches.values()].map((f) => f.done));
    for (const f of this.fetches.values()) if (f.blob) await this.rlog.discardBlob(f.blob).catch(() => undefined);
    this.fetches.clear();
    await this.logChain.catch(() => undefined);
    await this.writeMark();
    this.fresh?.close();
    await this.rlog.close();
  }
}

