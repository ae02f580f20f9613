/**
 * The crash-point model checker over every composite FOP of docs/ARCHITECTURE.md §5 (the engine
 * and its fault model: test/helpers/model-checker.ts; power loss: test/helpers/power-loss.ts).
 * Each scenario is a FOP from a small tree; the steps it explores are the ones the code makes.
 * DHT2_MODEL_WIDE=1 widens the scope: eight placements (seeds) per scenario instead of one, and
 * interleavings without a preemption bound.
 */
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import type { Volume } from '../../dht2-core/volume.js';
import { text } from '../helpers/assert-errno.js';
import {
  FAULTS, REPLICA_FAULTS, checkInterleavings, checkScenario, type Pair, type Scenario, type Step, type TreeState,
} from '../helpers/model-checker.js';

const body = (s: string) => Readable.from([Buffer.from(s)]);
const wide = process.env.DHT2_MODEL_WIDE === '1';
const has = (fop: string) => (t: readonly Step[]) => t.some((s) => s.fop === fop);
const lacks = (fop: string) => (t: readonly Step[]) => !t.some((s) => s.fop === fop);
/** Both states at once: two names for one inode (a cross-MDS rename cut between its steps). */
const union = (old: TreeState, now: TreeState): TreeState[] => [new Map([...old, ...now])];

async function tree(v: Volume, dirs: string[], files: Record<string, string> = {}): Promise<void> {
  for (const d of dirs) await v.mkdir(d);
  for (const [p, s] of Object.entries(files)) await v.writeFile(p, body(s));
}

