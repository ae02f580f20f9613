/**
 * Crash safety: the brick is killed with SIGKILL between the steps of a FOP (crash points,
 * DHT2_CRASH_AT) and in the middle of a large overwrite and of a burst of creates. After a
 * restart the old content is intact or the new one complete, no name points to a missing
 * inode, no handle is half-made, and listings agree with the entries on disk.
 */
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { newGfid, ROOT_GFID } from '../../dht2-core/protocol/index.js';
import { BrickClient } from '../../dht2-core/index.js';
import { scanMds } from '../../brick/posix2/scan.js';
import { spawnBrick, type BrickProcess } from '../../brick/spawn.js';
import { SECRET, tmpDir } from '../helpers/tmp.js';

type Client = BrickClient;

/** Starts a brick, runs `fn` with a client, stops the brick. */
async function withBrick<T>(dir: string, role: 'mds' | 'ds', fn: (c: Client, b: BrickProcess) => Promise<T>, env?: Record<string, string>): Promise<T> {
  const b = await spawnBrick({ dir, role, secret: SECRET, volumeId: 'crash', env });
  const c = new BrickClient({ url: b.url, secret: SECRET, timeoutMs: 60_000 });
  try {
    return await fn(c, b);
  } finally {
    await c.close();
    await b.stop();
  }
}

/** Runs `op` on a brick armed to die at `label`, and checks that it died there. */
async function crashAt(dir: string, role: 'mds' | 'ds', label: string, op: (c: Client) => Promise<unknown>): Promise<void> {
  await withBrick(dir, role, async (c, b) => {
    await assert.rejects(op(c), (e: { errno?: string }) => e.errno === 'ENOTCONN' || e.errno === 'EHOSTDOWN');
    assert.equal(await b.exited, 'SIGKILL', `brick did not crash at ${label}`);
  }, { DHT2_CRASH_AT: label });
}

/** The invariants every crash must keep on a single-MDS namespace. */
async function checkMds(dir: string): Promise<Awaited<ReturnType<typeof scanMds>>> {
  const scan = await scanMds(dir);
  assert.deepEqual(scan.incomplete, [], 'half-made handles');
  const dangling = scan.entries.filter((e) => !e.local);
  assert.deepEqual(dangling, [], 'names pointing to missing inodes');
  // Listings through the brick agree with the entries on disk.
  await withBrick(dir, 'mds', async (c) => {
    const byParent = new Map<string, string[]>();
    for (const e of scan.entries) byParent.set(e.parent, [...(byParent.get(e.parent) ?? []), e.name]);
    for (const [gfid, names] of byParent) {
      const listed = (await c.call('readdir', { gfid, limit: 10000 })).entries.map((e) => e.name);
      assert.deepEqual(listed, names.sort((a, b) => Buffer.compare(Buffer.from(a), Buffer.from(b))));
      for (const n of names) await c.call('lookup', { parent: gfid, name: n });
    }
  });
  return scan;
}

const file = (c: Client, name: string, parent = ROOT_GFID) => c.call('create', { parent, name, gfid: newGfid(0), type: 'file' });

