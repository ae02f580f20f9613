/**
 * A deterministic simulator for the consensus core (brick/repl/core.ts; ARCHITECTURE.md §10.11,
 * slice 4 of §10.15). Simulated true time in ms; each brick has its own monotonic clock, running
 * at a rate within ±5 % of true time (§10.3 allows 10 % between two bricks), from its own origin.
 * Faults: a network that drops, delays past later messages, and duplicates; crashes that lose
 * every write not yet reported durable except a random prefix of them (a torn tail); restarts from
 * the durable vote state and log; freezes (the brick takes no step, its clock runs on, what
 * arrived meanwhile is handled when it resumes); partitions. Clients propose to whichever brick
 * they believe is primary.
 *
 * The invariants are checked after every step and thrown as a {@link SimViolation}:
 *  - at most one primary per term;
 *  - what a brick sends follows the disk: no term announced before it is durable, no vote granted
 *    before it is durable, no entry acknowledged before it is in the durable log (ON-DISK-FORMAT
 *    §6.1, §6.2);
 *  - log matching: an entry of a given (index, term) has the same content and follows the same
 *    term everywhere (so, by induction, two logs agree up to a common (index, term));
 *  - a primary never drops entries from its own log;
 *  - commit is real: when a primary says index N of its term is committed, N is in the *durable*
 *    log of a majority of voters; committed entries never change, and every brick applies exactly
 *    the committed entries;
 *  - leader completeness: a new primary holds every entry committed before it;
 *  - no two bricks believe they hold a valid read lease at the same true instant (each asked with
 *    its own drifted clock);
 *  - liveness, checked by {@link ReplSim.settle}: after the last fault, a primary is serving
 *    within 2.5 s and every log, durable log and applied index converges to the primary's.
 */
import {
  MemLog, ReplCore, type Action, type LogEntry, type Message, type ReplCoreOptions, type VoteState,
} from '../../brick/repl/core.js';
import { rng as makeRng } from './rng.js';

/** A client's proposal: its number, unique in a run. */
export interface Payload { readonly c: number }
export type SimCore = ReplCore<Payload>;
export type CoreFactory = (o: ReplCoreOptions<Payload>) => SimCore;

export class SimViolation extends Error {}

interface Node {
  readonly id: string;
  readonly voter: boolean;
  readonly rate: number;
  readonly origin: number;
  readonly rng: () => number;
  core: SimCore | null;
  /** The running core's log: its head is truncated as a brick's is (§10.13), the durable log keeps everything. */
  mem: MemLog<Payload> | null;
  incarnation: number;
  durableVote: VoteState;
  durableLog: LogEntry<Payload>[];
  voteQ: Array<{ seq: number; state: VoteState }>;
  logQ: Array<{ seq: number; truncateFrom?: number; entries: readonly LogEntry<Payload>[] }>;
  voteBusy: number;
  logBusy: number;
  frozen: number; // freeze id, 0 when running
  buffered: Array<() => void>;
  wakeGen: number;
  applied: number;
  servingSince: number | null;
  /** The commit index this brick claimed as primary, checked up to there. */
  commitSeen: number;
  group: number;
}

type Ev = { at: number; seq: number; run: () => void };

/** A binary min-heap of events by (time, insertion order), so ties replay identically. */
class Queue {
  private h: Ev[] = [];
  private n = 0;
  get size(): number { return this.h.length; }
  peek(): Ev | undefined { return this.h[0]; }
  push(at: number, run: () => void): void {
    const e = { at, seq: this.n++, run };
    const h = this.h;
    h.push(e);
    let i = h.length - 1;
    while (i > 0) {
      const p = (i - 1) >> 1;
      if (!Queue.less(h[i]!, h[p]!)) break;
      [h[i], h[p]] = [h[p]!, h[i]!];
      i = p;
    }
  }
  pop(): Ev | undefined {
    const h = this.h;
    const top = h[0];
    const last = h.pop();
    if (h.length > 0 && last !== undefined) {
      h[0] = last;
      let i = 0;
      for (;;) {
        const l = 2 * i + 1, r = l + 1;
        let m = i;
        if (l < h.length && Queue.less(h[l]!, h[m]!)) m = l;
        if (r < h.length && Queue.less(h[r]!, h[m]!)) m = r;
        if (m === i) break;
        [h[i], h[m]] = [h[m]!, h[i]!];
        i = m;
      }
    }
    return top;
  }
  private static less(a: Ev, b: Ev): boolean { return a.at < b.at || (a.at === b.at && a.seq < b.seq); }
}

