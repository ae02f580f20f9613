/**
 * The layout a brick keeps (ON-DISK-FORMAT.md §6.0, §6.3; ARCHITECTURE.md §10.9): `layoutset`
 * and `layoutget`, the epoch rules, the upgrade of a member of a replicated set to format 3 and
 * its crash story, and the refusals of a damaged layout. In process and over HTTP/2.
 */
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { readFile, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { spawnBrick } from '../../brick/spawn.js';
import { layoutPath } from '../../brick/posix2/layout-store.js';
import { PosixStore } from '../../brick/posix2/store.js';
import { BrickClient } from '../../dht2-core/index.js';
import { BUCKET_COUNT, evenRanges, layoutDigest, newGfid, ROOT_GFID, type LayoutDoc } from '../../dht2-core/protocol/index.js';
import { rejectsErrno } from '../helpers/assert-errno.js';
import { SECRET, tmpDir } from '../helpers/tmp.js';

/** A layout with one MDS set and one DS set of `size` members each; this brick is `mds-1`. */
function layout(size: number, epoch = 1, extra: Partial<LayoutDoc> = {}): LayoutDoc {
  const mds = Array.from({ length: size }, (_, i) => `mds-${i + 1}`);
  const ds = Array.from({ length: size }, (_, i) => `ds-${i + 1}`);
  const bricks = Object.fromEntries([...mds, ...ds].map((id, i) => [id, `http://127.0.0.1:${9100 + i}`]));
  return {
    epoch, volumeId: 'vol1', buckets: BUCKET_COUNT,
    sets: [{ id: 'mds-a', role: 'mds', members: mds }, { id: 'ds-a', role: 'ds', members: ds }],
    bricks, mdsRanges: evenRanges(['mds-a']), dsRanges: evenRanges(['ds-a']), ...extra,
  };
}

async function identityOf(dir: string): Promise<{ format: number; set?: string }> {
  return JSON.parse(await readFile(join(dir, '.dht2', 'identity.json'), 'utf8')) as { format: number; set?: string };
}

describe('brick layout store', () => {
  let dir: Awaited<ReturnType<typeof tmpDir>>;
  let s: PosixStore;
  const open = () => PosixStore.open({ dir: dir.path, role: 'mds', volumeId: 'vol1', brickId: 'mds-1' });
  beforeEach(async () => {
    dir = await tmpDir('layout');
    s = await open();
  });
  afterEach(async () => {
    await s.close();
    await dir.cleanup();
  });

  it('a brick of a replica-1 volume holds no layout until one is installed, and serves as before', async () => {
    const e = await rejectsErrno(s.call('layoutget', {}), 'ENOENT');
    assert.match(e.message, /holds no layout/);
    const st = await s.call('layoutset', { layout: layout(1) });
    assert.deepEqual(st, { epoch: 1, digest: layoutDigest(layout(1)), set: 'mds-a', replicated: false });
    assert.equal((await s.call('getattr', { gfid: ROOT_GFID })).gfid, ROOT_GFID);
    assert.equal((await identityOf(dir.path)).format, 2, 'a set of one stays format 2');
    const stored = JSON.parse(await readFile(layoutPath(dir.path), 'utf8')) as LayoutDoc & { digest: string };
    assert.equal(stored.digest, st.digest);
    await s.close();
    s = await open();
    assert.deepEqual((await s.call('layoutget', {})).layout, layout(1), 'kept across a restart');
  });

  it('ON-DISK-FORMAT §6.5: a placed brick of a set of one, under --no-sync, clears a reboot mark at open (it has no copy to rebuild from)', async () => {
    await s.call('layoutset', { layout: layout(1) });
    await s.close();
    const lock = join(dir.path, '.dht2', 'lock');
    // A stale lock of another boot, as a power cut leaves it (pid 2^22 + 1 is above Linux's pid_max).
    await writeFile(lock, `4194305\n00000000-0000-4000-8000-000000000000\n`);
    s = await PosixStore.open({ dir: dir.path, role: 'mds', volumeId: 'vol1', brickId: 'mds-1', sync: false });
    assert.equal(s.rebooted, undefined, 'trusted: nothing would act on the mark');
    assert.doesNotMatch(await readFile(lock, 'utf8'), /rebooted/, 'the mark is cleared at once');
  });

  it('accepts a higher epoch or the same layout again, refuses a lower epoch or another layout of the same epoch', async () => {
    await s.call('layoutset', { layout: layout(1, 2) });
    assert.equal((await s.call('layoutset', { layout: layout(1, 2) })).epoch, 2, 'a repeat is answered as before');
    const same = layout(1, 2, { dsRanges: [{ first: 0, last: 99, set: 'ds-a' }, { first: 100, last: 65535, set: 'ds-a' }] });
    assert.match((await rejectsErrno(s.call('layoutset', { layout: same }), 'EINVAL')).message, /epoch 2 refused: this brick holds epoch 2 with another content/);
    assert.match((await rejectsErrno(s.call('layoutset', { layout: layout(1, 1) }), 'EINVAL')).message, /epoch 1 refused: this brick holds epoch 2/);
    assert.equal((await s.call('layoutset', { layout: { ...same, epoch: 3 } })).epoch, 3);
    assert.equal((await s.call('layoutget', {})).state.epoch, 3);
  });

  it('refuses a layout that does not name this brick in a set of its role, or is of another volume', async () => {
    const l = layout(1);
    const renamed = { ...l, sets: [{ id: 'mds-a', role: 'mds' as const, members: ['mds-9'] }, l.sets[1]!], bricks: { ...l.bricks, 'mds-9': 'http://127.0.0.1:9999' } };
    assert.match((await rejectsErrno(s.call('layoutset', { layout: renamed }), 'EINVAL')).message, /names no set with brick mds-1/);
    const swapped = { ...l, sets: [{ id: 'mds-a', role: 'mds' as const, members: ['ds-1'] }, { id: 'ds-a', role: 'ds' as const, members: ['mds-1'] }] };
    assert.match((await rejectsErrno(s.call('layoutset', { layout: swapped }), 'EINVAL')).message, /puts mds brick mds-1 in ds set ds-a/);
    assert.match((await rejectsErrno(s.call('layoutset', { layout: { ...l, volumeId: 'other' } }), 'EINVAL')).message, /of volume other, this brick of vol1/);
    assert.match((await rejectsErrno(s.call('layoutset', { layout: layout(2) }), 'EINVAL')).message, /odd count/);
    assert.equal(existsSync(layoutPath(dir.path)), false, 'nothing was stored');
  });

  it('a member of a replicated set becomes format 3 with its repl/ folders, and serves nothing without a primary', async () => {
    const st = await s.call('layoutset', { layout: layout(3) });
    assert.equal(st.replicated, true);
    assert.deepEqual(await identityOf(dir.path).then((i) => [i.format, i.set]), [3, 'mds-a']);
    for (const d of ['repl/log', 'repl/blobs']) assert.ok(existsSync(join(dir.path, '.dht2', d)), d);
    const e = await rejectsErrno(s.call('getattr', { gfid: ROOT_GFID }), 'EAGAIN');
    assert.match(e.message, /replica set mds-a has no primary/);
    await rejectsErrno(s.call('create', { parent: ROOT_GFID, name: 'x', gfid: newGfid(0), type: 'file' }), 'EAGAIN');
    // What every brick serves, whatever its state, still works.
    assert.equal((await s.call('layoutget', {})).state.set, 'mds-a');
    assert.equal((await s.call('scan', { limit: 10 })).eof, true);
    await s.close();
    s = await open();
    assert.equal(s.identity.format, 3);
    assert.equal(s.replicated, true);
    // Leaving the set (or shrinking it to one) is a membership change: refused.
    assert.match((await rejectsErrno(s.call('layoutset', { layout: layout(1, 2) }), 'EINVAL')).message, /membership change/);
  });

  it('finishes an upgrade that a crash cut after the layout was written (ON-DISK-FORMAT.md §6.6)', async () => {
    await s.close();
    // The first step of the upgrade only: layout.json, identity still at format 2.
    const l = layout(3);
    await writeFile(layoutPath(dir.path), JSON.stringify({ ...l, digest: layoutDigest(l) }));
    s = await open();
    assert.equal(s.identity.format, 3);
    assert.deepEqual(await identityOf(dir.path).then((i) => [i.format, i.set]), [3, 'mds-a']);
    assert.ok(existsSync(join(dir.path, '.dht2', 'repl', 'log')));
  });

  it('refuses to open with a damaged layout, or as a member of a set without its layout', async () => {
    await s.call('layoutset', { layout: layout(3) });
    await s.close();
    const text = await readFile(layoutPath(dir.path), 'utf8');
    await writeFile(layoutPath(dir.path), text.replace('"epoch": 1', '"epoch": 7'));
    await assert.rejects(open(), /does not match its digest; refusing to serve/);
    await writeFile(layoutPath(dir.path), '{');
    await assert.rejects(open(), /is not valid JSON; refusing to serve/);
    await rm(layoutPath(dir.path));
    await assert.rejects(open(), /member of replica set mds-a but has no .*layout.json; refusing to serve/);
    // Restored, it opens again.
    await writeFile(layoutPath(dir.path), text);
    s = await open();
    assert.equal(s.identity.format, 3);
  });
});

describe('brick layout over HTTP/2', function () {
  this.timeout(60_000);
  it('refuses FOPs placed with a layout it does not hold: none (a wiped member) is EAGAIN, an older one ESTALE', async () => {
    const dir = await tmpDir('layout-epoch');
    const b = await spawnBrick({ dir: join(dir.path, 'b'), role: 'mds', secret: SECRET, volumeId: 'vol1', args: ['--brick-id', 'mds-1'] });
    const placed = (epoch: number) => new BrickClient({ url: b.url, secret: SECRET, layoutEpoch: epoch });
    const plain = new BrickClient({ url: b.url, secret: SECRET });
    const c1 = placed(1);
    const c2 = placed(2);
    const c3 = placed(3);
    try {
      // Holding no layout, it must not serve a replicated volume's FOP from what it has.
      assert.match((await rejectsErrno(c1.call('getattr', { gfid: ROOT_GFID }), 'EAGAIN')).message, /holds no layout; the FOP was placed with epoch 1/);
      // A replica-1 volume's gateway places nothing: served as always; the layout's own FOPs too.
      assert.equal((await plain.call('getattr', { gfid: ROOT_GFID })).gfid, ROOT_GFID);
      await rejectsErrno(c1.call('layoutget', {}), 'ENOENT');
      await c1.call('layoutset', { layout: layout(1, 2) });
      assert.equal((await c2.call('getattr', { gfid: ROOT_GFID })).gfid, ROOT_GFID, 'the same epoch: served');
      assert.match((await rejectsErrno(c1.call('getattr', { gfid: ROOT_GFID }), 'ESTALE')).message, /holds layout epoch 2; the FOP was placed with epoch 1/);
      assert.match((await rejectsErrno(c3.call('getattr', { gfid: ROOT_GFID }), 'EAGAIN')).message, /holds layout epoch 2; the FOP was placed with epoch 3/);
    } finally {
      for (const c of [c1, c2, c3, plain]) await c.close();
      await b.stop();
      await dir.cleanup();
    }
  });

  it('installs and reads the layout; /-/health names format 3 once the brick is in a replicated set', async () => {
    const dir = await tmpDir('layout-h2');
    const b = await spawnBrick({ dir: join(dir.path, 'b'), role: 'mds', secret: SECRET, volumeId: 'vol1', args: ['--brick-id', 'mds-1'] });
    const c = new BrickClient({ url: b.url, secret: SECRET });
    try {
      assert.equal((await c.health()).format, 2);
      await rejectsErrno(c.call('layoutget', {}), 'ENOENT');
      assert.equal((await c.call('layoutset', { layout: layout(3) })).replicated, true);
      assert.deepEqual((await c.call('layoutget', {})).layout, layout(3));
      assert.equal((await c.health()).format, 3);
      await rejectsErrno(c.call('getattr', { gfid: ROOT_GFID }), 'EAGAIN');
    } finally {
      await c.close();
      await b.stop();
      await dir.cleanup();
    }
  });
});
