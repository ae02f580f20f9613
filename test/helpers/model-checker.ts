/**
 * The crash-point model checker (issue 13). For one composite FOP of the Volume API, started
 * from a small tree on in-process brick stores (2 MDS + 2 DS, fsync on), it
 *  1. runs the FOP once without faults through a layer that records every brick step: the FOP
 *     orders explored come from the code, so a step added tomorrow is covered tomorrow;
 *  2. replays it from the same state (same GFIDs: the random source is seeded) once per step and
 *     per fault at that step:
 *       - fail-before: the brick is down and never applies the step (it stays down);
 *       - die-after:   the brick applies the step, then dies before replying;
 *       - reply-lost:  the brick applies the step, the reply never arrives (it stays up);
 *       - error-after: the brick applies the step, then fails a later part of it and answers an
 *                      errno that is no refusal (ENOSPC updating the directory's times);
 *       - late:        the call gives up (ETIMEDOUT) while the request is still queued on the
 *                      brick, which applies it after the FOP has ended;
 *       - gateway-dies: the step is answered, then the gateway dies (no FOP leaves it after);
 *     and once per fsync any brick makes during the FOP, the machine losing power right after it
 *     (power-loss.ts: every write no fsync covered is dropped, on every brick);
 *  3. after each run restarts what died (a store closed and opened again runs its own recovery),
 *     and checks the invariants: an acknowledged FOP reads back as the fault-free run left it; an
 *     unacknowledged one left a state the scenario allows (old or new for whole-object writes,
 *     what docs/ARCHITECTURE.md's crash column says otherwise); no name points to a missing inode
 *     or to missing data; every read answers at once; fsck --repair reaches clean without
 *     changing what a client sees.
 * Pairs of concurrent FOPs are checked by `checkInterleavings`: every interleaving of their
 * brick steps (a scheduler releases one step at a time), each final state one of the two serial
 * orders'.
 */
import assert from 'node:assert/strict';
import { AsyncLocalStorage } from 'node:async_hooks';
import { createHash } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { setImmediate as tick, setTimeout as sleep } from 'node:timers/promises';
import { PosixStore } from '../../brick/posix2/store.js';
import { observeFsyncs } from '../../brick/posix2/fsutil.js';
import { Dht2Error, err } from '../../dht2-core/protocol/errors.js';
import { Readable } from 'node:stream';
import type { Attrs, ControlFop, DownloadFop, FopName, FopReq, FopRes, UploadFop } from '../../dht2-core/protocol/fops.js';
import { PassThroughFops, type BrickFops, type CallContext, type Download } from '../../dht2-core/protocol/layer.js';
import { ReplicaSetFops } from '../../dht2-core/layers/replica-set.js';
import { setRandomSource } from '../../dht2-core/protocol/random-pool.js';
import { Volume } from '../../dht2-core/volume.js';
import { text } from './assert-errno.js';
import { DurableImage } from './power-loss.js';

export type BrickFault = 'fail-before' | 'die-after' | 'reply-lost' | 'error-after' | 'late' | 'gateway-dies';
export const FAULTS: readonly BrickFault[] = ['fail-before', 'die-after', 'reply-lost', 'error-after', 'late', 'gateway-dies'];
/**
 * The faults of a replicated set, as the gateway's replica-set layer meets them (ARCHITECTURE.md
 * §10.8, §10.10), each at one step of the FOP:
 *  - failover:           the primary applies the step, then dies before replying; another member
 *                        is elected, and the layer's resend with the same operation id is
 *                        answered from the set's kept replies (§10.4, duplicates);
 *  - failover-forgotten: the same, but the new primary no longer keeps that reply (it restarted
 *                        since): `EALREADY`, which the layer turns into ENOTCONN, outcome unknown;
 *  - no-majority:        the set has no primary for longer than the layer searches: EAGAIN, the
 *                        step never applied.
 */
export type ReplicaFault = 'failover' | 'failover-forgotten' | 'no-majority';
export const REPLICA_FAULTS: readonly ReplicaFault[] = ['failover', 'failover-forgotten', 'no-majority'];
export type Fault = BrickFault | ReplicaFault;

export interface Step { brick: string; fop: FopName }

