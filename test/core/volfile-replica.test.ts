/**
 * Replicated volume files (format 2, ARCHITECTURE.md §10.12; docs/VOLUME-FILE.md): their shape
 * and refusals, the layout they seed, `dht2 volume create --replica` (sets in the order given,
 * the layout installed on every brick), and Volume.open checking that each member holds it.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { DHT2_BIN, spawnBrick, type BrickProcess } from '../../brick/spawn.js';
import { BrickClient } from '../../dht2-core/rpc/brick-client.js';
import { Volume } from '../../dht2-core/volume.js';
import {
  loadVolumeFile, parseVolumeFile, replicaOf, seedLayout, volumeBricks, type VolumeFileV2,
} from '../../dht2-core/volfile.js';
import { evenRanges } from '../../dht2-core/protocol/index.js';
import { rejectsErrno } from '../helpers/assert-errno.js';
import { SECRET, tmpDir } from '../helpers/tmp.js';

const run = promisify(execFile);

function v2(replica: number, mdsSets: number, dsSets: number): VolumeFileV2 {
  let port = 9100;
  const sets = (role: string, n: number) => Array.from({ length: n }, (_, i) => ({
    id: `${role}-${i}`, bricks: Array.from({ length: replica }, (_, j) => ({ id: `${role}-${i}-${j}`, url: `http://127.0.0.1:${port++}` })),
  }));
  return { format: 2, name: 'r', volumeId: 'rv', buckets: 65536, secret: { env: 'X' }, replica, mds: sets('mds', mdsSets), ds: sets('ds', dsSets) };
}

describe('replicated volume files', () => {
  it('format 2 names replica sets; its layout places by set, members as listed', () => {
    const vf = parseVolumeFile(v2(3, 2, 1));
    assert.equal(replicaOf(vf), 3);
    assert.equal(volumeBricks(vf).length, 9);
    const l = seedLayout(vf);
    assert.deepEqual(l.sets.map((s) => [s.id, s.role, s.members.length]), [['mds-0', 'mds', 3], ['mds-1', 'mds', 3], ['ds-0', 'ds', 3]]);
    assert.deepEqual(l.mdsRanges, evenRanges(['mds-0', 'mds-1']));
    assert.equal(l.bricks['ds-0-2'], 'http://127.0.0.1:9108');
  });

  it('refuses replica 2 with the reason, sets of the wrong size, and names used twice', () => {
    assert.throws(() => parseVolumeFile(v2(2, 1, 1)), /replica 2 is not supported: a write must reach a majority \(2 of 2\), so with one brick down writes would stop/);
    const short = v2(3, 1, 1);
    short.ds[0]!.bricks.pop();
    assert.throws(() => parseVolumeFile(short), /set ds-0 has 2 bricks; a volume of replica 3 needs 3 in every set/);
    const twice = v2(3, 2, 1);
    twice.mds[1]!.id = 'mds-0';
    assert.throws(() => parseVolumeFile(twice), /set id mds-0 is named twice \(mds\[0\] and mds\[1\]\)/);
    const brick = v2(3, 1, 1);
    brick.ds[0]!.bricks[1]!.id = 'mds-0-0';
    assert.throws(() => parseVolumeFile(brick), /brick id mds-0-0 is named twice \(mds\[0\]\.bricks\[0\] and ds\[0\]\.bricks\[1\]\)/);
    assert.throws(() => parseVolumeFile({ ...v2(3, 1, 1), format: 3 }), /format/);
  });

  it('dht2 volume create refuses --replica 2 and brick counts that do not make sets', async () => {
    const dir = await tmpDir('vc');
    try {
      const base = [DHT2_BIN, 'volume', 'create', '--name', 'x', '--volume-id', 'x', '--no-check', '-o', join(dir.path, 'x.json')];
      const two = await run(process.execPath, [...base, '--replica', '2', '--mds', 'a=http://127.0.0.1:1', 'b=http://127.0.0.1:2', '--ds', 'c=http://127.0.0.1:3', 'd=http://127.0.0.1:4'])
        .then(() => '', (e: { stderr: string }) => e.stderr);
      assert.match(two, /replica 2 is not supported/);
      const four = await run(process.execPath, [...base, '--replica', '3', '--mds', ...[1, 2, 3, 4].map((i) => `m${i}=http://127.0.0.1:${i}`), '--ds', ...[5, 6, 7].map((i) => `d${i}=http://127.0.0.1:${i}`)], { env: { ...process.env, DHT2_CLUSTER_SECRET: SECRET } })
        .then(() => '', (e: { stderr: string }) => e.stderr);
      assert.match(four, /--mds: 4 bricks do not make sets of 3; give a multiple of 3/);
    } finally {
      await dir.cleanup();
    }
  });
});

describe('dht2 volume create --replica 3 over real bricks', function () {
  this.timeout(120_000);
  let dir: Awaited<ReturnType<typeof tmpDir>>;
  let bricks: Array<{ id: string; role: 'mds' | 'ds'; p: BrickProcess }>;
  before(async () => {
    dir = await tmpDir('vc3');
    const ids = [...['m1', 'm2', 'm3'].map((id) => ({ id, role: 'mds' as const })), ...['d1', 'd2', 'd3'].map((id) => ({ id, role: 'ds' as const }))];
    bricks = await Promise.all(ids.map(async ({ id, role }) => ({
      id, role, p: await spawnBrick({ dir: join(dir.path, id), role, secret: SECRET, volumeId: 'rv', args: ['--brick-id', id] }),
    })));
    await writeFile(join(dir.path, 'secret'), SECRET + '\n');
  });
  after(async () => {
    await Promise.all(bricks.map((b) => b.p.stop()));
    await dir.cleanup();
  });

  it('groups the bricks into sets, installs the layout on each (format 3), and the volume opens checked', async () => {
    const out = join(dir.path, 'volume.json');
    const arg = (role: string) => bricks.filter((b) => b.role === role).map((b) => `${b.id}=${b.p.url}`);
    const made = await run(process.execPath, [DHT2_BIN, 'volume', 'create', '--name', 'rv', '--volume-id', 'rv', '--secret-file', 'secret', '-o', out,
      '--replica', '3', '--mds', ...arg('mds'), '--ds', ...arg('ds')]);
    assert.match(made.stdout, /wrote .*volume.json: volume rv \(rv\), replica 3, 1 MDS sets, 1 DS sets/);
    const vf = await loadVolumeFile(out);
    assert.equal(vf.format, 2);
    assert.deepEqual(volumeBricks(vf).map((b) => [b.set, b.id]), [['mds-0', 'm1'], ['mds-0', 'm2'], ['mds-0', 'm3'], ['ds-0', 'd1'], ['ds-0', 'd2'], ['ds-0', 'd3']]);
    for (const b of bricks) {
      const c = new BrickClient({ url: b.p.url, secret: SECRET });
      try {
        assert.equal((await c.health()).format, 3, `${b.id} is a member of a replicated set`);
        assert.equal((await c.call('layoutget', {})).state.set, b.role === 'mds' ? 'mds-0' : 'ds-0');
      } finally {
        await c.close();
      }
    }
    const v = await Volume.open(out);
    try {
      assert.equal(v.replica, 3);
      assert.deepEqual(v.setIds(), { mds: ['mds-0'], ds: ['ds-0'] });
      assert.equal((await v.brickHealth()).filter((h) => h.problem).length, 0);
    } finally {
      await v.close();
    }
    // A volume file whose layout differs from what the bricks hold is refused, naming both.
    const other = JSON.parse(await readFile(out, 'utf8')) as VolumeFileV2;
    other.ds[0]!.id = 'ds-x';
    const otherPath = join(dir.path, 'other.json');
    await writeFile(otherPath, JSON.stringify(other));
    assert.match((await rejectsErrno(Volume.open(otherPath), 'EINVAL')).message, /brick http:\/\/127\.0\.0\.1:\d+ holds layout epoch 1 \([0-9a-f]{12}\), not the volume file's \([0-9a-f]{12}\)/);

    // A gateway starts with a member of a set down (the set has a majority), not with two.
    const d3 = bricks.find((b) => b.id === 'd3')!;
    await d3.p.stop();
    // As compose's gateway does on every start: volume create again, here with d3 down.
    const again = await run(process.execPath, [DHT2_BIN, 'volume', 'create', '--name', 'rv', '--volume-id', 'rv', '--secret-file', 'secret', '-o', out,
      '--replica', '3', '--mds', ...bricks.filter((b) => b.role === 'mds').map((b) => `${b.id}=${b.p.url}`), '--ds', ...bricks.filter((b) => b.role === 'ds').map((b) => `${b.id}=${b.p.url}`)]);
    assert.match(again.stderr, /warning: bricks d3 did not answer; their sets have a majority/);
    const degraded = await Volume.open(out);
    try {
      assert.deepEqual((await degraded.brickHealth()).filter((h) => !h.up).map((h) => h.id), ['d3']);
    } finally {
      await degraded.close();
    }
    const d2 = bricks.find((b) => b.id === 'd2')!;
    await d2.p.stop();
    assert.match((await rejectsErrno(Volume.open(out), 'EINVAL')).message, /set ds-0 has 1 of its 3 members reachable, not a majority/);
    for (const b of [d2, d3]) b.p = await spawnBrick({ dir: join(dir.path, b.id), role: 'ds', secret: SECRET, volumeId: 'rv', port: b.p.port, args: ['--brick-id', b.id] });
    await (await Volume.open(out)).close();
  });
});
