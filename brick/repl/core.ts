/**
 * The consensus core of a replica set (ARCHITECTURE.md §10.3, §10.4; slice 4 of §10.15): Raft's
 * election, log and commit rules with pre-vote, the vote-refusal window, the primary's read lease
 * and step-down, as a **pure state machine**. It does no I/O, sets no timer and never reads a
 * clock: every input carries `now`, the brick's monotonic clock in ms (`performance.now()` in
 * the host), and every output is an {@link Action} the host performs. So the same code runs in
 * the brick and in the deterministic simulator (test/helpers/repl-sim.ts).
 *
 * Durability is the host's: the core asks for a vote-state write (`persist-vote`) or a log write
 * (`write-log`) with a sequence number, and the host reports it done with `persisted(kind, seq)`.
 * Until then every message that depends on it waits inside the core (ON-DISK-FORMAT §6.2: the vote
 * is durable before a grant, a term is durable before the brick acts on it; §6.1: an entry counts
 * as stored only after its fsync). The host must complete the writes of each kind in `seq` order
 * (the log's group commit does; the vote file is rewritten whole, one write at a time).
 */

/** Every primary sends an `rappend` (empty when there is nothing to send) this often (§10.3). */
export const HEARTBEAT_MS = 250;
/** A follower that hears no valid primary for a time drawn uniformly from [MIN, MAX) campaigns. */
export const ELECTION_MIN_MS = 1000;
export const ELECTION_MAX_MS = 2000;
/** No vote (or pre-vote) is granted within this time of hearing a valid primary (thesis §4.2.3). */
export const HEARD_WINDOW_MS = 1000;
/**
 * The primary's lease runs this long from the *send* time of a round a majority acknowledged:
 * below HEARD_WINDOW_MS by 10 %, the drift two clocks may have over one second (§10.3).
 */
export const LEASE_MS = 900;
/** A brick that (re)starts neither votes nor campaigns this long: it may have backed a lease. */
export const RESTART_QUIET_MS = 1000;
/** A primary without a majority acknowledgement this long becomes a follower (§10.3). */
export const STEP_DOWN_MS = 1000;
/** At most this many entries in one `rappend`, so a member far behind is repaired in pages. */
export const MAX_BATCH = 64;

/** The durable vote state, `repl/vote` (ON-DISK-FORMAT §6.2). */
export interface VoteState {
  readonly term: number;
  readonly votedFor: string | null;
}

/** A log entry as the core sees it; `payload` is the replication module's (§10.4's fields). */
export type LogEntry<P = unknown> =
  | { readonly term: number; readonly index: number; readonly kind: 'noop' }
  | { readonly term: number; readonly index: number; readonly kind: 'op'; readonly payload: P };

/**
 * What the core reads of the log: the seam where brick/repl/log.ts plugs in. The log may start
 * after a **base** (Raft's snapshot lastIncludedIndex/lastIncludedTerm, §7 of the paper): the
 * entries up to `baseIndex` were applied and truncated away (ARCHITECTURE.md §10.13
 * "Truncation"); only the base's term is kept, for the (prevIndex, prevTerm) check. Index 0 is the
 * empty prefix, of term 0.
 */
export interface LogView<P = unknown> {
  /** The last index truncated away (0: the log starts at index 1). Every index up to it is committed. */
  readonly baseIndex: number;
  readonly lastIndex: number;
  readonly lastTerm: number;
  /** The term of the entry at `index`: 0 at index 0, the base term at the base, undefined below the base and past the end. */
  termAt(index: number): number | undefined;
  /** Entries `from` to `to`, both included; `from` above the base. */
  entries(from: number, to: number): LogEntry<P>[];
}

/**
 * The in-memory side of the log the core changes as it decides (the host makes the same change
 * durable from the `write-log` action).
 */
export interface MutableLog<P = unknown> extends LogView<P> {
  append(entries: readonly LogEntry<P>[]): void;
  /** Removes the entry at `index` and every later one. */
  truncateFrom(index: number): void;
}

/** Where a log starts: the index and term of the entry before its first (0, 0 for a whole log). */
export interface LogBase {
  readonly index: number;
  readonly term: number;
}

/**
 * The log as a plain array after a base: the core's own log in the simulator, and in the brick
 * the mirror of `repl/log` (brick/repl/node.ts). The host, not the core, truncates its head
 * (`truncateHead`, applied entries only) or empties it onto a new base (`reset`, a member rebuilt
 * by full copy): the core is pure and never decides what to forget (ARCHITECTURE.md §10.13).
 */
export class MemLog<P = unknown> implements MutableLog<P> {
  private list: LogEntry<P>[];
  private base: number;
  private bTerm: number;

