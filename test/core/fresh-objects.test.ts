/**
 * The fresh-object fast path of replicated DS sets (ARCHITECTURE.md §10.7, slice 7 of §10.15),
 * on six real brick processes (one MDS set and one DS set of three) and a Volume over them:
 *
 * - all members up: a whole-object write logs nothing on the DS set (its log does not grow) and
 *   every member holds the object (digests equal);
 * - a member down: writes succeed with pending records, which `dht2 heal info` counts; the member
 *   back: it copies them, heal info exits 0, digests equal;
 * - a member frozen (SIGSTOP): each write waits at most about the 1 s grace after a majority,
 *   then records it as missing; thawed, it heals;
 * - a DELETE of an object with a pending record removes the rows, and heal does not bring it back;
 * - heal on access: the primary lacks an object (it was the one down), a read through it answers
 *   the right bytes, and its copy is healed;
 * - fewer than a majority of the DS set up: the write is refused (EAGAIN, 503), never acknowledged.
 */
import assert from 'node:assert/strict';
import { Readable } from 'node:stream';
import { setTimeout as delay } from 'node:timers/promises';
import { Volume } from '../../dht2-core/index.js';
import type { DigestItem } from '../../dht2-core/protocol/index.js';
import { ReplCluster } from '../helpers/repl-cluster.js';
import { rng } from '../helpers/rng.js';
import { tmpDir } from '../helpers/tmp.js';

async function bytesOf(stream: AsyncIterable<Buffer>): Promise<Buffer> {
  const parts: Buffer[] = [];
  for await (const c of stream) parts.push(c);
  return Buffer.concat(parts);
}

