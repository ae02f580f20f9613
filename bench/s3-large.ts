/**
 * The `large` scenario (issue 6): large objects through S3 next to three baselines measured in
 * the same run:
 *
 *  - dht2 gateway (own process) over 2 MDS + 3 DS bricks with sync on;
 *  - s3rver on the same disk (no fsync);
 *  - local file: the same bytes written to / read from files in this process (fs streams of
 *    1 MiB, fsync of the file and its directory after each write, as a brick does before it
 *    replies): the physical disk limit;
 *  - bare HTTP/1.1 (bench/http-sink.ts, own process): the same load generator against a
 *    node:http server that discards uploads and produces downloads: the transport limit.
 *
 * Jobs (sizes().largeCount objects of sizes().largeBytes at concurrency 1 and 4, and ONE object
 * of sizes().hugeBytes): PUT then GET of every object; reads come from the page cache on every
 * system (the bytes were just written), which is what a fresh read of a hot object costs.
 * The huge object runs first, on a gateway that has only been warmed up (small objects and a
 * few 8 MiB ones): the gateway's RSS rise during its upload (peak sampled every 100 ms minus
 * the RSS at the start) must stay a small constant, whatever the object size; the row's note
 * prints it and flags it above {@link RSS_RISE_LIMIT_MIB}.
 *
 * Ratios: every row against the local file (the fraction of the disk limit each system
 * reaches); the gateway row's note adds its ratio to s3rver and to bare HTTP.
 */
import { join } from 'node:path';
import { LOCAL, runLocalFiles } from './local-files.js';
import { measuringHooks, round1, rowOf, rssRiseMiB, withRatio, type Measured } from './measure.js';
import type { Row } from './report.js';
import { runS3Bench, formatSize, type S3Phase } from './s3-load.js';
import { runMeasured, warmUp } from './s3-small.js';
import { BENCH_REGION, Workspace, type System } from './servers.js';
import { sizes } from './sizes.js';
import { progress } from './util.js';

const MiB = 1024 * 1024;
const PHASES: S3Phase[] = ['put', 'get'];
/** Above this rise of the gateway's RSS during the huge upload, the row is flagged. */
export const RSS_RISE_LIMIT_MIB = 64;

/** A few 8 MiB objects through the gateway, so its streaming path is warm before the huge upload is measured. */
async function warmUpStreaming(sys: System): Promise<void> {
  await runS3Bench({
    endpoint: sys.endpoint, accessKey: sys.accessKey, secretKey: sys.secretKey, region: BENCH_REGION, bucket: `warmup-large-${sys.tag}`,
    size: 8 * MiB, count: 4, concurrency: 2, phases: PHASES, dirs: 0, prefix: 'bench/',
  });
}

function rssNote(sys: System, m: Measured, limited: boolean): string | undefined {
  const rise = rssRiseMiB(sys, m);
  if (rise === undefined) return undefined;
  const text = `${sys.tag} RSS +${rise.toFixed(1)} MiB`;
  if (!limited) return text;
  return rise > RSS_RISE_LIMIT_MIB ? `FLAG: ${text} > ${RSS_RISE_LIMIT_MIB} MiB` : `${text} (limit ${RSS_RISE_LIMIT_MIB}): ok`;
}

/** The `large` scenario: see the file comment. */
export async function largeScenario(): Promise<Row[]> {
  const sz = sizes();
  const jobs = [
    { size: sz.hugeBytes, count: 1, concurrency: 1, huge: true },
    { size: sz.largeBytes, count: sz.largeCount, concurrency: 1, huge: false },
    { size: sz.largeBytes, count: sz.largeCount, concurrency: 4, huge: false },
  ];
  const ws = await Workspace.create('large');
  progress(`large: temp dir ${ws.root}; ${formatSize(sz.hugeBytes)} x 1, ${formatSize(sz.largeBytes)} x ${sz.largeCount} at c=1,4`);
  try {
    const gw = await ws.gateway(await ws.cluster('dht2', true));
    const s3 = await ws.s3rver();
    const sink = await ws.httpSink();
    const servers: System[] = [gw, s3, sink];
    // The sink keeps no keys to list: its warm-up leaves the listings out.
    for (const sys of servers) await warmUp(sys, sys === sink ? ['put', 'get', 'head', 'delete'] : undefined);
    await warmUpStreaming(gw);
    const rows: Row[] = [];
    for (const job of jobs) {
      const label = `${formatSize(job.size)} x ${job.count}`;
      const measured = new Map<string, Map<S3Phase, Measured<S3Phase>>>();
      for (const sys of servers) {
        progress(`large: ${sys.name}, ${label} at c=${job.concurrency}`);
        measured.set(sys.tag, await runMeasured(sys, {
          size: job.size, count: job.count, concurrency: job.concurrency, phases: PHASES, dirs: 0,
          bucket: `bench-large-${job.huge ? 'huge' : `c${job.concurrency}`}-${sys.tag}`,
        }));
        await ws.checkAlive();
      }
      progress(`large: local file, ${label} at c=${job.concurrency}`);
      const local = new Map<S3Phase, Measured<S3Phase>>();
      await runLocalFiles({ dir: join(ws.root, 'local'), size: job.size, count: job.count, concurrency: job.concurrency, phases: ['put', 'get'] },
        measuringHooks(LOCAL, local), (p) => (p === 'put' ? 'put' : 'get'));
      measured.set(LOCAL.tag, local);

      for (const phase of PHASES) {
        const scenario = `${label}: ${phase.toUpperCase()} (c=${job.concurrency})`;
        const m = (sys: System): Measured => measured.get(sys.tag)!.get(phase)!;
        const base = rowOf(scenario, LOCAL, m(LOCAL), true);
        const [g, s, h] = servers.map((sys) => withRatio(rowOf(scenario, sys, m(sys), true), base));
        const vs = (other: Row): string => (other.value > 0 ? `${(g!.value / other.value).toFixed(2)}x ${other.system}` : '');
        const notes = [`= ${vs(s!)}, ${vs(h!)}`];
        if (phase === 'put') {
          const rise = rssNote(gw, m(gw), job.huge);
          if (rise) notes.push(rise);
          const r = rssRiseMiB(gw, m(gw));
          if (r !== undefined) g!.details = { ...g!.details, gatewayRssRiseMiB: round1(r) };
        }
        g!.note = notes.join('; ');
        const sRise = phase === 'put' && job.huge ? rssNote(s3, m(s3), false) : undefined;
        if (sRise) s!.note = sRise;
        rows.push(g!, s!, h!, base);
      }
    }
    return rows;
  } finally {
    await ws.close();
  }
}

