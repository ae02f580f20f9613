/**
 * One replica set as one BrickFops (docs/ARCHITECTURE.md §10.2, §10.8): DHT2 above places a FOP
 * on a set and sends it here, as it sends a FOP to a brick of a replica-1 volume; this layer finds
 * the set's primary and sends the FOP there. The primary is elected by the members themselves;
 * this layer only follows what they say:
 *
 * - a FOP goes to the member last known as primary (or, knowing none, to the members in turn);
 * - `ENOTPRIMARY` naming a primary of a term at least the cached one: resent there at once;
 * - `EAGAIN` (no primary, minority side), `EHOSTDOWN`, `ENOTCONN`, `ETIMEDOUT`, or
 *   `ENOTPRIMARY` naming none: the next member, after a pause of 50, 100, 200, 400… ms, for at
 *   most `searchMs` (6 s) in all; then EAGAIN (503 SlowDown at the gateway). A failover (about
 *   2 s, §10.3) is a delay for the FOPs caught in it, not an error;
 * - every attempt carries the same operation id (CallContext.opId), so a FOP that ran on a
 *   primary which then died is answered with its first outcome by the next (§10.4), never run
 *   twice; `EALREADY` (the outcome is no longer kept) becomes ENOTCONN, "outcome unknown", which
 *   commitStep answers by looking (§5);
 * - an upload's body cannot be sent twice (PROTOCOL.md §7): it goes to the primary once (found
 *   first with `rstatus` when none is known), and fails with ENOTCONN when that primary fails
 *   under it, which the caller may answer by sending it again;
 * - except a fresh `dput` (a new GFID, §10.7): its body goes to every member at once, and only a
 *   member missing it is logged, in a `pending` record (fresh-fanout.ts).
 */
import type { Readable } from 'node:stream';
import {
  err, isErr, newOpId, type BrickFops, type CallContext, type ControlFop, type Download, type DownloadFop, type FopReq,
  type FopRes, type UploadFop,
} from '../protocol/index.js';
import { freshPut } from './fresh-fanout.js';

export interface ReplicaMember {
  /** The brick id of the member (the layout's). */
  id: string;
  fops: BrickFops;
}

export interface ReplicaSetOptions {
  /** How long a FOP looks for a primary before it fails with EAGAIN, ms (default 6000). */
  searchMs?: number;
  /** Pauses between rounds of the search, ms; the last repeats (default 50, 100, 200, 400, 800). */
  backoffMs?: readonly number[];
  /** Sleeps `ms` (tests may hurry time). */
  sleep?: (ms: number) => Promise<void>;
  /** A fresh dput: how long the members after a majority get to answer, ms (§10.7 step 3; default 1000). */
  freshGraceMs?: number;
  /**
   * A fresh dput: a member that takes no byte this long while a majority keeps up is cut off, ms
   * (default 5000). A frozen member is found sooner by the PING liveness of its client (2 s);
   * this only bounds a member that answers PINGs but takes nothing.
   */
  freshStallMs?: number;
}

/** Errors after which another member may be the primary, or will be soon. */
function searchOn(e: unknown): boolean {
  return isErr(e, 'EAGAIN', 'EHOSTDOWN', 'ENOTCONN', 'ETIMEDOUT', 'ENOTPRIMARY');
}

export class ReplicaSetFops implements BrickFops {
  private primaryId: string | undefined;
  /** The last primary known, kept while the search runs, to count failovers. */
  private lastPrimary: string | undefined;
  private term = 0;
  private readonly byId = new Map<string, ReplicaMember>();
  private readonly searchMs: number;
  private readonly backoffMs: readonly number[];
  private readonly sleep: (ms: number) => Promise<void>;
  private readonly freshGraceMs: number;
  private readonly freshStallMs: number;
  /** Failovers seen by this layer (a primary that answered stopped being the one): for metrics. */
  failovers = 0;

  constructor(readonly setId: string, readonly members: readonly ReplicaMember[], o: ReplicaSetOptions = {}) {
    if (members.length === 0) throw err('EINVAL', `replica set ${setId} has no members`);
    for (const m of members) this.byId.set(m.id, m);
    this.searchMs = o.searchMs ?? 6000;
    this.backoffMs = o.backoffMs ?? [50, 100, 200, 400, 800];
    this.sleep = o.sleep ?? ((ms) => new Promise((r) => setTimeout(r, ms)));
    this.freshGraceMs = o.freshGraceMs ?? 1000;
    this.freshStallMs = o.freshStallMs ?? 5000;
  }

  /** The member this layer believes is the primary, and its term (for status pages). */
  get primary(): { id: string | undefined; term: number } {
    return { id: this.primaryId, term: this.term };
  }

  /** Learns a primary from a member's answer: a higher term wins, an equal one confirms. */
  private learn(id: string | undefined, term: number | undefined): boolean {
    if (id === undefined || !this.byId.has(id)) return false;
    const t = term ?? 0;
    if (t < this.term) return false;
    if (this.lastPrimary !== undefined && this.lastPrimary !== id) this.failovers++;
    this.primaryId = id;
    this.lastPrimary = id;
    this.term = t;
    return true;
  }