export interface NetConfig {
  /** Probability that a message is lost. */
  drop: number;
  /** Probability that a message is delivered twice. */
  dup: number;
  /** Probability that a message is held up to `longMs` (so later ones overtake it). */
  long: number;
  longMs: number;
}
export const CLEAN: NetConfig = { drop: 0, dup: 0, long: 0, longMs: 0 };

export interface SimOptions {
  readonly seed: number;
  readonly voters: number;
  readonly learners?: number;
  readonly net?: NetConfig;
  /** Upper bounds of one vote-file write and one log write (fsync included), in ms. */
  readonly disk?: { readonly voteMs: number; readonly logMs: number };
  readonly makeCore?: CoreFactory;
}

export class ReplSim {
  t = 0;
  readonly nodes: Node[];
  readonly voterIds: string[];
  readonly learnerIds: string[];
  net: NetConfig;
  private readonly disk: { readonly voteMs: number; readonly logMs: number };
  /** Steps taken; a step is one input to one core. */
  steps = 0;
  private readonly q = new Queue();
  private readonly r: () => number;
  private readonly makeCore: CoreFactory;
  private readonly majority: number;
  // Invariant state.
  private readonly primaries = new Map<number, string>();
  private readonly entries = new Map<string, { key: string; prevTerm: number }>();
  private readonly committed: Array<{ term: number; key: string; by: number }> = [];
  private freezeIds = 0;
  /** Directed links that drop everything ("a>b"): a partition that need not be transitive. */
  private readonly cut = new Set<string>();
  // Clients.
  private clientNext = 1;
  private clientTarget: string | null = null;
  private clientTimer = 0;
  proposals = 0;
  accepted = 0;
  /** What a run went through, so a test can show that its schedules exercise something. */
  readonly stats = { crashes: 0, freezes: 0, partitions: 0, cuts: 0, elections: 0, suffixDrops: 0, leaseSteps: 0, truncations: 0 };
  /** Set to follow a run step by step (debugging a seed). */
  trace: ((line: string) => void) | null = null;

  constructor(o: SimOptions) {
    this.r = makeRng(o.seed);
    this.net = o.net ?? CLEAN;
    this.disk = o.disk ?? { voteMs: 4, logMs: 6 };
    this.makeCore = o.makeCore ?? ((c) => new ReplCore<Payload>(c));
    this.voterIds = Array.from({ length: o.voters }, (_, i) => `b${i}`);
    this.learnerIds = Array.from({ length: o.learners ?? 0 }, (_, i) => `l${i}`);
    this.majority = Math.floor(o.voters / 2) + 1;
    this.nodes = [...this.voterIds, ...this.learnerIds].map((id, i) => ({
      id, voter: i < o.voters,
      // Half the bricks at an extreme of the drift allowed, where a lease is most at risk.
      rate: this.r() < 0.5 ? (this.r() < 0.5 ? 0.95 : 1.05) : 1 + (this.r() * 2 - 1) * 0.05,
      origin: Math.floor(this.r() * 1e6),
      rng: makeRng(Math.floor(this.r() * 2 ** 32)),
      core: null, mem: null, incarnation: 0,
      durableVote: { term: 0, votedFor: null }, durableLog: [],
      voteQ: [], logQ: [], voteBusy: 0, logBusy: 0,
      frozen: 0, buffered: [], wakeGen: 0, applied: 0, servingSince: null, commitSeen: 0, group: 0,
    }));
    for (const n of this.nodes) this.start(n);
  }