describe('brick crash safety', function () {
  this.timeout(240_000);
  let tmp: Awaited<ReturnType<typeof tmpDir>>;
  beforeEach(async () => { tmp = await tmpDir('crash'); });
  afterEach(async () => { await tmp.cleanup(); });

  for (const label of ['create:after-inode', 'entry:after-index', 'create:after-entry']) {
    it(`create killed at ${label}: the name is absent or complete, never dangling`, async () => {
      const dir = join(tmp.path, 'mds');
      await withBrick(dir, 'mds', async (c) => { await file(c, 'before'); });
      await crashAt(dir, 'mds', label, (c) => file(c, 'victim'));
      const scan = await checkMds(dir);
      const victim = scan.entries.find((e) => e.name === 'victim');
      if (label === 'create:after-entry') assert.ok(victim, 'a create that reached its entry is complete');
      else assert.equal(victim, undefined);
      if (label === 'create:after-inode') assert.equal(scan.unnamed.length, 1, 'the orphan inode is found');
      // The name is usable again after the restart.
      await withBrick(dir, 'mds', async (c) => {
        if (!victim) await file(c, 'victim');
        assert.ok(await c.call('lookup', { parent: ROOT_GFID, name: 'victim' }));
      });
    });
  }

  for (const label of ['entry:after-unlink', 'unlink:after-entry']) {
    it(`unlink killed at ${label}: the name is gone, the inode at worst an orphan`, async () => {
      const dir = join(tmp.path, 'mds');
      await withBrick(dir, 'mds', async (c) => { await file(c, 'victim'); });
      await crashAt(dir, 'mds', label, (c) => c.call('unlink', { parent: ROOT_GFID, name: 'victim' }));
      const scan = await checkMds(dir);
      assert.equal(scan.entries.find((e) => e.name === 'victim'), undefined);
      assert.equal(scan.unnamed.length, 1);
    });
  }

  it('rmdir killed after its entry went: the name is gone, the empty directory inode an orphan', async () => {
    const dir = join(tmp.path, 'mds');
    await withBrick(dir, 'mds', async (c) => { await c.call('create', { parent: ROOT_GFID, name: 'd', gfid: newGfid(), type: 'dir' }); });
    await crashAt(dir, 'mds', 'rmdir:after-entry', (c) => c.call('rmdir', { parent: ROOT_GFID, name: 'd' }));
    const scan = await checkMds(dir);
    assert.equal(scan.entries.length, 0);
    assert.equal(scan.unnamed.length, 1);
  });

  it('rename over an existing file killed after the rename: new name complete, replaced inode an orphan', async () => {
    const dir = join(tmp.path, 'mds');
    const a = await withBrick(dir, 'mds', async (c) => { await file(c, 'b'); return file(c, 'a'); });
    await crashAt(dir, 'mds', 'rename:after-rename', (c) => c.call('rename', { parent: ROOT_GFID, name: 'a', newParent: ROOT_GFID, newName: 'b' }));
    const scan = await checkMds(dir);
    assert.deepEqual(scan.entries.map((e) => [e.name, e.gfid]), [['b', a.gfid]]);
    assert.equal(scan.unnamed.length, 1);
  });

  it('link killed after the nlink bump: no new name, nlink one too high (fsck material), never a dangling name', async () => {
    const dir = join(tmp.path, 'mds');
    const a = await withBrick(dir, 'mds', (c) => file(c, 'a'));
    await crashAt(dir, 'mds', 'link:after-nlink', (c) => c.call('link', { gfid: a.gfid, parent: ROOT_GFID, name: 'b' }));
    const scan = await checkMds(dir);
    assert.deepEqual(scan.entries.map((e) => e.name), ['a']);
    assert.equal(scan.inodes.get(a.gfid)?.nlink, 2);
  });

  it('kill -9 in the middle of a burst of creates leaves no dangling name', async () => {
    const dir = join(tmp.path, 'mds');
    await withBrick(dir, 'mds', async (c, b) => {
      const all = Array.from({ length: 400 }, (_, i) => file(c, `f${i}`).then(() => 1, () => 0));
      await new Promise((r) => setTimeout(r, 40));
      await b.kill();
      await Promise.all(all);
    });
    const scan = await checkMds(dir);
    assert.ok(scan.entries.length < 400, 'the kill came before all creates finished');
  });

  /** Streams `mib` MiB of `seed`'s pattern, calling `onMiB` after each MiB. */
  function pattern(mib: number, seed: number, onMiB?: (n: number) => Promise<void> | void): { stream: Readable; hash: Promise<string> } {
    const chunk = Buffer.alloc(1024 * 1024, seed);
    const h = createHash('sha256');
    let n = 0;
    let done!: (s: string) => void;
    const hash = new Promise<string>((r) => { done = r; });
    const stream = new Readable({
      async read() {
        if (n === mib) { this.push(null); done(h.digest('hex')); return; }
        n++;
        await onMiB?.(n);
        h.update(chunk);
        this.push(Buffer.from(chunk));
      },
    });
    return { stream, hash };
  }

  async function readHash(c: Client, gfid: string): Promise<string> {
    const h = createHash('sha256');
    for await (const chunk of (await c.download('dread', { gfid })).body) h.update(chunk as Buffer);
    return h.digest('hex');
  }

  it('kill -9 in the middle of a large overwrite keeps the old object intact; a finished one is complete', async () => {
    const dir = join(tmp.path, 'ds');
    const g = newGfid();
    const oldHash = await withBrick(dir, 'ds', async (c) => {
      const p = pattern(64, 1);
      await c.upload('dput', { gfid: g }, p.stream);
      return p.hash;
    });
    await withBrick(dir, 'ds', async (c, b) => {
      let killed = false;
      const p = pattern(512, 2, async (n) => { if (n === 96 && !killed) { killed = true; await b.kill(); } });
      await assert.rejects(c.upload('dput', { gfid: g }, p.stream));
      assert.equal(await b.exited, 'SIGKILL');
    });
    const newHash = await withBrick(dir, 'ds', async (c) => {
      assert.deepEqual(await readdir(join(dir, '.dht2', 'tmp')), [], 'the cut-off temp file was removed at start');
      assert.equal(await readHash(c, g), oldHash);
      const p = pattern(80, 3);
      await c.upload('dput', { gfid: g }, p.stream);
      return p.hash;
    });
    // Killed after the new data is durable but before the rename: still the previous object.
    await crashAt(dir, 'ds', 'ds:before-rename', (c) => c.upload('dput', { gfid: g }, pattern(16, 4).stream));
    await withBrick(dir, 'ds', async (c) => { assert.equal(await readHash(c, g), newHash); });
    // An in-place write killed once its body is staged, before any of it is copied into place:
    // the object as it was, the staged body removed at start (docs/ON-DISK-FORMAT.md, dwrite).
    await crashAt(dir, 'ds', 'dwrite:staged', (c) => c.upload('dwrite', { gfid: g, offset: 1024 }, pattern(8, 5).stream));
    await crashAt(dir, 'ds', 'dwrite:staged', (c) => c.upload('dwrite', { gfid: g, offset: 0, append: true }, pattern(8, 6).stream));
    const fresh = newGfid();
    await crashAt(dir, 'ds', 'dwrite:staged', (c) => c.upload('dwrite', { gfid: fresh, offset: 0, create: true }, pattern(1, 7).stream));
    await withBrick(dir, 'ds', async (c) => {
      assert.deepEqual(await readdir(join(dir, '.dht2', 'tmp')), [], 'the staged bodies were removed at start');
      assert.equal(await readHash(c, g), newHash);
      await assert.rejects(c.call('dstat', { gfid: fresh }), (e: { errno?: string }) => e.errno === 'ENOENT');
    });
  });
});
