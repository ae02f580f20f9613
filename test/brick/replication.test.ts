/**
 * The replication module on real brick processes (ARCHITECTURE.md §10.2–§10.8, slice 5 of
 * §10.15): three bricks given a layout with one set of the three become one replicated store with
 * an elected primary. Driven through the gateway's replica-set layer (ReplicaSetFops) over
 * BrickClients with PING liveness, as a gateway would; members compared by their `digest` pages
 * (compareReplicas). Faults are real: SIGKILL, SIGSTOP/SIGCONT of the brick processes.
 */
import assert from 'node:assert/strict';
import { readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { Readable } from 'node:stream';
import { setTimeout as delay } from 'node:timers/promises';
import { PosixStore } from '../../brick/posix2/store.js';
import { writeApplied } from '../../brick/repl/applied.js';
import { spawnBrick, type BrickProcess } from '../../brick/spawn.js';
import { BrickClient, compareReplicas, ReplicaSetFops } from '../../dht2-core/index.js';
import {
  BUCKET_COUNT, evenRanges, isErr, newGfid, newOpId, ROOT_GFID, type LayoutDoc, type ReplStatus,
} from '../../dht2-core/protocol/index.js';
import { rejectsErrno, text } from '../helpers/assert-errno.js';
import { startCutProxy, type CutProxy } from '../helpers/cut-proxy.js';
import { SECRET, tmpDir } from '../helpers/tmp.js';

const LIVENESS = { quietMs: 500, pingTimeoutMs: 1500 };
const VOLUME = 'rv';

interface Member {
  id: string;
  dir: string;
  port: number;
  proc: BrickProcess;
  client: BrickClient;
}

/** Three bricks of `role` in one replicated set; the other role's set is one brick that is never started. */
class Cluster {
  members: Member[] = [];
  set!: ReplicaSetFops;
  layout!: LayoutDoc;

  /** With `links`: the proxy each member reaches each other member through, by "from>to". */
  readonly links = new Map<string, CutProxy>();

  /**
   * `links`: every member reaches every other through its own cuttable proxy (cut-proxy.ts), so
   * a member can be cut off from its peers while the test's clients still reach it directly. Each
   * member is given a layout naming the proxies it uses: the same epoch with other URLs, which no
   * brick compares with its peers' (a test device, not a layout a volume would have).
   */
  constructor(readonly role: 'mds' | 'ds', readonly root: string, readonly withLinks = false, readonly env: Record<string, string> = {}) {}

  async start(): Promise<number> {
    const ids = [1, 2, 3].map((i) => `${this.role}-${i}`);
    const procs = await Promise.all(ids.map((id) => spawnBrick({
      dir: join(this.root, id), role: this.role, secret: SECRET, volumeId: VOLUME, args: ['--brick-id', id], env: this.env,
      onLog: (l) => { if (process.env.REPL_TEST_LOG) console.log(id, l); },
    })));
    this.members = ids.map((id, i) => ({ id, dir: join(this.root, id), port: procs[i]!.port, proc: procs[i]!, client: this.client(id, procs[i]!.url) }));
    const other = this.role === 'mds' ? 'ds' : 'mds';
    this.layout = {
      epoch: 1, volumeId: VOLUME, buckets: BUCKET_COUNT,
      sets: [{ id: `${this.role}-a`, role: this.role, members: ids }, { id: `${other}-a`, role: other, members: [`${other}-1`] }],
      bricks: { ...Object.fromEntries(this.members.map((m) => [m.id, m.proc.url])), [`${other}-1`]: 'http://127.0.0.1:9' },
      mdsRanges: evenRanges(['mds-a']), dsRanges: evenRanges(['ds-a']),
    };
    if (this.withLinks) {
      for (const a of this.members) {
        for (const b of this.members) if (a !== b) this.links.set(`${a.id}>${b.id}`, await startCutProxy(b.proc.url));
      }
    }
    const viewOf = (m: Member): LayoutDoc => (this.withLinks
      ? { ...this.layout, bricks: { ...this.layout.bricks, ...Object.fromEntries(this.members.filter((o) => o !== m).map((o) => [o.id, this.links.get(`${m.id}>${o.id}`)!.url])) } }
      : this.layout);
    await Promise.all(this.members.map((m) => m.client.call('layoutset', { layout: viewOf(m) })));
    const installed = performance.now();
    this.set = this.newSet();
    return installed;
  }

  client(id: string, url: string): BrickClient {
    return new BrickClient({ url, secret: SECRET, brickId: id, timeoutMs: 10_000, liveness: LIVENESS });
  }

  newSet(): ReplicaSetFops {
    return new ReplicaSetFops(`${this.role}-a`, this.members.map((m) => ({ id: m.id, fops: this.client(m.id, m.proc.url) })));
  }

  member(id: string): Member {
    return this.members.find((m) => m.id === id)!;
  }

  async status(ids = this.members.map((m) => m.id)): Promise<Map<string, ReplStatus>> {
    const out = new Map<string, ReplStatus>();
    await Promise.all(ids.map(async (id) => {
      try {
        out.set(id, await this.member(id).client.call('rstatus', {}, { timeoutMs: 2000 }));
      } catch {
        /* down or frozen */
      }
    }));
    return out;
  }

  /** Polls until a member of `ids` is a primary with a valid lease; answers it and when. */
  async waitPrimary(ids = this.members.map((m) => m.id), withinMs = 10_000, not?: string): Promise<{ id: string; term: number; at: number }> {
    const end = performance.now() + withinMs;
    while (performance.now() < end) {
      for (const [id, s] of await this.status(ids)) {
        if (s.role === 'primary' && s.leaseValid && id !== not) return { id, term: s.term, at: performance.now() };
      }
      await delay(25);
    }
    throw new Error(`no primary among ${ids.join(', ')} within ${withinMs} ms`);
  }

  /** Waits until every member in `ids` has applied the primary's commit index. */
  async caughtUp(ids = this.members.map((m) => m.id), withinMs = 8000): Promise<void> {
    const end = performance.now() + withinMs;
    let last = '';
    while (performance.now() < end) {
      const st = await this.status(ids);
      const p = [...st.values()].find((s) => s.role === 'primary' && s.leaseValid);
      if (p && st.size === ids.length && [...st.values()].every((s) => s.appliedIndex === p.commitIndex && s.lastIndex >= p.commitIndex)) return;
      last = JSON.stringify([...st.values()].map((s) => [s.brick, s.role, s.term, s.lastIndex, s.commitIndex, s.appliedIndex, s.state]));
      await delay(50);
    }
    throw new Error(`members not caught up within ${withinMs} ms: ${last}`);
  }

  async assertEqualDigests(): Promise<number> {
    await this.caughtUp();
    const r = await compareReplicas(this.members.map((m) => ({ id: m.id, fops: m.client })));
    assert.equal(r.missing + r.differs, 0, `replicas differ: ${JSON.stringify(r.diffs.slice(0, 5))}`);
    assert.equal(r.same, r.handles);
    return r.handles;
  }

  async restart(id: string): Promise<void> {
    const m = this.member(id);
    m.proc = await spawnBrick({
      dir: m.dir, role: this.role, secret: SECRET, volumeId: VOLUME, port: m.port, env: this.env,
      onLog: (l) => { if (process.env.REPL_TEST_LOG) console.log(id, l); },
    });
  }

  /** Cuts (or heals) every link from and to `id`. */
  cut(id: string, cut = true): void {
    for (const [k, l] of this.links) if (k.split('>').includes(id)) l.setCut(cut);
  }

  async close(): Promise<void> {
    await Promise.all([...this.links.values()].map((l) => l.close()));
    for (const m of this.members) {
      try { process.kill(m.proc.pid, 'SIGCONT'); } catch { /* gone */ }
    }
    await this.set?.close();
    await Promise.all(this.members.map(async (m) => { await m.client.close(); await m.proc.stop(); }));
  }
}

describe('replication module: three real MDS bricks', function () {
  this.timeout(60_000);
  let dir: Awaited<ReturnType<typeof tmpDir>>;
  let c: Cluster;
  /** Every create acknowledged so far: name → gfid. */
  const acked = new Map<string, string>();

  before(async () => {
    dir = await tmpDir('repl');
    c = new Cluster('mds', dir.path);
  });
  after(async () => {
    await c.close();
    await dir.cleanup();
  });

  async function create(name: string, set = c.set): Promise<string> {
    const gfid = newGfid(0);
    await set.call('create', { parent: ROOT_GFID, name, gfid, type: 'file', mode: 0o644 });
    acked.set(name, gfid);
    return gfid;
  }

  async function assertAckedReadable(): Promise<void> {
    for (const [name, gfid] of acked) assert.equal((await c.set.call('lookup', { parent: ROOT_GFID, name })).gfid, gfid, name);
  }

  // The design's budget is ~2.1 s (ARCHITECTURE.md §10.3) and the simulator holds the core to
  // it; on a shared 2-core machine under the whole suite, these real processes get 4 s (the
  // issue's promise, writes resuming within 5 s, is asserted as it is).
  it('elects a primary within 4 s of the layout, which logs the root; the others redirect to it', async () => {
    const t0 = await c.start();
    const p = await c.waitPrimary();
    assert.ok(p.at - t0 < 4000, `primary after ${Math.round(p.at - t0)} ms`);
    const root = await c.set.call('getattr', { gfid: ROOT_GFID });
    assert.equal(root.type, 'dir');
    const follower = c.members.find((m) => m.id !== p.id)!;
    const e = await rejectsErrno(follower.client.call('getattr', { gfid: ROOT_GFID }), 'ENOTPRIMARY');
    assert.equal(e.primary, p.id);
    assert.equal(e.term, p.term);
    // A peer FOP from a gateway (no x-dht2-from) is refused.
    await rejectsErrno(follower.client.call('rvote', { term: 99, pre: true, lastTerm: 99, lastIndex: 99 }), 'ENOTSUP');
    // The root is the logged icreate, the same on every member (no member made its own).
    assert.equal(await c.assertEqualDigests(), 1);
    const st = await c.status();
    assert.equal(st.get(p.id)!.members!.length, 2);
    assert.ok(st.get(p.id)!.members!.every((m) => m.up && m.voter));
  });

  it('two clients creating one name: one wins, the other gets EEXIST; a resend of the winner gets its kept reply', async () => {
    const other = c.newSet();
    try {
      const gA = newGfid(0);
      const gB = newGfid(0);
      const opA = newOpId();
      const [a, b] = await Promise.allSettled([
        c.set.call('create', { parent: ROOT_GFID, name: 'race', gfid: gA, type: 'file' }, { opId: opA }),
        other.call('create', { parent: ROOT_GFID, name: 'race', gfid: gB, type: 'file' }),
      ]);
      const won = [a, b].filter((r) => r.status === 'fulfilled');
      const lost = [a, b].filter((r) => r.status === 'rejected');
      assert.equal(won.length, 1);
      assert.ok(isErr((lost[0] as PromiseRejectedResult).reason, 'EEXIST'));
      const winner = a.status === 'fulfilled' ? gA : gB;
      acked.set('race', winner);
      assert.equal((await other.call('lookup', { parent: ROOT_GFID, name: 'race' })).gfid, winner);
      if (a.status === 'fulfilled') {
        // §10.4 duplicates: the same opId again is answered from the kept reply, not EEXIST.
        const again = await c.set.call('create', { parent: ROOT_GFID, name: 'race', gfid: gA, type: 'file' }, { opId: opA });
        assert.deepEqual(again, a.value);
      }
      await Promise.all(Array.from({ length: 20 }, (_, i) => create(`f${i}`, i % 2 ? other : c.set)));
      await c.set.call('setattr', { gfid: acked.get('f1')!, set: { mode: 0o600 } });
      await c.set.call('unlink', { parent: ROOT_GFID, name: 'f2' });
      acked.delete('f2');
      // A member's filesystem must not refuse what the primary accepted: the xattr space is a
      // fixed limit checked at planning on a replicated member (§10.6), refused with no entry.
      const big = Buffer.alloc(5000, 1).toString('base64');
      await rejectsErrno(c.set.call('setxattr', { gfid: acked.get('f1')!, name: 'big', value: big }), 'ENOSPC');
      await c.assertEqualDigests();
    } finally {
      await other.close();
    }
  });

  it('many FOPs at once on the names of one directory plan concurrently and every member applies them alike', async () => {
    const d = newGfid(0);
    await c.set.call('create', { parent: ROOT_GFID, name: 'many', gfid: d, type: 'dir' });
    const gs = Array.from({ length: 60 }, () => newGfid(0));
    await Promise.all(gs.map((gfid, i) => c.set.call('create', { parent: d, name: `m${i}`, gfid, type: 'file' })));
    await Promise.all(gs.map((gfid, i) => (i % 3 === 0 ? c.set.call('unlink', { parent: d, name: `m${i}` })
      : i % 3 === 1 ? c.set.call('rename', { parent: d, name: `m${i}`, newParent: ROOT_GFID, newName: `moved${i}` })
        : c.set.call('setattr', { gfid, set: { mode: 0o600 } }))));
    // Two creates of one name at once, many times over: exactly one wins each.
    const race = await Promise.allSettled(Array.from({ length: 20 }, (_, i) => c.set.call('create', { parent: d, name: `r${i % 10}`, gfid: newGfid(0), type: 'file' })));
    assert.equal(race.filter((r) => r.status === 'fulfilled').length, 10);
    assert.ok(race.every((r) => r.status === 'fulfilled' || isErr(r.reason, 'EEXIST')));
    const page = await c.set.call('readdir', { gfid: d, limit: 1000 });
    assert.deepEqual(page.entries.map((e) => e.name).sort(), [
      ...Array.from({ length: 10 }, (_, i) => `r${i}`), ...gs.map((_, i) => `m${i}`).filter((_, i) => i % 3 === 2),
    ].sort());
    for (let i = 1; i < 60; i += 3) assert.equal((await c.set.call('lookup', { parent: ROOT_GFID, name: `moved${i}` })).gfid, gs[i]);
    await c.assertEqualDigests();
  });

  it('SIGKILL of the primary: a new one within 4 s, every acknowledged write readable; the killed brick comes back and catches up', async () => {
    const old = await c.waitPrimary();
    const writes = (async () => { for (let i = 0; i < 10; i++) await create(`k${i}`); })();
    await delay(100);
    await c.member(old.id).proc.kill();
    const t0 = performance.now();
    const rest = c.members.filter((m) => m.id !== old.id).map((m) => m.id);
    const p = await c.waitPrimary(rest);
    assert.ok(p.at - t0 < 4000, `new primary after ${Math.round(p.at - t0)} ms`);
    assert.ok(p.term > old.term);
    // A create caught in the failover fails as "outcome unknown" at worst (ENOTCONN), never twice.
    await writes.catch((e: unknown) => assert.ok(isErr(e, 'ENOTCONN', 'EEXIST'), String(e)));
    await create('after-kill');
    await assertAckedReadable();
    await c.restart(old.id);
    await create('after-restart');
    await c.assertEqualDigests();
  });

  it('SIGSTOP of the primary for 5 s: writes resume within 5 s through the others; after SIGCONT it steps down and catches up', async () => {
    const old = await c.waitPrimary();
    process.kill(c.member(old.id).proc.pid, 'SIGSTOP');
    const t0 = performance.now();
    try {
      await create('during-stop');
      const took = performance.now() - t0;
      assert.ok(took < 5000, `write resumed after ${Math.round(took)} ms`);
      const rest = c.members.filter((m) => m.id !== old.id).map((m) => m.id);
      const p = await c.waitPrimary(rest);
      assert.notEqual(p.id, old.id);
      await delay(Math.max(0, 5000 - (performance.now() - t0)));
    } finally {
      process.kill(c.member(old.id).proc.pid, 'SIGCONT');
    }
    await create('after-cont');
    const st = (await c.status([old.id])).get(old.id)!;
    assert.notEqual(st.role, 'primary');
    await assertAckedReadable();
    await c.assertEqualDigests();
  });

  it('SIGSTOP of a follower: writes go on with the other two; it catches up after SIGCONT', async () => {
    const p = await c.waitPrimary();
    const f = c.members.find((m) => m.id !== p.id)!;
    process.kill(f.proc.pid, 'SIGSTOP');
    try {
      for (let i = 0; i < 5; i++) {
        const t0 = performance.now();
        await create(`fs${i}`);
        assert.ok(performance.now() - t0 < 1000, `create took ${Math.round(performance.now() - t0)} ms with a follower stopped`);
      }
    } finally {
      process.kill(f.proc.pid, 'SIGCONT');
    }
    await assertAckedReadable();
    await c.assertEqualDigests();
  });

  it('SIGKILL of every member: they restart from their logs, elect, keep every acknowledged write; an old opId is EALREADY', async () => {
    const p = await c.waitPrimary();
    const opId = newOpId();
    const gfid = newGfid(0);
    await c.member(p.id).client.call('create', { parent: ROOT_GFID, name: 'before-all-down', gfid, type: 'file' }, { opId });
    acked.set('before-all-down', gfid);
    await c.caughtUp();
    // Past the 100 ms of the applied mark, so the entry is below every member's mark.
    await delay(300);
    await Promise.all(c.members.map((m) => m.proc.kill()));
    await Promise.all(c.members.map((m) => c.restart(m.id)));
    const q = await c.waitPrimary();
    await assertAckedReadable();
    // The reply is not kept across a restart: the resend learns that it ran, not its reply (§10.4).
    const e = await rejectsErrno(c.member(q.id).client.call('create', { parent: ROOT_GFID, name: 'before-all-down', gfid, type: 'file' }, { opId }), 'EALREADY');
    assert.match(e.message, /was applied at index \d+/);
    await create('after-all-down');
    await c.assertEqualDigests();
  });

  it('applied marks far behind after a crash: every entry is applied again over its later effects, and the set ends as it was', async () => {
    // ARCHITECTURE.md §10.4 "As built": entries applied before the crash are applied again after
    // later entries on the same keys; a "diverged" refusal among them is passed, not a stop.
    const g1 = await create('re');
    await c.set.call('setattr', { gfid: g1, set: { mode: 0o600 } });
    await c.set.call('setxattr', { gfid: g1, name: 'k', value: Buffer.from('v').toString('base64') });
    await c.set.call('unlink', { parent: ROOT_GFID, name: 're' });
    const g2 = await create('re');
    await c.set.call('rename', { parent: ROOT_GFID, name: 're', newParent: ROOT_GFID, newName: 're2' });
    acked.delete('re');
    acked.set('re2', g2);
    const dirG = newGfid(0);
    await c.set.call('create', { parent: ROOT_GFID, name: 'd', gfid: dirG, type: 'dir' });
    await c.set.call('create', { parent: dirG, name: 'inner', gfid: newGfid(0), type: 'file' });
    await c.set.call('unlink', { parent: dirG, name: 'inner' });
    await c.set.call('rmdir', { parent: ROOT_GFID, name: 'd' });
    await c.caughtUp();
    const before = await compareReplicas(c.members.map((m) => ({ id: m.id, fops: m.client })));
    await Promise.all(c.members.map((m) => m.proc.kill()));
    // Every member forgets what it applied: the whole log is applied again at start.
    await Promise.all(c.members.map((m) => writeApplied(m.dir, { index: 0, term: 0 })));
    await Promise.all(c.members.map((m) => c.restart(m.id)));
    await c.waitPrimary();
    await create('after-replay');
    assert.equal(await c.assertEqualDigests(), before.handles + 1);
    for (const [, s] of await c.status()) assert.equal(s.state, 'ok');
    await rejectsErrno(c.set.call('getattr', { gfid: g1 }), 'ENOENT');
    await rejectsErrno(c.set.call('getattr', { gfid: dirG }), 'ENOENT');
    assert.equal((await c.set.call('getattr', { gfid: g2 })).mode & 0o777, 0o644);
    await assertAckedReadable();
  });
});

describe('replication module: a primary cut off from its set', function () {
  this.timeout(60_000);
  let dir: Awaited<ReturnType<typeof tmpDir>>;
  let c: Cluster;

  before(async () => {
    dir = await tmpDir('repl-cut');
    c = new Cluster('mds', dir.path, true);
  });
  after(async () => {
    await c.close();
    await dir.cleanup();
  });

  it('the majority elects and takes writes within 5 s; the cut-off primary commits nothing and answers EAGAIN; healed, it drops its entry and catches up', async () => {
    await c.start();
    const old = await c.waitPrimary();
    await c.set.call('create', { parent: ROOT_GFID, name: 'before', gfid: newGfid(0), type: 'file' });
    c.cut(old.id);
    const t0 = performance.now();
    // Sent to the old primary directly (the test's clients still reach it): logged there, never
    // committed; once it steps down (no majority for 1000 ms) it answers that it is no primary.
    const opId = newOpId();
    const gfid = newGfid(0);
    const lost = c.member(old.id).client.call('create', { parent: ROOT_GFID, name: 'cut', gfid, type: 'file' }, { opId });
    const e = await lost.then(() => undefined, (x: unknown) => x);
    assert.ok(isErr(e, 'EAGAIN', 'ENOTPRIMARY'), `the cut-off primary answered ${String(e)}`);
    assert.ok(performance.now() - t0 < 4000, `its FOP was answered after ${Math.round(performance.now() - t0)} ms`);
    await rejectsErrno(c.member(old.id).client.call('getattr', { gfid: ROOT_GFID }), 'EAGAIN');
    // The same FOP, resent with its opId through the set, runs once on the majority's primary.
    await c.set.call('create', { parent: ROOT_GFID, name: 'cut', gfid, type: 'file' }, { opId });
    const took = performance.now() - t0;
    assert.ok(took < 5000, `writes resumed after ${Math.round(took)} ms`);
    const rest = c.members.filter((m) => m.id !== old.id).map((m) => m.id);
    const p = await c.waitPrimary(rest);
    assert.ok(p.term > old.term);
    const cutOff = (await c.status([old.id])).get(old.id)!;
    assert.notEqual(cutOff.role, 'primary');
    assert.ok(cutOff.lastIndex > cutOff.commitIndex, 'the cut-off member holds an uncommitted entry');
    c.cut(old.id, false);
    await c.set.call('create', { parent: ROOT_GFID, name: 'after', gfid: newGfid(0), type: 'file' });
    assert.equal(await c.assertEqualDigests(), 4);
    assert.equal((await c.set.call('lookup', { parent: ROOT_GFID, name: 'cut' })).gfid, gfid);
  });

  it('a follower cut off for 3 s and back deposes nobody (pre-vote, §10.3): same primary, same term', async () => {
    const p = await c.waitPrimary();
    const f = c.members.find((m) => m.id !== p.id)!;
    c.cut(f.id);
    for (let i = 0; i < 5; i++) await c.set.call('create', { parent: ROOT_GFID, name: `fc${i}`, gfid: newGfid(0), type: 'file' });
    await delay(3000);
    c.cut(f.id, false);
    await c.caughtUp();
    const q = await c.waitPrimary();
    assert.deepEqual([q.id, q.term], [p.id, p.term]);
    assert.equal(await c.assertEqualDigests(), 9);
  });

  it('a follower whose store differs from what the primary planned stops applying (diverged); the set goes on', async () => {
    const p = await c.waitPrimary();
    const f = c.members.find((m) => m.id !== p.id)!;
    await f.proc.kill();
    // Behind the set's back: an inode the next create will name, made with other metadata.
    const g = newGfid(0);
    const s = await PosixStore.open({ dir: f.dir, role: 'mds', volumeId: VOLUME });
    await s.callWith('icreate', { gfid: g, type: 'file', mode: 0o600 }, { at: 1 });
    await s.close();
    await c.restart(f.id);
    await c.set.call('create', { parent: ROOT_GFID, name: 'victim', gfid: g, type: 'file' });
    const end = performance.now() + 5000;
    let st: ReplStatus | undefined;
    while (performance.now() < end && st?.state !== 'diverged') {
      st = (await c.status([f.id])).get(f.id);
      await delay(50);
    }
    assert.equal(st?.state, 'diverged');
    await c.set.call('create', { parent: ROOT_GFID, name: 'still', gfid: newGfid(0), type: 'file' });
    const ok = (await c.status([p.id])).get(p.id)!;
    assert.ok(st!.appliedIndex < ok.commitIndex);
  });
});

describe('replication module: three real DS bricks', function () {
  this.timeout(60_000);
  let dir: Awaited<ReturnType<typeof tmpDir>>;
  let c: Cluster;

  before(async () => {
    dir = await tmpDir('repl-ds');
    c = new Cluster('ds', dir.path);
  });
  after(async () => {
    await c.close();
    await dir.cleanup();
  });

  it('dput, dwrite, append and dread with bodies through the primary; every member holds the same bytes', async () => {
    await c.start();
    await c.waitPrimary();
    const g = newGfid(0);
    const put = await c.set.upload('dput', { gfid: g }, Readable.from([Buffer.from('hello world')]));
    assert.equal(put.size, 11);
    await c.set.upload('dwrite', { gfid: g, offset: 6 }, Readable.from([Buffer.from('WORLD')]));
    const app = await c.set.upload('dwrite', { gfid: g, offset: 0, append: true }, Readable.from([Buffer.from('!!')]));
    assert.equal(app.size, 13);
    const g2 = newGfid(0);
    await c.set.call('dcreate', { gfid: g2 });
    const big = Buffer.alloc(3 * 1024 * 1024, 7);
    await c.set.upload('dwrite', { gfid: g2, offset: 0 }, Readable.from([big]));
    await c.set.call('dtruncate', { gfid: g2, size: 1000 });
    const r = await c.set.download('dread', { gfid: g });
    assert.equal(await text(r.body), 'hello WORLD!!');
    assert.equal(r.res.size, 13);
    assert.equal(await c.assertEqualDigests(), 2);
    // The followers refuse reads: the primary's lease covers them (§10.8).
    const p = await c.waitPrimary();
    const f = c.members.find((m) => m.id !== p.id)!;
    await rejectsErrno(f.client.download('dread', { gfid: g }), 'ENOTPRIMARY');
  });

  it('a follower killed while bodies are written fetches them (rblob) when it is back', async () => {
    const p = await c.waitPrimary();
    const f = c.members.find((m) => m.id !== p.id)!;
    await f.proc.kill();
    const g = newGfid(0);
    await c.set.upload('dput', { gfid: g }, Readable.from([Buffer.from('while a member was down')]));
    for (let i = 0; i < 5; i++) await c.set.upload('dwrite', { gfid: g, offset: 0, append: true }, Readable.from([Buffer.alloc(100_000, i)]));
    await c.restart(f.id);
    assert.equal(await c.assertEqualDigests(), 3);
    const r = await c.set.download('dread', { gfid: g, offset: 23, length: 100_000 });
    const chunks: Buffer[] = [];
    for await (const b of r.body) chunks.push(b as Buffer);
    assert.ok(Buffer.concat(chunks).equals(Buffer.alloc(100_000, 0)));
  });
});

describe('replication module: followers slow to fetch bodies (ARCHITECTURE.md §10.16 false failovers)', function () {
  this.timeout(60_000);
  let dir: Awaited<ReturnType<typeof tmpDir>>;
  let c: Cluster;

  before(async () => {
    dir = await tmpDir('repl-slow-rblob');
    // Every rblob a member fetches waits 1.6 s first: longer than a lease round (1000 ms).
    c = new Cluster('ds', dir.path, false, { DHT2_TEST_RBLOB_DELAY_MS: '1600' });
  });
  after(async () => {
    await c.close();
    await dir.cleanup();
  });

  it('the primary keeps its term and lease while both followers fetch for 1.6 s; every write commits', async () => {
    await c.start();
    const p = await c.waitPrimary();
    let lapsed = 0;
    let watching = true;
    const watch = (async () => {
      while (watching) {
        const s = (await c.status([p.id])).get(p.id);
        if (!s || s.role !== 'primary' || s.term !== p.term || !s.leaseValid) lapsed += 1;
        await delay(50);
      }
    })();
    const writes = Array.from({ length: 8 }, async (_, i) => {
      const g = newGfid(0);
      const body = Buffer.alloc(64 * 1024 + i, i + 1);
      await c.set.upload('dput', { gfid: g }, Readable.from([body]));
      return { g, body };
    });
    const done = await Promise.all(writes);
    watching = false;
    await watch;
    assert.equal(lapsed, 0, 'the primary stepped down or its lease lapsed while followers fetched bodies');
    const s = (await c.status([p.id])).get(p.id)!;
    assert.equal(s.role, 'primary');
    assert.equal(s.term, p.term);
    for (const { g, body } of done) {
      const r = await c.set.download('dread', { gfid: g });
      const chunks: Buffer[] = [];
      for await (const b of r.body) chunks.push(b as Buffer);
      assert.ok(Buffer.concat(chunks).equals(body));
    }
    assert.equal(await c.assertEqualDigests(), 8);
    // Nothing staged is left behind on any member once all is applied.
    for (const m of c.members) {
      const left = await readdir(join(m.dir, '.dht2', 'tmp')).catch(() => [] as string[]);
      assert.deepEqual(left.filter((n) => n.includes('blob')), [], `${m.id} kept staged bodies`);
    }
  });
});
