/**
 * The replica-set layer (dht2-core/layers/replica-set.ts, ARCHITECTURE.md §10.8) over members
 * that keep the replication module's contract: the primary serves, the others answer
 * ENOTPRIMARY naming it (or EAGAIN during an election), a dead one EHOSTDOWN. The set's state is
 * one real store behind all of them, so what the layer sends really runs. (The same layer over
 * real replicated bricks is tested with the replication module, slice 5.)
 */
import assert from 'node:assert/strict';
import { PassThrough, Readable } from 'node:stream';
import { PosixStore } from '../../brick/posix2/store.js';
import { ReplicaSetFops, type ReplicaMember } from '../../dht2-core/layers/replica-set.js';
import {
  err, newGfid, PassThroughFops, type BrickFops, type CallContext, type ControlFop, type Download, type DownloadFop,
  type FopReq, type FopRes, type ReplStatus, type UploadFop,
} from '../../dht2-core/protocol/index.js';
import { rejectsErrno, text } from '../helpers/assert-errno.js';
import { tmpDir } from '../helpers/tmp.js';

type Role = 'primary' | 'follower' | 'electing' | 'down';

/** The world the members agree on: who is primary in which term. */
interface World { primary: string | undefined; term: number }

/** One member keeping the contract of §10.8 over the set's store. */
class Member extends PassThroughFops {
  role: Role = 'follower';
  readonly opIds: string[] = [];
  constructor(readonly id: string, protected override readonly child: BrickFops, private readonly world: World) {
    super();
  }

  private gate(fop: string, ctx: CallContext | undefined): void {
    if (fop !== 'rstatus') this.opIds.push(ctx?.opId ?? '');
    if (this.role === 'down') throw err('EHOSTDOWN', `brick ${this.id} unreachable`);
    if (fop === 'rstatus') return;
    if (this.role === 'electing') throw err('EAGAIN', `${this.id}: an election is on`);
    if (this.role === 'follower') throw err('ENOTPRIMARY', `${this.id} is not the primary`, { primary: this.world.primary, term: this.world.term });
  }

  override call<F extends ControlFop>(fop: F, req: FopReq<F>, ctx?: CallContext): Promise<FopRes<F>> {
    try {
      this.gate(fop, ctx);
    } catch (e) {
      return Promise.reject(e);
    }
    if (fop === 'rstatus') {
      const s: ReplStatus = {
        set: 'mds-a', brick: this.id, role: this.role === 'primary' ? 'primary' : 'follower', term: this.world.term,
        primary: this.role === 'electing' ? undefined : this.world.primary, lastIndex: 0, commitIndex: 0, appliedIndex: 0,
        leaseValid: this.role === 'primary', state: 'ok',
      };
      return Promise.resolve(s as FopRes<F>);
    }
    return super.call(fop, req, ctx);
  }

  override upload<F extends UploadFop>(fop: F, req: FopReq<F>, body: Readable, ctx?: CallContext): Promise<FopRes<F>> {
    try {
      this.gate(fop, ctx);
    } catch (e) {
      return Promise.reject(e);
    }
    return super.upload(fop, req, body, ctx);
  }

  override download<F extends DownloadFop>(fop: F, req: FopReq<F>, ctx?: CallContext): Promise<Download<FopRes<F>>> {
    try {
      this.gate(fop, ctx);
    } catch (e) {
      return Promise.reject(e);
    }
    return super.download(fop, req, ctx);
  }

  override close(): Promise<void> { return Promise.resolve(); }
}