/** A composite FOP to check, from the tree `setup` makes. */
export interface Scenario {
  name: string;
  setup(v: Volume): Promise<void>;
  /** The FOP under test. */
  op(v: Volume): Promise<unknown>;
  /**
   * Replicated mode: members down for the whole run (never the first primary, `-a`): a fresh
   * dput does not reach them, so it needs a pending record (ARCHITECTURE.md §10.7).
   */
  downMembers?: readonly string[];
  /** The steps this scenario is about (e.g. a cross-MDS namelink): seeds are tried until it holds. */
  want?: (trace: readonly Step[]) => boolean;
  /**
   * States an unacknowledged FOP may also leave, besides the old and the new one, from
   * docs/ARCHITECTURE.md's crash column (e.g. two names after a cross-MDS rename).
   */
  alsoAllowed?: (old: TreeState, now: TreeState) => TreeState[];
  /** Sizes on the MDS may lag the data (in-place writes: "size on MDS stale until the next write"). */
  staleSizeOk?: boolean;
}

/**
 * What a client sees: path -> description (type, bytes, size, mode; user xattrs), sorted. Link counts are left to
 * fsck's nlink check: a cut-short cross-MDS rename leaves one too low until fsck sets it.
 */
export type TreeState = Map<string, string>;

const BRICKS = [['mds0', 'mds'], ['mds1', 'mds'], ['ds0', 'ds'], ['ds1', 'ds']] as const;

class PowerLost extends Error {}

/** Shared by every brick's fault layer of one run. */
class Plan {
  /** The steps of the FOP under test, while it runs (undefined: not recording). */
  trace: Step[] | undefined;
  fault: { step: number; kind: Fault } | undefined;
  down = new Set<string>();
  gatewayDead = false;
  powerOff = false;
  /** The armed fault happened (a check that it did, so no run checks nothing). */
  fired = false;
  /** Steps still queued on their brick ('late'), applied once the FOP has ended. */
  late: Array<() => Promise<unknown>> = [];
  /** Interleaving: the scheduler's gate, when two FOPs run at once. */
  gate: ((brick: string, fop: FopName) => Promise<void>) | undefined;
  /** Replicated mode: sets without a majority until the run recovers ('no-majority'). */
  noMajority = new Set<string>();
  /** Replicated mode: sets answer a resend from their kept replies (false: the checker's self-test of a set that runs it again). */
  dedup = true;
  /** Replicated mode: members down for the whole run (Scenario.downMembers). */
  membersDown = new Set<string>();
  /** Replicated mode: sets keep the pending records they commit (false: the self-test of a set that loses them). */
  keepPending = true;
}

/** Thrown by a brick that applied a step and then lost its primary role ('failover'): its member takes the reply. */
class AppliedThenFailover extends Error {
  constructor(readonly reply: unknown, readonly forgotten: boolean, readonly discard: (() => void) | undefined) {
    super('applied, then the primary failed over');
  }
}

/** A brick store that can die and be started again; faults are applied around it. */
class FaultBrick extends PassThroughFops {
  store!: PosixStore;

  constructor(readonly id: string, readonly role: 'mds' | 'ds', readonly dir: string, private readonly plan: Plan) {
    super();
  }

  /** The store of this run of the brick: a restart opens a new one. */
  protected override get child(): BrickFops {
    return this.store;
  }

  async start(): Promise<void> {
    this.store = await PosixStore.open({ dir: this.dir, role: this.role, volumeId: 'model', brickId: this.id, sync: true });
  }

  /** The process dies: its store is dropped without a goodbye, and opened again later. */
  async restart(): Promise<void> {
    await this.store.close().catch(() => undefined);
    await this.start();
  }

  /** One step of `fop` that `apply` carries out, under this brick's faults (a replicated set's own steps). */
  step<T>(fop: FopName, apply: () => Promise<T>): Promise<T> {
    return this.around(fop, undefined, apply);
  }

