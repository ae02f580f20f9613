/**
 * Result rows of the benchmarks and their two outputs: one aligned plain-text table on stdout
 * and a JSON file under .bench/ (git-ignored) for later comparison.
 */
import { mkdir, writeFile } from 'node:fs/promises';
import { cpus, totalmem } from 'node:os';
import { dirname, join } from 'node:path';

/** Unit of a row's value: ops/s and MB/s (10^6 bytes/s) are higher-is-better; ms is lower-is-better. */
export type Unit = 'ops/s' | 'MB/s' | 'ms';

/** One measurement of one system in one scenario. */
export interface Row {
  /** What was measured, e.g. `small files: create 2000 (c=16)`. */
  scenario: string;
  /** Who did the work, e.g. `brick sync`, `brick no-sync`, `local fs +fsync`, `local fs`. */
  system: string;
  value: number;
  unit: Unit;
  /** This row's value divided by its baseline's (same unit): the local filesystem (brick, core) or s3rver (s3); absent on baseline rows. */
  ratio?: number;
  /** Peak resident set size, MiB (sampled every 100 ms): the brick serving the scenario (brick, core), the gateway or s3rver process (s3). */
  peakRssMiB?: number;
  /** Brick RPCs per operation (FOPs counted on the client side over all bricks / operations). */
  rpcsPerOp?: number;
  /** Latency percentiles of the row's requests, ms (s3 rows). */
  p50Ms?: number;
  p99Ms?: number;
  /** CPU time of the server processes per request, ms (s3 rows: gateway + bricks, or s3rver). */
  cpuMsPerOp?: number;
  /** Raw numbers behind the row (counts, bytes, seconds, per-brick RSS peaks). */
  details?: Record<string, number | string | boolean>;
  /** A short remark printed in the table's last column (another ratio, an RSS rise and its flag). */
  note?: string;
}

/** The peak RSS of one server process over a whole scenario. */
export interface ProcessPeak {
  /** `gateway`, `brick mds0`, `brick sync-ds (no-sync)`, `s3rver`, … (bench/proc-watch.ts). */
  process: string;
  pid: number;
  /** VmHWM: the highest RSS the process ever had, MiB. */
  peakRssMiB: number;
}

/** A scenario's rows, labelled with the scenario (suite) name they came from. */
export interface SuiteRows {
  suite: string;
  rows: Row[];
  /** Wall time of the scenario, seconds. */
  seconds?: number;
  /** Every server process the scenario started, with its peak RSS. */
  processes?: ProcessPeak[];
}

function fmtValue(v: number, unit: Unit): string {
  if (!Number.isFinite(v)) return String(v);
  if (unit === 'ms') return v < 10 ? v.toFixed(2) : v < 100 ? v.toFixed(1) : v.toFixed(0);
  if (unit === 'MB/s') return v < 100 ? v.toFixed(1) : v.toFixed(0);
  return v < 100 ? v.toFixed(1) : Math.round(v).toString();
}

function fmtRatio(r: number | undefined): string {
  if (r === undefined) return '';
  if (!Number.isFinite(r)) return String(r);
  return `${r < 0.1 ? r.toFixed(3) : r < 10 ? r.toFixed(2) : r.toFixed(1)}x`;
}

function fmtRpcs(n: number | undefined): string {
  if (n === undefined) return '';
  if (!Number.isFinite(n)) return String(n);
  return n < 0.1 ? n.toFixed(4) : n.toFixed(2);
}

function fmtOpt(n: number | undefined, fmt: (v: number) => string): string {
  if (n === undefined) return '';
  return Number.isFinite(n) ? fmt(n) : String(n);
}

const fmtMs = (v: number): string => (v < 10 ? v.toFixed(2) : v < 100 ? v.toFixed(1) : v.toFixed(0));

/**
 * The rows as one plain-text table with aligned columns (text left, numbers right). The
 * RPCs/op, latency and CPU columns appear only when some row has those numbers.
 */
