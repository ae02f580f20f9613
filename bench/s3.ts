/**
 * The s3 benchmark: the S3 gateway over a real local DHT2 cluster next to the `s3rver` package
 * (a single-process S3 server on local disk) as the baseline, both started by this run on the
 * same disk (one temp dir) and driven by the same load generator (bench/s3-load.ts, the engine
 * of `dht2 bench`).
 *
 *  - dht2: runLocalCluster (2 MDS + 3 DS brick processes, sync on: every reply after fsync) in
 *    the temp dir on spare ports, and the gateway as its own process (`node dist/bin/dht2.js
 *    gateway --volfile … --log-level warn`), so its RSS and CPU are measured apart from this
 *    process (the load generator) and from the bricks.
 *  - s3rver: `node --openssl-legacy-provider node_modules/s3rver/bin/s3rver.js --silent` (its
 *    paginated listing fails on Node 20 without the flag). It checks SigV4 signatures but does
 *    not fsync: it shows what a plain single-process server on this disk does, not what
 *    durability costs.
 *
 * Work (N = 500 x BENCH_SCALE, M = 16 x BENCH_SCALE; about 3 minutes on a busy 2-core machine
 * at BENCH_SCALE=1; issue 6's 4 KiB x 5,000 is N at BENCH_SCALE=10):
 *  - 4 KiB x N: PUT, GET, HEAD, LIST (full ListObjectsV2 walks, 1000 keys a page), LIST with
 *    delimiter=/ (the 10 "directories" the keys are spread over, each walked with delimiter),
 *    DELETE, at concurrency 1, 8 and 64. A LIST phase makes min(max(c, 3), 16) full walks: the
 *    plain walks run that many at once (so the c=64 LIST walk row says c=16), the delimited ones
 *    are split by directory and keep c in flight. A listing costs the gateway O(keys) in RPCs,
 *    and 64 walks of every key would take most of the time budget.
 *  - 64 MiB x M: PUT, GET, HEAD, DELETE at concurrency 1 and 4.
 * s3rver's DELETE can fail with 500 InternalError when two deletes empty the same directory at
 * once (it rmdirs emptied parents without handling the race); such rows say `[N errors]` and
 * the leftovers are removed afterwards.
 * Each (size, concurrency) runs on dht2, then on s3rver, each in a fresh bucket; both servers
 * get one untimed warm-up round first. Every phase starts after sync(1) and a short pause.
 * While a phase runs, the VmRSS of the servers' processes is sampled every 100 ms; their CPU
 * time (/proc/<pid>/stat) and this process's are read before and after.
 *
 * Row: value = ops/s (4 KiB) or MB/s (64 MiB) over successful requests; p50/p99 latency in ms;
 * CPU ms/op = server CPU time per request (dht2: gateway + 5 bricks; s3rver: its process); peak
 * RSS = the gateway process (dht2 rows) or the s3rver process; bricks' peaks, the split of CPU,
 * the client's CPU and p90 are in the JSON details. Ratio on the dht2 row = dht2 / s3rver.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { readFileSync, readdirSync, rmSync } from 'node:fs';
import { mkdir, mkdtemp, rm } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { createInterface } from 'node:readline';
import { pino } from 'pino';
import { request } from 'undici';
import { DHT2_BIN } from '../brick/spawn.js';
import { runLocalCluster, type LocalCluster } from '../bin/local-cluster.js';
import type { Row } from './report.js';
import { runS3Bench, type PhaseResult, type S3BenchHooks, type S3Phase } from './s3-load.js';
import { RssSampler, progress, readCpuSeconds, readRssKiB, scaled, settle } from './util.js';

const KiB = 1024;
const MiB = 1024 * KiB;
const ACCESS_KEY = 'bench-access';
const SECRET_KEY = 'bench-secret-0123456789-abcdefghij';
const REGION = 'us-east-1';
const SMALL_CONCURRENCY = [1, 8, 64];
const LARGE_CONCURRENCY = [1, 4];
const SMALL_PHASES: S3Phase[] = ['put', 'get', 'head', 'list', 'list-delimiter', 'delete'];
const LARGE_PHASES: S3Phase[] = ['put', 'get', 'head', 'delete'];
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

/** A server under test: its endpoint, credentials and the processes that serve it. */
interface System {
  name: string;
  tag: string;
  endpoint: string;
  accessKey: string;
  secretKey: string;
  /** The process whose RSS is the row's peak (the gateway, or s3rver). */
  mainPid: number;
  /** Every process of the system (gateway + bricks, or s3rver); their CPU is the row's. */
  pids: number[];
  /** Extra processes reported by name in the details (the bricks). */
  named: Map<number, string>;
}