  constructor(entries: readonly LogEntry<P>[] = [], base: LogBase = { index: 0, term: 0 }) {
    this.list = [...entries];
    this.base = base.index;
    this.bTerm = base.term;
    this.list.forEach((e, i) => {
      if (e.index !== this.base + i + 1) throw new Error(`MemLog: entry ${this.base + i + 1} has index ${e.index}`);
    });
  }

  get baseIndex(): number { return this.base; }
  get baseTerm(): number { return this.bTerm; }
  get lastIndex(): number { return this.base + this.list.length; }
  get lastTerm(): number { return this.list.at(-1)?.term ?? this.bTerm; }
  termAt(index: number): number | undefined {
    if (index === 0) return 0;
    if (index === this.base) return this.bTerm;
    if (index < this.base) return undefined;
    return this.list[index - this.base - 1]?.term;
  }
  entries(from: number, to: number): LogEntry<P>[] {
    if (from <= this.base) throw new Error(`MemLog: entries from ${from}, at or below the base ${this.base}`);
    return this.list.slice(from - this.base - 1, to - this.base);
  }
  append(entries: readonly LogEntry<P>[]): void {
    for (const e of entries) {
      if (e.index !== this.lastIndex + 1) throw new Error(`MemLog: append of ${e.index} after ${this.lastIndex}`);
      this.list.push(e);
    }
  }
  truncateFrom(index: number): void {
    if (index <= this.base) throw new Error(`MemLog: drop from ${index}, at or below the base ${this.base}`);
    this.list.length = Math.min(this.list.length, index - this.base - 1);
  }
  /** Forgets the entries up to `upTo` (at most the last index); the term of `upTo` becomes the base term. */
  truncateHead(upTo: number): void {
    if (upTo <= this.base) return;
    if (upTo > this.lastIndex) throw new Error(`MemLog: head truncation to ${upTo}, past the last index ${this.lastIndex}`);
    this.bTerm = this.termAt(upTo)!;
    this.list = this.list.slice(upTo - this.base);
    this.base = upTo;
  }
  /** Empties the log onto a new base (a member rebuilt by full copy, §10.13). */
  reset(base: LogBase): void {
    this.list = [];
    this.base = base.index;
    this.bTerm = base.term;
  }
}

/**
 * `rvote` of ARCHITECTURE.md §10.2. Over HTTP the reply pairs with its request; here messages
 * travel alone, so the reply echoes `pre`.
 */
export interface VoteRequest { readonly type: 'rvote'; readonly term: number; readonly pre: boolean; readonly lastTerm: number; readonly lastIndex: number }
export interface VoteReply { readonly type: 'rvote-reply'; readonly term: number; readonly pre: boolean; readonly granted: boolean }
/**
 * `rappend` of §10.2, plus `round`: the primary's number for the batch of sends it belongs to,
 * echoed in the reply, so that an acknowledgement extends the lease from the send time of the
 * round it answers and not of a later one (§10.3). `entries` empty = heartbeat.
 */
export interface AppendRequest<P = unknown> {
  readonly type: 'rappend'; readonly term: number; readonly prevIndex: number; readonly prevTerm: number;
  readonly commit: number; readonly lowestMatch: number; readonly round: number; readonly entries: readonly LogEntry<P>[];
}
/**
 * `ok`: `lastIndex` is the last index known to match the primary's log (prevIndex + entries), all
 * of it durable. Not `ok`: `lastIndex` is a hint, the index after which the primary should retry.
 */
export interface AppendReply { readonly type: 'rappend-reply'; readonly term: number; readonly ok: boolean; readonly lastIndex: number; readonly round: number }
export type Message<P = unknown> = VoteRequest | VoteReply | AppendRequest<P> | AppendReply;

export type Role = 'follower' | 'precandidate' | 'candidate' | 'primary';

/** What the host must do, in the order given. */
export type Action<P = unknown> =
  | { readonly type: 'send'; readonly to: string; readonly msg: Message<P> }
  /** Write `repl/vote` whole and fsync it, then call `persisted('vote', seq)`. */
  | { readonly type: 'persist-vote'; readonly seq: number; readonly state: VoteState }
  /** Drop the suffix from `truncateFrom` (if given), append `entries`, fsync; then `persisted('log', seq)`. */
  | { readonly type: 'write-log'; readonly seq: number; readonly truncateFrom?: number; readonly entries: readonly LogEntry<P>[] }
  /** Entries up to `upTo` are committed and stored here: apply them (§10.4 rule 3). */
  | { readonly type: 'apply'; readonly upTo: number }
  | { readonly type: 'role'; readonly role: Role; readonly term: number; readonly primary: string | null }
  /** The primary committed its term's no-op: it may serve (§10.3, last row). */
  | { readonly type: 'serving'; readonly term: number; readonly index: number };

export type ProposeResult =
  | { readonly ok: true; readonly index: number; readonly term: number }
  /** `ENOTPRIMARY` (421) with the primary this brick follows, if any. */
  | { readonly ok: false; readonly reason: 'not-primary'; readonly primary: string | null; readonly term: number }
  /** The primary has not committed its no-op yet: `EAGAIN`, try again shortly. */
  | { readonly ok: false; readonly reason: 'not-ready'; readonly term: number };