describe('fresh objects on a replicated DS set (§10.7): no log, pending records, heal', function () {
  this.timeout(180_000);
  let dir: Awaited<ReturnType<typeof tmpDir>>;
  let c: ReplCluster;
  let v: Volume;
  const next = rng(107);
  const rand = {
    int: (n: number): number => Math.floor(next() * n),
    bytes: (n: number): Buffer => { const b = Buffer.alloc(n); for (let i = 0; i < n; i++) b[i] = Math.floor(next() * 256); return b; },
  };
  const files = new Map<string, Buffer>();
  const DS = ['ds0-1', 'ds0-2', 'ds0-3'];

  const put = async (path: string, size: number): Promise<void> => {
    const b = rand.bytes(size);
    await v.writeFile(path, Readable.from([b]));
    files.set(path, b);
  };
  const readBack = async (path: string): Promise<Buffer> => bytesOf((await v.openRead(path)).body);
  const digestOf = async (id: string): Promise<DigestItem[]> => {
    const items: DigestItem[] = [];
    let after: string | undefined;
    for (;;) {
      const p = await c.client(id).call('digest', after === undefined ? { limit: 1000 } : { after, limit: 1000 });
      items.push(...p.items);
      if (p.eof || p.items.length === 0) return items;
      after = p.items.at(-1)!.gfid;
    }
  };
  const holds = async (id: string, gfid: string): Promise<boolean> => (await digestOf(id)).some((i) => i.gfid === gfid);
  const pendingOn = async (id: string): Promise<Record<string, number>> => (await c.status(id))?.pending ?? {};
  const total = (p: Record<string, number>): number => Object.values(p).reduce((a, b) => a + b, 0);

  before(async () => {
    dir = await tmpDir('fresh-');
    c = new ReplCluster({ dir: dir.path, mdsSets: 1, dsSets: 1 });
    await c.start();
    await c.primary('mds0');
    await c.primary('ds0');
    v = await Volume.open(c.volfile);
    await v.mkdir('/d');
  });

  after(async () => {
    await v?.close();
    await c?.stop();
    await dir?.cleanup();
  });

  it('all members up: a whole-object write logs nothing on the DS set, and every member holds it', async () => {
    const p = await c.primary('ds0');
    const before = (await c.status(p))!.lastIndex;
    for (let i = 0; i < 12; i++) await put(`/d/up${i}`, 1 + rand.int(300_000));
    const after = (await c.status(p))!.lastIndex;
    assert.equal(after, before, 'the DS set logged entries for fresh objects');
    for (const id of DS) assert.equal(total(await pendingOn(id)), 0);
    await c.healed(10_000); // the MDS followers have applied the creates
    assert.deepEqual(await c.differingSets(), []);
    for (const path of ['/d/up0', '/d/up11']) {
      const a = await v.stat(path);
      for (const id of DS) assert.ok(await holds(id, a.gfid), `${id} lacks ${path}`);
      assert.ok((await readBack(path)).equals(files.get(path)!));
    }
  });

  it('a member down: writes succeed with pending records, heal info counts them; back: healed, digests equal', async () => {
    const p = await c.primary('ds0');
    const down = DS.find((id) => id !== p)!;
    await c.brick(down).proc.kill();
    const t0 = performance.now();
    for (let i = 0; i < 8; i++) await put(`/d/miss${i}`, 1 + rand.int(200_000));
    const perPut = (performance.now() - t0) / 8;
    const pend = await pendingOn(p);
    assert.equal(pend[down], 8, `pending on the primary: ${JSON.stringify(pend)}`);
    const info = await c.cli('heal', 'info', '--volfile', c.volfile);
    assert.notEqual(info.code, 0);
    assert.match(info.stdout, new RegExp(`${down}: 8 pending fresh copies`));
    for (const path of ['/d/miss0', '/d/miss7']) assert.ok((await readBack(path)).equals(files.get(path)!));
    await c.restart(down);
    await c.healed(30_000);
    for (const id of DS) assert.equal(total(await pendingOn(id)), 0, `${id} still counts pending rows`);
    assert.deepEqual(await c.differingSets(), []);
    const a = await v.stat('/d/miss3');
    assert.ok(await holds(down, a.gfid));
    assert.ok(perPut < 3000, `a write with a member down took ${perPut} ms`);
  });

  it('a member frozen (SIGSTOP): writes wait at most the grace after a majority, then pending; thawed: healed', async () => {
    const p = await c.primary('ds0');
    const frozen = DS.find((id) => id !== p)!;
    process.kill(c.brick(frozen).proc.pid, 'SIGSTOP');
    try {
      for (let i = 0; i < 4; i++) {
        const t0 = performance.now();
        await put(`/d/frozen${i}`, 2_000_000);
        const ms = performance.now() - t0;
        assert.ok(ms < 4000, `a write with a member frozen took ${Math.round(ms)} ms`);
      }
      assert.equal((await pendingOn(p))[frozen], 4, JSON.stringify(await pendingOn(p)));
    } finally {
      process.kill(c.brick(frozen).proc.pid, 'SIGCONT');
    }
    await c.healed(30_000);
    assert.deepEqual(await c.differingSets(), []);
    for (let i = 0; i < 4; i++) assert.ok((await readBack(`/d/frozen${i}`)).equals(files.get(`/d/frozen${i}`)!));
  });

  it('DELETE of an object with a pending record removes the rows; heal does not bring it back', async () => {
    const p = await c.primary('ds0');
    const down = DS.find((id) => id !== p)!;
    await c.brick(down).proc.kill();
    await put('/d/gone', 50_000);
    await put('/d/kept', 50_000);
    const gone = (await v.stat('/d/gone')).gfid;
    assert.equal((await pendingOn(p))[down], 2);
    await v.unlink('/d/gone');
    files.delete('/d/gone');
    assert.equal((await pendingOn(p))[down], 1, 'the DELETE left the pending row of the object');
    await c.restart(down);
    await c.healed(30_000);
    await delay(1500); // a heal round more: nothing may come back
    for (const id of DS) assert.equal(await holds(id, gone), false, `${id} holds the deleted object`);
    assert.deepEqual(await c.differingSets(), []);
    assert.ok((await readBack('/d/kept')).equals(files.get('/d/kept')!));
  });

  it('heal on access: the primary lacks an object, a read through it answers the right bytes and heals its copy', async () => {
    const first = await c.primary('ds0');
    await c.brick(first).proc.kill();
    await c.primary('ds0');
    await put('/d/onaccess', 400_000);
    const g = (await v.stat('/d/onaccess')).gfid;
    // Back without its background heal, so only a read can heal it.
    await c.restart(first, { DHT2_TEST_NO_FRESH_HEAL: '1' });
    // Until `first` is the primary: stop whichever other member is, and start it again.
    for (let round = 0; round < 12; round++) {
      const p = await c.primary('ds0');
      if (p === first) break;
      await c.brick(p).proc.kill();
      await c.primary('ds0', 20_000);
      await c.restart(p);
    }
    assert.equal(await c.primary('ds0'), first, 'the member that lacks the object never became primary');
    assert.equal(await holds(first, g), false, 'the primary already holds the object');
    assert.ok((await readBack('/d/onaccess')).equals(files.get('/d/onaccess')!), 'the read through the primary answered other bytes');
    assert.equal(await holds(first, g), true, 'the read did not heal the primary');
    const end = performance.now() + 10_000;
    while (total(await pendingOn(first)) > 0 && performance.now() < end) await delay(200);
    assert.equal(total(await pendingOn(first)), 0, 'the record of the healed copy stayed');
  });

  it('fewer than a majority of the DS set up: the write is refused (EAGAIN, 503) and never acknowledged', async () => {
    const p = await c.primary('ds0');
    const others = DS.filter((id) => id !== p);
    for (const id of others) await c.brick(id).proc.kill();
    await assert.rejects(put('/d/refused', 100_000), (e: unknown) => (e as { errno?: string }).errno === 'EAGAIN');
    await assert.rejects(v.stat('/d/refused'), (e: unknown) => (e as { errno?: string }).errno === 'ENOENT');
    for (const id of others) await c.restart(id);
    await c.primary('ds0', 20_000);
    await c.healed(30_000);
    for (const [path, b] of files) assert.ok((await readBack(path)).equals(b), `${path} reads back other bytes`);
  });
});
