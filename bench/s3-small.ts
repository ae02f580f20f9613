/**
 * The `small` scenario (issue 6): small objects through S3, the gateway over a real local DHT2
 * cluster (bricks with sync on: every reply after fsync) next to the `s3rver` package (a
 * single-process S3 server, no fsync) as the baseline, both started by this run on the same
 * disk (bench/servers.ts) and driven by the same load generator (bench/s3-load.ts, the engine
 * of `dht2 bench`).
 *
 * Work (N = sizes().smallCount, see bench/sizes.ts): 4 KiB x N: PUT, GET, HEAD, LIST (full
 * ListObjectsV2 walks, 1000 keys a page), LIST with delimiter=/ (the 10 "directories" the keys
 * are spread over, each walked with delimiter), DELETE, at concurrency 1, 8 and 64. A LIST
 * phase makes min(max(c, 3), 16) full walks: the plain walks run that many at once (so the c=64
 * LIST walk row says c=16), the delimited ones are split by directory and keep c in flight.
 * s3rver's DELETE can fail with 500 InternalError when two deletes empty the same directory at
 * once (it rmdirs emptied parents without handling the race); such rows say `[N errors]` and
 * the leftovers are removed afterwards.
 * Each concurrency runs on dht2, then on s3rver, each in a fresh bucket; both servers get one
 * untimed warm-up round first. Rows: bench/measure.ts; ratio on the dht2 row = dht2 / s3rver.
 */
import type { Row } from './report.js';
import { measuringHooks, rowOf, withRatio, type Measured } from './measure.js';
import { runS3Bench, type S3Phase } from './s3-load.js';
import { BENCH_REGION, Workspace, type System } from './servers.js';
import { sizes } from './sizes.js';
import { progress } from './util.js';

const KiB = 1024;
const SMALL_CONCURRENCY = [1, 8, 64];
const SMALL_PHASES: S3Phase[] = ['put', 'get', 'head', 'list', 'list-delimiter', 'delete'];
const DIRS = 10;
const LIST_MAX_KEYS = 1000;
const listWalks = (c: number): number => Math.min(Math.max(c, 3), 16);

const PHASE_LABEL: Record<S3Phase, string> = {
  put: 'PUT',
  get: 'GET',
  head: 'HEAD',
  list: `LIST walk (${LIST_MAX_KEYS} keys/page; op = page)`,
  'list-delimiter': `LIST delimiter=/ (${DIRS} dirs; op = page)`,
  delete: 'DELETE',
};

/** Runs the phases of one size and concurrency against one system, measuring each. */
export async function runMeasured(sys: System, o: { size: number; count: number; concurrency: number; phases: S3Phase[];
  bucket: string; dirs: number; listWalks?: number }): Promise<Map<S3Phase, Measured<S3Phase>>> {
  const out = new Map<S3Phase, Measured<S3Phase>>();
  await runS3Bench({
    endpoint: sys.endpoint, accessKey: sys.accessKey, secretKey: sys.secretKey, region: BENCH_REGION, bucket: o.bucket,
    size: o.size, count: o.count, concurrency: o.concurrency, phases: o.phases, dirs: o.dirs,
    listMaxKeys: LIST_MAX_KEYS, ...(o.listWalks !== undefined ? { listWalks: o.listWalks } : {}),
    prefix: 'bench/', progress: true, hooks: measuringHooks(sys, out),
    log: (m) => { if (/fail|error|removed \d+ objects/i.test(m)) progress(`  ${sys.name}: ${m}`); },
  });
  return out;
}

/** One untimed round of small objects (JIT, connections, first directories); `phases` default: every phase. */
export async function warmUp(sys: System, phases: S3Phase[] = SMALL_PHASES): Promise<void> {
  progress(`warm-up on ${sys.name}`);
  await runS3Bench({
    endpoint: sys.endpoint, accessKey: sys.accessKey, secretKey: sys.secretKey, region: BENCH_REGION, bucket: `warmup-${sys.tag}`,
    size: 4 * KiB, count: 200, concurrency: 8, phases, dirs: DIRS, prefix: 'bench/', listWalks: 2,
  });
}

/** The `small` scenario: see the file comment. */
export async function smallScenario(): Promise<Row[]> {
  const n = sizes().smallCount;
  const ws = await Workspace.create('small');
  progress(`small: temp dir ${ws.root}; 4 KiB x ${n} at c=${SMALL_CONCURRENCY.join(',')}`);
  try {
    const gw = await ws.gateway(await ws.cluster('dht2', true));
    const s3 = await ws.s3rver();
    progress(`small: gateway ${gw.endpoint} (pid ${gw.mainPid}) over bricks ${gw.pids.slice(1).join(',')}; s3rver ${s3.endpoint} (pid ${s3.mainPid})`);
    const systems: System[] = [gw, s3];
    for (const sys of systems) await warmUp(sys);
    const rows: Row[] = [];
    for (const c of SMALL_CONCURRENCY) {
      const measured = new Map<string, Map<S3Phase, Measured<S3Phase>>>();
      for (const sys of systems) {
        progress(`small: ${sys.name}, 4 KiB x ${n} at c=${c}`);
        measured.set(sys.tag, await runMeasured(sys, {
          size: 4 * KiB, count: n, concurrency: c, phases: SMALL_PHASES, bucket: `bench-small-c${c}-${sys.tag}`, dirs: DIRS, listWalks: listWalks(c),
        }));
        await ws.checkAlive();
      }
      for (const phase of SMALL_PHASES) {
        const inFlight = phase === 'list' ? Math.min(c, listWalks(c)) : c;
        const scenario = `4 KiB x ${n}: ${PHASE_LABEL[phase]} (c=${inFlight})`;
        const d = measured.get(gw.tag)!.get(phase);
        const b = measured.get(s3.tag)!.get(phase);
        if (!d || !b) continue;
        const base = rowOf(scenario, s3, b, false);
        rows.push(withRatio(rowOf(scenario, gw, d, false), base), base);
      }
    }
    return rows;
  } finally {
    await ws.close();
  }
}
