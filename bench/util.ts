/** Helpers shared by the benchmark scenarios: a bounded worker pool, timing, RSS sampling, scaling. */
import { execFile } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { performance } from 'node:perf_hooks';

/** `BENCH_SCALE` (default 1): multiplies the amount of work of every scenario. */
export function benchScale(): number {
  const raw = process.env.BENCH_SCALE;
  if (raw === undefined || raw === '') return 1;
  const n = Number(raw);
  if (!Number.isFinite(n) || n <= 0) throw new Error(`BENCH_SCALE must be a positive number, not ${JSON.stringify(raw)}`);
  return n;
}

/** `base * BENCH_SCALE`, rounded, at least `min`. */
export function scaled(base: number, min = 1): number {
  return Math.max(min, Math.round(base * benchScale()));
}

/** Progress line on stderr (stdout carries only the table). */
export function progress(msg: string): void {
  process.stderr.write(`[bench] ${msg}\n`);
}

/**
 * Runs `fn(0) … fn(n-1)` with at most `concurrency` in flight. Stops handing out work after
 * the first failure and rethrows it once the calls in flight have settled.
 */
export async function pool(n: number, concurrency: number, fn: (i: number) => Promise<void>): Promise<void> {
  let next = 0;
  let failed = false;
  let failure: unknown;
  const worker = async (): Promise<void> => {
    while (!failed && next < n) {
      const i = next++;
      try {
        await fn(i);
      } catch (e) {
        if (!failed) { failed = true; failure = e; }
      }
    }
  };
  await Promise.all(Array.from({ length: Math.max(1, Math.min(concurrency, n)) }, worker));
  if (failed) throw failure;
}

/** Runs `fn` and returns its result with the elapsed wall time in seconds. */
export async function timed<T>(fn: () => Promise<T>): Promise<{ result: T; seconds: number }> {
  const t0 = performance.now();
  const result = await fn();
  return { result, seconds: (performance.now() - t0) / 1000 };
}

/** Median of a non-empty list. */
export function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
}

export { fsyncPath } from '../brick/posix2/fsutil.js';

/** A `VmXXX: N kB` field of /proc/<pid>/status (Linux), in KiB; undefined when it cannot be read. */
export function readStatusKiB(pid: number, field: 'VmHWM' | 'VmRSS'): number | undefined {
  try {
    const m = new RegExp(`^${field}:\\s+(\\d+)\\s+kB`, 'm').exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return m ? Number(m[1]) : undefined;
  } catch {
    return undefined;
  }
}

/** VmRSS of a process in KiB; undefined when it cannot be read. */
export function readRssKiB(pid: number): number | undefined {
  return readStatusKiB(pid, 'VmRSS');
}

/** Samples the RSS of some processes every `intervalMs` between start and stop, keeping the peak of each. */
export class RssSampler {
  private readonly peaks = new Map<number, number>();
  private timer: NodeJS.Timeout | undefined;

  constructor(private readonly pids: readonly number[], private readonly intervalMs = 100) {}

  private sample(): void {
    for (const pid of this.pids) {
      const kib = readRssKiB(pid);
      if (kib !== undefined && kib > (this.peaks.get(pid) ?? 0)) this.peaks.set(pid, kib);
    }
  }

  start(): this {
    this.peaks.clear();
    this.sample();
    this.timer = setInterval(() => this.sample(), this.intervalMs);
    this.timer.unref();
    return this;
  }

  /** Stops sampling (taking one last sample); returns {@link peakMiB}. */
  stop(): Map<number, number> {
    if (this.timer) {
      clearInterval(this.timer);
      this.timer = undefined;
      this.sample();
    }
    return this.peakMiB();
  }

  /** The peak RSS in MiB of each pid seen so far (absent when /proc was unreadable). */
  peakMiB(): Map<number, number> {
    return new Map([...this.peaks].map(([pid, kib]) => [pid, kib / 1024]));
  }
}

/**
 * Lets the previous phase's dirty data reach the disk (sync(1)) and pauses briefly, so that
 * writeback or discards left over from one measurement do not land in the next one.
 */
export async function settle(pauseMs = 100): Promise<void> {
  await new Promise<void>((resolve) => execFile('sync', () => resolve()));
  await new Promise<void>((resolve) => setTimeout(resolve, pauseMs));
}

/**
 * Settles (see {@link settle}), then runs `fn` while sampling the RSS of `pids`; returns its
 * result, elapsed seconds and the peaks (MiB).
 */
export async function measured<T>(pids: readonly number[], fn: () => Promise<T>): Promise<{ result: T; seconds: number; peaks: Map<number, number> }> {
  await settle();
  const sampler = new RssSampler(pids).start();
  let run: { result: T; seconds: number };
  try {
    run = await timed(fn);
  } finally {
    sampler.stop();
  }
  return { ...run, peaks: sampler.peakMiB() };
}

/** `total` bytes as chunks of `chunk.length` (the same read-only buffer each time: nothing big is ever held). */
export function* byteChunks(total: number, chunk: Buffer): Generator<Buffer> {
  if (chunk.length === 0) throw new Error('empty chunk');
  let left = total;
  while (left > 0) {
    const n = Math.min(left, chunk.length);
    yield n === chunk.length ? chunk : chunk.subarray(0, n);
    left -= n;
  }
}

/** Consumes a byte stream, returning how many bytes it carried. */
export async function drain(stream: AsyncIterable<Buffer | Uint8Array>): Promise<number> {
  let n = 0;
  for await (const c of stream) n += c.length;
  return n;
}

/**
 * CPU time (user + system) a process has used so far, seconds, from /proc/<pid>/stat (Linux,
 * USER_HZ = 100); undefined when it cannot be read.
 */
export function readCpuSeconds(pid: number): number | undefined {
  try {
    const s = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // Fields after the command name (which may hold spaces) start at field 3; utime and stime are fields 14 and 15.
    const rest = s.slice(s.lastIndexOf(')') + 2).split(' ');
    const ticks = Number(rest[11]) + Number(rest[12]);
    return Number.isFinite(ticks) ? ticks / 100 : undefined;
  } catch {
    return undefined;
  }
}
