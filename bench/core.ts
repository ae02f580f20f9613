/**
 * The core benchmark: a real volume (2 MDS + 3 DS brick processes, like test/helpers/cluster.ts)
 * driven through the Volume API, with a CountingFops layer on every brick client so each phase
 * also reports how many brick RPCs one operation costs. Next to it, the same work on the local
 * filesystem in a temp dir, in the same sync mode and at the same concurrency.
 *
 * Phases, in one directory `/bench` of the volume, at concurrency 16 (N = 2000 × BENCH_SCALE):
 *  - create:  N empty files by GFID (`createAt(dirGfid, name)`); local: open('wx') [+ fsync file + dir].
 *  - stat:    each by path (`stat('/bench/name')`); local: stat.
 *  - readdir: a full walk by pages of 1000 with plus (`readdirGfid(dirGfid, { after, plus })`),
 *             median of 3 walks, reported as entries/s; local: readdir(withFileTypes) + stat of
 *             each entry at concurrency 16.
 *  - unlink:  each by path (`unlink('/bench/name')`); local: unlink [+ fsync dir].
 *  - PUT:     N files of 4 KiB (`writeFileAt(dirGfid, name, Readable.from([buf]))`);
 *             local: open('wx') + write [+ fsync file + dir].
 *  - GET:     each read back whole by path (`openRead('/bench/name')`); local: readFile.
 * Sync mode: bricks started with the default (sync) and with --no-sync; the local baseline
 * fsyncs (+fsync) or not to match.
 *
 * Every phase starts after sync(1) and a short pause, samples the VmRSS of the five bricks every
 * 100 ms (the row shows the highest, details have each), counts FOPs on the client side and
 * records the CPU time of the bricks and of this process (details: CPU ms per operation).
 */
import { randomBytes } from 'node:crypto';
import { rmSync } from 'node:fs';
import { mkdir, mkdtemp, open, readFile, readdir, rm, stat, unlink } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { spawnBrick, type BrickProcess } from '../brick/spawn.js';
import { BrickClient, CountingFops, Volume } from '../dht2-core/index.js';
import type { Row } from './report.js';
import { fsyncPath, measured, median, pool, progress, readCpuSeconds, scaled } from './util.js';

const SECRET = 'bench-core-secret-0123456789-abcdefghij';
const CONCURRENCY = 16;
const PAGE = 1000;
const SMALL_FILE = 4096;
const READDIR_REPS = 3;
const DIR = 'bench';
const BASE_N = 2000;

const volumeSystem = (sync: boolean): string => (sync ? 'volume sync' : 'volume no-sync');
const localSystem = (sync: boolean): string => (sync ? 'local fs +fsync' : 'local fs');
const emptyName = (i: number): string => `e${String(i).padStart(7, '0')}`;
const dataName = (i: number): string => `p${String(i).padStart(7, '0')}`;

// ------------------------------------------------------------------ cluster

/** 2 MDS + 3 DS brick processes and a Volume over CountingFops-wrapped clients. */
interface CoreCluster {
  bricks: Array<{ id: string; proc: BrickProcess; count: CountingFops }>;
  volume: Volume;
  pids: number[];
  /** Zeroes every brick's counters. */
  resetCounts(): void;
  /** FOPs since the last reset: total, by FOP name, by brick. */
  counts(): { total: number; byFop: Map<string, number>; byBrick: Map<string, number> };
  stop(): Promise<void>;
}