export function formatTable(suites: SuiteRows[]): string {
  const has = (f: (r: Row) => unknown): boolean => suites.some((s) => s.rows.some((r) => f(r) !== undefined));
  const withRpcs = has((r) => r.rpcsPerOp);
  const withLatency = has((r) => r.p50Ms ?? r.p99Ms);
  const withCpu = has((r) => r.cpuMsPerOp);
  const withNote = has((r) => r.note);
  const header = ['suite', 'scenario', 'system', 'result', 'unit', 'vs base',
    ...(withRpcs ? ['RPCs/op'] : []), ...(withLatency ? ['p50 ms', 'p99 ms'] : []), ...(withCpu ? ['CPU ms/op'] : []), 'peak RSS MiB',
    ...(withNote ? ['note'] : [])];
  const right = header.map((h, i) => i >= 3 && i !== 4 && h !== 'note');
  const body: string[][] = [];
  for (const s of suites) {
    for (const r of s.rows) {
      body.push([
        s.suite, r.scenario, r.system, fmtValue(r.value, r.unit), r.unit, fmtRatio(r.ratio),
        ...(withRpcs ? [fmtRpcs(r.rpcsPerOp)] : []),
        ...(withLatency ? [fmtOpt(r.p50Ms, fmtMs), fmtOpt(r.p99Ms, fmtMs)] : []),
        ...(withCpu ? [fmtOpt(r.cpuMsPerOp, (v) => (v < 10 ? v.toFixed(2) : v.toFixed(1)))] : []),
        r.peakRssMiB === undefined ? '' : r.peakRssMiB.toFixed(1),
        ...(withNote ? [r.note ?? ''] : []),
      ]);
    }
  }
  const widths = header.map((h, i) => Math.max(h.length, ...body.map((row) => row[i]!.length)));
  const line = (cells: string[]): string =>
    cells.map((c, i) => (right[i] ? c.padStart(widths[i]!) : c.padEnd(widths[i]!))).join('  ').trimEnd();
  const rule = widths.map((w) => '-'.repeat(w)).join('  ');
  const out = [line(header), rule];
  let prevScenario: string | undefined;
  for (const row of body) {
    const key = `${row[0]}\0${row[1]}`;
    if (prevScenario !== undefined && key !== prevScenario) out.push('');
    prevScenario = key;
    out.push(line(row));
  }
  return out.join('\n');
}

/**
 * The peak RSS (VmHWM) of every server process, one line per scenario, e.g.
 * `large   gateway 187.2, brick mds0 120.4, …, s3rver 151.0`.
 */
export function formatProcessTable(suites: SuiteRows[]): string {
  const width = Math.max(5, ...suites.map((s) => s.suite.length));
  const lines = [`${'suite'.padEnd(width)}  peak RSS (VmHWM) of each server process, MiB`];
  for (const s of suites) {
    const procs = s.processes ?? [];
    const text = procs.length ? procs.map((p) => `${p.process} ${p.peakRssMiB.toFixed(1)}`).join(', ') : '(no server process)';
    lines.push(`${s.suite.padEnd(width)}  ${text}`);
  }
  return lines.join('\n');
}

/** Writes the results to `<dir>/results-<timestamp>.json`; returns the path. */
export async function writeResultsJson(dir: string, suites: SuiteRows[], startedAt: Date, extra: Record<string, unknown> = {}): Promise<string> {
  const stamp = startedAt.toISOString().replace(/[:.]/g, '-');
  const path = join(dir, `results-${stamp}.json`);
  await mkdir(dirname(path), { recursive: true });
  const doc = {
    startedAt: startedAt.toISOString(),
    finishedAt: new Date().toISOString(),
    node: process.version,
    platform: `${process.platform} ${process.arch}`,
    cpus: cpus().length,
    cpuModel: cpus()[0]?.model ?? 'unknown',
    totalMemMiB: Math.round(totalmem() / 2 ** 20),
    ...extra,
    suites,
  };
  await writeFile(path, `${JSON.stringify(doc, null, 2)}\n`);
  return path;
}