  protected override async around<T>(fop: FopName, _req: unknown, apply: () => Promise<T>, dispose?: (r: T) => void): Promise<T> {
    const p = this.plan;
    if (p.gate) await p.gate(this.id, fop);
    if (p.gatewayDead) throw err('ENOTCONN', `gateway died before ${fop}`);
    if (p.powerOff || p.down.has(this.id)) throw err('EHOSTDOWN', `${this.id} is down`);
    const index = p.trace ? p.trace.push({ brick: this.id, fop }) - 1 : -1;
    const kind = p.fault?.step === index ? p.fault.kind : undefined;
    if (kind) p.fired = true;
    if (kind === 'late') {
      p.late.push(async () => dispose ? dispose(await apply()) : apply());
      throw err('ETIMEDOUT', `${this.id}: no progress on ${fop}`);
    }
    if (kind === 'fail-before') {
      p.down.add(this.id);
      throw err('EHOSTDOWN', `${this.id} is down`);
    }
    if (kind === 'no-majority') {
      p.noMajority.add(this.id);
      throw err('EAGAIN', `replica set ${this.id} has no majority`);
    }
    let r: T;
    try {
      r = await apply();
    } catch (e) {
      if (p.powerOff) throw err('ENOTCONN', `${this.id} lost power during ${fop}`);
      throw e;
    }
    if (p.powerOff) {
      dispose?.(r);
      throw err('ENOTCONN', `${this.id} lost power during ${fop}`);
    }
    if (kind === 'die-after' || kind === 'reply-lost') {
      if (kind === 'die-after') p.down.add(this.id);
      dispose?.(r);
      throw err('ENOTCONN', `${this.id}: no reply to ${fop}`);
    }
    if (kind === 'error-after') {
      dispose?.(r);
      throw err('ENOSPC', `${this.id}: ${fop} applied, then no space to finish it`);
    }
    if (kind === 'failover' || kind === 'failover-forgotten') {
      throw new AppliedThenFailover(r, kind === 'failover-forgotten', dispose ? () => dispose(r) : undefined);
    }
    if (kind === 'gateway-dies') p.gatewayDead = true;
    return r;
  }

}

/**
 * The replicated state of one set, shared by its three members: in replicated mode each
 * FaultBrick is the set's committed state, and its members keep the contract of the
 * replication module (brick/repl/node.ts) toward ReplicaSetFops: the primary serves, the others
 * answer ENOTPRIMARY naming it, a FOP resent with an operation id the set applied is answered
 * with the kept reply (or EALREADY once forgotten), a set without a majority answers EAGAIN.
 */
class SetState {
  primary = 0;
  term = 1;
  readonly kept = new Map<string, { reply: unknown } | 'forgotten'>();
  /**
   * Fresh objects (ARCHITECTURE.md §10.7): which members stored each (by index), the committed
   * pending records (GFID -> the members they name), and the one store write per object (the
   * set's store holds it once any member has it).
   */
  readonly holders = new Map<string, Set<number>>();
  readonly pending = new Map<string, Set<string>>();
  private readonly stored = new Map<string, Promise<FopRes<'dput'>>>();
  constructor(readonly brick: FaultBrick, readonly members: readonly string[]) {}

  /** Member `index` stores a fresh body: the set's store takes it once. */
  storeFresh(index: number, req: FopReq<'dput'>, bytes: Buffer): Promise<FopRes<'dput'>> {
    let p = this.stored.get(req.gfid);
    if (!p) {
      p = this.brick.store.upload('dput', { gfid: req.gfid, fresh: true }, Readable.from([bytes]));
      this.stored.set(req.gfid, p);
    }
    return p.then((r) => {
      let h = this.holders.get(req.gfid);
      if (!h) this.holders.set(req.gfid, (h = new Set()));
      h.add(index);
      return r;
    });
  }

  /**
   * What survives of the fresh objects: one held by a majority, every other member named by a
   * committed pending record, is the set's (heal completes it); any other may be lost (the
   * primary, or the member that reads would go to, may be one that lacks it, and no record says
   * so), so it is taken from the set's store.
   */
  async settleFresh(): Promise<void> {
    const need = Math.floor(this.members.length / 2) + 1;
    for (const [gfid, h] of this.holders) {
      const recorded = this.pending.get(gfid) ?? new Set<string>();
      const covered = h.size >= need && this.members.every((m, i) => h.has(i) || recorded.has(m));
      if (!covered) await this.brick.store.call('dunlink', { gfid }).catch(() => undefined);
    }
    this.holders.clear();
  }
}

class SetMember implements BrickFops {
  constructor(private readonly set: SetState, private readonly index: number, private readonly plan: Plan) {}

  private get id(): string { return this.set.members[this.index]!; }

  /** The member's refusal before any step, or undefined when it serves as the primary. */
  private refusal(): Error | undefined {
    if (this.plan.noMajority.has(this.set.brick.id)) return err('EAGAIN', `replica set ${this.set.brick.id} has no majority`);
    if (this.index !== this.set.primary) {
      return err('ENOTPRIMARY', `${this.id} is not the primary`, { primary: this.set.members[this.set.primary], term: this.set.term });
    }
    return undefined;
  }