async function startCluster(root: string, tag: string, sync: boolean, mdsCount = 2, dsCount = 3): Promise<CoreCluster> {
  const specs = [
    ...Array.from({ length: mdsCount }, (_, i) => ({ id: `mds${i}`, role: 'mds' as const })),
    ...Array.from({ length: dsCount }, (_, i) => ({ id: `ds${i}`, role: 'ds' as const })),
  ];
  const started = await Promise.allSettled(specs.map((s) => spawnBrick({
    dir: join(root, `${tag}-${s.id}`), role: s.role, secret: SECRET, volumeId: 'bench-core', sync, args: ['--brick-id', s.id],
  })));
  const failed = started.find((r): r is PromiseRejectedResult => r.status === 'rejected');
  if (failed) {
    await Promise.allSettled(started.map((r) => (r.status === 'fulfilled' ? r.value.stop() : undefined)));
    throw failed.reason;
  }
  const bricks = started.map((r, i) => {
    const proc = (r as PromiseFulfilledResult<BrickProcess>).value;
    return { id: specs[i]!.id, proc, count: new CountingFops(new BrickClient({ url: proc.url, secret: SECRET })) };
  });
  const volume = new Volume(bricks.slice(0, mdsCount).map((b) => b.count), bricks.slice(mdsCount).map((b) => b.count));
  return {
    bricks, volume, pids: bricks.map((b) => b.proc.pid),
    resetCounts() {
      for (const b of bricks) b.count.reset();
    },
    counts() {
      const byFop = new Map<string, number>();
      const byBrick = new Map<string, number>();
      let total = 0;
      for (const b of bricks) {
        byBrick.set(b.id, b.count.total);
        total += b.count.total;
        for (const [fop, n] of b.count.counts) byFop.set(fop, (byFop.get(fop) ?? 0) + n);
      }
      return { total, byFop, byBrick };
    },
    async stop() {
      await volume.close().catch(() => undefined);
      await Promise.allSettled(bricks.map((b) => b.proc.stop()));
    },
  };
}

/**
 * A little of every phase's work in a scratch directory before timing anything: HTTP/2
 * sessions to all five bricks, JIT on both sides, the root's entries.
 */
async function warmUp(c: CoreCluster): Promise<void> {
  const v = c.volume;
  const d = await v.mkdir('/warmup');
  const buf = randomBytes(SMALL_FILE);
  await pool(100, CONCURRENCY, async (i) => { await v.createAt(d.gfid, emptyName(i)); });
  await pool(100, CONCURRENCY, async (i) => { await v.stat(`/warmup/${emptyName(i)}`); });
  await v.readdirGfid(d.gfid, { plus: true });
  await pool(100, CONCURRENCY, async (i) => { await v.unlink(`/warmup/${emptyName(i)}`); });
  await pool(60, CONCURRENCY, async (i) => { await v.writeFileAt(d.gfid, dataName(i), Readable.from([buf])); });
  await pool(60, CONCURRENCY, async (i) => {
    const r = await v.openRead(`/warmup/${dataName(i)}`);
    await readAll(r.body);
  });
  await pool(60, CONCURRENCY, async (i) => { await v.unlink(`/warmup/${dataName(i)}`); });
  await v.rmdir('/warmup');
}

async function readAll(stream: AsyncIterable<Buffer | Uint8Array>): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const c of stream) chunks.push(Buffer.isBuffer(c) ? c : Buffer.from(c));
  return Buffer.concat(chunks);
}

// ------------------------------------------------------------------ phases

type Phase = 'create' | 'stat' | 'readdir' | 'unlink' | 'put' | 'get';
const PHASES: Phase[] = ['create', 'stat', 'readdir', 'unlink', 'put', 'get'];

function scenarioOf(phase: Phase, n: number): string {
  switch (phase) {
    case 'create': return `create ${n} empty files in one dir (c=${CONCURRENCY})`;
    case 'stat': return `stat ${n} by path /${DIR}/name (c=${CONCURRENCY})`;
    case 'readdir': return `readdir plus walk of ${n} (pages of ${PAGE}; entries/s)`;
    case 'unlink': return `unlink ${n} empty files by path (c=${CONCURRENCY})`;
    case 'put': return `PUT ${n} x 4 KiB (c=${CONCURRENCY})`;
    case 'get': return `GET ${n} x 4 KiB by path (c=${CONCURRENCY})`;
  }
}