export interface ReplCoreOptions<P> {
  readonly id: string;
  /** The voting members, this brick included unless it is a learner (§10.13). */
  readonly voters: readonly string[];
  /** Members that receive the log but neither vote nor count for commit (§10.13). */
  readonly learners?: readonly string[];
  /** Uniform in [0, 1): draws the election timeouts (injectable for the simulator). */
  readonly rng: () => number;
  /** The monotonic clock at start. */
  readonly now: number;
  /** The durable vote state read at open; none: term 0, no vote. */
  readonly vote?: VoteState;
  /** The durable log read at open (every entry of it is stored). */
  readonly log?: MutableLog<P>;
}

interface Gated<P> { readonly to: string; readonly msg: Message<P>; readonly voteSeq: number; readonly logSeq: number }
interface Round { readonly sentAt: number; readonly acks: Set<string> }

export class ReplCore<P = unknown> {
  readonly id: string;
  readonly voters: readonly string[];
  readonly learners: readonly string[];
  readonly isVoter: boolean;
  private readonly majority: number;
  private readonly others: readonly string[];
  private readonly rng: () => number;
  private readonly mlog: MutableLog<P>;

  private curTerm: number;
  private voted: string | null;
  private curRole: Role = 'follower';
  private leader: string | null = null;
  private commit = 0;
  private applied = 0;
  private lowest = 0;
  private lastNow: number;

  // Durability (module comment). `durable` is the last index known stored here, lowered when a
  // suffix is dropped so that an older write's report never covers entries written after it.
  private voteSeq = 0;
  private voteDone = 0;
  private logSeq = 0;
  private logDone = 0;
  private durable: number;
  private writes: Array<{ readonly seq: number; lastIndex: number }> = [];
  private gated: Gated<P>[] = [];

  // Timers, all on the brick's monotonic clock.
  private heardAt = -Infinity;
  private readonly quietUntil: number;
  private electionAt: number;

  // Elections.
  private preVotes = new Set<string>();
  private votes = new Set<string>();
  private selfVoteSeq = 0;

  // Primary.
  private nextIndex = new Map<string, number>();
  private matchIndex = new Map<string, number>();
  private sentUpTo = new Map<string, number>();
  private heartbeatAt = 0;
  private lastMajorityAt = -Infinity;
  private leaseUntil = -Infinity;
  private rounds = new Map<number, Round>();
  private round = 0;
  private noopIndex = 0;
  private isServing = false;
  /** When each member last answered this primary (for `peers`; no rule depends on it). */
  private answeredAt = new Map<string, number>();

  private out: Action<P>[] = [];
  private lastRole: { role: Role; term: number; primary: string | null } | null = null;

  constructor(o: ReplCoreOptions<P>) {
    this.id = o.id;
    this.voters = [...o.voters];
    this.learners = [...(o.learners ?? [])];
    this.isVoter = this.voters.includes(o.id);
    if (!this.isVoter && !this.learners.includes(o.id)) throw new Error(`ReplCore: ${o.id} is not a member`);
    if (new Set([...this.voters, ...this.learners]).size !== this.voters.length + this.learners.length) {
      throw new Error('ReplCore: a member is listed twice');
    }
    this.majority = Math.floor(this.voters.length / 2) + 1;
    this.others = [...this.voters, ...this.learners].filter((m) => m !== o.id);
    this.rng = o.rng;
    this.mlog = o.log ?? new MemLog<P>();
    this.curTerm = o.vote?.term ?? 0;
    this.voted = o.vote?.votedFor ?? null;
    if (this.mlog.lastTerm > this.curTerm) {
      // The log and the vote file are separate writes: a crash can keep entries of a term whose
      // adoption (tmp, fsync, rename) had not finished. The brick had not voted in that term (a
      // vote is written after the adoption, and granted only once durable), so it resumes in it
      // with no vote; campaigning from the stored vote's term instead could elect a second
      // primary in a term that already has one.
      this.curTerm = this.mlog.lastTerm;
      this.voted = null;
      // Stored before it is announced, as any adopted term; the first input returns the action.
      this.persistVote();
    }
    this.durable = this.mlog.lastIndex;
    // Entries are truncated only once applied, so committed: the base is (ARCHITECTURE.md §10.13).
    this.commit = this.applied = this.mlog.baseIndex;
    this.lastNow = o.now;
    // §10.3 "restart": whatever lease this brick backed before it stopped has run out by then.
    this.quietUntil = o.now + RESTART_QUIET_MS;
    this.electionAt = o.now + this.timeout();
  }

  // ---- what the host and the tests read ----