  /** Runs a step on the set as its primary; a failover after the step keeps (or forgets) its reply. */
  private async run<T>(ctx: CallContext | undefined, step: () => Promise<T>, keep: boolean): Promise<T> {
    const no = this.refusal();
    if (no) throw no;
    const id = ctx?.opId;
    const kept = id !== undefined ? this.set.kept.get(id) : undefined;
    if (kept === 'forgotten') throw err('EALREADY', `operation ${id} was applied; its reply is no longer kept`);
    if (kept && this.plan.dedup) return kept.reply as T;
    try {
      return await step();
    } catch (e) {
      if (!(e instanceof AppliedThenFailover)) throw e;
      if (keep && id !== undefined) this.set.kept.set(id, e.forgotten ? 'forgotten' : { reply: e.reply });
      else e.discard?.();
      this.set.primary = (this.set.primary + 1) % this.set.members.length;
      this.set.term++;
      throw err('ENOTCONN', `${this.id} (primary) died after applying, before replying`);
    }
  }

  call<F extends ControlFop>(fop: F, req: FopReq<F>, ctx?: CallContext): Promise<FopRes<F>> {
    if (fop === 'rstatus') {
      const primary = this.set.members[this.set.primary]!;
      return Promise.resolve({
        set: this.set.brick.id, brick: this.id, role: this.index === this.set.primary ? 'primary' : 'follower', term: this.set.term,
        primary, lastIndex: 0, commitIndex: 0, appliedIndex: 0, leaseValid: !this.plan.noMajority.has(this.set.brick.id), state: 'ok',
      } as FopRes<F>);
    }
    if (fop === 'pending') {
      // Logged and committed by the set (§10.7 step 4): kept as the set's pending record.
      const r = req as FopReq<'pending'>;
      return this.run(ctx, () => this.set.brick.step('pending', async () => {
        if (this.plan.keepPending) this.set.pending.set(r.gfid, new Set([...(this.set.pending.get(r.gfid) ?? []), ...r.missing]));
        return {} as FopRes<F>;
      }), true);
    }
    return this.run(ctx, () => this.set.brick.call(fop, req, ctx), true);
  }

  upload<F extends UploadFop>(fop: F, req: FopReq<F>, body: Readable, ctx?: CallContext): Promise<FopRes<F>> {
    if (fop === 'dput' && (req as FopReq<'dput'>).fresh) return this.fresh(req as FopReq<'dput'>, body) as Promise<FopRes<F>>;
    return this.run(ctx, () => this.set.brick.upload(fop, req, body, ctx), true);
  }

  /**
   * A fresh dput (ARCHITECTURE.md §10.7 step 2): every member takes it, primary or not, without
   * the log; one step per member. A failover after it: this member stored it, then died before
   * replying (and, the primary, lost its role); no majority: this member refused it.
   */
  private async fresh(req: FopReq<'dput'>, body: Readable): Promise<FopRes<'dput'>> {
    if (this.plan.membersDown.has(this.id)) {
      body.resume();
      throw err('EHOSTDOWN', `${this.id} is down`);
    }
    try {
      // Called at once (no await before it): the members' steps are traced in member order.
      return await this.set.brick.step('dput', async () => {
        const parts: Buffer[] = [];
        for await (const c of body) parts.push(c as Buffer);
        return this.set.storeFresh(this.index, req, Buffer.concat(parts));
      });
    } catch (e) {
      body.resume();
      if (!(e instanceof AppliedThenFailover)) throw e;
      if (this.index === this.set.primary) {
        this.set.primary = (this.set.primary + 1) % this.set.members.length;
        this.set.term++;
      }
      throw err('ENOTCONN', `${this.id} died after storing the fresh body, before replying`);
    }
  }

  /** Reads are not kept: a resend reads again. */
  download<F extends DownloadFop>(fop: F, req: FopReq<F>, ctx?: CallContext): Promise<Download<FopRes<F>>> {
    return this.run(ctx, () => this.set.brick.download(fop, req, ctx), false);
  }

  close(): Promise<void> { return Promise.resolve(); }
}

/** A deterministic byte source (SHA-256 in counter mode) for GFIDs and directory buckets. */
function seeded(seed: number): (n: number) => Buffer {
  let counter = 0;
  let buf = Buffer.alloc(0);
  return (n) => {
    while (buf.length < n) {
      buf = Buffer.concat([buf, createHash('sha256').update(`${seed}:${counter++}`).digest()]);
    }
    const out = buf.subarray(0, n);
    buf = buf.subarray(n);
    return Buffer.from(out);
  };
}

/** One volume of in-process stores under fault layers, in a fresh directory. */
class World {
  readonly plan = new Plan();
  readonly bricks: FaultBrick[];
  readonly volume: Volume;
  /** Replicated mode: each brick's set. */
  readonly sets: SetState[] = [];
  private readonly root: string;

