/**
 * What every HTTP load generator of the benchmarks shares (bench/s3-load.ts for S3,
 * bench/fs-load.ts for the REST file API): a phase's counters and latency samples, the worker
 * loop that keeps N requests in flight, and the progress bar. Bodies are streamed with
 * util.ts byteChunks, so nothing big is ever held in memory.
 */
import { performance } from 'node:perf_hooks';
import { SingleBar } from 'cli-progress';

export interface LatencyMs {
  p50: number;
  p90: number;
  p99: number;
  max: number;
  mean: number;
}

/** The outcome of one phase (one operation kind at one concurrency). */
export interface PhaseResult<P extends string = string> {
  phase: P;
  /** Successful requests. */
  ops: number;
  errors: number;
  /** Payload bytes moved (uploads and downloads); 0 for the other phases. */
  bytes: number;
  seconds: number;
  opsPerSec: number;
  /** 10^6 bytes per second of payload. */
  mbPerSec: number;
  latencyMs: LatencyMs;
  /** Listing phases: keys (entries) and common prefixes returned over all pages. */
  listed?: { keys: number; prefixes: number; keysPerSec: number };
  /** True when a duration cap stopped the phase before it did all its work. */
  capped: boolean;
  /** True when the run was stopped (signal) during this phase. */
  interrupted?: boolean;
  /** The first few error messages. */
  errorSamples: string[];
}

/** Error messages kept per phase. */
export const ERROR_SAMPLES = 5;

function percentile(sorted: Float64Array, p: number): number {
  if (sorted.length === 0) return 0;
  const rank = Math.ceil((p / 100) * sorted.length);
  return sorted[Math.min(sorted.length - 1, Math.max(0, rank - 1))]!;
}

/** p50/p90/p99/max/mean of latency samples (ms). */
export function latencyOf(samples: readonly number[]): LatencyMs {
  const s = Float64Array.from(samples).sort();
  const sum = samples.reduce((a, b) => a + b, 0);
  return {
    p50: percentile(s, 50), p90: percentile(s, 90), p99: percentile(s, 99),
    max: s.length ? s[s.length - 1]! : 0, mean: s.length ? sum / s.length : 0,
  };
}

/** A progress bar on stderr for one phase (a no-op when disabled or stderr is not a terminal). */
export class Progress {
  private readonly bar: SingleBar | undefined;
  private value = 0;
  private errors = 0;
  private readonly t0 = performance.now();

  constructor(enabled: boolean, phase: string, total: number) {
    if (!enabled || !process.stderr.isTTY) return;
    this.bar = new SingleBar({
      stream: process.stderr,
      format: `${phase.padEnd(14)} |{bar}| {value}/{total} | {rate} ops/s | {errors} errors | {duration_formatted} (ETA {eta_formatted})`,
      barCompleteChar: '\u2588',
      barIncompleteChar: '\u2591',
      hideCursor: true,
      clearOnComplete: true,
      etaBuffer: 100,
      fps: 5,
    });
    this.bar.start(total, 0, { rate: '0', errors: 0 });
  }

  tick(ok: boolean): void {
    if (!this.bar) return;
    this.value++;
    if (!ok) this.errors++;
    const s = (performance.now() - this.t0) / 1000;
    this.bar.update(this.value, { rate: s > 0 ? (this.value / s).toFixed(0) : '0', errors: this.errors });
  }

  setTotal(total: number): void {
    this.bar?.setTotal(total);
  }

  stop(): void {
    this.bar?.stop();
  }
}

/** Counters of a phase while it runs. */
export class PhaseRun<P extends string = string> {
  ops = 0;
  errors = 0;
  bytes = 0;
  readonly samples: number[] = [];
  readonly errorSamples: string[] = [];
  capped = false;
  interrupted = false;
  private readonly deadline: number | undefined;
  readonly t0 = performance.now();

  constructor(readonly phase: P, durationMs: number | undefined, private readonly signal: AbortSignal | undefined,
    readonly progress: Progress) {
    this.deadline = durationMs === undefined ? undefined : this.t0 + durationMs;
  }

  /** False once the duration cap has passed or the run was aborted (no new work then). */
  mayStart(): boolean {
    if (this.signal?.aborted) { this.interrupted = true; return false; }
    if (this.deadline !== undefined && performance.now() >= this.deadline) { this.capped = true; return false; }
    return true;
  }

  /** Times one request (`fn` returns the payload bytes it moved); counts it as an op or an error. Returns whether it succeeded. */
  async op(fn: () => Promise<number>): Promise<boolean> {
    const t = performance.now();
    try {
      const bytes = await fn();
      this.samples.push(performance.now() - t);
      this.ops++;
      this.bytes += bytes;
      this.progress.tick(true);
      return true;
    } catch (e) {
      this.fail(e);
      this.progress.tick(false);
      return false;
    }
  }

  /** Counts an error found outside a timed request (e.g. a walk that saw the wrong number of keys). */
  fail(e: unknown): void {
    this.errors++;
    if (this.errorSamples.length < ERROR_SAMPLES) this.errorSamples.push(e instanceof Error ? e.message : String(e));
  }

  result(extra: Partial<PhaseResult<P>> = {}): PhaseResult<P> {
    const seconds = (performance.now() - this.t0) / 1000;
    return {
      phase: this.phase, ops: this.ops, errors: this.errors, bytes: this.bytes, seconds,
      opsPerSec: seconds > 0 ? this.ops / seconds : 0,
      mbPerSec: seconds > 0 ? this.bytes / 1e6 / seconds : 0,
      latencyMs: latencyOf(this.samples), capped: this.capped, ...(this.interrupted ? { interrupted: true } : {}),
      errorSamples: this.errorSamples, ...extra,
    };
  }
}

/** Runs `fn(item)` for every item handed out by `next()` with `concurrency` workers. */
export async function workers<T>(concurrency: number, run: { mayStart(): boolean }, next: () => T | undefined,
  fn: (item: T) => Promise<void>): Promise<void> {
  const worker = async (): Promise<void> => {
    while (run.mayStart()) {
      const item = next();
      if (item === undefined) return;
      await fn(item);
    }
  };
  await Promise.all(Array.from({ length: Math.max(1, concurrency) }, worker));
}