  get term(): number { return this.curTerm; }
  get votedFor(): string | null { return this.voted; }
  get role(): Role { return this.curRole; }
  /** The primary this brick knows of in its term (itself when primary). */
  get primary(): string | null { return this.leader; }
  get commitIndex(): number { return this.commit; }
  get log(): LogView<P> { return this.mlog; }
  /** The primary has committed its no-op (§10.3). */
  get serving(): boolean { return this.curRole === 'primary' && this.isServing; }
  /**
   * The lowest match index of every member, voters and learners, as a primary last announced (on
   * the primary: as it announces it now): every member holds the entries up to it, so none needs
   * them from another's log (§10.13 truncation).
   */
  get lowestMatch(): number { return this.curRole === 'primary' ? this.lowestMatchNow() : this.lowest; }

  /**
   * On the primary, what it knows of every other member (`rstatus`, ARCHITECTURE.md §10.8): its
   * match index, whether it answered in this term within the last election timeout, and whether
   * it needs entries this log no longer holds (its next index is at or below the base: only a
   * full copy repairs it, §10.13).
   */
  peers(now: number): Array<{ id: string; voter: boolean; up: boolean; matchIndex: number; needsCopy: boolean }> {
    if (this.curRole !== 'primary') return [];
    return this.others.map((id) => ({
      id, voter: this.voters.includes(id), matchIndex: this.matchIndex.get(id) ?? 0,
      up: now - (this.answeredAt.get(id) ?? -Infinity) < ELECTION_MIN_MS,
      needsCopy: this.needsCopy(id),
    }));
  }

  /** The member's next index is at or below this log's base: replay cannot repair it (§10.13). */
  private needsCopy(p: string): boolean {
    return (this.nextIndex.get(p) ?? Infinity) - 1 < this.mlog.baseIndex;
  }

  /** A lease-read is allowed now (§10.3): serving primary, within 900 ms of an acknowledged round. */
  readLease(now: number): boolean {
    return this.serving && now < this.leaseUntil;
  }

  /** The local time by which `tick` must be called at the latest (the host's timer). */
  nextWake(): number {
    if (this.curRole === 'primary') return Math.min(this.heartbeatAt, this.lastMajorityAt + STEP_DOWN_MS);
    return Math.max(this.electionAt, this.quietUntil);
  }

  // ---- inputs ----

  tick(now: number): Action<P>[] {
    this.timers(now);
    return this.done();
  }

  receive(from: string, msg: Message<P>, now: number): Action<P>[] {
    this.timers(now);
    if (from !== this.id && (this.voters.includes(from) || this.learners.includes(from))) {
      switch (msg.type) {
        case 'rvote': this.onVote(from, msg, now); break;
        case 'rvote-reply': this.onVoteReply(from, msg, now); break;
        case 'rappend': this.onAppend(from, msg, now); break;
        case 'rappend-reply': this.onAppendReply(from, msg, now); break;
      }
    }
    this.flush();
    return this.done();
  }

  /** The host finished the vote-state write or the log write numbered `seq` (and every earlier one). */
  persisted(kind: 'vote' | 'log', seq: number, now: number): Action<P>[] {
    this.timers(now);
    if (kind === 'vote') {
      this.voteDone = Math.max(this.voteDone, seq);
      this.maybeWin(now);
    } else {
      this.logDone = Math.max(this.logDone, seq);
      while (this.writes.length > 0 && this.writes[0]!.seq <= seq) {
        this.durable = Math.max(this.durable, this.writes.shift()!.lastIndex);
      }
      if (this.curRole === 'primary') this.advanceCommit();
      // The commit index may have run ahead of this brick's own fsync (a majority without it).
      this.emitApply();
    }
    this.flush();
    return this.done();
  }

  /** Appends `payload` as the next entry (§10.4 rule 1), on the primary only. */
  propose(payload: P, now: number): { result: ProposeResult; actions: Action<P>[] } {
    this.timers(now);
    let result: ProposeResult;
    if (this.curRole !== 'primary') {
      result = { ok: false, reason: 'not-primary', primary: this.leader, term: this.curTerm };
    } else if (!this.isServing) {
      result = { ok: false, reason: 'not-ready', term: this.curTerm };
    } else {
      const e: LogEntry<P> = { term: this.curTerm, index: this.mlog.lastIndex + 1, kind: 'op', payload };
      this.writeLog(undefined, [e]);
      // The primary sends while its own fsync runs (§10.4 rule 1), pipelined after what is in flight.
      const round = this.roundFor(now);
      for (const p of this.others) if (!this.needsCopy(p)) this.sendAppend(p, (this.sentUpTo.get(p) ?? 0) + 1, round);
      result = { ok: true, index: e.index, term: e.term };
    }
    this.flush();
    return { result, actions: this.done() };
  }

  // ---- the safety rules a test may break to prove its checker can fail (core-sim.test.ts) ----