/** What a phase cost on the volume: time, RSS peaks per pid (MiB), FOP counts. */
interface VolumeRun {
  seconds: number;
  peaks: Map<number, number>;
  fops: number;
  byFop: Map<string, number>;
  byBrick: Map<string, number>;
  /** Runs the FOP counts were summed over (readdir: several walks). */
  reps: number;
  /** CPU seconds used during the phase by all bricks together, and by this (client) process. */
  brickCpu: number;
  clientCpu: number;
}

function bricksCpu(c: CoreCluster): number {
  return c.pids.reduce((s, pid) => s + (readCpuSeconds(pid) ?? 0), 0);
}

async function volumePhase(c: CoreCluster, fn: () => Promise<void>): Promise<VolumeRun> {
  c.resetCounts();
  let cpu0 = 0;
  let client0 = process.cpuUsage();
  const m = await measured(c.pids, () => {
    cpu0 = bricksCpu(c);
    client0 = process.cpuUsage();
    return fn();
  });
  const brickCpu = bricksCpu(c) - cpu0;
  const client = process.cpuUsage(client0);
  const k = c.counts();
  return {
    seconds: m.seconds, peaks: m.peaks, fops: k.total, byFop: k.byFop, byBrick: k.byBrick, reps: 1,
    brickCpu, clientCpu: (client.user + client.system) / 1e6,
  };
}

/** Walks `/bench` by pages with plus; checks order, count and that every entry has attributes. */
async function walkVolume(v: Volume, dirGfid: string, n: number): Promise<void> {
  let after: string | undefined;
  let entries = 0;
  for (let pages = 1; ; pages++) {
    const page = await v.readdirGfid(dirGfid, after === undefined ? { limit: PAGE, plus: true } : { after, limit: PAGE, plus: true });
    for (const e of page.entries) {
      if (after !== undefined && !(after < e.name)) throw new Error(`readdir out of order: ${e.name} after ${after}`);
      if (!e.attrs || e.attrs.type !== 'file') throw new Error(`readdir plus: ${e.name} has no file attributes`);
      after = e.name;
    }
    entries += page.entries.length;
    if (page.eof) break;
    if (page.entries.length === 0) throw new Error('readdir: empty page without eof');
    if (pages > n / PAGE + 10) throw new Error('readdir: walk does not end');
  }
  if (entries !== n) throw new Error(`readdir walk saw ${entries} entries, expected ${n}`);
}

async function volumePhases(c: CoreCluster, n: number): Promise<Map<Phase, VolumeRun>> {
  const v = c.volume;
  const dir = await v.mkdir(`/${DIR}`);
  const buf = randomBytes(SMALL_FILE);
  const out = new Map<Phase, VolumeRun>();

  out.set('create', await volumePhase(c, () => pool(n, CONCURRENCY, async (i) => {
    const a = await v.createAt(dir.gfid, emptyName(i));
    if (a.type !== 'file') throw new Error(`createAt ${emptyName(i)} answered type ${a.type}`);
  })));
  out.set('stat', await volumePhase(c, () => pool(n, CONCURRENCY, async (i) => {
    const a = await v.stat(`/${DIR}/${emptyName(i)}`);
    if (a.type !== 'file' || a.size !== 0) throw new Error(`stat ${emptyName(i)} answered ${a.type} of ${a.size} bytes`);
  })));

  // Median of READDIR_REPS walks; FOP counts are summed over all of them.
  const walks: VolumeRun[] = [];
  for (let rep = 0; rep < READDIR_REPS; rep++) walks.push(await volumePhase(c, () => walkVolume(v, dir.gfid, n)));
  const peaks = new Map<number, number>();
  const byFop = new Map<string, number>();
  const byBrick = new Map<string, number>();
  for (const w of walks) {
    for (const [pid, p] of w.peaks) peaks.set(pid, Math.max(p, peaks.get(pid) ?? 0));
    for (const [f, k] of w.byFop) byFop.set(f, (byFop.get(f) ?? 0) + k);
    for (const [b, k] of w.byBrick) byBrick.set(b, (byBrick.get(b) ?? 0) + k);
  }
  out.set('readdir', {
    seconds: median(walks.map((w) => w.seconds)), peaks, byFop, byBrick, reps: walks.length,
    fops: walks.reduce((s, w) => s + w.fops, 0),
    brickCpu: walks.reduce((s, w) => s + w.brickCpu, 0),
    clientCpu: walks.reduce((s, w) => s + w.clientCpu, 0),
  });

  out.set('unlink', await volumePhase(c, () => pool(n, CONCURRENCY, async (i) => {
    await v.unlink(`/${DIR}/${emptyName(i)}`);
  })));
  out.set('put', await volumePhase(c, () => pool(n, CONCURRENCY, async (i) => {
    const a = await v.writeFileAt(dir.gfid, dataName(i), Readable.from([buf]));
    if (a.size !== SMALL_FILE) throw new Error(`PUT ${dataName(i)} answered size ${a.size}`);
  })));
  out.set('get', await volumePhase(c, () => pool(n, CONCURRENCY, async (i) => {
    const r = await v.openRead(`/${DIR}/${dataName(i)}`);
    const got = await readAll(r.body);
    if (!got.equals(buf)) throw new Error(`GET ${dataName(i)} gave ${got.length} bytes that differ from the PUT`);
  })));
  return out;
}