const SCENARIOS: Scenario[] = [
  { name: 'mkdir, one MDS', setup: (v) => tree(v, ['/d']), op: (v) => v.mkdir('/d/n'), want: lacks('icreate') },
  { name: 'mkdir, two MDSs (icreate, namelink)', setup: (v) => tree(v, ['/d']), op: (v) => v.mkdir('/d/n'), want: has('icreate') },
  { name: 'create an empty file', setup: (v) => tree(v, ['/d']), op: (v) => v.create('/d/f') },
  { name: 'symlink', setup: (v) => tree(v, ['/d']), op: (v) => v.symlink('target', '/d/l') },
  { name: 'writeFile, a new name', setup: (v) => tree(v, ['/d']), op: (v) => v.writeFile('/d/f', body('new')) },
  {
    name: 'writeFile, replacing an object (PUT over a key)',
    setup: (v) => tree(v, ['/d'], { '/d/f': 'old' }), op: (v) => v.writeFile('/d/f', body('newer')),
  },
  {
    name: 'writeFile, If-Match on the current object',
    setup: (v) => tree(v, ['/d'], { '/d/f': 'old' }),
    op: async (v) => v.writeFile('/d/f', body('newer'), { ifGfid: (await v.stat('/d/f')).gfid }),
  },
  ((): Scenario => {
    let gone = '';
    return {
      name: 'writeFile, its folder pruned meanwhile (reparent: icreate, namelink)',
      setup: async (v) => {
        await tree(v, ['/d', '/d/p']);
        gone = (await v.stat('/d/p')).gfid;
        await v.rmdir('/d/p'); // what a racing S3 DELETE of the folder's last key does
      },
      op: (v) => v.writeFileAt(gone, 'f', body('new'), { reparent: async () => (await v.mkdir('/d/p')).gfid }),
      // The folder is made again first: mkdir -p is not atomic, its part may stay.
      alsoAllowed: (old) => [new Map([...old, ['/d/p', 'dir']])],
    };
  })(),
  {
    name: 'writeFile onto a directory: the object it carries (icreate, objset)',
    setup: (v) => tree(v, ['/d', '/d/a']),
    op: async (v) => v.writeFileAt((await v.stat('/d')).gfid, 'a', body('carried'), { intoDir: true }),
  },
  {
    name: 'writeFile onto a directory, replacing the object it carries',
    setup: async (v) => {
      await tree(v, ['/d', '/d/a']);
      await v.writeFileAt((await v.stat('/d')).gfid, 'a', body('old'), { intoDir: true });
    },
    op: async (v) => v.writeFileAt((await v.stat('/d')).gfid, 'a', body('newer'), { intoDir: true }),
  },
  {
    name: 'a file turned into a directory carrying it (mkdir -p through a file: icreate, nameswap)',
    setup: (v) => tree(v, ['/d'], { '/d/a': 'carried' }), op: (v) => v.mkdir('/d/a/b', { parents: true, adopt: true }),
    // mkdir -p is a sequence: the file may be carried by its directory before `b` is made.
    alsoAllowed: (_old, now) => [new Map([...now].filter(([k]) => k !== '/d/a/b'))],
  },
  {
    name: 'a carrying directory turned back into its file (imark, nameswap, objset, iunlink)',
    setup: async (v) => {
      await tree(v, ['/d'], { '/d/a': 'carried' });
      await v.mkdir('/d/a/b', { parents: true, adopt: true });
      await v.rmdir('/d/a/b');
    },
    op: (v) => v.uncarry('/d/a'),
  },
  {
    name: 'a carried object dropped (objset null)',
    setup: async (v) => {
      await tree(v, ['/d', '/d/a']);
      await v.writeFileAt((await v.stat('/d')).gfid, 'a', body('carried'), { intoDir: true });
    },
    op: (v) => v.dropCarriedObject('/d/a'),
  },
  {
    name: 'append', setup: (v) => tree(v, ['/d'], { '/d/f': 'abc' }), op: (v) => v.append('/d/f', body('def')), staleSizeOk: true,
  },
  {
    name: 'write at an offset', setup: (v) => tree(v, ['/d'], { '/d/f': 'abcdef' }), op: (v) => v.write('/d/f', 2, body('XY')), staleSizeOk: true,
  },
  {
    name: 'write into a file that has no data yet', setup: async (v) => { await tree(v, ['/d']); await v.create('/d/f'); },
    op: (v) => v.write('/d/f', 0, body('first')), staleSizeOk: true,
  },
  { name: 'truncate', setup: (v) => tree(v, ['/d'], { '/d/f': 'abcdef' }), op: (v) => v.truncate('/d/f', 2), staleSizeOk: true },
  { name: 'unlink, the inode on the name\'s MDS', setup: (v) => tree(v, ['/d'], { '/d/f': 'data' }), op: (v) => v.unlink('/d/f') },
  {
    name: 'unlink, the inode on another MDS (after a cross-MDS rename)',
    setup: async (v) => { await tree(v, ['/d', '/e'], { '/d/f': 'data' }); await v.rename('/d/f', '/e/f'); },
    op: (v) => v.unlink('/e/f'), want: has('iunlink'),
  },
  {
    name: 'unlink of one of two hard links', setup: async (v) => { await tree(v, ['/d'], { '/d/f': 'data' }); await v.link('/d/f', '/d/g'); },
    op: (v) => v.unlink('/d/f'),
  },
  { name: 'rmdir, one MDS', setup: (v) => tree(v, ['/d', '/d/s']), op: (v) => v.rmdir('/d/s'), want: lacks('imark') },
  { name: 'rmdir, two MDSs (imark, namedel, iunlink)', setup: (v) => tree(v, ['/d', '/d/s']), op: (v) => v.rmdir('/d/s'), want: has('imark') },
  { name: 'rename, one MDS', setup: (v) => tree(v, ['/d'], { '/d/f': 'data' }), op: (v) => v.rename('/d/f', '/d/g') },
  {
    name: 'rename, one MDS, replacing a file', setup: (v) => tree(v, ['/d'], { '/d/f': 'data', '/d/g': 'old' }),
    op: (v) => v.rename('/d/f', '/d/g'),
  },
  {
    name: 'rename, two MDSs (namelink, namedel)', setup: (v) => tree(v, ['/d', '/e'], { '/d/f': 'data' }),
    op: (v) => v.rename('/d/f', '/e/f'), want: has('namelink'), alsoAllowed: union,
  },
  {
    name: 'rename, two MDSs, replacing a file', setup: (v) => tree(v, ['/d', '/e'], { '/d/f': 'data', '/e/f': 'old' }),
    op: (v) => v.rename('/d/f', '/e/f'), want: has('namelink'), alsoAllowed: union,
  },
  {
    name: 'rename of a directory to another parent (parent pointer)', setup: (v) => tree(v, ['/d', '/e', '/d/s'], { '/d/s/f': 'x' }),
    op: (v) => v.rename('/d/s', '/e/s'), want: has('namelink'), alsoAllowed: union,
  },
  {
    name: 'rename onto an empty directory on another MDS (remote rmdir first)', setup: (v) => tree(v, ['/d', '/d/s', '/d/t']),
    op: (v) => v.rename('/d/s', '/d/t'), want: has('imark'),
    // "the replacement is not atomic": the target may be gone while the source is not yet moved.
    alsoAllowed: (old) => [new Map([...old].filter(([k]) => k !== '/d/t'))],
  },
  {
    name: 'setxattr (object metadata)', setup: (v) => tree(v, ['/d'], { '/d/f': 'data' }),
    op: (v) => v.setxattr('/d/f', 'user.meta', Buffer.from('value')),
  },
  {
    name: 'setattr (mode)', setup: (v) => tree(v, ['/d'], { '/d/f': 'data' }),
    op: (v) => v.setattr('/d/f', { mode: 0o600 }),
  },
  { name: 'link, one MDS', setup: (v) => tree(v, ['/d'], { '/d/f': 'data' }), op: (v) => v.link('/d/f', '/d/g'), want: lacks('ilink') },
  {
    name: 'link, two MDSs (ilink, namelink)', setup: (v) => tree(v, ['/d', '/e'], { '/d/f': 'data' }),
    op: (v) => v.link('/d/f', '/e/g'), want: has('ilink'),
  },
  {
    name: 'copy on the data brick (dcopy, create)', setup: (v) => tree(v, ['/d'], { '/d/f': 'data' }),
    op: async (v) => v.copyAt(await v.stat('/d/f'), (await v.stat('/d')).gfid, 'g'),
  },
  {
    name: 'concatenate parts (multipart complete: dconcat, create)',
    setup: async (v) => {
      await tree(v, ['/d', '/p']);
      await v.writeFile('/p/1', body('part one,'), { low16: 7 });
      await v.writeFile('/p/2', body(' part two'), { low16: 7 });
    },
    op: async (v) => v.concatAt((await v.stat('/d')).gfid, 'f', [(await v.stat('/p/1')).gfid, (await v.stat('/p/2')).gfid]),
  },
];