describe('replica-set layer', () => {
  let dir: Awaited<ReturnType<typeof tmpDir>>;
  let store: PosixStore;
  let world: World;
  let m: Member[];
  let set: ReplicaSetFops;
  /** Sleeps the layer asked for, ms. */
  let slept: number[];

  const elect = (id: string | undefined, term: number): void => {
    world.primary = id;
    world.term = term;
    for (const x of m) if (x.role !== 'down') x.role = x.id === id ? 'primary' : id === undefined ? 'electing' : 'follower';
  };

  beforeEach(async () => {
    dir = await tmpDir('replset');
    store = await PosixStore.open({ dir: dir.path, role: 'ds', volumeId: 'v' });
    world = { primary: undefined, term: 0 };
    m = ['a1', 'a2', 'a3'].map((id) => new Member(id, store, world));
    slept = [];
    const members: ReplicaMember[] = m.map((x) => ({ id: x.id, fops: x }));
    set = new ReplicaSetFops('ds-a', members, { searchMs: 2000, sleep: async (ms) => { slept.push(ms); await new Promise((r) => setTimeout(r, Math.min(ms, 5))); } });
  });
  afterEach(async () => {
    await store.close();
    await dir.cleanup();
  });

  it('follows the redirect to the primary once, then goes there directly', async () => {
    elect('a3', 4);
    const g = newGfid();
    await set.call('dcreate', { gfid: g });
    assert.deepEqual(set.primary, { id: 'a3', term: 4 });
    assert.deepEqual(m.map((x) => x.opIds.length), [1, 0, 1], 'a1 redirected to a3');
    await set.call('dstat', { gfid: g });
    assert.deepEqual(m.map((x) => x.opIds.length), [1, 0, 2], 'the next FOP went to a3 only');
    assert.deepEqual(slept, []);
  });

  it('keeps one operation id over every attempt of a FOP, and finds the new primary after a failover', async () => {
    elect('a1', 1);
    const g = newGfid();
    await set.call('dcreate', { gfid: g });
    m[0]!.role = 'down';
    elect(undefined, 1); // the others notice and elect
    const pending = set.call('dtruncate', { gfid: g, size: 7 }, { opId: 'f'.repeat(32) });
    setTimeout(() => elect('a2', 2), 30);
    assert.equal((await pending).size, 7);
    // Found by trying the members (a success names no term; redirects and rstatus do).
    assert.equal(set.primary.id, 'a2');
    const ids = m.flatMap((x) => x.opIds.slice(x.id === 'a1' ? 1 : 0));
    assert.ok(ids.length >= 3, `attempts: ${ids.length}`);
    assert.ok(ids.every((id) => id === 'f'.repeat(32)), 'every attempt carried the same operation id');
    assert.ok(slept.length > 0 && slept[0] === 50, `paused between rounds: ${slept.join(',')}`);
    assert.equal(set.failovers, 1);
  });

  it('gives up with EAGAIN after the search window when no primary appears, naming what it tried', async () => {
    elect(undefined, 3);
    const t0 = performance.now();
    const e = await rejectsErrno(set.call('dstat', { gfid: newGfid() }), 'EAGAIN');
    assert.match(e.message, /replica set ds-a has no reachable primary \(tried a1, a2, a3 for 2000 ms; last: EAGAIN: a\d: an election is on\)/);
    const took = performance.now() - t0;
    assert.ok(took >= 1900 && took < 3000, `searched for ${Math.round(took)} ms`);
    assert.deepEqual(slept.slice(0, 5), [50, 100, 200, 400, 800], 'paused 50, 100, 200, 400, 800 ms between rounds');
  });

  it('does not search on errors that are the FOP\'s answer', async () => {
    elect('a2', 1);
    await rejectsErrno(set.call('dstat', { gfid: newGfid() }), 'ENOENT');
    assert.deepEqual(m.map((x) => x.opIds.length), [1, 1, 0]);
  });

  it('reports EALREADY (applied, outcome forgotten) as ENOTCONN, outcome unknown', async () => {
    elect('a1', 1);
    const failing = new (class extends Member {
      override call<F extends ControlFop>(): Promise<FopRes<F>> { return Promise.reject(err('EALREADY', 'applied at index 12')); }
    })('a1', store, world);
    failing.role = 'primary';
    const s = new ReplicaSetFops('ds-a', [{ id: 'a1', fops: failing }, { id: 'a2', fops: m[1]! }, { id: 'a3', fops: m[2]! }]);
    const e = await rejectsErrno(s.call('dcreate', { gfid: newGfid() }), 'ENOTCONN');
    assert.match(e.message, /applied it before but no longer knows its outcome/);
  });

  it('sends an upload body once, to the primary found by rstatus, and fails it with ENOTCONN when the primary fails under it', async () => {
    elect('a2', 5);
    const g = newGfid();
    await set.upload('dput', { gfid: g }, Readable.from([Buffer.from('hello')]));
    assert.deepEqual(m.map((x) => x.opIds.length), [0, 1, 0], 'only a2 saw the body');
    assert.equal(await text((await set.download('dread', { gfid: g })).body), 'hello');
    // The primary changes: the next body goes to a2, which redirects; the body is not resent.
    elect('a3', 6);
    const body = new PassThrough();
    body.end('world');
    const e = await rejectsErrno(set.upload('dput', { gfid: g }, body), 'ENOTCONN');
    assert.match(e.message, /its primary a2 failed under the body .*send it again/);
    assert.deepEqual(set.primary, { id: 'a3', term: 6 }, 'it learned the new primary from the refusal');
    await set.upload('dput', { gfid: g }, Readable.from([Buffer.from('world')]));
    assert.equal(await text((await set.download('dread', { gfid: g })).body), 'world');
  });
});
