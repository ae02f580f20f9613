/**
 * The peak memory of every server process a scenario starts (gateway, bricks, s3rver, the HTTP
 * sink), without the scenarios having to report their pids: a watcher looks for the node
 * processes descending from this one (every second) and reads their VmHWM from
 * /proc/<pid>/status (every 250 ms). VmHWM is the kernel's own high-water mark of the RSS over
 * the process's life, so nothing between two samples is missed while the process lives; each
 * scenario starts and stops its own processes, so their VmHWM is the peak over that scenario.
 */
import { readFileSync, readdirSync } from 'node:fs';
import { basename } from 'node:path';
import type { ProcessPeak } from './report.js';
import { readStatusKiB } from './util.js';

/**
 * A short name for a benchmark's child process from its command line (argv split at NULs), or
 * undefined for a process that is not a node program of the benchmark (e.g. `sync`).
 */
export function processLabel(argv: readonly string[]): string | undefined {
  if (argv.length < 2 || !/^node(js)?$|\/node$/.test(argv[0]!) && basename(argv[0]!) !== basename(process.execPath)) return undefined;
  const script = argv.find((a, i) => i > 0 && !a.startsWith('-'));
  if (!script) return undefined;
  const opt = (name: string): string | undefined => {
    const i = argv.indexOf(name);
    return i >= 0 ? argv[i + 1] : undefined;
  };
  if (basename(script) === 'dht2.js') {
    const cmd = argv[argv.indexOf(script) + 1];
    if (cmd === 'brick') {
      const id = opt('--brick-id') ?? basename(opt('--dir') ?? '?');
      return `brick ${id}${argv.includes('--no-sync') ? ' (no-sync)' : ''}`;
    }
    return cmd ?? 'dht2';
  }
  if (basename(script) === 's3rver.js') return 's3rver';
  if (basename(script) === 'http-sink.js') return 'http sink';
  return basename(script);
}

function parentOf(pid: string): number | undefined {
  try {
    const s = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return Number(s.slice(s.lastIndexOf(')') + 2).split(' ')[1]);
  } catch {
    return undefined;
  }
}

/** Watches the descendants of this process; see the file comment. */
export class ProcessWatch {
  private readonly seen = new Map<number, { label: string; hwmKiB: number }>();
  private readonly skipped = new Set<number>();
  private timers: NodeJS.Timeout[] = [];

  constructor(private readonly sampleMs = 250, private readonly scanMs = 1000) {}

  start(): this {
    this.scan();
    this.timers = [setInterval(() => this.scan(), this.scanMs), setInterval(() => this.sample(), this.sampleMs)];
    for (const t of this.timers) t.unref();
    return this;
  }

  stop(): void {
    this.sample();
    for (const t of this.timers) clearInterval(t);
    this.timers = [];
  }

  /** Forgets every process seen so far (call between scenarios). */
  reset(): void {
    this.sample();
    this.seen.clear();
    this.skipped.clear();
  }

  /** Every process seen since the last reset with its VmHWM (MiB), in the order they were found. */
  peaks(): ProcessPeak[] {
    this.scan();
    this.sample();
    return [...this.seen].map(([pid, p]) => ({ process: p.label, pid, peakRssMiB: Math.round((p.hwmKiB / 1024) * 10) / 10 }));
  }

  /** Finds new descendants of this process (a child's children too). */
  private scan(): void {
    const children = new Map<number, number[]>();
    let names: string[];
    try {
      names = readdirSync('/proc').filter((n) => /^\d+$/.test(n));
    } catch {
      return;
    }
    for (const n of names) {
      const ppid = parentOf(n);
      if (ppid !== undefined) children.set(ppid, [...(children.get(ppid) ?? []), Number(n)]);
    }
    const queue = [...(children.get(process.pid) ?? [])];
    while (queue.length) {
      const pid = queue.shift()!;
      queue.push(...(children.get(pid) ?? []));
      if (this.seen.has(pid) || this.skipped.has(pid)) continue;
      let label: string | undefined;
      try {
        label = processLabel(readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0').filter(Boolean));
      } catch {
        continue;
      }
      if (label === undefined) this.skipped.add(pid);
      else this.seen.set(pid, { label, hwmKiB: readStatusKiB(pid, 'VmHWM') ?? 0 });
    }
  }

  private sample(): void {
    for (const [pid, p] of this.seen) {
      const kib = readStatusKiB(pid, 'VmHWM');
      if (kib !== undefined && kib > p.hwmKiB) p.hwmKiB = kib;
    }
  }
}