  // ---- reading the state ----

  node(id: string): Node {
    const n = this.nodes.find((x) => x.id === id);
    if (n === undefined) throw new Error(`no node ${id}`);
    return n;
  }
  localNow(n: Node, t = this.t): number { return n.origin + n.rate * t; }
  private trueTime(n: Node, local: number): number { return (local - n.origin) / n.rate; }

  /** The serving primary of the highest term, if any (a stale one in a minority is ignored). */
  servingPrimary(): Node | null {
    let best: Node | null = null;
    let top = -1;
    for (const n of this.nodes) if (n.core !== null && n.core.term > top) top = n.core.term;
    for (const n of this.nodes) if (n.core?.serving === true && n.core.term === top) best = n;
    return best;
  }
  get committedIndex(): number { return this.committed.length; }
  maxTerm(): number { return Math.max(...this.nodes.map((n) => n.core?.term ?? n.durableVote.term)); }

  private violation(msg: string): never {
    throw new SimViolation(`t=${this.t.toFixed(3)} ${msg}`);
  }

  // ---- running ----

  at(delayMs: number, run: () => void): void { this.q.push(this.t + delayMs, run); }
  atTime(t: number, run: () => void): void { this.q.push(Math.max(t, this.t), run); }

  runUntil(end: number): void {
    for (;;) {
      const e = this.q.peek();
      if (e === undefined || e.at > end) break;
      this.q.pop();
      this.t = e.at;
      e.run();
    }
    this.t = end;
  }

  /** Runs the core of `n` on one input, then handles its actions and checks the invariants. */
  private step(n: Node, input: (c: SimCore, now: number) => Action<Payload>[]): void {
    const core = n.core;
    if (core === null) return;
    if (n.frozen !== 0) { n.buffered.push(() => this.step(n, input)); return; }
    this.steps++;
    let actions: Action<Payload>[];
    try {
      actions = input(core, this.localNow(n));
    } catch (e) {
      this.violation(`${n.id} threw: ${(e as Error).message}`);
    }
    if (this.trace !== null) {
      this.trace(`${this.t.toFixed(3)} ${n.id} [${core.role} t${core.term} last ${core.log.lastIndex}/${core.log.lastTerm} c${core.commitIndex}] `
        + actions.map((a) => JSON.stringify(a.type === 'write-log' ? { ...a, entries: a.entries.map((e) => `${e.index}/${e.term}`) }
          : a.type === 'send' && a.msg.type === 'rappend' ? { to: a.to, msg: { ...a.msg, entries: a.msg.entries.map((e) => `${e.index}/${e.term}`) } } : a)).join(' '));
    }
    this.handle(n, core, actions);
    this.checkCommit(n, core);
    this.checkLeases();
    this.truncate(n, core);
    this.scheduleWake(n);
  }

  /**
   * ARCHITECTURE.md §10.13 "Truncation" by the low-water mark: a brick forgets the head of its
   * in-memory log up to what it applied and what every member holds (a primary's lowest match, a
   * follower's announced mark), keeping a few entries, as brick/repl/log-keeper.ts does with
   * whole segments. Deterministic (no draw), so the schedules are those of the seeds. A restart
   * reads the whole durable log again (a truncation not yet on disk).
   */
  private truncate(n: Node, core: SimCore): void {
    const mem = n.mem;
    if (mem === null || n.core !== core) return;
    const upTo = Math.min(n.applied, core.lowestMatch) - 2;
    if (upTo - mem.baseIndex < 6) return;
    mem.truncateHead(upTo);
    this.stats.truncations++;
  }

  private scheduleWake(n: Node): void {
    if (n.core === null) return;
    const gen = ++n.wakeGen;
    // A hair after the deadline, so the brick's clock has surely reached it.
    const at = Math.max(this.t, this.trueTime(n, n.core.nextWake())) + 0.001;
    this.q.push(at, () => { if (n.wakeGen === gen) this.step(n, (c, now) => c.tick(now)); });
  }

