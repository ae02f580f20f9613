/**
 * Conditional writes racing a DELETE (dht2-core fops/data.ts nameData): a create-only write (S3
 * PUT If-None-Match: *) whose `create` finds the name taken, then finds it gone when it looks at
 * what holds it, creates again; an If-Match write whose name is gone is ESTALE. Both answered
 * ENOENT, which S3 turned into 404 NoSuchKey, an answer no order of the operations explains.
 * Found by the linearizability recorder over two gateways (ARCHITECTURE.md §10.11 "As built").
 */
import assert from 'node:assert/strict';
import { Readable } from 'node:stream';
import { PassThroughFops, isErr, type BrickFops, type FopName } from '../../dht2-core/protocol/index.js';
import { Volume } from '../../dht2-core/volume.js';
import { startCluster, type TestCluster } from '../helpers/cluster.js';

/** Runs `onExists` (once) when a `create` fails with EEXIST, before the caller sees it. */
class RaceFops extends PassThroughFops {
  onExists: (() => Promise<void>) | undefined;
  constructor(protected override readonly child: BrickFops) { super(); }
  protected override async around<T>(fop: FopName, _req: unknown, run: () => Promise<T>): Promise<T> {
    try {
      return await run();
    } catch (e) {
      const hook = this.onExists;
      if (fop === 'create' && isErr(e, 'EEXIST') && hook) {
        this.onExists = undefined;
        await hook();
      }
      throw e;
    }
  }
}

describe('conditional writes racing a delete (dht2-core fops/data.ts nameData)', function () {
  this.timeout(120_000);
  let c: TestCluster;
  before(async () => { c = await startCluster(); });
  after(async () => { await c.stop(); });

  it('creates again when the name it collided with is deleted before it looks', async () => {
    const mds = c.mdsCount.map((b) => new RaceFops(b));
    const g = new Volume(mds, c.dsCount);
    await c.volume.writeFile('/k', Readable.from(['first']));
    const root = await g.stat('/');
    for (const m of mds) m.onExists = () => c.volume.unlink('/k');
    const a = await g.writeFileAt(root.gfid, 'k', Readable.from(['second']), { createOnly: true, intoDir: true });
    assert.ok(mds.some((m) => m.onExists === undefined), 'the race ran');
    assert.equal(a.size, 6);
    assert.equal((await c.volume.stat('/k')).gfid, a.gfid);
    // Without the race the collision is still EEXIST (If-None-Match: 412).
    await assert.rejects(g.writeFileAt(root.gfid, 'k', Readable.from(['third']), { createOnly: true, intoDir: true }), (e: unknown) => isErr(e, 'EEXIST'));
  });

  it('a write that must replace a GFID (If-Match) whose name was deleted since is ESTALE (412), not ENOENT (404)', async () => {
    const a = await c.volume.writeFile('/m', Readable.from(['first']));
    const root = await c.volume.stat('/');
    await c.volume.unlink('/m');
    await assert.rejects(c.volume.writeFileAt(root.gfid, 'm', Readable.from(['second']), { ifGfid: a.gfid, intoDir: true }), (e: unknown) => isErr(e, 'ESTALE'));
    await assert.rejects(c.volume.stat('/m'), (e: unknown) => isErr(e, 'ENOENT'));
  });
});
