/**
 * A node child process with the last lines it printed kept for error messages, and a wait for
 * it to be ready. The benchmarks start their servers (`dht2 gateway`, `dht2 local`, s3rver, the
 * HTTP sink) and the tests their gateway processes with it. spawn.ts keeps its own start for
 * bricks: a brick also gets the supervisor pipe and is ready at its 'brick listening' line.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { createInterface } from 'node:readline';

/** Lines of output kept for error messages. */
const TAIL_LINES = 30;

/** A child started by {@link startNodeChild}. */
export interface NodeChild {
  proc: ChildProcess;
  pid: number;
  /** Resolves with the exit code or signal once the process is gone. */
  exited: Promise<number | string>;
  /** The last lines it printed (stdout and stderr, as they came). */
  tail(): string;
  /** SIGTERM, SIGKILL after 15 s, and wait. */
  stop(): Promise<void>;
  /** SIGKILL and wait: a child that spins would never honour SIGTERM. */
  kill(): Promise<void>;
}

export interface NodeChildOptions {
  /** Added to this process's environment. */
  env?: Record<string, string>;
  /** Sees every line of its stdout and stderr. */
  onLine?: (line: string) => void;
}

/** Starts `node <args>`. */
export function startNodeChild(args: string[], o: NodeChildOptions = {}): NodeChild {
  const proc = spawn(process.execPath, args, {
    ...(o.env ? { env: { ...process.env, ...o.env } } : {}),
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const lines: string[] = [];
  const keep = (line: string): void => {
    lines.push(line);
    if (lines.length > TAIL_LINES) lines.shift();
    o.onLine?.(line);
  };
  createInterface({ input: proc.stdout! }).on('line', keep);
  createInterface({ input: proc.stderr! }).on('line', keep);
  const exited = new Promise<number | string>((resolve) => proc.once('exit', (code, sig) => resolve(code ?? sig ?? -1)));
  const gone = (): boolean => proc.exitCode !== null || proc.signalCode !== null;
  return {
    proc, pid: proc.pid!, exited,
    tail: () => lines.join('\n'),
    async stop() {
      if (!gone()) proc.kill('SIGTERM');
      const t = setTimeout(() => proc.kill('SIGKILL'), 15_000);
      await exited;
      clearTimeout(t);
    },
    async kill() {
      if (!gone()) proc.kill('SIGKILL');
      await exited;
    },
  };
}

/** Resolves once `probe` succeeds; fails when the child exits first or after `timeoutMs`. */
export async function waitReady(what: string, child: NodeChild, probe: () => Promise<boolean>, timeoutMs = 60_000): Promise<void> {
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
