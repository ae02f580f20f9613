/**
 * The benchmark's load tools do the work they claim, with no errors (the numbers are never
 * checked): the S3 load generator against the bare HTTP sink, the local-filesystem baseline,
 * the REST file API load generator against a real gateway, and the choice of scenarios and
 * sizes from the command line and the environment.
 */
import assert from 'node:assert/strict';
import { readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { runFsLoad, type FsPhase } from '../../bench/fs-load.js';
import type { PhaseResult } from '../../bench/load-phase.js';
import { runLocalFiles, type LocalPhase } from '../../bench/local-files.js';
import { runS3Bench } from '../../bench/s3-load.js';
import { resolveScenarios, scenarioNames } from '../../bench/scenarios.js';
import { Workspace } from '../../bench/servers.js';
import { sizes } from '../../bench/sizes.js';
import { ACCESS_KEY, SECRET_KEY, startGateway, type TestGateway } from '../helpers/gateway.js';
import { tmpDir } from '../helpers/tmp.js';

const MiB = 1024 * 1024;

function clean(rs: ReadonlyArray<PhaseResult>): void {
  for (const r of rs) assert.equal(r.errors, 0, `${r.phase}: ${r.errorSamples.join('; ')}`);
}

describe('bench load tools', function () {
  this.timeout(120_000);

  it('the S3 load generator moves every byte through the bare HTTP sink', async () => {
    const ws = await Workspace.create('test-sink');
    try {
      const sink = await ws.httpSink();
      const r = await runS3Bench({
        endpoint: sink.endpoint, accessKey: 'a', secretKey: 'b', region: 'us-east-1', bucket: 'b', size: 3 * MiB + 5, count: 3,
        concurrency: 2, phases: ['put', 'get', 'head', 'delete'], dirs: 0,
      });
      clean(r.phases);
      assert.deepEqual(r.phases.map((p) => [p.phase, p.ops, p.bytes]),
        [['put', 3, 3 * (3 * MiB + 5)], ['get', 3, 3 * (3 * MiB + 5)], ['head', 3, 0], ['delete', 3, 0]]);
    } finally {
      await ws.close();
    }
  });

  it('the local baseline writes, reads, stats, lists and deletes, and leaves nothing behind', async () => {
    const dir = await tmpDir('dht2-bench-local');
    try {
      const out = new Map<LocalPhase, PhaseResult<LocalPhase>>();
      const work = join(dir.path, 'w');
      await runLocalFiles<LocalPhase>({ dir: work, size: 2 * MiB + 1, count: 5, concurrency: 2, phases: ['put', 'get', 'stat', 'list', 'delete'], listWalks: 2 },
        { beforePhase: async () => undefined, afterPhase: (p, r) => { out.set(p, r); } }, (p) => p);
      const rs = [...out.values()];
      clean(rs);
      assert.deepEqual(rs.map((r) => r.phase), ['put', 'get', 'stat', 'list', 'delete']);
      assert.equal(out.get('get')!.bytes, 5 * (2 * MiB + 1));
      assert.equal(out.get('list')!.listed?.keys, 10);
      assert.deepEqual(await readdir(dir.path), []);
    } finally {
      await dir.cleanup();
    }
  });

  describe('the file API load generator', () => {
    let g: TestGateway;
    before(async () => { g = await startGateway(); });
    after(async () => { await g.stop(); });

    it('creates, reads, stats, lists (by cursor) and deletes files through /fs/ with Basic credentials', async () => {
      const phases: FsPhase[] = ['put', 'get', 'stat', 'list', 'delete'];
      // 1001 entries: the walk needs a second page, reached with the cursor.
      const rs = await runFsLoad({ endpoint: g.url, accessKey: ACCESS_KEY, secretKey: SECRET_KEY, dir: '/fsload/a', size: 100, count: 1001,
        concurrency: 16, phases, listWalks: 2 });
      clean(rs);
      assert.deepEqual(rs.map((r) => [r.phase, r.ops]), [['put', 1001], ['get', 1001], ['stat', 1001], ['list', 4], ['delete', 1001]]);
      assert.equal(rs[3]!.listed?.keys, 2002);
      assert.deepEqual((await g.gw.volume.readdir('/fsload/a')).entries, []);
    });
  });

  it('runs every scenario by default, expands s3 to small + large, and reports unknown names', () => {
    assert.deepEqual(resolveScenarios([]).run, scenarioNames());
    assert.deepEqual(scenarioNames(), ['brick', 'core', 'small', 'large', 'list', 'fs', 'replica']);
    assert.deepEqual(resolveScenarios(['fs', 's3', 'small']), { run: ['fs', 'small', 'large'], unknown: [] });
    assert.deepEqual(resolveScenarios(['nope', 'core']), { run: ['core'], unknown: ['nope'] });
  });

  it('uses issue 6\'s sizes with BENCH_FULL=1 and scales counts, never object sizes, with BENCH_SCALE', () => {
    const saved = { full: process.env.BENCH_FULL, scale: process.env.BENCH_SCALE };
    try {
      delete process.env.BENCH_SCALE;
      process.env.BENCH_FULL = '1';
      const full = sizes();
      assert.equal(full.profile, 'full');
      assert.deepEqual([full.smallCount, full.largeCount, full.listFlatKeys, full.listDirs * full.listPerDir, full.hugeBytes],
        [5000, 16, 100_000, 100_000, 1024 * MiB]);
      delete process.env.BENCH_FULL;
      const def = sizes();
      process.env.BENCH_SCALE = '2';
      const twice = sizes();
      assert.equal(def.profile, 'default');
      assert.deepEqual([def.smallCount, def.largeCount, def.listFlatKeys, def.listDirs * def.listPerDir, def.hugeBytes],
        [5000, 16, 100_000, 100_000, 1024 * MiB], 'the default runs issue 6\'s sizes');
      assert.equal(twice.smallCount, def.smallCount * 2);
      assert.equal(twice.largeBytes, def.largeBytes);
      assert.equal(twice.hugeBytes, def.hugeBytes);
    } finally {
      for (const [k, v] of [['BENCH_FULL', saved.full], ['BENCH_SCALE', saved.scale]] as const) {
        if (v === undefined) delete process.env[k];
        else process.env[k] = v;
      }
    }
  });
});