  private constructor(readonly base: string, replicated: boolean) {
    this.root = mkdtempSync(join(base, 'w-'));
    this.bricks = BRICKS.map(([id, role]) => new FaultBrick(id, role, join(this.root, id), this.plan));
    // Replicated: each brick is a set of three behind the gateway's replica-set layer; its
    // search is cut short (a no-majority set is EAGAIN at once) and never sleeps.
    const layer = (b: FaultBrick): BrickFops => {
      if (!replicated) return b;
      const set = new SetState(b, [`${b.id}-a`, `${b.id}-b`, `${b.id}-c`]);
      this.sets.push(set);
      return new ReplicaSetFops(b.id, set.members.map((id, i) => ({ id, fops: new SetMember(set, i, this.plan) })), {
        searchMs: 20, backoffMs: [0], sleep: () => tick(),
      });
    };
    this.volume = new Volume(this.bricks.filter((b) => b.role === 'mds').map(layer), this.bricks.filter((b) => b.role === 'ds').map(layer));
  }

  static async make(base: string, replicated = false): Promise<World> {
    const w = new World(base, replicated);
    for (const b of w.bricks) await b.start();
    return w;
  }

  /** Every brick that died comes back; a lost power supply restores the durable images first. */
  async recover(images?: DurableImage[]): Promise<void> {
    const p = this.plan;
    for (const b of this.bricks) {
      if (images) {
        await b.store.close().catch(() => undefined);
        images.find((i) => i.dir === b.dir)!.restore();
        await b.start();
      } else if (p.down.has(b.id)) {
        await b.restart();
      }
    }
    p.down.clear();
    p.gatewayDead = false;
    p.powerOff = false;
    p.fault = undefined;
    p.gate = undefined;
    p.fired = false;
    p.noMajority.clear();
  }

  /** The fresh objects of every set settle: what no majority and no pending record covers is lost. */
  async settleFresh(): Promise<void> {
    for (const s of this.sets) await s.settleFresh();
  }

  async dispose(): Promise<void> {
    for (const b of this.bricks) await b.store.close().catch(() => undefined);
    rmSync(this.root, { recursive: true, force: true });
  }
}

/** Runs `fn` within a bound: a read or FOP that does not answer is a failure, never a hung test. */
async function bounded<T>(what: string, fn: () => Promise<T>, ms = 10_000): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  try {
    return await Promise.race([
      fn(),
      new Promise<never>((_, reject) => { timer = setTimeout(() => reject(new Error(`${what} did not answer within ${ms} ms`)), ms); }),
    ]);
  } finally {
    clearTimeout(timer);
  }
}

/** What a client sees of the whole tree: every name, its type, bytes and size; carried objects. */
export async function treeState(v: Volume, staleSizeOk = false): Promise<TreeState> {
  const out: TreeState = new Map();
  const file = async (path: string, a: Attrs): Promise<string> => {
    let bytes: string;
    try {
      bytes = JSON.stringify(await bounded(`read ${path}`, async () => text(await v.readAt(a))));
    } catch (e) {
      bytes = `!${e instanceof Dht2Error ? e.errno : String(e)}`;
    }
    const mode = `mode ${(a.mode & 0o7777).toString(8)}`;
    return staleSizeOk ? `file ${bytes} ${mode}` : `file ${bytes} size ${a.size} ${mode}`;
  };
  const walk = async (path: string): Promise<void> => {
    let after: string | undefined;
    for (;;) {
      const page = await bounded(`readdir ${path}`, () => v.readdir(path || '/', { after, limit: 1000 }));
      for (const e of page.entries) {
        const p = `${path}/${e.name}`;
        const a = await bounded(`stat ${p}`, () => v.stat(p));
        const names = (await v.listxattr(p)).sort();
        if (names.length > 0) {
          const values = await Promise.all(names.map(async (n) => `${n}=${(await v.getxattr(p, n)).toString('base64')}`));
          out.set(`${p} (xattrs)`, values.join(' '));
        }
        if (a.type === 'dir') {
          out.set(p, 'dir');
          const obj = await v.carriedObject(a);
          if (a.obj !== undefined) out.set(`${p} (carried)`, obj ? await file(`${p} (carried)`, obj) : `!missing ${a.obj}`);
          await walk(p);
        } else if (a.type === 'symlink') {
          out.set(p, `symlink ${a.target}`);
        } else {
          out.set(p, await file(p, a));
        }
      }
      if (page.eof || page.entries.length === 0) return;
      after = page.entries.at(-1)!.name;
    }
  };
  await walk('');
  return new Map([...out].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)));
}

