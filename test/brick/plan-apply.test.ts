/**
 * The plan/apply split of the store (ARCHITECTURE.md §10.6, slice 1 of §10.15): entries planned
 * on one store (a primary) and applied to others give identical stores; an entry applied twice
 * equals it applied once; an apply killed at a crash point (DHT2_CRASH_AT, in a child process)
 * and applied again gives the complete state; an apply on a store that is not in the planned
 * state refuses with `diverged` instead of deciding anything.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { fileURLToPath } from 'node:url';
import { newGfid, ROOT_GFID } from '../../dht2-core/protocol/index.js';
import { isDiverged } from '../../brick/posix2/fop-out.js';
import { PosixStore } from '../../brick/posix2/store.js';
import { dsScript, mdsScript, runStep, T0, type Step } from '../helpers/fop-script.js';
import { applyEntry, planEntries, type Entry } from '../helpers/plan-entries.js';
import { storeTree } from '../helpers/store-tree.js';
import { tmpDir } from '../helpers/tmp.js';

type Role = 'mds' | 'ds';
const scriptOf = (role: Role): Step[] => (role === 'mds' ? mdsScript() : dsScript());
const CHILD = fileURLToPath(new URL('../helpers/apply-child.js', import.meta.url));

/** Runs the apply child over `entries`; answers how it ended and the last entry it began. */
async function applyInChild(dir: string, role: Role, entries: Entry[], file: string, crashAt: string): Promise<{ signal: string | null; last: number }> {
  await writeFile(file, JSON.stringify({ dir, role, entries }));
  const child = spawn(process.execPath, ['--enable-source-maps', CHILD, file], {
    env: { ...process.env, DHT2_CRASH_AT: crashAt }, stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  let errText = '';
  child.stdout.on('data', (b: Buffer) => { out += b.toString(); });
  child.stderr.on('data', (b: Buffer) => { errText += b.toString(); });
  const signal = await new Promise<string | null>((resolve) => child.on('exit', (_code, sig) => resolve(sig)));
  const lines = out.trim().split('\n');
  const m = /applying (\d+)/.exec(lines.filter((l) => l.startsWith('applying')).at(-1) ?? '');
  assert.ok(m, `the child began no entry: ${out} ${errText}`);
  return { signal, last: Number(m[1]) };
}

describe('brick store: plan and apply', function () {
  this.timeout(120_000);
  let tmp: Awaited<ReturnType<typeof tmpDir>>;
  const open: PosixStore[] = [];
  beforeEach(async () => { tmp = await tmpDir('planapply'); await mkdir(join(tmp.path, 'blobs')); });
  afterEach(async () => {
    for (const s of open.splice(0)) await s.close();
    await tmp.cleanup();
  });
  const store = async (name: string, role: Role): Promise<PosixStore> => {
    const s = await PosixStore.open({ dir: join(tmp.path, name), role, volumeId: 'v', brickId: 'b' });
    open.push(s);
    return s;
  };
  const tree = (s: PosixStore, role: Role) => storeTree(s.dir, { dataTimes: role === 'ds' });

  for (const role of ['mds', 'ds'] as const) {
    it(`${role}: entries applied to a fresh store, once or twice each, give the planning store's tree and answers`, async () => {
      const script = scriptOf(role);
      // A set of one: call runs plan then apply.
      const ref = await store('ref', role);
      const refAnswers: unknown[] = [];
      for (const st of script) refAnswers.push(await runStep(ref, st));
      const primary = await store('primary', role);
      const { entries, answers } = await planEntries(primary, script, join(tmp.path, 'blobs'));
      assert.deepEqual(answers, refAnswers, 'plan + apply answers as call does');
      const once = await store('once', role);
      const twice = await store('twice', role);
      for (const [i, e] of entries.entries()) {
        assert.deepEqual(await applyEntry(once, e), answers[i], `${e.fop} answers on a follower as on the primary`);
        await applyEntry(twice, e);
        assert.deepEqual(await applyEntry(twice, e), answers[i], `${e.fop} applied again answers the same`);
      }
      const want = await tree(primary, role);
      assert.ok(Object.keys(want).length >= 4);
      assert.deepEqual(await tree(ref, role), want);
      assert.deepEqual(await tree(once, role), want);
      assert.deepEqual(await tree(twice, role), want);
    });
  }

  it('ds: apply on a store in another state refuses with diverged, and changes nothing', async () => {
    const s = await store('ds', 'ds');
    const g = newGfid();
    const at = { at: T0 };
    const blob = join(tmp.path, 'blobs', 'b');
    await writeFile(blob, 'data');
    const refusals: Array<() => Promise<unknown>> = [
      () => s.apply('dtruncate', { gfid: g, size: 3 }, { size: 3 }, at),
      () => s.apply('dwrite', { gfid: g, offset: 0 }, { offset: 0, size: 4 }, at, { path: blob }),
      () => s.apply('dconcat', { gfid: g, parts: [newGfid()], removeParts: true }, { size: 9 }, at),
      () => s.apply('dcopy', { gfid: g, src: newGfid() }, { size: 9 }, at),
    ];
    for (const p of refusals) await assert.rejects(p(), (e) => isDiverged(e));
    assert.deepEqual(await tree(s, 'ds'), {});
    // An object to be made that exists with other content.
    await s.uploadWith('dput', { gfid: g }, Readable.from([Buffer.from('x')]), at);
    await assert.rejects(s.apply('dcreate', { gfid: g }, { size: 0 }, at), (e) => isDiverged(e));
  });

  it('mds: apply on a store in another state refuses with diverged before the step it checks', async () => {
    const s = await store('mds', 'mds');
    const at = { at: T0 };
    await s.apply('icreate', { gfid: ROOT_GFID, type: 'dir' }, {}, at);
    const [f, g, h] = [newGfid(), newGfid(), newGfid()];
    await s.apply('create', { parent: ROOT_GFID, name: 'f', gfid: f, type: 'file' }, {}, at);
    const before = await tree(s, 'mds');
    const other = { gfid: h, type: 'file' as const, inode: 'deleted' as const };
    const refusals: Array<() => Promise<unknown>> = [
      // The name points to f, not to the planned one.
      () => s.apply('unlink', { parent: ROOT_GFID, name: 'f' }, other, at),
      () => s.apply('namedel', { parent: ROOT_GFID, name: 'f' }, { gfid: h, type: 'file' }, at),
      () => s.apply('create', { parent: ROOT_GFID, name: 'f', gfid: g, type: 'file', replace: true }, { replaced: other }, { at: T0 + 1 }),
      () => s.apply('namelink', { parent: ROOT_GFID, name: 'f', gfid: g, type: 'file' }, {}, at),
      () => s.apply('rename', { parent: ROOT_GFID, name: 'f', newParent: ROOT_GFID, newName: 'x' }, { gfid: h, type: 'file' }, at),
      // An inode to change that is not here, an inode to make that is here with other content.
      () => s.apply('setattr', { gfid: h, set: { mode: 0o600 } }, {}, at),
      () => s.apply('ilink', { gfid: h }, { nlink: 2 }, at),
      () => s.apply('icreate', { gfid: f, type: 'file' }, {}, { at: T0 + 5 }),
      () => s.apply('objset', { gfid: ROOT_GFID, obj: g, expect: null }, { prev: h }, at),
    ];
    for (const [i, p] of refusals.entries()) await assert.rejects(p(), (e) => isDiverged(e), `refusal ${i}`);
    // The create that refused made its inode first (M1–M8 precede the name step) and left the
    // rest; the tree is otherwise unchanged.
    const after = await tree(s, 'mds');
    delete after[g];
    assert.deepEqual(after, before);
  });

  it('mds: two creates of one name in a set of one hold the keys across plan and apply: one EEXIST, no orphan', async () => {
    const s = await store('mds', 'mds');
    for (let round = 0; round < 20; round++) {
      const name = `n${round}`;
      const rs = await Promise.allSettled([0, 1, 2].map(() => s.call('create', { parent: ROOT_GFID, name, gfid: newGfid(), type: 'file' })));
      assert.equal(rs.filter((r) => r.status === 'fulfilled').length, 1);
      for (const r of rs) if (r.status === 'rejected') assert.equal((r.reason as { errno?: string }).errno, 'EEXIST');
    }
    const t = await tree(s, 'mds');
    assert.equal(Object.keys(t).length, 21, 'the root and one inode per name: the losers left none');
  });

  /** Crash cases: the role, the crash point, and the entry the crash is armed for (the first that matches). */
  const crashes: Array<[Role, string, (e: Entry) => boolean]> = [
    ['mds', 'create:after-inode', (e) => e.fop === 'create'],
    ['mds', 'entry:after-index', (e) => e.fop === 'link'],
    ['mds', 'create:after-entry', (e) => e.fop === 'create' && (e.req as { replace?: boolean }).replace === true],
    ['mds', 'entry:after-unlink', (e) => e.fop === 'namedel'],
    ['mds', 'unlink:after-entry', (e) => e.fop === 'unlink'],
    ['mds', 'rmdir:after-entry', (e) => e.fop === 'rmdir'],
    ['mds', 'rename:after-rename', (e) => e.fop === 'rename' && (e.out as { replaced?: unknown }).replaced !== undefined],
    ['mds', 'link:after-nlink', (e) => e.fop === 'link'],
    ['mds', 'nameswap:after-entry', (e) => e.fop === 'nameswap'],
    ['ds', 'ds:before-rename', (e) => e.fop === 'dput'],
    ['ds', 'dconcat:after-commit', (e) => e.fop === 'dconcat'],
  ];
  for (const [role, label, armed] of crashes) {
    it(`${role}: apply killed at ${label}, then applied again from that entry, gives the complete state`, async () => {
      const script = scriptOf(role);
      const primary = await store('primary', role);
      const { entries } = await planEntries(primary, script, join(tmp.path, 'blobs'));
      const want = await tree(primary, role);
      const from = entries.findIndex(armed);
      assert.ok(from >= 0);
      // The entries before it applied in process (a member's applied prefix), the rest in a
      // child that dies at the crash point.
      const pre = await PosixStore.open({ dir: join(tmp.path, 'follower'), role, volumeId: 'v', brickId: 'b' });
      for (const e of entries.slice(0, from)) await applyEntry(pre, e);
      await pre.close();
      const rest = entries.slice(from);
      const { signal, last } = await applyInChild(join(tmp.path, 'follower'), role, rest, join(tmp.path, 'entries.json'), label);
      assert.equal(signal, 'SIGKILL', `the apply did not crash at ${label}`);
      assert.equal(last, 0, 'it died in the entry it was armed for');
      const f = await store('follower', role);
      assert.notDeepEqual(await tree(f, role), want, 'the crash left the entries unfinished');
      for (const e of rest) await applyEntry(f, e);
      assert.deepEqual(await tree(f, role), want);
    });
  }
});