  private start(n: Node): void {
    this.trace?.(`${this.t.toFixed(3)} START ${n.id} vote ${JSON.stringify(n.durableVote)} log ${n.durableLog.length}/${n.durableLog.at(-1)?.term ?? 0}`);
    n.incarnation++;
    n.applied = 0;
    n.servingSince = null;
    n.mem = new MemLog<Payload>(n.durableLog);
    n.core = this.makeCore({
      id: n.id, voters: this.voterIds, learners: this.learnerIds, rng: n.rng, now: this.localNow(n),
      vote: n.durableVote, log: n.mem,
    });
    this.scheduleWake(n);
  }

  // ---- actions ----

  private handle(n: Node, core: SimCore, actions: Action<Payload>[]): void {
    for (const a of actions) {
      switch (a.type) {
        case 'send': this.checkSend(n, core, a.to, a.msg); this.send(n, a.to, a.msg); break;
        case 'persist-vote': {
          n.voteQ.push({ seq: a.seq, state: a.state });
          n.voteBusy = Math.max(n.voteBusy, this.t) + 0.2 + this.r() * this.disk.voteMs;
          const inc = n.incarnation;
          this.q.push(n.voteBusy, () => {
            if (n.incarnation !== inc) return;
            const w = n.voteQ.shift()!;
            n.durableVote = w.state;
            this.step(n, (c, now) => c.persisted('vote', w.seq, now));
          });
          break;
        }
        case 'write-log': {
          if (core.role === 'primary' && a.truncateFrom !== undefined) this.violation(`primary ${n.id} drops its log from ${a.truncateFrom}`);
          this.checkEntries(n, core, a.entries);
          if (a.truncateFrom !== undefined) this.stats.suffixDrops++;
          n.logQ.push({ seq: a.seq, truncateFrom: a.truncateFrom, entries: a.entries });
          n.logBusy = Math.max(n.logBusy, this.t) + 0.2 + this.r() * this.disk.logMs;
          const inc = n.incarnation;
          this.q.push(n.logBusy, () => {
            if (n.incarnation !== inc) return;
            const w = n.logQ.shift()!;
            this.applyWrite(n, w, w.entries.length);
            this.step(n, (c, now) => c.persisted('log', w.seq, now));
          });
          break;
        }
        case 'apply': this.checkApply(n, core, a.upTo); break;
        case 'role': {
          if (a.role === 'primary') {
            const other = this.primaries.get(a.term);
            if (other !== undefined && other !== n.id) this.violation(`two primaries in term ${a.term}: ${other} and ${n.id}`);
            this.primaries.set(a.term, n.id);
            this.stats.elections++;
            // What it knew committed as a follower was claimed by earlier primaries (and is checked
            // against its log just below); its own claims start here.
            n.commitSeen = core.commitIndex;
            if (!n.voter) this.violation(`learner ${n.id} became primary`);
            // Leader completeness (Raft §5.4): every entry committed by a primary of an earlier
            // term is in the new primary's log. (A primary of a lower term can still be elected
            // late, by votes it was sent before a later term committed: it holds no such promise.)
            // (Below its base, its log no longer holds them: truncated once applied, so committed.)
            for (let i = Math.max(1, core.log.baseIndex); i <= this.committed.length; i++) {
              const c = this.committed[i - 1]!;
              if (c.by < a.term && core.log.termAt(i) !== c.term) {
                this.violation(`primary ${n.id} of term ${a.term} lacks entry ${i} (term ${c.term}) committed in term ${c.by}, has ${core.log.termAt(i)}`);
              }
            }
          } else {
            n.servingSince = null;
          }
          break;
        }
        case 'serving': n.servingSince = this.t; break;
      }
    }
  }