const PAIRS: Pair[] = [
  {
    name: 'two PUTs of one key', setup: (v) => tree(v, ['/d'], { '/d/f': 'old' }),
    a: (v) => v.writeFile('/d/f', body('from a')), b: (v) => v.writeFile('/d/f', body('from b')),
  },
  {
    name: 'two creates of one new key (If-None-Match)', setup: (v) => tree(v, ['/d']),
    a: (v) => v.writeFile('/d/f', body('from a'), { createOnly: true }), b: (v) => v.writeFile('/d/f', body('from b'), { createOnly: true }),
  },
  {
    name: 'PUT and DELETE of one key', setup: (v) => tree(v, ['/d'], { '/d/f': 'old' }),
    a: (v) => v.writeFile('/d/f', body('new')), b: (v) => v.unlink('/d/f'),
  },
  {
    name: 'two mkdirs of one name', setup: (v) => tree(v, ['/d']),
    a: (v) => v.mkdir('/d/n'), b: (v) => v.mkdir('/d/n'),
  },
  {
    name: 'rename and PUT of the target', setup: (v) => tree(v, ['/d', '/e'], { '/d/f': 'moved' }),
    a: (v) => v.rename('/d/f', '/e/f'), b: (v) => v.writeFile('/e/f', body('put')),
  },
  {
    name: 'a file adopted as a directory and a PUT of the file', setup: (v) => tree(v, ['/d'], { '/d/a': 'old' }),
    a: (v) => v.mkdir('/d/a/b', { parents: true, adopt: true }),
    b: async (v) => v.writeFileAt((await v.stat('/d')).gfid, 'a', body('new'), { intoDir: true }),
  },
  {
    name: 'rmdir and a create in it', setup: (v) => tree(v, ['/d', '/d/s']),
    a: (v) => v.rmdir('/d/s'), b: (v) => v.writeFile('/d/s/f', body('x')),
  },
];

/** Whole-object writes on replicated DS sets with one member of each down (fresh objects, §10.7). */
const FRESH: Scenario[] = [
  {
    name: 'writeFile, a new name, a DS member down (fresh dput, pending, create)',
    setup: (v) => tree(v, ['/d']), op: (v) => v.writeFile('/d/f', body('new')), downMembers: ['ds0-c', 'ds1-c'],
  },
  {
    name: 'writeFile over a key, a DS member down (fresh dput, pending, create, dunlink of the old)',
    setup: (v) => tree(v, ['/d'], { '/d/f': 'old' }), op: (v) => v.writeFile('/d/f', body('newer')), downMembers: ['ds0-c', 'ds1-c'],
  },
];