async function localPhases(dir: string, n: number, sync: boolean): Promise<Map<Phase, number>> {
  await mkdir(dir, { recursive: true });
  const buf = randomBytes(SMALL_FILE);
  const out = new Map<Phase, number>();
  const path = (name: string): string => join(dir, name);
  const seconds = async (fn: () => Promise<void>): Promise<number> => (await measured([], fn)).seconds;
  try {
    out.set('create', await seconds(() => pool(n, CONCURRENCY, async (i) => {
      const fh = await open(path(emptyName(i)), 'wx', 0o600);
      try {
        if (sync) await fh.sync();
      } finally {
        await fh.close();
      }
      if (sync) await fsyncPath(dir);
    })));
    out.set('stat', await seconds(() => pool(n, CONCURRENCY, async (i) => {
      const s = await stat(path(emptyName(i)));
      if (!s.isFile() || s.size !== 0) throw new Error(`${emptyName(i)} is not an empty file`);
    })));
    const walks: number[] = [];
    for (let rep = 0; rep < READDIR_REPS; rep++) {
      walks.push(await seconds(async () => {
        const entries = await readdir(dir, { withFileTypes: true });
        if (entries.length !== n) throw new Error(`local readdir saw ${entries.length} entries, expected ${n}`);
        await pool(entries.length, CONCURRENCY, async (i) => {
          const s = await stat(path(entries[i]!.name));
          if (!s.isFile()) throw new Error(`${entries[i]!.name} is not a file`);
        });
      }));
    }
    out.set('readdir', median(walks));
    out.set('unlink', await seconds(() => pool(n, CONCURRENCY, async (i) => {
      await unlink(path(emptyName(i)));
      if (sync) await fsyncPath(dir);
    })));
    out.set('put', await seconds(() => pool(n, CONCURRENCY, async (i) => {
      const fh = await open(path(dataName(i)), 'wx', 0o600);
      try {
        await fh.writeFile(buf);
        if (sync) await fh.sync();
      } finally {
        await fh.close();
      }
      if (sync) await fsyncPath(dir);
    })));
    out.set('get', await seconds(() => pool(n, CONCURRENCY, async (i) => {
      const got = await readFile(path(dataName(i)));
      if (!got.equals(buf)) throw new Error(`local read of ${dataName(i)} differs`);
    })));
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
  return out;
}

const fmtCounts = (m: Map<string, number>, reps: number, n: number): string =>
  [...m].sort((a, b) => b[1] - a[1]).map(([k, v]) => `${k}=${+(v / reps / n).toFixed(4)}`).join(' ');

async function runMode(rows: Row[], root: string, n: number, sync: boolean): Promise<void> {
  const tag = sync ? 'sync' : 'nosync';
  progress(`${volumeSystem(sync)}: starting 2 MDS + 3 DS bricks`);
  const c = await startCluster(root, tag, sync);
  let vol: Map<Phase, VolumeRun>;
  try {
    await warmUp(c);
    progress(`${volumeSystem(sync)}: ${n} creates, stats, readdir walks, unlinks, 4 KiB PUTs and GETs at concurrency ${CONCURRENCY}`);
    vol = await volumePhases(c, n);
  } finally {
    await c.stop();
    await Promise.all(c.bricks.map((b) => rm(join(root, `${tag}-${b.id}`), { recursive: true, force: true, maxRetries: 3 })));
  }
  progress(`${localSystem(sync)}: the same work in a local directory`);
  const local = await localPhases(join(root, `local-${tag}`), n, sync);

  for (const phase of PHASES) {
    const scenario = scenarioOf(phase, n);
    const r = vol.get(phase)!;
    const ls = local.get(phase)!;
    const rpcsPerOp = r.fops / r.reps / n;
    const details: Record<string, number | string | boolean> = {
      ops: n, seconds: r.seconds, sync, rpcs: r.fops, reps: r.reps,
      rpcsPerOpByFop: fmtCounts(r.byFop, r.reps, n),
      rpcsByBrick: [...r.byBrick].map(([b, k]) => `${b}=${k}`).join(' '),
      brickCpuMsPerOp: +(r.brickCpu * 1000 / r.reps / n).toFixed(3),
      clientCpuMsPerOp: +(r.clientCpu * 1000 / r.reps / n).toFixed(3),
    };
    let peak: number | undefined;
    for (const b of c.bricks) {
      const p = r.peaks.get(b.proc.pid);
      if (p === undefined) continue;
      details[`${b.id}PeakRssMiB`] = Math.round(p * 10) / 10;
      peak = Math.max(peak ?? 0, p);
    }
    const value = n / r.seconds;
    const localValue = n / ls;
    rows.push({
      scenario, system: volumeSystem(sync), value, unit: 'ops/s', ratio: value / localValue, rpcsPerOp,
      ...(peak !== undefined ? { peakRssMiB: Math.round(peak * 10) / 10 } : {}), details,
    });
    rows.push({ scenario, system: localSystem(sync), value: localValue, unit: 'ops/s', details: { ops: n, seconds: ls, sync } });
    progress(`  ${phase}: volume ${value.toFixed(0)} ops/s, ${rpcsPerOp.toFixed(3)} RPCs/op (${details.rpcsPerOpByFop}), ` +
      `CPU ms/op bricks ${details.brickCpuMsPerOp} client ${details.clientCpuMsPerOp}; local ${localValue.toFixed(0)} ops/s`);
  }
}

/** Sorts rows so each scenario's four rows (volume/local × sync/no-sync) sit together. */
function grouped(rows: Row[]): Row[] {
  const by = new Map<string, Row[]>();
  for (const r of rows) by.set(r.scenario, [...(by.get(r.scenario) ?? []), r]);
  return [...by.values()].flat();
}

/** The `core` scenario: see the file comment. */
export async function coreScenario(): Promise<Row[]> {
  const n = scaled(BASE_N, 16);
  const root = await mkdtemp(join(tmpdir(), 'dht2-bench-core-'));
  // On Ctrl-C the bricks get SIGINT from the terminal too; only the temp dir needs removing.
  const onSigint = (): void => {
    rmSync(root, { recursive: true, force: true, maxRetries: 3 });
    process.exit(130);
  };
  process.once('SIGINT', onSigint);
  progress(`core: temp dir ${root}; N = ${n} files per phase`);
  const rows: Row[] = [];
  try {
    for (const sync of [true, false]) await runMode(rows, root, n, sync);
  } finally {
    process.off('SIGINT', onSigint);
    await rm(root, { recursive: true, force: true, maxRetries: 3 });
  }
  return grouped(rows);
}