  /**
   * ON-DISK-FORMAT §6.2 and §6.1, on the disks: no message announces a term before it is durable
   * here, a grant comes after the durable vote for that candidate, and an acknowledgement after
   * the entries it covers are in the durable log.
   */
  private checkSend(n: Node, core: SimCore, to: string, m: Message<Payload>): void {
    const v = n.durableVote;
    const hypothetical = m.type === 'rvote' ? m.pre : m.type === 'rvote-reply' && m.pre && m.granted;
    if (!hypothetical && m.term > v.term) this.violation(`${n.id} sends ${m.type} of term ${m.term}, durable term ${v.term}`);
    if (m.type === 'rvote-reply' && !m.pre && m.granted && (v.term !== m.term || v.votedFor !== to)) {
      this.violation(`${n.id} grants ${to} in term ${m.term}, durable vote ${JSON.stringify(v)}`);
    }
    if (m.type === 'rappend-reply' && m.ok) {
      const i = m.lastIndex;
      // (An answer decided before the head was truncated past it is checked against the durable log's length only.)
      if (i > n.durableLog.length || (i > 0 && i >= core.log.baseIndex && n.durableLog[i - 1]!.term !== core.log.termAt(i))) {
        this.violation(`${n.id} acknowledges ${i}, durable log ${n.durableLog.length}`);
      }
    }
  }

  private static key(e: LogEntry<Payload>): string { return e.kind === 'noop' ? `noop/${e.term}` : `c${e.payload.c}`; }

  /** Log matching, by induction: each (index, term) names one content after one previous term. */
  private checkEntries(n: Node, core: SimCore, list: readonly LogEntry<Payload>[]): void {
    for (const e of list) {
      if (core.log.termAt(e.index) !== e.term) continue;
      const k = `${e.index}:${e.term}`;
      const seen = { key: ReplSim.key(e), prevTerm: core.log.termAt(e.index - 1) ?? -1 };
      const had = this.entries.get(k);
      if (had === undefined) this.entries.set(k, seen);
      else if (had.key !== seen.key || had.prevTerm !== seen.prevTerm) {
        this.violation(`log matching: ${n.id} has ${k} = ${seen.key} after term ${seen.prevTerm}, elsewhere ${had.key} after ${had.prevTerm}`);
      }
    }
  }

  /**
   * A primary's commit claim, checked against the disks: the entry at its commit index is of its
   * term and durable on a majority of voters. What it commits joins the committed history, which
   * never changes.
   */
  private checkCommit(n: Node, core: SimCore): void {
    if (core.role !== 'primary' || core.commitIndex <= n.commitSeen) return;
    const upTo = core.commitIndex;
    const term = core.log.termAt(upTo);
    const holders = this.nodes.filter((m) => m.voter && m.durableLog[upTo - 1]?.term === term).length;
    if (term !== core.term || holders < this.majority) {
      this.violation(`primary ${n.id} of term ${core.term} commits ${upTo} (term ${term}), durable on ${holders} voters`);
    }
    for (let i = n.commitSeen + 1; i <= upTo; i++) {
      const e = core.log.entries(i, i)[0]!;
      const c = this.committed[i - 1];
      if (c === undefined) this.committed.push({ term: e.term, key: ReplSim.key(e), by: core.term });
      else if (c.term !== e.term || c.key !== ReplSim.key(e)) {
        this.violation(`primary ${n.id} commits ${i} = ${ReplSim.key(e)}/${e.term}, committed before: ${c.key}/${c.term}`);
      }
    }
    n.commitSeen = upTo;
  }

  /** Every brick applies exactly the committed entries. */
  private checkApply(n: Node, core: SimCore, upTo: number): void {
    this.checkCommit(n, core);
    for (let i = n.applied + 1; i <= upTo; i++) {
      const e = core.log.entries(i, i)[0];
      const c = this.committed[i - 1];
      if (e === undefined || c === undefined) this.violation(`${n.id} applies ${i}, not known committed`);
      if (e.term !== c.term || ReplSim.key(e) !== c.key) {
        this.violation(`${n.id} applies ${i} = ${ReplSim.key(e)}/${e.term}, committed was ${c.key}/${c.term}`);
      }
    }
    n.applied = Math.max(n.applied, upTo);
  }

