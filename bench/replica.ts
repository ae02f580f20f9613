/**
 * The `replica` scenario (issue 16): what replication costs, replica 1 against replica 3 in the
 * same run, on the same machine, through the same gateway code and the same load generator.
 *
 * Both volumes have one MDS set and one DS set (ARCHITECTURE.md §10.12), so the only difference
 * is the replica count: replica 1 is 2 bricks, replica 3 is 6 (each set elects a primary that
 * orders every FOP, logs it and waits for a majority, §10.4-§10.6). Bricks run with sync on
 * (fsync before every reply), as `npm start` does.
 *
 * Jobs, PUT then GET of every object, each in a fresh bucket: 4 KiB x N at c=1 and c=32, 64 MiB
 * x M at c=1 and c=8 (N, M: sizes().smallCount / 5 and sizes().largeCount / 2). Replica 1 runs
 * all its jobs, then its processes are stopped and replica 3 runs them: the two never share the
 * CPU or the disk. Each volume gets the untimed warm-up of the `small` scenario first.
 *
 * Rounds: on a shared 2-core machine one pass swings by ±50 % (README "Replica 1 or 3"), so the
 * pair runs `BENCH_REPLICA_ROUNDS` times (default 3) interleaved, r1 then r3, each round on new
 * volumes, new processes, new buckets, the same jobs. Each round gives each row its own r3/r1;
 * the row reported is the round whose ratio is the median, so its rates, latencies and CPU split
 * are one round's, consistent with its ratio, and the note lists every round's ratio.
 *
 * Rows: replica 1 is the baseline, the replica-3 row's "vs base" is r3 / r1 (the target of issue
 * 16: PUT >= 0.5, GET >= 0.9). The note gives the CPU ms per op of every process (gateway, then
 * each brick; `*` marks a set's primary) and the details the same in the JSON.
 */
import { measuringHooks, rowOf, round3, withRatio, type Measured } from './measure.js';
import type { Row } from './report.js';
import { runS3Bench, formatSize, type S3Phase } from './s3-load.js';
import { warmUp } from './s3-small.js';
import { BENCH_REGION, Workspace, type System } from './servers.js';
import { sizes } from './sizes.js';
import { Agent, request } from './undici.js';
import { progress } from './util.js';

/** How many interleaved r1/r3 rounds (see the file comment). */
function rounds(): number {
  const n = Number(process.env.BENCH_REPLICA_ROUNDS ?? 3);
  return Number.isInteger(n) && n >= 1 ? n : 3;
}

const KiB = 1024;
const MiB = 1024 * KiB;
const PHASES: S3Phase[] = ['put', 'get'];
const REPLICAS = [1, 3] as const;

interface Job { size: number; count: number; concurrency: number }

function jobs(): Job[] {
  const sz = sizes();
  const small = Math.max(50, Math.round(sz.smallCount / 5));
  const large = Math.max(2, Math.round(sz.largeCount / 2));
  return [
    { size: 4 * KiB, count: small, concurrency: 1 },
    { size: 4 * KiB, count: small, concurrency: 32 },
    { size: sz.largeBytes, count: large, concurrency: 1 },
    { size: sz.largeBytes, count: large, concurrency: 8 },
  ];
}

const jobLabel = (j: Job): string => `${formatSize(j.size)} x ${j.count}`;

/** The primary of each set, by brick id, from the gateway's /-/ready (none on a replica-1 volume). */
async function primaries(endpoint: string): Promise<Set<string>> {
  const agent = new Agent();
  try {
    const res = await request(`${endpoint}/-/ready`, { dispatcher: agent });
    const body = (await res.body.json()) as { sets?: Array<{ primary?: string }> };
    return new Set((body.sets ?? []).flatMap((s) => (s.primary ? [s.primary] : [])));
  } finally {
    await agent.close();
  }
}

/** CPU ms per op of every process of the system: gateway first, then the bricks by id. */
function cpuSplit(sys: System, m: Measured, primary: Set<string>): Array<{ name: string; msPerOp: number }> {
  const calls = m.result.ops + m.result.errors;
  if (calls === 0) return [];
  const per = (pid: number): number => ((m.cpu.get(pid) ?? 0) * 1000) / calls;
  const bricks = [...sys.named].map(([pid, id]) => ({ name: primary.has(id) ? `${id}*` : id, msPerOp: per(pid) }))
    .sort((a, b) => a.name.localeCompare(b.name));
  return [{ name: 'gateway', msPerOp: per(sys.mainPid) }, ...bricks];
}

const fmtCpu = (v: number): string => (v < 10 ? v.toFixed(2) : v.toFixed(1));

type CpuSplit = Array<{ name: string; msPerOp: number }>;

/** One volume's pass over every job: measured[job][phase] and its CPU split. */
interface Pass {
  sys: System;
  measured: Array<Map<S3Phase, Measured<S3Phase>>>;
  cpu: Array<Map<S3Phase, CpuSplit>>;
}

