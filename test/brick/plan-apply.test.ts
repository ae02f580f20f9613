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
import { newGfid } from '../../dht2-core/protocol/index.js';
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

  for (const role of ['ds'] as const) {
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

  const crashes: Array<[Role, string]> = [['ds', 'ds:before-rename'], ['ds', 'dconcat:after-commit']];
  for (const [role, label] of crashes) {
    it(`${role}: apply killed at ${label}, then applied again from that entry, gives the complete state`, async () => {
      const script = scriptOf(role);
      const primary = await store('primary', role);
      const { entries } = await planEntries(primary, script, join(tmp.path, 'blobs'));
      const want = await tree(primary, role);
      const dir = join(tmp.path, 'follower');
      const { signal, last } = await applyInChild(dir, role, entries, join(tmp.path, 'entries.json'), label);
      assert.equal(signal, 'SIGKILL', `the apply did not crash at ${label}`);
      const f = await store('follower', role);
      assert.notDeepEqual(await tree(f, role), want, 'the crash left the entries unfinished');
      for (const e of entries.slice(last)) await applyEntry(f, e);
      assert.deepEqual(await tree(f, role), want);
    });
  }
});