/** What one phase cost on one system. */
interface Measured {
  result: PhaseResult;
  peaks: Map<number, number>;
  startRssMiB?: number;
  cpu: Map<number, number>;
  clientCpu: number;
}

// ------------------------------------------------------------------ processes

/** A port nobody listens on now (the OS picks it). */
async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const port = (s.address() as { port: number }).port;
      s.close(() => resolve(port));
    });
  });
}

async function portFree(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = createServer();
    s.once('error', () => resolve(false));
    s.listen(port, '127.0.0.1', () => s.close(() => resolve(true)));
  });
}

/** The first of `n` consecutive free ports (the local cluster numbers its bricks from a base). */
async function freePortRange(n: number): Promise<number> {
  for (let attempt = 0; attempt < 50; attempt++) {
    const base = 20_000 + Math.floor(Math.random() * 30_000);
    let ok = true;
    for (let p = base; p < base + n && ok; p++) ok = await portFree(p);
    if (ok) return base;
  }
  throw new Error(`no ${n} consecutive free ports found`);
}

/** A child process with the tail of its output kept for error messages. */
interface Child {
  proc: ChildProcess;
  pid: number;
  exited: Promise<number | string>;
  tail(): string;
  stop(): Promise<void>;
}

function startChild(args: string[], onLine?: (line: string) => void): Child {
  const proc = spawn(process.execPath, args, { stdio: ['ignore', 'pipe', 'pipe'] });
  const lines: string[] = [];
  const keep = (line: string): void => {
    lines.push(line);
    if (lines.length > 20) lines.shift();
    onLine?.(line);
  };
  createInterface({ input: proc.stdout! }).on('line', keep);
  createInterface({ input: proc.stderr! }).on('line', keep);
  const exited = new Promise<number | string>((resolve) => proc.once('exit', (code, sig) => resolve(code ?? sig ?? -1)));
  return {
    proc, pid: proc.pid!, exited,
    tail: () => lines.join('\n'),
    async stop() {
      if (proc.exitCode === null && proc.signalCode === null) proc.kill('SIGTERM');
      const t = setTimeout(() => proc.kill('SIGKILL'), 15_000);
      await exited;
      clearTimeout(t);
    },
  };
}