  /** §10.3's lease, which must stay below the vote-refusal window by the clock drift allowed. */
  protected readonly leaseMs: number = LEASE_MS;
  /** §10.3's vote-refusal window after hearing a valid primary. */
  protected readonly heardWindowMs: number = HEARD_WINDOW_MS;
  /** §10.3's pre-vote (thesis §9.6). */
  protected readonly preVote: boolean = true;

  /** Raft §5.4.1: the candidate's (last term, last index) is at least this brick's. */
  protected upToDate(lastTerm: number, lastIndex: number): boolean {
    return lastTerm > this.mlog.lastTerm || (lastTerm === this.mlog.lastTerm && lastIndex >= this.mlog.lastIndex);
  }

  // ---- timers ----

  private timeout(): number {
    return ELECTION_MIN_MS + this.rng() * (ELECTION_MAX_MS - ELECTION_MIN_MS);
  }

  private timers(now: number): void {
    // A host clock never goes back; if one did, the core holds on to the time it saw.
    if (now < this.lastNow) now = this.lastNow;
    this.lastNow = now;
    if (this.curRole === 'primary') {
      if (now - this.lastMajorityAt >= STEP_DOWN_MS) {
        // §10.3 step down: cut off from a majority, it could commit nothing anyway.
        this.becomeFollower(null);
        this.electionAt = now + this.timeout();
      } else if (now >= this.heartbeatAt) {
        this.broadcast(now);
      }
      return;
    }
    if (now < this.electionAt) return;
    if (!this.isVoter) { this.electionAt = now + this.timeout(); return; }
    if (now < this.quietUntil) { this.electionAt = this.quietUntil; return; }
    this.startPreVote(now);
  }

  // ---- elections ----

  private startPreVote(now: number): void {
    if (!this.preVote) { this.startElection(now); return; }
    // Thesis §9.6: ask first, without raising the term, so a brick cut off does not depose anyone.
    this.curRole = 'precandidate';
    this.leader = null;
    this.preVotes = new Set([this.id]);
    this.electionAt = now + this.timeout();
    this.emitRole();
    for (const v of this.voters) {
      if (v !== this.id) this.send(v, { type: 'rvote', term: this.curTerm + 1, pre: true, lastTerm: this.mlog.lastTerm, lastIndex: this.mlog.lastIndex });
    }
    if (this.preVotes.size >= this.majority) this.startElection(now);
  }

  private startElection(now: number): void {
    this.curTerm += 1;
    this.voted = this.id;
    this.persistVote();
    this.selfVoteSeq = this.voteSeq;
    this.curRole = 'candidate';
    this.leader = null;
    this.votes = new Set([this.id]);
    this.electionAt = now + this.timeout();
    this.emitRole();
    for (const v of this.voters) {
      if (v !== this.id) this.send(v, { type: 'rvote', term: this.curTerm, pre: false, lastTerm: this.mlog.lastTerm, lastIndex: this.mlog.lastIndex });
    }
    this.maybeWin(now);
  }

  private maybeWin(now: number): void {
    // Its own vote counts once it is durable, as any other (ON-DISK-FORMAT §6.2).
    if (this.curRole === 'candidate' && this.votes.size >= this.majority && this.voteDone >= this.selfVoteSeq) {
      this.becomePrimary(now);
    }
  }

  private onVote(from: string, m: VoteRequest, now: number): void {
    // §10.3: no vote while a valid primary was heard in the last 1000 ms (thesis §4.2.3; the
    // term is not even adopted, so such a request deposes nobody), nor while quiet after a
    // restart, nor from a learner or to a non-voter.
    const refuse = this.curRole === 'primary' || now - this.heardAt < this.heardWindowMs || now < this.quietUntil
      || !this.isVoter || !this.voters.includes(from);
    if (m.pre) {
      // A candidate backs itself in its term: granting a pre-vote for the next one would let a
      // rival depose it the moment it wins.
      const granted = !refuse && this.curRole !== 'candidate' && m.term > this.curTerm && this.upToDate(m.lastTerm, m.lastIndex);
      this.send(from, { type: 'rvote-reply', term: granted ? m.term : this.curTerm, pre: true, granted });
      return;
    }
    if (refuse || m.term < this.curTerm) {
      this.send(from, { type: 'rvote-reply', term: this.curTerm, pre: false, granted: false });
      return;
    }
    if (m.term > this.curTerm) this.adoptTerm(m.term);
    const granted = (this.voted === null || this.voted === from) && this.upToDate(m.lastTerm, m.lastIndex);
    if (granted) {
      if (this.voted !== from) {
        this.voted = from;
        this.persistVote();
      }
      this.electionAt = now + this.timeout();
      // The candidate it backs is likely primary within a round trip: refusing other candidates
      // (pre-votes included) for the window, as if it had heard that primary, keeps a brick that
      // was a term behind from deposing it the moment it wins.
      this.heardAt = now;
    }
    // Sent once the vote state is durable (send() waits for it).
    this.send(from, { type: 'rvote-reply', term: this.curTerm, pre: false, granted });
  }

