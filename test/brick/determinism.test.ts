/**
 * Deterministic stores (ARCHITECTURE.md §10.6, slice 1 of §10.15): two stores driven with the
 * same FOPs at the same times (`ctx.at`) answer the same and end with the same logical content,
 * `user.dht2` byte for byte; every stored time is a FOP's `at` (or a time the request gave),
 * never the brick's clock.
 */
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { ROOT_GFID, type DataStat } from '../../dht2-core/protocol/index.js';
import { PosixStore } from '../../brick/posix2/store.js';
import { decodeMeta } from '../../brick/posix2/handles.js';
import { dsScript, mdsScript, runStep, T0 } from '../helpers/fop-script.js';
import { storeTree } from '../helpers/store-tree.js';
import { tmpDir } from '../helpers/tmp.js';

describe('brick store: deterministic application (ctx.at)', () => {
  let tmp: Awaited<ReturnType<typeof tmpDir>>;
  const open: PosixStore[] = [];
  beforeEach(async () => { tmp = await tmpDir('determ'); });
  afterEach(async () => {
    for (const s of open.splice(0)) await s.close();
    await tmp.cleanup();
  });
  const store = async (name: string, role: 'mds' | 'ds'): Promise<PosixStore> => {
    const s = await PosixStore.open({ dir: join(tmp.path, name), role, volumeId: 'v', brickId: 'b' });
    open.push(s);
    return s;
  };

  it('MDS: the same FOPs at the same times give equal answers and byte-identical inodes and names', async () => {
    const script = mdsScript();
    const [a, b] = [await store('a', 'mds'), await store('b', 'mds')];
    for (const st of script) {
      const ra = await runStep(a, st);
      // Apart in wall-clock time, as two replicas are.
      await new Promise((r) => setTimeout(r, 2));
      assert.deepEqual(await runStep(b, st), ra, `${st.fop} answers alike`);
    }
    const [ta, tb] = [await storeTree(a.dir), await storeTree(b.dir)];
    assert.deepEqual(ta, tb);
    // Every stored time is one the script chose.
    const times = new Set([...script.map((s) => s.at), 5000]);
    let inodes = 0;
    for (const [gfid, v] of Object.entries(ta)) {
      const m = decodeMeta(Buffer.from(v.xattrs['user.dht2']!, 'base64'), gfid);
      for (const t of [m.atimeMs, m.mtimeMs, m.ctimeMs, m.btimeMs]) assert.ok(times.has(t), `${gfid}: time ${t} is no FOP's`);
      inodes++;
    }
    assert.ok(inodes >= 5, `${inodes} inodes compared`);
    const root = decodeMeta(Buffer.from(ta[ROOT_GFID]!.xattrs['user.dht2']!, 'base64'), 'root');
    assert.equal(root.btimeMs, T0, 'the root is made by the first icreate');
    // The last change of the root's entries is the rename of `g` out of it.
    assert.equal(root.mtimeMs, script.findLast((s) => s.fop === 'rename')!.at);
  });

  it('DS: answers carry mtimeMs = ctimeMs = at, the objects keep it, and two stores agree', async () => {
    const script = dsScript();
    const [a, b] = [await store('a', 'ds'), await store('b', 'ds')];
    for (const st of script) {
      const ra = await runStep(a, st);
      await new Promise((r) => setTimeout(r, 2));
      assert.deepEqual(await runStep(b, st), ra, `${st.fop} answers alike`);
      if ('size' in (ra as object)) {
        const d = ra as DataStat;
        assert.equal(d.mtimeMs, st.at, `${st.fop} mtime`);
        assert.equal(d.ctimeMs, st.at, `${st.fop} ctime`);
        // A re-read agrees with the answer.
        assert.deepEqual(await a.call('dstat', { gfid: d.gfid }), d);
      }
    }
    const ta = await storeTree(a.dir, { dataTimes: true });
    assert.deepEqual(ta, await storeTree(b.dir, { dataTimes: true }));
    assert.equal(Object.keys(ta).length, 4, 'X, Y, Z, Q (W unlinked, the parts removed)');
  });
});
