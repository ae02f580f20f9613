/**
 * Crashes between the steps of composite FOPs across bricks: the gateway dying (no further
 * FOP leaves it) and a brick killed with SIGKILL. Afterwards no name points to nothing, and
 * fsck finds the orphans each order is allowed to leave and removes them.
 */
import assert from 'node:assert/strict';
import { Readable } from 'node:stream';
import type { FopName } from '../../dht2-core/protocol/fops.js';
import { Volume } from '../../dht2-core/volume.js';
import type { FsckReport } from '../../dht2-core/fops/fsck.js';
import { HookFops, KillSwitch } from '../helpers/hook-fops.js';
import { startCluster, type TestCluster } from '../helpers/cluster.js';
import { text } from '../helpers/assert-errno.js';
import { err } from '../../dht2-core/protocol/errors.js';

const body = (s: string) => Readable.from([Buffer.from(s)]);

describe('dht2-core crash safety and fsck', function () {
  this.timeout(120_000);
  let c: TestCluster;
  let sw: KillSwitch;
  /** A second "gateway" over the same bricks whose FOPs pass through the kill switch. */
  let g: Volume;
  before(async () => { c = await startCluster(); });
  after(async () => { await c.stop(); });
  beforeEach(() => {
    sw = new KillSwitch();
    g = new Volume(c.mdsCount.map((b) => new HookFops(b, sw, 'mds')), c.dsCount.map((b) => new HookFops(b, sw, 'ds')));
  });

  /** Dies right after the `n`-th completed `fop`. */
  const dieAfter = (fop: FopName, n = 1): void => {
    let seen = 0;
    sw.after = (f) => { if (f === fop && ++seen === n) sw.dead = true; };
  };

  async function fsckClean(expect: Partial<Record<'orphanInodes' | 'orphanData' | 'nlinkMismatch' | 'dyingNamed', number>>): Promise<FsckReport> {
    const r = await c.volume.fsck({ graceMs: 0 });
    assert.deepEqual(r.dangling, [], 'no name may point to a missing inode');
    assert.equal(r.orphanInodes.length, expect.orphanInodes ?? 0, `orphan inodes ${JSON.stringify(r.orphanInodes)}`);
    assert.equal(r.orphanData.length, expect.orphanData ?? 0, `orphan data ${JSON.stringify(r.orphanData)}`);
    assert.equal(r.nlinkMismatch.length, expect.nlinkMismatch ?? 0, 'nlink mismatches');
    assert.equal(r.dyingNamed.length, expect.dyingNamed ?? 0, 'dying directories with names');
    const repaired = await c.volume.fsck({ graceMs: 0, repair: true });
    assert.equal(repaired.repaired, true);
    const after = await c.volume.fsck({ graceMs: 0 });
    assert.deepEqual([after.dangling, after.orphanInodes, after.orphanData, after.dyingNamed, after.nlinkMismatch, after.missingData], [[], [], [], [], [], []]);
    assert.deepEqual(r.missingData, [], 'named files whose data is missing');
    return r;
  }

  /** A name in `dir` whose new directory GFID lands on the other MDS (retry with new names). */
  async function crossMdsMkdir(parentPath: string): Promise<void> {
    const parent = await c.volume.stat(parentPath);
    for (let i = 0; i < 64; i++) {
      sw.dead = false;
      let icreated = false;
      sw.after = (f) => { if (f === 'icreate') { icreated = true; sw.dead = true; } };
      await assert.rejects(g.mkdir(`${parentPath}/m${i}`)).catch(() => undefined);
      if (icreated) return;
      // Same MDS: mkdir was one `create` and succeeded; try another name.
      await c.volume.rmdir(`${parentPath}/m${i}`).catch(() => undefined);
      void parent;
    }
    throw new Error('no cross-MDS mkdir in 64 tries');
  }

  it('mkdir: gateway dies after icreate -> an orphan directory inode, removed by fsck', async () => {
    await c.volume.mkdir('/c1');
    await crossMdsMkdir('/c1');
    await fsckClean({ orphanInodes: 1 });
  });

  it('PUT (writeFile): gateway dies after the data is written -> orphan data, removed by fsck; old object intact', async () => {
    await c.volume.mkdir('/c2');
    await c.volume.writeFile('/c2/obj', body('old'));
    dieAfter('dput');
    await assert.rejects(g.writeFile('/c2/obj', body('new')));
    assert.equal(await text((await c.volume.openRead('/c2/obj')).body), 'old');
    await fsckClean({ orphanData: 1 });
  });

  it('unlink: gateway dies after the name and inode went -> the unlink has happened; orphan data, removed by fsck', async () => {
    await c.volume.mkdir('/c3');
    await c.volume.writeFile('/c3/f', body('data'));
    dieAfter('unlink');
    await g.unlink('/c3/f'); // the name went: finishing the data is best effort (core.ts finishFate)
    await assert.rejects(c.volume.stat('/c3/f'));
    await fsckClean({ orphanData: 1 });
  });

  it('rename across MDSs: gateway dies after the new name -> two names for one inode (nlink mismatch), never a dangling name', async () => {
    await c.volume.mkdir('/c4');
    const c4 = await c.volume.stat('/c4');
    let other = '';
    for (let i = 0; i < 64 && !other; i++) {
      const d = await c.volume.mkdir(`/c4/o${i}`);
      if (c.volume.layout.mdsOf(d.gfid) !== c.volume.layout.mdsOf(c4.gfid)) other = `/c4/o${i}`;
    }
    const f = await c.volume.writeFile('/c4/f', body('x'));
    dieAfter('namelink');
    await assert.rejects(g.rename('/c4/f', `${other}/f`));
    assert.equal((await c.volume.stat('/c4/f')).gfid, f.gfid);
    assert.equal((await c.volume.stat(`${other}/f`)).gfid, f.gfid);
    const r = await fsckClean({ nlinkMismatch: 1 });
    assert.deepEqual(r.nlinkMismatch, [{ gfid: f.gfid, nlink: 1, names: 2 }]);
  });

  it('rmdir of a remote directory: gateway dies after the dying mark -> fsck clears the mark', async () => {
    await c.volume.mkdir('/c5');
    const c5 = await c.volume.stat('/c5');
    let remote = '';
    for (let i = 0; i < 64 && !remote; i++) {
      const d = await c.volume.mkdir(`/c5/r${i}`);
      if (c.volume.layout.mdsOf(d.gfid) !== c.volume.layout.mdsOf(c5.gfid)) remote = `/c5/r${i}`;
      else await c.volume.rmdir(`/c5/r${i}`);
    }
    dieAfter('imark');
    await assert.rejects(g.rmdir(remote));
    await assert.rejects(c.volume.writeFile(`${remote}/x`, body('x')), /ENOENT/);
    await fsckClean({ dyingNamed: 1 });
    await c.volume.writeFile(`${remote}/x`, body('x'));
  });

  it('brick killed between steps: a DS dies after the MDS unlink -> the unlink has happened, orphan data found after restart', async () => {
    await c.volume.mkdir('/c6');
    const f = await c.volume.writeFile('/c6/f', body('data'));
    const dsIndex = c.volume.layout.dsOf(f.gfid);
    sw.after = async (fop) => { if (fop === 'unlink') await c.ds[dsIndex]!.kill(); };
    await g.unlink('/c6/f');
    await c.restart('ds', dsIndex);
    await assert.rejects(c.volume.stat('/c6/f'), /ENOENT/);
    await fsckClean({ orphanData: 1 });
  });

  it('brick killed between steps: the parent MDS dies after icreate -> mkdir fails, nothing dangles', async () => {
    await c.volume.mkdir('/c7');
    const c7 = await c.volume.stat('/c7');
    const parentMds = c.volume.layout.mdsOf(c7.gfid);
    let done = false;
    for (let i = 0; i < 64 && !done; i++) {
      sw.after = async (fop, req) => {
        if (fop === 'icreate' && c.volume.layout.mdsOf((req as { gfid: string }).gfid) !== parentMds) {
          done = true;
          await c.mds[parentMds]!.kill();
        }
      };
      await g.mkdir(`/c7/k${i}`).catch(() => undefined);
    }
    assert.ok(done);
    sw.after = undefined;
    await c.restart('mds', parentMds);
    // mkdir could not name its inode; it removed it itself (or fsck does).
    const r = await c.volume.fsck({ graceMs: 0, repair: true });
    assert.deepEqual(r.dangling, []);
    assert.ok(r.orphanInodes.length <= 1);
    await fsckClean({});
  });
  it('a file turned into a directory carrying it: gateway dies after icreate -> the file is intact, fsck removes the orphan directory', async () => {
    await c.volume.mkdir('/c9');
    await c.volume.writeFile('/c9/a', body('carried'));
    dieAfter('icreate');
    await assert.rejects(g.mkdir('/c9/a', { parents: true, adopt: true }));
    assert.equal((await c.volume.stat('/c9/a')).type, 'file');
    assert.equal(await text((await c.volume.openRead('/c9/a')).body), 'carried');
    await fsckClean({ orphanInodes: 1 });
    assert.equal(await text((await c.volume.openRead('/c9/a')).body), 'carried', 'repair left the file alone');
  });

  it('an object written into a directory: gateway dies after icreate or after objset -> old or new object, fsck removes the rest', async () => {
    await c.volume.mkdir('/c10/a', { parents: true });
    const dir = await c.volume.stat('/c10');
    await c.volume.writeFileAt(dir.gfid, 'a', body('old'), { intoDir: true });
    const carried = async () => text(await c.volume.readAt((await c.volume.carriedObject(await c.volume.stat('/c10/a')))!));
    assert.equal(await carried(), 'old');
    dieAfter('icreate');
    await assert.rejects(g.writeFileAt(dir.gfid, 'a', body('new'), { intoDir: true }));
    assert.equal(await carried(), 'old');
    await fsckClean({ orphanInodes: 1 }); // the new inode (its data goes with it)
    sw.dead = false;
    dieAfter('objset');
    await g.writeFileAt(dir.gfid, 'a', body('newer'), { intoDir: true }); // committed at objset
    assert.equal(await carried(), 'newer');
    await fsckClean({ orphanInodes: 1 }); // the replaced inode, not yet finished
    assert.equal(await carried(), 'newer');
  });
  it('a directory turning back into the file it carries: gateway dies after imark or after nameswap -> fsck clears or removes the directory', async () => {
    await c.volume.mkdir('/c11');
    await c.volume.writeFile('/c11/a', body('kept'));
    for (const [fop, expect] of [['imark', { dyingNamed: 1 }], ['nameswap', { orphanInodes: 1 }]] as const) {
      await c.volume.mkdir('/c11/a', { parents: true, adopt: true });
      assert.equal((await c.volume.stat('/c11/a')).type, 'dir');
      sw.dead = false;
      dieAfter(fop);
      await assert.rejects(g.uncarry('/c11/a'));
      await fsckClean(expect);
      const a = await c.volume.stat('/c11/a');
      const read = a.type === 'dir' ? await c.volume.carriedObject(a) : a;
      assert.equal(await text(await c.volume.readAt(read!)), 'kept');
      if (a.type === 'dir') assert.equal(await c.volume.uncarry('/c11/a'), true);
      assert.equal((await c.volume.stat('/c11/a')).type, 'file');
    }
    await fsckClean({});
  });

  describe('after the naming step may have committed, nothing is undone (issue 13, defect 1)', () => {
    /** Every FOP on a brick of `role` fails unapplied, as when that brick is down. */
    const down = (role: 'mds' | 'ds', fops?: FopName[]): void => {
      sw.before = (f, r) => {
        if (r === role && (!fops || fops.includes(f))) throw err('EHOSTDOWN', `${role} down before ${f}`);
      };
    };
    afterEach(() => { sw.before = undefined; });

    it('PUT replacing an object whose old data is on a DS that is down: acknowledged, reads back new; the old data is an orphan', async () => {
      await c.volume.mkdir('/d1');
      await c.volume.writeFile('/d1/obj', body('old'));
      down('ds', ['dunlink']);
      await g.writeFile('/d1/obj', body('new'));
      assert.equal(await text((await c.volume.openRead('/d1/obj')).body), 'new');
      sw.before = undefined;
      await fsckClean({ orphanData: 1 });
      assert.equal(await text((await c.volume.openRead('/d1/obj')).body), 'new');
    });

    it('PUT whose MDS commits the name and dies before replying: the PUT fails, the new version is whole (never a name without data)', async () => {
      await c.volume.mkdir('/d2');
      await c.volume.writeFile('/d2/obj', body('old'));
      sw.after = (f) => {
        if (f !== 'create') return;
        down('mds');
        throw err('ENOTCONN', 'MDS died before replying');
      };
      await assert.rejects(g.writeFile('/d2/obj', body('new')), /ENOTCONN/);
      sw.before = undefined;
      assert.equal(await text((await c.volume.openRead('/d2/obj')).body), 'new');
      await fsckClean({ orphanData: 1 }); // the replaced version's data, never finished
    });

    it('PUT whose create reply is lost while the MDS stays up: the fate is looked up and the PUT succeeds', async () => {
      await c.volume.mkdir('/d3');
      await c.volume.writeFile('/d3/obj', body('old'));
      let lost = false;
      sw.after = (f) => {
        if (f !== 'create' || lost) return;
        lost = true;
        throw err('ENOTCONN', 'reply lost');
      };
      const a = await g.writeFile('/d3/obj', body('new'));
      assert.equal(a.size, 3);
      assert.equal(await text((await c.volume.openRead('/d3/obj')).body), 'new');
      await fsckClean({ orphanData: 1 });
    });

    it('a file turned into a directory carrying it, the swap reply lost and the MDS gone: the file stays reachable', async () => {
      await c.volume.mkdir('/d4');
      await c.volume.writeFile('/d4/a', body('carried'));
      sw.after = (f) => {
        if (f !== 'nameswap') return;
        down('mds', ['entry', 'lookup']); // the fate cannot be learned
        throw err('ENOTCONN', 'reply lost');
      };
      await assert.rejects(g.mkdir('/d4/a/b', { parents: true, adopt: true }));
      sw.before = undefined;
      const a = await c.volume.stat('/d4/a');
      assert.equal(a.type, 'dir');
      assert.equal(await text(await c.volume.readAt((await c.volume.carriedObject(a))!)), 'carried');
      await fsckClean({});
      assert.equal(await text(await c.volume.readAt((await c.volume.carriedObject(await c.volume.stat('/d4/a')))!)), 'carried');
    });
  });

  describe('a name whose data is missing (issue 13, defect 2)', () => {
    it('reads fail at once with EIO; fsck reports the name and repair removes it; an empty file without data still reads empty', async () => {
      await c.volume.mkdir('/m1');
      const a = await c.volume.writeFile('/m1/lost', body('bytes that will be lost'));
      await c.volume.create('/m1/empty');
      const ds = c.dsCount[c.volume.layout.dsOf(a.gfid)]!;
      await ds.call('dunlink', { gfid: a.gfid });
      await assert.rejects(c.volume.openRead('/m1/lost'), /EIO/);
      await assert.rejects(c.volume.readAt(a), /EIO/);
      assert.equal(await text((await c.volume.openRead('/m1/empty')).body), '');
      const r = await c.volume.fsck({ graceMs: 0 });
      assert.deepEqual(r.missingData, [{ gfid: a.gfid, size: a.size }]);
      assert.deepEqual(r.dangling, []);
      const repaired = await c.volume.fsck({ graceMs: 0, repair: true });
      assert.equal(repaired.missingData.length, 1);
      await assert.rejects(c.volume.stat('/m1/lost'), /ENOENT/);
      assert.equal(await text((await c.volume.openRead('/m1/empty')).body), '');
      await fsckClean({});
    });

    it('a read by attributes of a file replaced meanwhile is ESTALE (look again), not lost data', async () => {
      await c.volume.mkdir('/m2');
      const old = await c.volume.writeFile('/m2/f', body('old bytes'));
      await c.volume.writeFile('/m2/f', body('new bytes'));
      await assert.rejects(c.volume.readAt(old), /ESTALE/);
      assert.equal(await text((await c.volume.openRead('/m2/f')).body), 'new bytes');
    });

    it('a copy of a file whose data is lost fails with EIO instead of making an empty copy', async () => {
      await c.volume.mkdir('/m3');
      const a = await c.volume.writeFile('/m3/src', body('bytes that will be lost'));
      await c.dsCount[c.volume.layout.dsOf(a.gfid)]!.call('dunlink', { gfid: a.gfid });
      await assert.rejects(c.volume.copyAt(a, (await c.volume.stat('/m3')).gfid, 'copy'), /EIO/);
      await assert.rejects(c.volume.stat('/m3/copy'), /ENOENT/);
      await c.volume.fsck({ graceMs: 0, repair: true });
      await fsckClean({});
    });
  });
});