export function show(s: TreeState): string {
  return [...s].map(([k, v]) => `  ${k}: ${v}`).join('\n') || '  (empty)';
}

function same(a: TreeState, b: TreeState): boolean {
  return a.size === b.size && [...a].every(([k, v]) => b.get(k) === v);
}

export interface CheckReport {
  scenario: string;
  seed: number;
  steps: Step[];
  runs: number;
  fsyncs: number;
  /** Seeds (placements) checked. */
  placements: number;
}

/** Everything one run of the FOP under a fault left, checked against the fault-free run. */
async function checkAfter(
  w: World, s: Scenario, label: string, acked: boolean, old: TreeState, now: TreeState,
): Promise<void> {
  const v = w.volume;
  await w.settleFresh();
  const r = await bounded('fsck', () => v.fsck({ graceMs: 0 }));
  assert.deepEqual(r.dangling, [], `${label}: a name points to a missing inode`);
  assert.deepEqual(r.missingData, [], `${label}: a name points to missing data`);
  const state = await treeState(v, s.staleSizeOk);
  if (acked) {
    assert.ok(same(state, now), `${label}: acknowledged, but does not read back as acknowledged:\n${show(state)}\nexpected:\n${show(now)}`);
  } else {
    const allowed = [old, now, ...(s.alsoAllowed?.(old, now) ?? [])];
    assert.ok(allowed.some((a) => same(state, a)),
      `${label}: not acknowledged, left a state the crash story does not allow:\n${show(state)}\nold:\n${show(old)}\nnew:\n${show(now)}`);
  }
  await bounded('fsck --repair', () => v.fsck({ graceMs: 0, repair: true }));
  const after = await bounded('fsck', () => v.fsck({ graceMs: 0 }));
  assert.deepEqual(
    [after.dangling, after.orphanInodes, after.orphanData, after.nlinkMismatch, after.dyingNamed, after.missingData], [[], [], [], [], [], []],
    `${label}: fsck --repair did not reach clean`,
  );
  const repaired = await treeState(v, s.staleSizeOk);
  assert.ok(same(repaired, state), `${label}: fsck --repair changed what clients see:\n${show(repaired)}\nwas:\n${show(state)}`);
}

/** Prepares a world at the scenario's start, with the seeded random source in place. */
async function startWorld(base: string, s: Scenario, seed: number, replicated = false, keepPending = true): Promise<World> {
  setRandomSource(seeded(seed));
  const w = await World.make(base, replicated);
  await s.setup(w.volume);
  // Down after the setup, which every member took (the scenario starts from a whole set).
  if (replicated) for (const m of s.downMembers ?? []) w.plan.membersDown.add(m);
  w.plan.keepPending = keepPending;
  return w;
}

async function outcome(fn: () => Promise<unknown>): Promise<{ acked: boolean; error?: unknown }> {
  try {
    await bounded('the FOP', fn);
    return { acked: true };
  } catch (e) {
    return { acked: false, error: e };
  }
}

/**
 * Enumerates every step x fault and every power-loss point of one scenario (see the module
 * comment), for the first `placements` seeds whose fault-free run makes the wanted steps (each
 * seed is another placement of the GFIDs); throws an AssertionError naming the first run that
 * breaks an invariant.
 */
export async function checkScenario(
  base: string, s: Scenario, o: { seeds?: number; placements?: number; replicated?: boolean; dedup?: boolean; keepPending?: boolean } = {},
): Promise<CheckReport> {
  try {
    const reports: CheckReport[] = [];
    for (let seed = 1; reports.length < (o.placements ?? 1); seed++) {
      if (seed > (o.seeds ?? 64)) {
        if (reports.length > 0) break;
        throw new Error(`${s.name}: no seed gives the wanted steps`);
      }
      const r = await checkSeed(base, s, seed, o.replicated ?? false, o.dedup ?? true, o.keepPending ?? true);
      if (r) reports.push(r);
    }
    return { ...reports[0]!, runs: reports.reduce((n, r) => n + r.runs, 0), placements: reports.length };
  } finally {
    setRandomSource(undefined);
    observeFsyncs(undefined);
  }
}