  /** No two bricks believe in a lease at one true instant (each asked on its own clock). */
  private checkLeases(): void {
    let holder: Node | null = null;
    for (const n of this.nodes) {
      if (n.core?.readLease(this.localNow(n)) !== true) continue;
      if (holder !== null) this.violation(`two leases: ${holder.id} (term ${holder.core!.term}) and ${n.id} (term ${n.core.term})`);
      holder = n;
    }
    if (holder !== null) this.stats.leaseSteps++;
  }

  private applyWrite(n: Node, w: { truncateFrom?: number; entries: readonly LogEntry<Payload>[] }, count: number): void {
    if (w.truncateFrom !== undefined) n.durableLog.length = Math.min(n.durableLog.length, w.truncateFrom - 1);
    for (const e of w.entries.slice(0, count)) {
      if (e.index !== n.durableLog.length + 1) throw new Error(`sim: ${n.id} durable append ${e.index} after ${n.durableLog.length}`);
      n.durableLog.push(e);
    }
  }

  // ---- the network ----

  private send(from: Node, to: string, msg: Message<Payload>): void {
    const dst = this.node(to);
    const blocked = (): boolean => from.group !== dst.group || this.cut.has(`${from.id}>${to}`);
    if (blocked()) return;
    if (this.r() < this.net.drop) return;
    const copies = this.r() < this.net.dup ? 2 : 1;
    for (let i = 0; i < copies; i++) {
      let delay = 0.2 + this.r() * 3;
      if (this.r() < this.net.long) delay += this.r() * this.net.longMs;
      this.q.push(this.t + delay, () => {
        // A partition raised while the message was on its way also stops it.
        if (blocked()) return;
        this.step(dst, (c, now) => c.receive(from.id, msg, now));
      });
    }
  }

  // ---- faults ----

  /** The brick dies: writes not reported durable are lost, except a random prefix (a torn tail). */
  crash(id: string): void {
    const n = this.node(id);
    if (n.core === null) return;
    this.trace?.(`${this.t.toFixed(3)} CRASH ${id}`);
    this.stats.crashes++;
    const keepVotes = Math.floor(this.r() * (n.voteQ.length + 1));
    for (const w of n.voteQ.slice(0, keepVotes)) n.durableVote = w.state;
    const keepLogs = Math.floor(this.r() * (n.logQ.length + 1));
    n.logQ.slice(0, keepLogs).forEach((w) => this.applyWrite(n, w, w.entries.length));
    const torn = n.logQ[keepLogs];
    if (torn !== undefined) this.applyWrite(n, torn, Math.floor(this.r() * (torn.entries.length + 1)));
    n.voteQ = [];
    n.logQ = [];
    n.voteBusy = n.logBusy = 0;
    n.core = null;
    n.mem = null;
    n.incarnation++;
    n.frozen = 0;
    n.buffered = [];
    n.servingSince = null;
    n.wakeGen++;
  }

  restart(id: string): void {
    const n = this.node(id);
    if (n.core !== null) return;
    this.start(n);
  }

  freeze(id: string, ms: number): void {
    const n = this.node(id);
    if (n.core === null || n.frozen !== 0) return;
    const f = ++this.freezeIds;
    this.trace?.(`${this.t.toFixed(3)} FREEZE ${id} ${ms}`);
    this.stats.freezes++;
    n.frozen = f;
    this.at(ms, () => { if (n.frozen === f) this.unfreeze(n); });
  }

  private unfreeze(n: Node): void {
    n.frozen = 0;
    const list = n.buffered;
    n.buffered = [];
    // The clock ran while the brick stood still: its first step sees the jump.
    this.step(n, (c, now) => c.tick(now));
    for (const run of list) run();
  }

  /** Cuts the bricks into groups (messages cross no group boundary). */
  partition(groups: readonly (readonly string[])[]): void {
    this.trace?.(`${this.t.toFixed(3)} PARTITION ${JSON.stringify(groups)}`);
    if (groups.length > 1) this.stats.partitions++;
    groups.forEach((g, i) => { for (const id of g) this.node(id).group = i + 1; });
  }