/** Resolves once `probe` succeeds; fails when the child exits first or after `timeoutMs`. */
async function waitReady(what: string, child: Child, probe: () => Promise<boolean>, timeoutMs = 60_000): Promise<void> {
  let gone: number | string | undefined;
  void child.exited.then((c) => { gone = c; });
  const t0 = Date.now();
  for (;;) {
    if (gone !== undefined) throw new Error(`${what} exited (${gone}) before it was ready:\n${child.tail()}`);
    if (await probe().catch(() => false)) return;
    if (Date.now() - t0 > timeoutMs) throw new Error(`${what} not ready after ${timeoutMs / 1000} s:\n${child.tail()}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

/** Pids of this process's children whose command line contains `word` (the bricks of runLocalCluster). */
function childPids(word: string): number[] {
  const out: number[] = [];
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    try {
      const stat = readFileSync(`/proc/${name}/stat`, 'utf8');
      const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
      if (ppid !== process.pid) continue;
      const cmd = readFileSync(`/proc/${name}/cmdline`, 'utf8').split('\0');
      if (cmd.includes(word)) out.push(Number(name));
    } catch {
      /* gone meanwhile */
    }
  }
  return out;
}

function s3rverBin(): string {
  const require = createRequire(import.meta.url);
  return join(dirname(require.resolve('s3rver/package.json')), 'bin', 's3rver.js');
}

// ------------------------------------------------------------------ measuring

/** Hooks for runS3Bench that settle the disk before each phase and measure the system's processes during it. */
function measuringHooks(sys: System, out: Map<S3Phase, Measured>): S3BenchHooks {
  let sampler: RssSampler | undefined;
  let cpu0 = new Map<number, number>();
  let client0 = process.cpuUsage();
  let startRss: number | undefined;
  return {
    async beforePhase() {
      await settle();
      startRss = readRssKiB(sys.mainPid);
      sampler = new RssSampler(sys.pids).start();
      cpu0 = new Map(sys.pids.map((p) => [p, readCpuSeconds(p) ?? 0]));
      client0 = process.cpuUsage();
    },
    afterPhase(phase, result) {
      const client = process.cpuUsage(client0);
      const peaks = sampler!.stop();
      const cpu = new Map(sys.pids.map((p) => [p, (readCpuSeconds(p) ?? 0) - (cpu0.get(p) ?? 0)]));
      out.set(phase, {
        result, peaks, cpu, clientCpu: (client.user + client.system) / 1e6,
        ...(startRss !== undefined ? { startRssMiB: startRss / 1024 } : {}),
      });
      const r = result;
      progress(`  ${sys.name} ${phase}: ${r.opsPerSec.toFixed(1)} ops/s${r.bytes ? `, ${r.mbPerSec.toFixed(1)} MB/s` : ''}, ` +
        `p50 ${r.latencyMs.p50.toFixed(1)} ms, p99 ${r.latencyMs.p99.toFixed(1)} ms${r.errors ? `, ${r.errors} ERRORS: ${r.errorSamples[0]}` : ''}`);
    },
  };
}

const round1 = (v: number): number => Math.round(v * 10) / 10;
const round3 = (v: number): number => Math.round(v * 1000) / 1000;

function rowOf(scenario: string, sys: System, m: Measured, large: boolean): Row {
  const r = m.result;
  const serverCpu = [...m.cpu.values()].reduce((a, b) => a + b, 0);
  const calls = r.ops + r.errors;
  const details: Record<string, number | string | boolean> = {
    ops: r.ops, errors: r.errors, seconds: round3(r.seconds), bytes: r.bytes,
    opsPerSec: round1(r.opsPerSec), mbPerSec: round1(r.mbPerSec),
    p50Ms: round3(r.latencyMs.p50), p90Ms: round3(r.latencyMs.p90), p99Ms: round3(r.latencyMs.p99), maxMs: round3(r.latencyMs.max),
    serverCpuSeconds: round3(serverCpu), clientCpuMsPerOp: calls ? round3((m.clientCpu * 1000) / calls) : 0,
  };
  if (r.listed) {
    details.keysListed = r.listed.keys;
    details.prefixesListed = r.listed.prefixes;
    details.keysPerSec = round1(r.listed.keysPerSec);
  }
  if (r.errorSamples.length) details.firstError = r.errorSamples[0]!;
  if (m.startRssMiB !== undefined) details[`${sys.tag}RssAtStartMiB`] = round1(m.startRssMiB);
  let bricksCpu = 0;
  let maxBrick: number | undefined;
  for (const [pid, name] of sys.named) {
    const p = m.peaks.get(pid);
    if (p !== undefined) {
      details[`${name}PeakRssMiB`] = round1(p);
      maxBrick = Math.max(maxBrick ?? 0, p);
    }
    bricksCpu += m.cpu.get(pid) ?? 0;
  }
  if (maxBrick !== undefined) details.maxBrickPeakRssMiB = round1(maxBrick);
  if (sys.named.size && calls) {
    details.gatewayCpuMsPerOp = round3(((m.cpu.get(sys.mainPid) ?? 0) * 1000) / calls);
    details.bricksCpuMsPerOp = round3((bricksCpu * 1000) / calls);
  }
  const peak = m.peaks.get(sys.mainPid);
  return {
    scenario,
    system: r.errors ? `${sys.name} [${r.errors} errors]` : sys.name,
    value: large && r.bytes > 0 ? r.mbPerSec : r.opsPerSec,
    unit: large && r.bytes > 0 ? 'MB/s' : 'ops/s',
    p50Ms: r.latencyMs.p50,
    p99Ms: r.latencyMs.p99,
    ...(calls ? { cpuMsPerOp: (serverCpu * 1000) / calls } : {}),
    ...(peak !== undefined ? { peakRssMiB: round1(peak) } : {}),
    details,
  };
}

// ------------------------------------------------------------------ scenario

interface Job {
  size: number;
  count: number;
  concurrency: number;
  phases: S3Phase[];
  label: string;
  large: boolean;
}

async function runJob(sys: System, job: Job, bucket: string): Promise<Map<S3Phase, Measured>> {
  const out = new Map<S3Phase, Measured>();
  await runS3Bench({
    endpoint: sys.endpoint, accessKey: sys.accessKey, secretKey: sys.secretKey, region: REGION, bucket,
    size: job.size, count: job.count, concurrency: job.concurrency, phases: job.phases, dirs: DIRS,
    listMaxKeys: LIST_MAX_KEYS, listWalks: listWalks(job.concurrency), prefix: 'bench/', progress: true, hooks: measuringHooks(sys, out),
    log: (m) => { if (/fail|error|removed \d+ objects/i.test(m)) progress(`  ${sys.name}: ${m}`); },
  });
  return out;
}

/** The `s3` scenario: see the file comment. */
export async function s3Scenario(): Promise<Row[]> {
  const smallCount = scaled(500, 50);
  const largeCount = scaled(16, 2);
  const jobs: Job[] = [
    ...SMALL_CONCURRENCY.map((c) => ({ size: 4 * KiB, count: smallCount, concurrency: c, phases: SMALL_PHASES, label: `4 KiB x ${smallCount}`, large: false })),
    ...LARGE_CONCURRENCY.map((c) => ({ size: 64 * MiB, count: largeCount, concurrency: c, phases: LARGE_PHASES, label: `64 MiB x ${largeCount}`, large: true })),
  ];
  const root = await mkdtemp(join(tmpdir(), 'dht2-bench-s3-'));
  const children: Child[] = [];
  let cluster: LocalCluster | undefined;
  const onSigint = (): void => {
    for (const c of children) c.proc.kill('SIGTERM');
    rmSync(root, { recursive: true, force: true, maxRetries: 3 });
    process.exit(130);
  };
  process.once('SIGINT', onSigint);
  progress(`s3: temp dir ${root}; 4 KiB x ${smallCount} at c=${SMALL_CONCURRENCY.join(',')}, 64 MiB x ${largeCount} at c=${LARGE_CONCURRENCY.join(',')}`);
  try {
    // --- dht2: local cluster (bricks, sync on) + the gateway as its own process
    const brickPortBase = await freePortRange(5);
    const logger = pino({ name: 'bench-s3', level: 'warn' }, pino.destination(2));
    cluster = await runLocalCluster({
      dataDir: join(root, 'dht2'), mdsCount: 2, dsCount: 3, brickPortBase, host: '127.0.0.1', sync: true, logger,
    });
    const brickPids = childPids('brick');
    const gwPort = await freePort();
    const gw = startChild([DHT2_BIN, 'gateway', '--volfile', cluster.volfile, '--port', String(gwPort), '--host', '127.0.0.1',
      '--region', REGION, '--access-key', ACCESS_KEY, '--secret-key', SECRET_KEY, '--log-level', 'warn']);
    children.push(gw);
    const gwUrl = `http://127.0.0.1:${gwPort}`;
    await waitReady('gateway', gw, async () => {
      const res = await request(`${gwUrl}/-/ready`);
      await res.body.dump();
      return res.statusCode === 200;
    });
    // --- s3rver on the same disk
    const s3Dir = join(root, 's3rver');
    await mkdir(s3Dir);
    const s3Port = await freePort();
    let s3Listening = false;
    const s3 = startChild(['--openssl-legacy-provider', s3rverBin(), '-d', s3Dir, '-a', '127.0.0.1', '-p', String(s3Port), '--silent'],
      (line) => { if (line.includes('S3rver listening')) s3Listening = true; });
    children.push(s3);
    await waitReady('s3rver', s3, async () => s3Listening);
    progress(`s3: gateway ${gwUrl} (pid ${gw.pid}) over bricks ${brickPids.join(',')}; s3rver http://127.0.0.1:${s3Port} (pid ${s3.pid})`);

    const names = new Map<number, string>();
    const vf = cluster.volume;
    for (const pid of brickPids) {
      const cmd = readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0');
      const id = cmd[cmd.indexOf('--brick-id') + 1];
      names.set(pid, id && [...vf.mds, ...vf.ds].some((b) => b.id === id) ? id : `brick${pid}`);
    }
    const systems: System[] = [
      { name: 'dht2 gateway', tag: 'gateway', endpoint: gwUrl, accessKey: ACCESS_KEY, secretKey: SECRET_KEY, mainPid: gw.pid, pids: [gw.pid, ...brickPids], named: names },
      { name: 's3rver', tag: 's3rver', endpoint: `http://127.0.0.1:${s3Port}`, accessKey: 'S3RVER', secretKey: 'S3RVER', mainPid: s3.pid, pids: [s3.pid], named: new Map() },
    ];

    // --- warm-up (untimed): JIT, connections, first directories
    for (const sys of systems) {
      progress(`s3: warm-up on ${sys.name}`);
      await runS3Bench({
        endpoint: sys.endpoint, accessKey: sys.accessKey, secretKey: sys.secretKey, region: REGION, bucket: `warmup-${sys.tag}`,
        size: 4 * KiB, count: 200, concurrency: 8, phases: SMALL_PHASES, dirs: DIRS, prefix: 'bench/', listWalks: 2,
      });
    }

    const rows: Row[] = [];
    for (const job of jobs) {
      const measured = new Map<string, Map<S3Phase, Measured>>();
      for (const sys of systems) {
        progress(`s3: ${sys.name}, ${job.label} at c=${job.concurrency}`);
        const bucket = `bench-${job.large ? 'large' : 'small'}-c${job.concurrency}-${sys.tag}`;
        measured.set(sys.tag, await runJob(sys, job, bucket));
        const gone = await Promise.race([...children.map((c) => c.exited), new Promise((r) => setTimeout(() => r(undefined), 0))]);
        if (gone !== undefined) throw new Error(`a server process exited (${String(gone)}) during the run`);
      }
      for (const phase of job.phases) {
        const inFlight = phase === 'list' ? Math.min(job.concurrency, listWalks(job.concurrency)) : job.concurrency;
        const scenario = `${job.label}: ${PHASE_LABEL[phase]} (c=${inFlight})`;
        const [d, b] = systems.map((s) => measured.get(s.tag)!.get(phase));
        if (!d || !b) continue;
        const dr = rowOf(scenario, systems[0]!, d, job.large);
        const br = rowOf(scenario, systems[1]!, b, job.large);
        rows.push({ ...dr, ...(br.value > 0 ? { ratio: dr.value / br.value } : {}) }, br);
      }
    }
    return rows;
  } finally {
    process.off('SIGINT', onSigint);
    await Promise.allSettled(children.map((c) => c.stop()));
    await cluster?.stop().catch(() => undefined);
    await rm(root, { recursive: true, force: true, maxRetries: 3 });
  }
}
