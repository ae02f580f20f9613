/**
 * Measuring a server {@link System} while a load generator runs phases against it, and turning
 * each phase into a result row: the disk is settled (sync(1)) before a phase, the VmRSS of the
 * system's processes is sampled every 100 ms during it, their CPU time (/proc/<pid>/stat) and
 * this process's are read before and after.
 *
 * Row: value = ops/s, or MB/s for phases that move bytes when `mbps` is asked; p50/p99 latency;
 * CPU ms/op = the system's CPU time per request (dht2: gateway + 5 bricks); peak RSS = its main
 * process (the gateway, s3rver, the sink); the bricks' peaks, the split of CPU, the client's CPU,
 * p90 and the main process's RSS at the phase's start are in the details.
 */
import type { PhaseResult } from './load-phase.js';
import type { Row } from './report.js';
import type { System } from './servers.js';
import { RssSampler, progress, readCpuSeconds, readRssKiB, settle } from './util.js';

/** What one phase cost on one system. */
export interface Measured<P extends string = string> {
  result: PhaseResult<P>;
  peaks: Map<number, number>;
  /** VmRSS of the system's main process when the phase started, MiB. */
  startRssMiB?: number;
  cpu: Map<number, number>;
  clientCpu: number;
}

/** Before/after hooks in the shape the load generators call them. */
export interface PhaseHooks<P extends string> {
  beforePhase(phase: P): Promise<void>;
  afterPhase(phase: P, result: PhaseResult<P>): void;
}

/** Hooks that settle the disk before each phase and measure the system's processes during it, storing each phase in `out`. */
export function measuringHooks<P extends string>(sys: System, out: Map<P, Measured<P>>): PhaseHooks<P> {
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

export const round1 = (v: number): number => Math.round(v * 10) / 10;
export const round3 = (v: number): number => Math.round(v * 1000) / 1000;

/** The peak RSS rise of the system's main process during the phase (peak - RSS at its start), MiB. */
export function rssRiseMiB(sys: System, m: Measured): number | undefined {
  const peak = m.peaks.get(sys.mainPid);
  return peak === undefined || m.startRssMiB === undefined ? undefined : Math.max(0, peak - m.startRssMiB);
}

/** One row for one phase on one system (see the file comment); `mbps`: report MB/s when the phase moved bytes. */
export function rowOf(scenario: string, sys: System, m: Measured, mbps: boolean): Row {
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
  const inMb = mbps && r.bytes > 0;
  return {
    scenario,
    system: r.errors ? `${sys.name} [${r.errors} errors]` : sys.name,
    value: inMb ? r.mbPerSec : r.opsPerSec,
    unit: inMb ? 'MB/s' : 'ops/s',
    p50Ms: r.latencyMs.p50,
    p99Ms: r.latencyMs.p99,
    ...(calls && sys.pids.length ? { cpuMsPerOp: (serverCpu * 1000) / calls } : {}),
    ...(peak !== undefined ? { peakRssMiB: round1(peak) } : {}),
    details,
  };
}

/** `row` with its ratio to `base` (same unit), when the baseline measured something. */
export function withRatio(row: Row, base: Row): Row {
  return base.value > 0 ? { ...row, ratio: row.value / base.value } : row;
}