describe('crash-point model checker (issue 13)', function () {
  this.timeout(600_000);
  let base: string;
  const runs: string[] = [];
  before(() => {
    // tmpfs when there is one (it keeps user xattrs on Linux >= 6.6): fsync there costs nothing.
    base = mkdtempSync(join(existsSync('/dev/shm') ? '/dev/shm' : tmpdir(), 'dht2-model-'));
  });
  after(() => {
    rmSync(base, { recursive: true, force: true });
    if (process.env.DHT2_MODEL_REPORT) console.log(runs.join('\n'));
  });

  for (const s of SCENARIOS) {
    it(`${s.name}: every step x fault and every power-loss point`, async () => {
      const r = await checkScenario(base, s, wide ? { seeds: 256, placements: 8 } : {});
      // One fault-free run, every step under every fault, a power cut after every fsync (each run
      // asserts that its fault fired where it was aimed).
      assert.ok(r.steps.length > 0 && r.fsyncs > 0, 'the FOP made steps and fsyncs');
      assert.ok(r.runs >= 1 + r.steps.length * FAULTS.length + r.fsyncs);
      runs.push(`${s.name}: ${r.steps.map((x) => `${x.fop}@${x.brick}`).join(' ')}; ${r.runs} runs over ${r.placements} placements, ${r.fsyncs} fsyncs`);
    });
  }

  // The same FOPs over replicated sets (ARCHITECTURE.md §10.10, §10.11): each brick a set of three
  // behind the gateway's replica-set layer; at every step, the primary fails over after applying
  // (its reply kept, or forgotten) or the set loses its majority.
  for (const s of SCENARIOS) {
    it(`${s.name}, replicated: every step x failover, forgotten reply and lost majority`, async () => {
      const r = await checkScenario(base, s, { replicated: true, ...(wide ? { seeds: 256, placements: 8 } : {}) });
      assert.ok(r.runs >= 1 + r.steps.length * REPLICA_FAULTS.length);
      runs.push(`${s.name}, replicated: ${r.runs} runs`);
    });
  }

  // The fresh-object fast path (ARCHITECTURE.md §10.7) with a member of every DS set down: the
  // fresh dput to each member, then the pending record on the primary, then the MDS create; a
  // failover, forgotten reply or lost majority after each step loses nothing acknowledged (an
  // object no majority and no pending record covers counts as lost, SetState.settleFresh).
  for (const s of FRESH) {
    it(`${s.name}, replicated: every step x failover, forgotten reply and lost majority`, async () => {
      const r = await checkScenario(base, s, { replicated: true, ...(wide ? { seeds: 256, placements: 8 } : {}) });
      assert.ok(r.steps.some((x) => x.fop === 'pending') && r.runs >= 1 + r.steps.length * REPLICA_FAULTS.length);
      runs.push(`${s.name}, replicated: ${r.steps.map((x) => `${x.fop}@${x.brick}`).join(' ')}; ${r.runs} runs`);
    });
  }

  it('catches a replica set that loses the pending records it committed', async () => {
    await assert.rejects(checkScenario(base, FRESH[0]!, { replicated: true, keepPending: false }), /a name points to missing data|does not read back/);
  });

  it('catches a replica set that runs a resent FOP again instead of answering its kept reply', async () => {
    const unlink = SCENARIOS.find((s) => s.name === 'unlink, the inode on the name\'s MDS')!;
    await assert.rejects(checkScenario(base, unlink, { replicated: true, dedup: false }), /a failover with the reply kept must not show/);
  });

  it('catches a FOP that is not atomic (the checker itself can fail)', async () => {
    const broken: Scenario = {
      name: 'two-step overwrite',
      setup: (v) => tree(v, ['/d'], { '/d/f': 'old' }),
      op: async (v) => { await v.writeFile('/d/f', body('half')); await v.writeFile('/d/f', body('new')); },
    };
    await assert.rejects(checkScenario(base, broken), /the crash story does not allow:\n  \/d: dir\n  \/d\/f: file "half"/);
  });

  it('catches two FOPs that are not linearizable together', async () => {
    const racy: Pair = {
      name: 'read-modify-write',
      setup: (v) => tree(v, ['/d'], { '/d/f': '' }),
      a: async (v) => v.writeFile('/d/f', body(`${await text((await v.openRead('/d/f')).body)}a`)),
      b: async (v) => v.writeFile('/d/f', body(`${await text((await v.openRead('/d/f')).body)}b`)),
    };
    await assert.rejects(checkInterleavings(base, racy, { preemptions: 2 }), /a state no serial order gives/);
  });

  for (const p of PAIRS) {
    it(`${p.name}: every interleaving`, async () => {
      const n = await checkInterleavings(base, p, wide ? { maxSchedules: 50_000 } : { preemptions: 2 });
      assert.ok(n >= 2, 'more than one schedule');
      runs.push(`${p.name}: ${n} schedules`);
    });
  }
});