/** checkScenario for one seed; undefined when its fault-free run does not make the wanted steps. */
async function checkSeed(base: string, s: Scenario, seed: number, replicated: boolean, dedup = true, keepPending = true): Promise<CheckReport | undefined> {
  // 1. The fault-free run: its steps, its fsyncs, the old and new states.
  let steps: Step[] = [];
  let old: TreeState = new Map();
  let now: TreeState = new Map();
  let fsyncs = 0;
  {
    const w = await startWorld(base, s, seed, replicated, keepPending);
    try {
      old = await treeState(w.volume, s.staleSizeOk);
      w.plan.trace = [];
      observeFsyncs(() => { fsyncs++; });
      try {
        await bounded('the fault-free FOP', () => s.op(w.volume));
      } finally {
        observeFsyncs(undefined);
      }
      steps = w.plan.trace;
      w.plan.trace = undefined;
      if (s.want && !s.want(steps)) return undefined;
      now = await treeState(w.volume, s.staleSizeOk);
      await checkAfter(w, s, `${s.name} (no fault), seed ${seed}`, true, old, now);
    } finally {
      await w.dispose();
    }
  }
  let runs = 1;
  // 2. Every step x fault.
  for (let i = 0; i < steps.length; i++) {
    for (const kind of replicated ? REPLICA_FAULTS : FAULTS) {
      const label = `${s.name}: ${kind} at step ${i} (${steps[i]!.fop} on ${steps[i]!.brick}), seed ${seed}${replicated ? ', replicated' : ''}`;
      const w = await startWorld(base, s, seed, replicated, keepPending);
      try {
        w.plan.trace = [];
        w.plan.fault = { step: i, kind };
        w.plan.dedup = dedup;
        const r = await outcome(() => s.op(w.volume));
        w.plan.trace = undefined;
        if (replicated) assert.ok(w.plan.fired, `${label}: the fault did not fire (steps: ${JSON.stringify(steps)}; error ${String(r.error)})`);
        // A failover whose reply the set kept is invisible: the resend is answered as the
        // first attempt was (§10.4), except under a body, which is never sent twice (§10.8).
        if (kind === 'failover' && !['dput', 'dwrite'].includes(steps[i]!.fop)) {
          assert.ok(r.acked, `${label}: the FOP failed with ${String(r.error)}; a failover with the reply kept must not show`);
        }
        await w.recover();
        await checkAfter(w, s, `${label}${r.acked ? ', acknowledged' : `, failed with ${String(r.error)}`}`, r.acked, old, now);
        runs++;
      } finally {
        await w.dispose();
      }
    }
  }
  // 3. Power loss after every fsync of the FOP, on every brick at once. (Replicated: a member's
  // power loss is the log's (test/brick/repl/power-loss.test.ts) and the set's fault above.)
  for (let k = 1; !replicated && k <= fsyncs; k++) {
    const w = await startWorld(base, s, seed);
    const images = w.bricks.map((b) => new DurableImage(b.dir));
    let count = 0;
    let at = '';
    try {
      w.plan.trace = [];
      observeFsyncs((path) => {
        if (w.plan.powerOff) throw new PowerLost('the power is off');
        images.find((i) => i.holds(path))?.synced(path);
        if (++count !== k) return;
        at = path;
        for (const i of images) i.cut();
        w.plan.powerOff = true;
        throw new PowerLost('the power went');
      });
      let r: Awaited<ReturnType<typeof outcome>>;
      try {
        r = await outcome(() => s.op(w.volume));
      } finally {
        observeFsyncs(undefined);
        w.plan.trace = undefined;
      }
      assert.ok(w.plan.powerOff, `${s.name}: the replay made fewer than ${k} fsyncs`);
      await w.recover(images);
      const label = `${s.name}: power lost after fsync ${k} of ${fsyncs} (${at.slice(w.base.length)}), seed ${seed}`;
      await checkAfter(w, s, `${label}${r.acked ? ', acknowledged' : ''}`, r.acked, old, now);
      runs++;
    } finally {
      await w.dispose();
    }
  }
  return { scenario: s.name, seed, steps, runs, fsyncs, placements: 1 };
}

/** Two FOPs to run at once on one name or one directory. */
export interface Pair {
  name: string;
  setup(v: Volume): Promise<void>;
  a(v: Volume): Promise<unknown>;
  b(v: Volume): Promise<unknown>;
}

/**
 * Runs `a` and `b` at once under every interleaving of their brick steps with at most
 * `preemptions` preemptions (depth-first over the scheduler's choices, each schedule replayed
 * from the start). Every final state must be one
 * that running them one after the other, in either order, leaves; nothing may dangle, and fsck
 * --repair must reach clean. Returns the number of schedules explored.
 */