  private onVoteReply(from: string, m: VoteReply, now: number): void {
    if (!this.voters.includes(from)) return;
    if (m.pre) {
      if (m.granted && this.curRole === 'precandidate' && m.term === this.curTerm + 1) {
        this.preVotes.add(from);
        if (this.preVotes.size >= this.majority) this.startElection(now);
      } else if (!m.granted && m.term > this.curTerm) {
        const wasAsking = this.curRole === 'precandidate';
        this.adoptTerm(m.term);
        // Refused only for a stale term, perhaps: ask again at once from the term just learnt,
        // rather than a whole election timeout later (a brick back from a restart is usually a
        // term behind). Bounded: each retry needs a higher term than the last.
        if (wasAsking) this.startPreVote(now);
      }
      return;
    }
    if (m.term > this.curTerm) { this.adoptTerm(m.term); return; }
    if (this.curRole === 'candidate' && m.term === this.curTerm && m.granted) {
      this.votes.add(from);
      this.maybeWin(now);
    }
  }

  // ---- log replication, follower side ----

  private onAppend(from: string, m: AppendRequest<P>, now: number): void {
    if (m.term < this.curTerm) {
      this.send(from, { type: 'rappend-reply', term: this.curTerm, ok: false, lastIndex: this.mlog.lastIndex, round: m.round });
      return;
    }
    if (m.term > this.curTerm) this.adoptTerm(m.term);
    if (this.curRole === 'primary') throw new Error(`ReplCore ${this.id}: two primaries in term ${m.term} (${from})`);
    if (this.curRole !== 'follower' || this.leader !== from) this.becomeFollower(from);
    this.heardAt = now;
    this.electionAt = now + this.timeout();
    // Held by every voter, so never dropped by any later primary: the highest seen stays true.
    this.lowest = Math.max(this.lowest, m.lowestMatch);

    if (m.prevIndex > this.mlog.lastIndex) {
      this.send(from, { type: 'rappend-reply', term: this.curTerm, ok: false, lastIndex: this.mlog.lastIndex, round: m.round });
      return;
    }
    const base = this.mlog.baseIndex;
    if (m.prevIndex < base) {
      // Raft §7: the entries up to the base are committed (applied here, then truncated), so they
      // match the primary's, which holds every committed entry (§5.4). The part of the message up
      // to the base is already here; the rest continues from the base.
      m = { ...m, prevIndex: base, prevTerm: this.mlog.termAt(base)!, entries: m.entries.filter((e) => e.index > base) };
    }
    const t = this.mlog.termAt(m.prevIndex);
    if (t === undefined) throw new Error(`ReplCore ${this.id}: no term for index ${m.prevIndex}`);
    if (t !== m.prevTerm) {
      // Raft §5.3 with the usual shortcut: skip back over the whole conflicting term at once.
      let i = m.prevIndex;
      while (i - 1 > this.commit && this.mlog.termAt(i - 1) === t) i--;
      this.send(from, { type: 'rappend-reply', term: this.curTerm, ok: false, lastIndex: i - 1, round: m.round });
      return;
    }
    let k = 0;
    for (; k < m.entries.length; k++) {
      const e = m.entries[k]!;
      if (e.index > this.mlog.lastIndex || this.mlog.termAt(e.index) !== e.term) break;
    }
    if (k < m.entries.length) {
      const first = m.entries[k]!;
      let truncateFrom: number | undefined;
      if (first.index <= this.mlog.lastIndex) {
        // §10.4 rule 1: never below the commit index; a conflict there is a bug and stops the brick.
        if (first.index <= this.commit) throw new Error(`ReplCore ${this.id}: conflict at committed index ${first.index}`);
        truncateFrom = first.index;
      }
      this.writeLog(truncateFrom, m.entries.slice(k));
    }
    const matched = m.prevIndex + m.entries.length;
    const c = Math.min(m.commit, matched);
    if (c > this.commit) this.commit = c;
    this.emitApply();
    // Answered once everything up to `matched` is durable here (send() waits for the log write).
    this.send(from, { type: 'rappend-reply', term: this.curTerm, ok: true, lastIndex: matched, round: m.round }, true);
  }

  // ---- log replication, primary side ----

  private becomePrimary(now: number): void {
    this.curRole = 'primary';
    this.leader = this.id;
    this.isServing = false;
    this.rounds = new Map();
    this.leaseUntil = -Infinity;
    this.lastMajorityAt = now;
    this.answeredAt = new Map();
    for (const p of this.others) {
      this.nextIndex.set(p, this.mlog.lastIndex + 1);
      this.matchIndex.set(p, 0);
      this.sentUpTo.set(p, this.mlog.lastIndex);
    }
    this.emitRole();
    // §10.3: a new primary serves once its no-op, an entry of its own term, is committed (§5.4.2).
    this.noopIndex = this.mlog.lastIndex + 1;
    this.writeLog(undefined, [{ term: this.curTerm, index: this.noopIndex, kind: 'noop' }]);
    this.broadcast(now);
  }