/** Starts a volume of `replica`, runs every job on it, stops it. */
async function pass(ws: Workspace, list: Job[], replica: number, round: number): Promise<Pass> {
  const tag = `r${replica}-${round}`;
  const cluster = await ws.cluster(tag, true, { mds: 1, ds: 1, replica });
  const gw = await ws.gateway(cluster);
  const sys: System = { ...gw, name: `dht2 replica ${replica}`, tag };
  try {
    const primary = await primaries(sys.endpoint);
    progress(`replica ${replica} (round ${round}): gateway pid ${gw.mainPid}, bricks ${[...gw.named].map(([pid, id]) => `${id}${primary.has(id) ? '*' : ''} ${pid}`).join(', ')}`);
    await warmUp(sys, ['put', 'get', 'head', 'delete']);
    const measured: Pass['measured'] = [];
    const cpu: Pass['cpu'] = [];
    for (const [i, job] of list.entries()) {
      progress(`replica ${replica} (round ${round}): ${jobLabel(job)} at c=${job.concurrency}`);
      const out = new Map<S3Phase, Measured<S3Phase>>();
      await runS3Bench({
        endpoint: sys.endpoint, accessKey: sys.accessKey, secretKey: sys.secretKey, region: BENCH_REGION, bucket: `bench-replica-${i}-${tag}`,
        size: job.size, count: job.count, concurrency: job.concurrency, phases: PHASES, dirs: 0, prefix: 'bench/',
        progress: true, hooks: measuringHooks(sys, out),
        log: (m) => { if (/fail|error/i.test(m)) progress(`  ${sys.name}: ${m}`); },
      });
      await ws.checkAlive();
      measured.push(out);
      // The primary now: a set may have changed primary during the job (it should not).
      const now = await primaries(sys.endpoint);
      cpu.push(new Map(PHASES.map((p) => [p, cpuSplit(sys, out.get(p)!, now)])));
    }
    return { sys, measured, cpu };
  } finally {
    // The other replica count must not share the machine with this one's processes.
    await ws.stopChild(gw.child);
    await ws.stopCluster(cluster);
    // Each round's data (~3 GiB for replica 3) stays until the end (ws.close): removing thousands
    // of files here would slow the next pass's file creates. On this machine's ext4 (no journal)
    // every inode allocation skips the inodes deleted in the last seconds (fs/ext4/ialloc.c
    // recently_deleted), which perf showed as ~25 % of an MDS member's CPU while other processes
    // on the machine deleted files.
  }
}

/** The `replica` scenario: see the file comment. */
export async function replicaScenario(): Promise<Row[]> {
  const list = jobs();
  const n = rounds();
  const ws = await Workspace.create('replica');
  progress(`replica: temp dir ${ws.root}; ${list.map((j) => `${jobLabel(j)} at c=${j.concurrency}`).join(', ')}; ${n} rounds of replica ${REPLICAS.join(' then ')}`);
  // passes[round] = [replica 1's, replica 3's]
  const passes: Array<[Pass, Pass]> = [];
  try {
    for (let round = 1; round <= n; round++) {
      const r1 = await pass(ws, list, REPLICAS[0], round);
      const r3 = await pass(ws, list, REPLICAS[1], round);
      passes.push([r1, r3]);
    }
    const rows: Row[] = [];
    for (const [i, job] of list.entries()) {
      for (const phase of PHASES) {
        const scenario = `${jobLabel(job)}: ${phase.toUpperCase()} (c=${job.concurrency})`;
        const mbps = job.size >= MiB;
        const row = (p: Pass): Row => {
          const r = rowOf(scenario, p.sys, p.measured[i]!.get(phase)!, mbps);
          const split = p.cpu[i]!.get(phase)!;
          r.note = split.length ? `CPU ms/op: ${split.map((s) => `${s.name} ${fmtCpu(s.msPerOp)}`).join(', ')}` : 'no request succeeded';
          for (const s of split) r.details = { ...r.details, [`cpuMsPerOp ${s.name}`]: round3(s.msPerOp) };
          return r;
        };
        // Every round's pair, then the one whose ratio is the median (the lower middle of an even count).
        const pairs = passes.map(([p1, p3]) => {
          const base = row(p1);
          return { base, r3: withRatio(row(p3), base) };
        });
        const ratios = pairs.map((p) => p.r3.ratio ?? 0);
        const order = pairs.map((_, k) => k).sort((a, b) => ratios[a]! - ratios[b]!);
        const mid = pairs[order[Math.floor((order.length - 1) / 2)]!]!;
        const { base, r3 } = mid;
        const target = phase === 'put' ? 0.5 : 0.9;
        const all = n > 1 ? `median of ${n} rounds (${ratios.map((v) => v.toFixed(2)).join(', ')}); ` : '';
        if (r3.ratio !== undefined) r3.note = `${r3.ratio >= target ? 'meets' : 'MISSES'} r3/r1 >= ${target}, ${all}${r3.note}`;
        r3.details = { ...r3.details, roundRatios: ratios.map((v) => round3(v)).join(' ') };
        rows.push(base, r3);
      }
    }
    return rows;
  } finally {
    await ws.close();
  }
}