export async function checkInterleavings(
  base: string, pr: Pair, o: { seed?: number; maxSchedules?: number; preemptions?: number } = {},
): Promise<number> {
  const seed = o.seed ?? 1;
  const s: Scenario = { name: pr.name, setup: pr.setup, op: async () => undefined };
  try {
    // The serial orders.
    const serial: TreeState[] = [];
    for (const order of [[pr.a, pr.b], [pr.b, pr.a]]) {
      const w = await startWorld(base, s, seed);
      try {
        for (const f of order) await bounded('serial FOP', () => f(w.volume)).catch(() => undefined);
        serial.push(await treeState(w.volume));
      } finally {
        await w.dispose();
      }
    }
    const als = new AsyncLocalStorage<string>();
    // Depth-first over the scheduler's choices: each pending entry is a schedule prefix (the
    // thread released at each decision); past it, the last thread runs on while it can.
    // Switching away from a thread that could go on is a preemption; at most `preemptions` per
    // schedule (CHESS's bound: most concurrency bugs need very few), unbounded when undefined.
    const pending: string[][] = [[]];
    let explored = 0;
    while (pending.length > 0) {
      if (explored >= (o.maxSchedules ?? 5000)) throw new Error(`${pr.name}: more than ${o.maxSchedules ?? 5000} schedules`);
      const prefix = pending.pop()!;
      const w = await startWorld(base, s, seed);
      try {
        // Threads blocked at the gate, by name; the scheduler releases one at a time.
        const waiting = new Map<string, () => void>();
        const done = new Set<string>();
        w.plan.gate = () => new Promise<void>((release) => {
          const t = als.getStore();
          if (t === undefined) { release(); return; }
          waiting.set(t, release);
        });
        const threads = { a: pr.a, b: pr.b };
        const runs = Object.entries(threads).map(([t, f]) => als.run(t, () => bounded(`${pr.name} ${t}`, () => f(w.volume)))
          .catch(() => undefined).finally(() => done.add(t)));
        const choices: string[] = [];
        let last: string | undefined;
        let preempted = 0;
        for (let d = 0; ; d++) {
          // Wait until every thread is at the gate or finished (retries sleep a few ms).
          for (let spin = 0; waiting.size + done.size < 2; spin++) {
            if (spin > 2000) throw new Error(`${pr.name}: a thread neither blocks nor ends`);
            if (spin < 50) await tick(); else await sleep(1);
          }
          if (waiting.size === 0) break;
          const enabled = [...waiting.keys()].sort();
          const preemption = (t: string): boolean => last !== undefined && t !== last && waiting.has(last);
          const natural = last !== undefined && waiting.has(last) ? last : enabled[0]!;
          if (d < prefix.length) assert.ok(waiting.has(prefix[d]!), `${pr.name}: a replayed schedule took another path at decision ${d}`);
          const t = d < prefix.length ? prefix[d]! : natural;
          if (d >= prefix.length) {
            for (const alt of enabled) {
              if (alt !== t && (o.preemptions === undefined || preempted + (preemption(alt) ? 1 : 0) <= o.preemptions)) {
                pending.push([...choices, alt]);
              }
            }
          }
          if (preemption(t)) preempted++;
          choices.push(t);
          last = t;
          const release = waiting.get(t)!;
          waiting.delete(t);
          release();
        }
        await Promise.all(runs);
        w.plan.gate = undefined;
        const label = `${pr.name}: schedule ${choices.join('')}, seed ${seed}`;
        const r = await bounded('fsck', () => w.volume.fsck({ graceMs: 0 }));
        assert.deepEqual(r.dangling, [], `${label}: a name points to a missing inode`);
        assert.deepEqual(r.missingData, [], `${label}: a name points to missing data`);
        const state = await treeState(w.volume);
        assert.ok(serial.some((x) => same(state, x)),
          `${label}: a state no serial order gives:\n${show(state)}\na then b:\n${show(serial[0]!)}\nb then a:\n${show(serial[1]!)}`);
        await bounded('fsck --repair', () => w.volume.fsck({ graceMs: 0, repair: true }));
        const after = await bounded('fsck', () => w.volume.fsck({ graceMs: 0 }));
        assert.deepEqual(
          [after.dangling, after.orphanInodes, after.orphanData, after.nlinkMismatch, after.dyingNamed, after.missingData], [[], [], [], [], [], []],
          `${label}: fsck --repair did not reach clean`);
        explored++;
      } finally {
        await w.dispose();
      }
    }
    return explored;
  } finally {
    setRandomSource(undefined);
  }
}
