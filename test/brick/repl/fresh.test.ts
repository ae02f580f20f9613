/**
 * The member side of fresh objects (ARCHITECTURE.md §10.7, brick/repl/fresh.ts) on a real DS
 * store: a fresh dput links into place and never replaces; a dunlink applied while a fresh body
 * is still coming in makes that dput discard it (no resurrection), and so does one applied before
 * it arrives; the pending rows (ON-DISK-FORMAT.md §6.4) survive a reopen, applying an entry twice
 * changes nothing, and a dunlink entry drops the object's rows; a rebuild's rows page and install
 * whole (node.ts copyPendingRows), and a row naming this member for an object it holds heals
 * without a copy.
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

  it('a rebuild takes its source\'s rows: paged in (gfid, member) order, installed whole over its own, kept across a reopen; a row naming it for an object it holds heals without a copy', async () => {
    // The source (node.ts copyPendingRows, ARCHITECTURE.md §10.13 "As built (truncation)").
    const src = await tmpDir('repl-fresh-src');
    await mkdir(replDir(src.path), { recursive: true });
    const source = PendingStore.open(src.path, true);
    const held = newGfid();
    try {
      const gs = [newGfid(), newGfid(), newGfid(), held];
      source.add(7, gs[0]!, 3, 30, ['a', 'c']);
      source.add(8, gs[1]!, 4, 40, ['b']);
      source.add(9, gs[2]!, 5, 50, ['a', 'b', 'c']);
      source.add(10, held, 3, 60, ['a']);
      const all = source.page(undefined, 100);
      assert.equal(all.length, 7);
      const order = all.map((r) => `${r.gfid}/${r.member}`);
      assert.deepEqual(order, [...order].sort(), 'rows in (gfid, member) order');
      const paged: typeof all = [];
      for (let after: { gfid: string; member: string } | undefined; ;) {
        const p = source.page(after, 2);
        paged.push(...p);
        if (p.length < 2) break;
        after = { gfid: p.at(-1)!.gfid, member: p.at(-1)!.member };
      }
      assert.deepEqual(paged, all, 'pages of 2 give every row once');
      // The member's own rows (say, from before its copy) go; the source's replace them.
      fresh.pending.add(2, newGfid(), 1, 1, ['b']);
      fresh.pending.replaceAll(paged);
      assert.deepEqual(fresh.pending.counts(), source.counts());
      assert.deepEqual(fresh.pending.page(undefined, 100), all);
    } finally {
      source.close();
      await src.cleanup();
    }
    fresh.close();
    const again = PendingStore.open(t.path, true);
    assert.deepEqual(again.counts(), { a: 3, b: 2, c: 2 });
    again.close();
    // Its heal loop: `held` is here (the full copy brought it), so no copy (no peer), just pendingDone.
    const done: string[] = [];
    fresh = new FreshObjects({
      self: 'a', members: ['a', 'b', 'c'], store, logger: pino({ level: 'silent' }),
      peer: () => { throw new Error('no copy expected'); }, caughtUp: () => true,
      done: (g, m) => { done.push(`${g}/${m}`); return Promise.resolve(); },
    });
    await fresh.put({ gfid: held, fresh: true }, Readable.from([Buffer.from('abc')]));
    await fresh.healRound();
    assert.deepEqual(done, [`${held}/a`]);
  });
});