  private broadcast(now: number): void {
    const round = this.roundFor(now);
    for (const p of this.others) this.sendAppend(p, this.nextIndex.get(p)!, round);
    this.heartbeatAt = now + HEARTBEAT_MS;
  }

  private roundFor(now: number): number {
    const r = this.rounds.get(this.round);
    if (r === undefined || r.sentAt !== now) {
      this.round += 1;
      this.rounds.set(this.round, { sentAt: now, acks: new Set([this.id]) });
      for (const [k, v] of this.rounds) {
        if (v.sentAt < now - 2 * STEP_DOWN_MS) this.rounds.delete(k);
        else break;
      }
    }
    return this.round;
  }

  private sendAppend(p: string, from: number, round: number): void {
    const base = this.mlog.baseIndex;
    if (from - 1 < base) {
      // The member lacks entries this log no longer holds (truncated, §10.13): replay cannot
      // repair it, only a full copy can. It still hears the primary (its term, the commit index,
      // the lease round) in a heartbeat from the base, every HEARTBEAT_MS and not on each answer:
      // a refusal below the base sends nothing back (onAppendReply).
      this.sentUpTo.set(p, from - 1);
      this.send(p, {
        type: 'rappend', term: this.curTerm, prevIndex: base, prevTerm: this.mlog.termAt(base)!, commit: this.commit,
        lowestMatch: this.announcedMark(), round, entries: [],
      });
      return;
    }
    const prevIndex = from - 1;
    const prevTerm = this.mlog.termAt(prevIndex);
    if (prevTerm === undefined) throw new Error(`ReplCore ${this.id}: no term for index ${prevIndex}`);
    const last = Math.min(this.mlog.lastIndex, prevIndex + MAX_BATCH);
    const entries = from <= last ? this.mlog.entries(from, last) : [];
    this.sentUpTo.set(p, prevIndex + entries.length);
    this.send(p, {
      type: 'rappend', term: this.curTerm, prevIndex, prevTerm, commit: this.commit,
      lowestMatch: this.announcedMark(), round, entries,
    });
  }

  private onAppendReply(from: string, m: AppendReply, now: number): void {
    if (m.term > this.curTerm) { this.adoptTerm(m.term); return; }
    if (this.curRole !== 'primary' || m.term !== this.curTerm) return;
    this.answeredAt.set(from, now);
    const voter = this.voters.includes(from);
    const r = this.rounds.get(m.round);
    if (r !== undefined && voter) {
      // Any answer in this term, ok or not, says the member heard this primary at or after the
      // round's send time, and will refuse votes for 1000 ms of its clock.
      r.acks.add(from);
      if (r.acks.size >= this.majority) {
        this.leaseUntil = Math.max(this.leaseUntil, r.sentAt + this.leaseMs);
        this.lastMajorityAt = Math.max(this.lastMajorityAt, r.sentAt);
      }
    }
    if (m.ok) {
      this.matchIndex.set(from, Math.max(this.matchIndex.get(from)!, m.lastIndex));
      this.nextIndex.set(from, Math.max(this.nextIndex.get(from)!, m.lastIndex + 1));
      if (this.sentUpTo.get(from)! < this.nextIndex.get(from)! - 1) this.sentUpTo.set(from, this.nextIndex.get(from)! - 1);
      if (voter) this.advanceCommit();
      const sent = this.sentUpTo.get(from)!;
      if (sent < this.mlog.lastIndex) this.sendAppend(from, sent + 1, this.roundFor(now));
    } else {
      // A refusal below what the member acknowledged: it lost entries it had stored (a wiped
      // brick formatted again, ARCHITECTURE.md §10.13), or the hint skipped back over a term.
      // Its match index comes down to what it says, so the repair starts from there; lowering it
      // never commits anything, and the member cannot vote meanwhile (a brick without a vote file
      // waits for a primary's term, §6.2 of ON-DISK-FORMAT.md).
      if (m.lastIndex < this.matchIndex.get(from)!) this.matchIndex.set(from, m.lastIndex);
      const match = this.matchIndex.get(from)!;
      const next = Math.max(match + 1, Math.min(this.nextIndex.get(from)! - 1, m.lastIndex + 1));
      this.nextIndex.set(from, next);
      // Below the base, the member needs a full copy: the heartbeats keep it informed (sendAppend).
      if (!this.needsCopy(from)) this.sendAppend(from, next, this.roundFor(now));
    }
  }