  /**
   * Runs `op` on the primary, searching as the module comment says. `op` may be run more than
   * once, on different members, always with the same operation id.
   */
  private async route<T>(what: string, ctx: CallContext, op: (m: ReplicaMember, ctx: CallContext) => Promise<T>): Promise<T> {
    const deadline = performance.now() + this.searchMs;
    let next = 0; // the member to try when no primary is known
    let round = 0;
    let redirects = 0;
    let last: unknown;
    const tried = new Set<string>();
    const pause = async (): Promise<void> => {
      const ms = this.backoffMs[Math.min(round++, this.backoffMs.length - 1)]!;
      await this.sleep(Math.max(0, Math.min(ms, deadline - performance.now())));
    };
    for (;;) {
      if (ctx.signal?.aborted) throw err('ECANCELED', `${what} on replica set ${this.setId} cancelled`);
      const known = this.primaryId !== undefined ? this.byId.get(this.primaryId) : undefined;
      const m = known ?? this.members[next++ % this.members.length]!;
      tried.add(m.id);
      try {
        const r = await op(m, ctx);
        if (!known) this.learn(m.id, this.term);
        return r;
      } catch (e) {
        if (isErr(e, 'EALREADY')) {
          throw err('ENOTCONN', `${what} on replica set ${this.setId}: the primary applied it before but no longer knows its outcome`, { cause: e });
        }
        if (!searchOn(e)) throw e;
        last = e;
        if (performance.now() >= deadline) break;
        // Redirected to a primary it did not know as such: go there at once, unless members
        // keep naming each other (a stale view during an election): then pause like a round.
        if (isErr(e, 'ENOTPRIMARY') && e.primary !== m.id && this.learn(e.primary, e.term)) {
          if (++redirects > this.members.length) { redirects = 0; await pause(); }
          continue;
        }
        if (this.primaryId === m.id) {
          // The primary failed: search from the member after it, so it is asked last.
          this.primaryId = undefined;
          next = this.members.indexOf(m) + 1;
        }
      }
      // A pause after each round over the members, none between the members of a round.
      if (next % this.members.length === 0) await pause();
      if (performance.now() >= deadline) break;
    }
    throw err('EAGAIN', `replica set ${this.setId} has no reachable primary (tried ${[...tried].join(', ')} for ${this.searchMs} ms; last: ${(last as Error | undefined)?.message ?? 'none'})`);
  }

  call<F extends ControlFop>(fop: F, req: FopReq<F>, ctx?: CallContext): Promise<FopRes<F>> {
    const c: CallContext = { ...ctx, opId: ctx?.opId ?? newOpId() };
    return this.route(fop, c, (m, cc) => m.fops.call(fop, req, cc));
  }

  download<F extends DownloadFop>(fop: F, req: FopReq<F>, ctx?: CallContext): Promise<Download<FopRes<F>>> {
    const c: CallContext = { ...ctx, opId: ctx?.opId ?? newOpId() };
    return this.route(fop, c, (m, cc) => m.fops.download(fop, req, cc));
  }

  /**
   * Asks every member for its view (`rstatus`) and learns the primary from the answers: a
   * member that says it is the primary and holds its lease, or the primary a member follows.
   */
  async locate(ctx?: CallContext): Promise<boolean> {
    const views = await Promise.allSettled(this.members.map((m) => m.fops.call('rstatus', {}, ctx)));
    let found = false;
    for (const v of views) {
      if (v.status !== 'fulfilled') continue;
      const s = v.value;
      if (s.role === 'primary' ? s.leaseValid && this.learn(s.brick, s.term) : this.learn(s.primary, s.term)) found = true;
    }
    return found && this.primaryId !== undefined;
  }

  async upload<F extends UploadFop>(fop: F, req: FopReq<F>, body: Readable, ctx?: CallContext): Promise<FopRes<F>> {
    const c: CallContext = { ...ctx, opId: ctx?.opId ?? newOpId() };
    if (fop === 'dput' && (req as FopReq<'dput'>).fresh && this.members.length > 1) {
      return freshPut(this.setId, this.members, req as FopReq<'dput'>, body, c, {
        graceMs: this.freshGraceMs, stallMs: this.freshStallMs,
        // One opId for the record over every resend of it (§10.4 "Duplicates").
        pending: (p, pc) => this.call('pending', p, { ...pc, opId: newOpId() }),
      }) as Promise<FopRes<F>>;
    }
    // The body goes to the primary once: find it first when none is known.
    if (this.primaryId === undefined) {
      const deadline = performance.now() + this.searchMs;
      for (let round = 0; !(await this.locate(ctx)); round++) {
        if (ctx?.signal?.aborted || performance.now() >= deadline) {
          body.resume();
          throw err(ctx?.signal?.aborted ? 'ECANCELED' : 'EAGAIN', `replica set ${this.setId} has no reachable primary (searched ${this.searchMs} ms)`);
        }
        await this.sleep(this.backoffMs[Math.min(round, this.backoffMs.length - 1)]!);
      }
    }
    const m = this.byId.get(this.primaryId!)!;
    try {
      return await m.fops.upload(fop, req, body, c);
    } catch (e) {
      if (!searchOn(e) && !isErr(e, 'EALREADY')) throw e;
      if (isErr(e, 'ENOTPRIMARY')) {
        if (!this.learn(e.primary, e.term) && this.primaryId === m.id) this.primaryId = undefined;
      } else if (this.primaryId === m.id) this.primaryId = undefined;
      throw err('ENOTCONN', `${fop} on replica set ${this.setId}: its primary ${m.id} failed under the body (${(e as Error).message}); send it again`, { cause: e });
    }
  }

  async close(): Promise<void> {
    await Promise.all(this.members.map((m) => m.fops.close()));
  }
}
