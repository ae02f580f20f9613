/**
 * The member side of fresh objects (ARCHITECTURE.md §10.7, brick/repl/fresh.ts) on a real DS
 * store: a fresh dput links into place and never replaces; a dunlink applied while a fresh body
 * is still coming in makes that dput discard it (no resurrection), and so does one applied before
 * it arrives; the pending rows (ON-DISK-FORMAT.md §6.4) survive a reopen, applying an entry twice
 * changes nothing, and a dunlink entry drops the object's rows.
 */
import assert from 'node:assert/strict';
import { mkdir, readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { PassThrough, Readable } from 'node:stream';
import { pino } from 'pino';
import { newGfid } from '../../../dht2-core/protocol/index.js';
import { PosixStore } from '../../../brick/posix2/store.js';
import { FreshObjects } from '../../../brick/repl/fresh.js';
import { PendingStore } from '../../../brick/repl/pending.js';
import { replDir } from '../../../brick/repl/paths.js';
import { rejectsErrno } from '../../helpers/assert-errno.js';
import { tmpDir } from '../../helpers/tmp.js';

describe('fresh objects on a member (brick/repl/fresh.ts, ARCHITECTURE.md §10.7)', () => {
  let t: Awaited<ReturnType<typeof tmpDir>>;
  let store: PosixStore;
  let fresh: FreshObjects;

  beforeEach(async () => {
    t = await tmpDir('repl-fresh');
    store = await PosixStore.open({ dir: t.path, role: 'ds', volumeId: 'v', brickId: 'a', sync: true });
    await mkdir(replDir(t.path), { recursive: true });
    fresh = new FreshObjects({
      self: 'a', members: ['a', 'b', 'c'], store, logger: pino({ level: 'silent' }),
      peer: () => { throw new Error('no peer in this test'); }, caughtUp: () => false, done: () => Promise.resolve(),
    });
  });
  afterEach(async () => {
    fresh.close();
    await store.close();
    await t.cleanup();
  });

  const tmpFiles = async (): Promise<string[]> => (await readdir(join(t.path, '.dht2', 'tmp'))).filter((n) => n.startsWith('data.'));

  it('a fresh dput links into place, with the given time, and never replaces (EEXIST)', async () => {
    const g = newGfid();
    const st = await fresh.put({ gfid: g, fresh: true, at: 1_700_000_000_000 }, Readable.from([Buffer.from('one')]));
    assert.deepEqual(st, { gfid: g, size: 3, mtimeMs: 1_700_000_000_000, ctimeMs: 1_700_000_000_000 });
    await rejectsErrno(fresh.put({ gfid: g, fresh: true }, Readable.from([Buffer.from('two')])), 'EEXIST');
    assert.equal((await store.callWith('dstat', { gfid: g }, { at: Date.now() })).mtimeMs, 1_700_000_000_000);
    assert.deepEqual(await tmpFiles(), []);
  });

  it('a dunlink applied while the body comes in: the dput discards it (ESTALE), nothing lands', async () => {
    const g = newGfid();
    const body = new PassThrough();
    const p = fresh.put({ gfid: g, fresh: true }, body);
    body.write(Buffer.alloc(64 * 1024, 1));
    await new Promise((r) => setTimeout(r, 50));
    // What applying the dunlink entry does (applyWith): mark, unlink (nothing there yet), rows.
    await fresh.applyWith(7, 'dunlink', { gfid: g }, () => store.apply('dunlink', { gfid: g }, {}, { at: Date.now() }));
    body.end(Buffer.alloc(1024, 2));
    await rejectsErrno(p, 'ESTALE');
    assert.equal(await store.dataStore!.has(g), false);
    assert.deepEqual(await tmpFiles(), []);
    // A straggler that arrives after the dunlink: refused too (tombstone).
    await rejectsErrno(fresh.put({ gfid: g, fresh: true }, Readable.from([Buffer.from('late')])), 'ESTALE');
    assert.equal(await store.dataStore!.has(g), false);
  });

  it('a fresh dput that linked before the dunlink is removed by it', async () => {
    const g = newGfid();
    await fresh.put({ gfid: g, fresh: true }, Readable.from([Buffer.from('here')]));
    await fresh.applyWith(8, 'dunlink', { gfid: g }, () => store.apply('dunlink', { gfid: g }, {}, { at: Date.now() }));
    assert.equal(await store.dataStore!.has(g), false);
  });

  it('pending rows: applied once or twice alike, kept across a reopen, dropped by pendingDone and dunlink', async () => {
    const [g1, g2] = [newGfid(), newGfid()];
    const pending = { gfid: g1, size: 10, crc32c: 1234, missing: ['b', 'c'] };
    await fresh.applyWith(3, 'pending', pending, () => Promise.reject(new Error('not a store FOP')));
    await fresh.applyWith(3, 'pending', pending, () => Promise.reject(new Error('not a store FOP')));
    await fresh.applyWith(4, 'pending', { gfid: g2, size: 1, crc32c: 5, missing: ['a'] }, () => Promise.reject(new Error('not a store FOP')));
    assert.deepEqual(fresh.pending.counts(), { b: 1, c: 1, a: 1 });
    assert.equal(fresh.lacks(g2), true);
    fresh.close();
    const again = PendingStore.open(t.path, true);
    try {
      assert.deepEqual(again.counts(), { b: 1, c: 1, a: 1 });
      assert.deepEqual(again.missing(g1).sort(), ['b', 'c']);
      assert.deepEqual(again.lackedBy('a', 10), [g2]);
    } finally {
      again.close();
    }
    fresh = new FreshObjects({
      self: 'a', members: ['a', 'b', 'c'], store, logger: pino({ level: 'silent' }),
      peer: () => { throw new Error('no peer in this test'); }, caughtUp: () => false, done: () => Promise.resolve(),
    });
    await fresh.applyWith(5, 'pendingDone', { gfid: g1, member: 'b' }, () => Promise.reject(new Error('not a store FOP')));
    assert.deepEqual(fresh.pending.counts(), { c: 1, a: 1 });
    await fresh.applyWith(6, 'dunlink', { gfid: g1 }, () => store.apply('dunlink', { gfid: g1 }, {}, { at: Date.now() }));
    assert.deepEqual(fresh.pending.counts(), { a: 1 });
    // The primary plans a dunlink of an object it lacks but a row names: logged, not ENOENT.
    assert.deepEqual(await fresh.planWith('dunlink', { gfid: g2 }, () => store.plan('dunlink', { gfid: g2 }, { at: Date.now() })), {});
    await rejectsErrno(fresh.planWith('dunlink', { gfid: g1 }, () => store.plan('dunlink', { gfid: g1 }, { at: Date.now() })), 'ENOENT');
  });
});
