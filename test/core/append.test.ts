/**
 * Appends are atomic against each other (issue 4: "append"): many concurrent appenders, each
 * streaming its body in several chunks, over real bricks. Every body lands whole and once, none
 * overwrites another, and the cached size on the MDS is the sum whichever finished last.
 */
import assert from 'node:assert/strict';
import { Readable } from 'node:stream';
import { setTimeout as sleep } from 'node:timers/promises';
import { rejectsErrno, text } from '../helpers/assert-errno.js';
import { startCluster, type TestCluster } from '../helpers/cluster.js';

/** A body of `chunks` chunks of `size` bytes of letter `c`, with pauses so bodies overlap in time. */
function slowBody(c: string, chunks: number, size: number): Readable {
  return Readable.from((async function* () {
    for (let i = 0; i < chunks; i++) {
      yield Buffer.alloc(size, c);
      await sleep(2);
    }
  })());
}

describe('dht2-core append', function () {
  this.timeout(120_000);
  let c: TestCluster;
  before(async () => { c = await startCluster(); });
  after(async () => { await c.stop(); });

  it('concurrent appends never overwrite or interleave, and the size is their sum', async () => {
    await c.volume.writeFile('/log', Readable.from([Buffer.from('head:')]));
    const letters = 'abcdefghijklmnop'.split('');
    await Promise.all(letters.map((l) => c.volume.append('/log', slowBody(l, 8, 4096))));
    const all = await text((await c.volume.openRead('/log')).body);
    assert.equal(all.length, 5 + letters.length * 8 * 4096);
    assert.ok(all.startsWith('head:'));
    // Each letter's 32 KiB is one contiguous run: nothing interleaved, nothing lost.
    const runs = all.slice(5).match(/(.)\1*/g)!;
    assert.deepEqual(runs.map((r) => r[0]).sort(), letters);
    for (const r of runs) assert.equal(r.length, 8 * 4096);
    assert.equal((await c.volume.stat('/log')).size, all.length, 'the cached size is the sum');
  });

  it('appends to a file never written creates its data; a directory is EISDIR, a missing file ENOENT', async () => {
    await c.volume.create('/empty');
    await c.volume.append('/empty', Readable.from([Buffer.from('one')]));
    await c.volume.append('/empty', Readable.from([Buffer.from('two')]));
    assert.equal(await text((await c.volume.openRead('/empty')).body), 'onetwo');
    await c.volume.mkdir('/d');
    await rejectsErrno(c.volume.append('/d', Readable.from([])), 'EISDIR');
    await rejectsErrno(c.volume.append('/nope', Readable.from([])), 'ENOENT');
  });
});