  /** Cuts the link from `a` to `b` (and back, unless `oneWay`). */
  cutLink(a: string, b: string, oneWay = false): void {
    this.trace?.(`${this.t.toFixed(3)} CUT ${a}>${b}${oneWay ? '' : ' and back'}`);
    this.cut.add(`${a}>${b}`);
    this.stats.cuts++;
    if (!oneWay) this.cut.add(`${b}>${a}`);
  }

  mendLink(a: string, b: string): void {
    this.cut.delete(`${a}>${b}`);
    this.cut.delete(`${b}>${a}`);
  }

  /** Every fault ends: partitions healed, frozen bricks resumed, dead ones restarted, clean net. */
  healAll(): void {
    this.net = CLEAN;
    this.cut.clear();
    for (const n of this.nodes) n.group = 0;
    for (const n of this.nodes) if (n.frozen !== 0) this.unfreeze(n);
    for (const n of this.nodes) if (n.core === null) this.start(n);
  }

  // ---- clients ----

  /** A client proposes every `everyMs` (±50 %) to the brick it believes is primary, until `until`. */
  clients(everyMs: number, until: number): void {
    const timer = ++this.clientTimer;
    const next = (): void => {
      if (this.clientTimer !== timer || this.t >= until) return;
      this.propose();
      this.at(everyMs * (0.5 + this.r()), next);
    };
    this.at(everyMs * this.r(), next);
  }

  stopClients(): void { this.clientTimer++; }

  private propose(): void {
    const alive = this.nodes.filter((n) => n.core !== null && n.frozen === 0);
    let target = this.clientTarget === null ? undefined : alive.find((n) => n.id === this.clientTarget);
    if (target === undefined) target = alive[Math.floor(this.r() * alive.length)];
    if (target === undefined) return;
    const c = this.clientNext++;
    this.proposals++;
    this.step(target, (core, now) => {
      const { result, actions } = core.propose({ c }, now);
      if (result.ok) this.accepted++;
      else if (result.reason === 'not-primary') this.clientTarget = result.primary;
      return actions;
    });
  }

  // ---- the end of a run ----

  /**
   * Heals everything, runs `ms` more, and checks liveness: a primary serving within `hardMs` of
   * the heal (the caller looks at how often it took more than 2.5 s, §10.3's budget: a split vote
   * costs one more election timeout, so a bound on every schedule would be a bound on luck), and
   * every brick converged to its log, durable log and applied index included.
   */
  settle(ms = 6000, hardMs = 4500): { primaryAfterMs: number } {
    this.stopClients(); // so that the logs can converge
    this.healAll();
    const healedAt = this.t;
    this.runUntil(healedAt + ms);
    const p = this.servingPrimary();
    if (p === null) this.violation(`no serving primary ${ms} ms after the heal`);
    const after = Math.max(p.servingSince!, healedAt) - healedAt;
    if (after > hardMs) this.violation(`primary ${p.id} serving only ${after.toFixed(0)} ms after the heal`);
    const pl = p.core!.log;
    for (const n of this.nodes) {
      const c = n.core!;
      // From the higher of the two bases: below it, one of the logs was truncated (applied, committed).
      const same = (termAt: (i: number) => number | undefined, last: number, base: number): boolean => {
        if (last !== pl.lastIndex) return false;
        for (let i = Math.max(1, base, pl.baseIndex); i <= last; i++) if (termAt(i) !== pl.termAt(i)) return false;
        return true;
      };
      if (!same((i) => c.log.termAt(i), c.log.lastIndex, c.log.baseIndex)) this.violation(`${n.id}'s log differs from primary ${p.id}'s`);
      if (!same((i) => n.durableLog[i - 1]?.term, n.durableLog.length, 0)) this.violation(`${n.id}'s durable log differs from primary ${p.id}'s`);
      if (n.applied !== pl.lastIndex) this.violation(`${n.id} applied ${n.applied} of ${pl.lastIndex}`);
    }
    return { primaryAfterMs: after };
  }
}