  /**
   * What `rappend` announces as `lowestMatch`: the members' lowest match index, or this log's base
   * when higher. A follower truncates no further than it (brick/repl/truncate.ts): below the
   * lowest match every member holds the entries; below the primary's base a member that lacks
   * them is repaired by full copy whoever is primary, and the primary's base never passes a pin.
   * A new primary announces less at first (no match known yet); a follower keeps the highest it
   * heard (`onAppend`).
   */
  private announcedMark(): number {
    return Math.max(this.lowestMatchNow(), this.mlog.baseIndex);
  }

  private lowestMatchNow(): number {
    // Every member, learners too: a learner being rebuilt needs the entries after its copy's
    // start from this log (ARCHITECTURE.md §10.13 "Truncation", pinning).
    let low = this.durable;
    for (const v of this.others) low = Math.min(low, this.matchIndex.get(v) ?? 0);
    return low;
  }

  private advanceCommit(): void {
    // §10.4 rule 2: stored on a majority of voters (this brick counts what it has fsynced), and of
    // this primary's term: an older term's entry commits only under one of this term (Raft §5.4.2).
    const matches = this.voters.map((v) => (v === this.id ? this.durable : this.matchIndex.get(v) ?? 0)).sort((a, b) => b - a);
    const n = matches[this.majority - 1]!;
    if (n > this.commit && this.mlog.termAt(n) === this.curTerm) {
      this.commit = n;
      this.emitApply();
      if (!this.isServing && this.commit >= this.noopIndex) {
        this.isServing = true;
        this.out.push({ type: 'serving', term: this.curTerm, index: this.noopIndex });
      }
    }
  }

  // ---- state changes ----

  private adoptTerm(term: number): void {
    // ON-DISK-FORMAT §6.2: stored before acted on (every later send waits for this write).
    this.curTerm = term;
    this.voted = null;
    this.persistVote();
    this.becomeFollower(null);
  }

  private becomeFollower(leader: string | null): void {
    this.curRole = 'follower';
    this.leader = leader;
    this.isServing = false;
    this.leaseUntil = -Infinity;
    this.emitRole();
  }

  private persistVote(): void {
    this.voteSeq += 1;
    this.out.push({ type: 'persist-vote', seq: this.voteSeq, state: { term: this.curTerm, votedFor: this.voted } });
  }

  private writeLog(truncateFrom: number | undefined, entries: readonly LogEntry<P>[]): void {
    this.logSeq += 1;
    if (truncateFrom !== undefined) {
      this.mlog.truncateFrom(truncateFrom);
      this.durable = Math.min(this.durable, truncateFrom - 1);
      for (const w of this.writes) w.lastIndex = Math.min(w.lastIndex, truncateFrom - 1);
    }
    this.mlog.append(entries);
    this.writes.push({ seq: this.logSeq, lastIndex: this.mlog.lastIndex });
    this.out.push(truncateFrom === undefined
      ? { type: 'write-log', seq: this.logSeq, entries }
      : { type: 'write-log', seq: this.logSeq, truncateFrom, entries });
  }

  private emitApply(): void {
    // Apply only what is committed *and* stored here: the applied mark must not pass the log.
    const upTo = Math.min(this.commit, this.durable);
    if (upTo > this.applied) {
      this.applied = upTo;
      this.out.push({ type: 'apply', upTo });
    }
  }

  private emitRole(): void {
    const l = this.lastRole;
    if (l === null || l.role !== this.curRole || l.term !== this.curTerm || l.primary !== this.leader) {
      this.lastRole = { role: this.curRole, term: this.curTerm, primary: this.leader };
      this.out.push({ type: 'role', role: this.curRole, term: this.curTerm, primary: this.leader });
    }
  }

  /**
   * Every message waits for the vote state it was decided under (so no term or vote is ever
   * announced before it is durable); an `rappend` answer also waits for the log writes before it.
   */
  private send(to: string, msg: Message<P>, needsLog = false): void {
    const g: Gated<P> = { to, msg, voteSeq: this.voteSeq, logSeq: needsLog ? this.logSeq : 0 };
    if (g.voteSeq <= this.voteDone && g.logSeq <= this.logDone) this.out.push({ type: 'send', to, msg });
    else this.gated.push(g);
  }

  private flush(): void {
    if (this.gated.length === 0) return;
    const keep: Gated<P>[] = [];
    for (const g of this.gated) {
      if (g.voteSeq > this.voteDone || g.logSeq > this.logDone) { keep.push(g); continue; }
      // An acknowledgement of an older term is dropped: this brick may since have dropped the
      // suffix it acknowledged for a newer primary; the old primary will retry or step down.
      if (g.msg.type === 'rappend-reply' && g.msg.ok && g.msg.term !== this.curTerm) continue;
      this.out.push({ type: 'send', to: g.to, msg: g.msg });
    }
    this.gated = keep;
  }

  private done(): Action<P>[] {
    this.emitRole();
    const a = this.out;
    this.out = [];
    return a;
  }
}
