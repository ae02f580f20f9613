/**
 * Placement over real bricks (2 MDS + 3 DS): the files of one directory spread over every DS,
 * directories spread over the MDSs, and a create or lookup in a known directory costs one MDS
 * round trip (counted with a counting layer over each brick client).
 */
import assert from 'node:assert/strict';
import { Readable } from 'node:stream';
import { gfidBucket, ROOT_GFID } from '../../dht2-core/protocol/gfid.js';
import { Layout } from '../../dht2-core/layout.js';
import { startCluster, type TestCluster } from '../helpers/cluster.js';

async function pool<T>(n: number, conc: number, fn: (i: number) => Promise<T>): Promise<T[]> {
  const out: T[] = new Array<T>(n);
  let next = 0;
  await Promise.all(Array.from({ length: conc }, async () => {
    while (next < n) { const i = next++; out[i] = await fn(i); }
  }));
  return out;
}

function within(counts: number[], total: number, tolerance: number): void {
  const even = total / counts.length;
  for (const c of counts) assert.ok(Math.abs(c - even) <= even * tolerance, `${JSON.stringify(counts)} not within ±${tolerance * 100}% of ${even}`);
}

describe('dht2-core placement', function () {
  this.timeout(300_000);
  let c: TestCluster;
  before(async () => { c = await startCluster(); });
  after(async () => { await c.stop(); });

  it('the layout maps every bucket to one MDS in contiguous ranges and spreads GFID low bits over DSs', () => {
    const l = Layout.uniform(3, 5);
    const ranges = l.mdsRanges();
    assert.deepEqual(ranges.map((r) => [r.first, r.last]), [[0, 21845], [21846, 43690], [43691, 65535]]);
    for (const r of ranges) {
      assert.equal(l.mdsOfBucket(r.first), r.mds);
      assert.equal(l.mdsOfBucket(r.last), r.mds);
    }
    assert.equal(l.mdsOf(ROOT_GFID), 0, 'the root lives on the MDS of bucket 0');
    assert.equal(l.dsOf('00000000-0000-0000-0000-000000000000'), 0);
    assert.equal(l.dsOf('00000000-0000-0000-0000-00000000ffff'), 4);
  });

  it('10,000 files of one directory land on every DS within ±15% of an even share', async () => {
    const v = c.volume;
    const dir = await v.mkdir('/spread');
    const files = await pool(10_000, 32, (i) => v.writeFileAt(dir.gfid, `f${i}`, Readable.from([Buffer.from('x')])));
    for (const f of files) assert.equal(gfidBucket(f.gfid), gfidBucket(dir.gfid));
    // Count what is really on each DS's disk, through the scan FOP.
    const counts: number[] = [];
    for (const ds of c.dsCount) {
      let n = 0;
      let after: string | undefined;
      for (;;) {
        const p = await ds.call('scan', { after, limit: 5000 });
        n += p.items.length;
        if (p.eof) break;
        after = p.items.at(-1)!.gfid;
      }
      counts.push(n);
    }
    assert.equal(counts.reduce((a, b) => a + b, 0), 10_000);
    within(counts, 10_000, 0.15);
  });

  it('1,000 directories spread over the MDSs', async () => {
    const v = c.volume;
    const top = await v.mkdir('/dirs');
    const dirs = await pool(1000, 16, (i) => v.mkdirAt(top.gfid, `d${i}`));
    const counts = [0, 0];
    for (const d of dirs) counts[v.layout.mdsOf(d.gfid)]!++;
    within(counts, 1000, 0.15);
    // And each directory really is on the MDS the layout names.
    for (const d of dirs.slice(0, 50)) {
      assert.equal((await c.mdsCount[v.layout.mdsOf(d.gfid)]!.call('getattr', { gfid: d.gfid })).gfid, d.gfid);
    }
  });

  it('a file create or lookup in a known directory costs one MDS round trip', async () => {
    const v = c.volume;
    const dir = await v.mkdir('/rpc');
    const all = [...c.mdsCount, ...c.dsCount];
    const reset = () => all.forEach((b) => b.reset());
    const total = () => all.reduce((n, b) => n + b.total, 0);
    reset();
    const f = await v.createAt(dir.gfid, 'one');
    assert.equal(total(), 1);
    assert.equal(c.mdsCount[v.layout.mdsOf(dir.gfid)]!.counts.get('create'), 1);
    reset();
    assert.equal((await v.lookup(dir.gfid, 'one')).gfid, f.gfid);
    assert.equal(total(), 1);
    // By path: one lookup per component, nothing else.
    reset();
    await v.stat('/rpc/one');
    assert.equal(total(), 2);
    // A whole-object PUT: one DS round trip for the data, one MDS round trip for inode and name.
    reset();
    await v.writeFileAt(dir.gfid, 'put', Readable.from([Buffer.from('data')]));
    assert.equal(total(), 2);
  });
});