export interface RandomRunOptions {
  readonly seed: number;
  readonly voters: number;
  readonly learners?: number;
  /** Length of the faulty part of the run. */
  readonly faultMs: number;
  readonly makeCore?: CoreFactory;
}

/**
 * One seeded schedule: clients proposing, a lossy reordering network, and crashes, freezes and
 * partitions at random times, then {@link ReplSim.settle}. Throws a SimViolation on a failed
 * invariant.
 */
export function randomRun(o: RandomRunOptions, trace?: (line: string) => void): { sim: ReplSim; primaryAfterMs: number } {
  const r = makeRng(o.seed ^ 0x5eed);
  const net: NetConfig = { drop: r() * 0.1, dup: r() * 0.05, long: r() * 0.1, longMs: 50 + r() * 400 };
  // Disks from fast to slow, the vote file's and the log's apart (separate files, separate fsyncs).
  const disk = { voteMs: 1 + r() * (r() < 0.3 ? 60 : 5), logMs: 1 + r() * (r() < 0.3 ? 30 : 6) };
  const sim = new ReplSim({ seed: o.seed, voters: o.voters, learners: o.learners, net, disk, makeCore: o.makeCore });
  if (trace !== undefined) sim.trace = trace;
  const ids = sim.nodes.map((n) => n.id);
  // Half the faults hit the primary of the moment (chosen when the fault happens), the rest anyone.
  const anyone = (): string => ids[Math.floor(r() * ids.length)]!;
  const pick = (): (() => string) => {
    if (r() < 0.5) return anyone;
    return () => sim.servingPrimary()?.id ?? anyone();
  };
  sim.clients(20 + r() * 60, o.faultMs);
  // Faults start after a first election, so most runs have committed history to lose.
  let t = 1500 + r() * 1500;
  while (t < o.faultMs) {
    const at = t;
    const kind = r();
    if (kind < 0.2) {
      const who = pick();
      const down = 50 + r() * 2500;
      sim.atTime(at, () => {
        const id = who();
        sim.crash(id);
        sim.at(down, () => sim.restart(id));
      });
    } else if (kind < 0.4) {
      const who = pick();
      const ms = 100 + r() * 2500;
      sim.atTime(at, () => sim.freeze(who(), ms));
    } else if (kind < 0.6) {
      // A random split, or the primary alone on one side.
      const alone = r() < 0.4 ? pick() : null;
      const random = ids.filter(() => r() < 0.5);
      const ms = 200 + r() * 3000;
      sim.atTime(at, () => {
        const cut = alone === null ? random : [alone()];
        sim.partition([cut, ids.filter((id) => !cut.includes(id))]);
      });
      sim.atTime(at + ms, () => sim.partition([ids]));
    } else if (kind < 0.75) {
      // One link cut (perhaps one way), the primary's with another brick half the time: the
      // two others still hear each other, so the partition is not transitive.
      const a = pick();
      const b = anyone();
      const oneWay = r() < 0.3;
      const ms = 200 + r() * 3000;
      sim.atTime(at, () => {
        const x = a();
        const y = b === x ? ids.find((id) => id !== x)! : b;
        sim.cutLink(x, y, oneWay);
        sim.at(ms, () => sim.mendLink(x, y));
      });
    } else {
      // A burst of bad network for a while.
      const before = { ...sim.net };
      const ms = 200 + r() * 1500;
      const bad: NetConfig = { drop: 0.3 + r() * 0.5, dup: 0.1, long: 0.3, longMs: 600 };
      sim.atTime(at, () => { sim.net = bad; });
      sim.atTime(at + ms, () => { if (sim.net === bad) sim.net = before; });
    }
    t += 200 + r() * 1200;
  }
  sim.runUntil(o.faultMs);
  const { primaryAfterMs } = sim.settle();
  return { sim, primaryAfterMs };
}
