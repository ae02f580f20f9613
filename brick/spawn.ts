/**
 * Starts a brick as a child process (`dht2 brick …`) and waits until it listens. Used by the
 * local cluster, the tests and the benchmarks, so all of them run the real process. Every brick
 * started here stops when the process that started it dies, even by SIGKILL (supervisor-pipe.ts).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import type { Socket } from 'node:net';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import type { BrickRole } from './posix2/format.js';
import { SUPERVISOR_FD } from './supervisor-pipe.js';

/** Path of the compiled CLI (dist/bin/dht2.js). */
export const DHT2_BIN = fileURLToPath(new URL('../bin/dht2.js', import.meta.url));

/**
 * V8 flags of every brick process started here, and of the gateway processes the bench starts
 * (Dockerfile's ENTRYPOINT and `npm start` have the same).
 *
 * `--initial-old-space-size=128`: with V8's default sizing, a streamed body (64 KiB
 * ArrayBuffers, one per socket or file read) hit an allocation limit and started a full
 * mark-compact about twice per 64 MiB in a brick (live heap ~15 MB), and in a gateway serving
 * 8 large GETs at once, though the old space itself grew by under 0.2 MB per 64 MiB (perf_hooks
 * 'gc' entries: major, flags 64 = an allocation limit reached). That was ~30 % of a DS member's
 * CPU on a large PUT (165-210 -> 115-135 ms per 64 MiB), over half on a large GET (75 -> 28 ms),
 * and ~40 % of the gateway's on 64 MiB GETs at c=8 (125-170 -> 64-91 ms): replica bench,
 * ARCHITECTURE.md §10.16 "As built (bench)". With an initial old-generation size configured no
 * major GC ran during those transfers (bricks: 32, 64 and 128 MB all did it; the gateway, whose
 * live heap is ~40-60 MB, still ran 2-3 per 16 GETs with 64). The young generation still frees
 * the buffers, and the heap grows past this size only when live data does.
 */
export const NODE_HEAP_FLAGS: readonly string[] = ['--initial-old-space-size=128'];

export interface SpawnBrickOptions {
  dir: string;
  role: BrickRole;
  secret: string;
  port?: number;
  host?: string;
  volumeId?: string;
  sync?: boolean;
  /** Extra environment (DHT2_CRASH_AT for crash tests). */
  env?: Record<string, string>;
  /** Extra CLI arguments. */
  args?: string[];
  /** Called with every log line the brick prints. */
  onLog?: (line: string) => void;
  /**
   * A command the brick is started through, which must exec it in its own pid (`ip netns exec
   * NS`: a brick in a network namespace, test/server/netns-partition.test.ts).
   */
  prefix?: string[];
}

export interface BrickProcess {
  url: string;
  port: number;
  pid: number;
  child: ChildProcess;
  /** Resolves with the exit code or signal once the process is gone. */
  exited: Promise<number | string>;
  /** SIGTERM and wait. */
  stop(): Promise<void>;
  /** SIGKILL and wait: a crash. */
  kill(): Promise<void>;
}

export async function spawnBrick(o: SpawnBrickOptions): Promise<BrickProcess> {
  const args = [...NODE_HEAP_FLAGS, DHT2_BIN, 'brick', '--dir', o.dir, '--role', o.role, '--port', String(o.port ?? 0), '--host', o.host ?? '127.0.0.1'];
  if (o.volumeId) args.push('--volume-id', o.volumeId);
  if (o.sync === false) args.push('--no-sync');
  args.push(...(o.args ?? []), '--supervisor-fd', String(SUPERVISOR_FD));
  const [cmd, ...pre] = o.prefix ?? [];
  const child = spawn(cmd ?? process.execPath, cmd === undefined ? args : [...pre, process.execPath, ...args], {
    env: { ...process.env, DHT2_CLUSTER_SECRET: o.secret, ...o.env },
    // The extra pipe is never written: only its end, when this process dies, matters.
    stdio: ['ignore', 'pipe', 'pipe', 'pipe'],
  });
  // Our end must not keep this process alive; libuv opens it close-on-exec, so bricks spawned
  // later do not hold it and an earlier brick still sees EOF when we die.
  (child.stdio[SUPERVISOR_FD] as Socket).unref();
  const exited = new Promise<number | string>((resolve) => child.once('exit', (code, sig) => resolve(code ?? sig ?? -1)));
  let stderr = '';
  child.stderr!.on('data', (d: Buffer) => { stderr += d.toString(); });
  const lines = createInterface({ input: child.stdout! });
  const listening = new Promise<{ url: string; port: number }>((resolve, reject) => {
    lines.on('line', (line) => {
      o.onLog?.(line);
      try {
        const rec = JSON.parse(line) as { msg?: string; url?: string; port?: number };
        if (rec.msg === 'brick listening' && rec.url && rec.port) resolve({ url: rec.url, port: rec.port });
      } catch {
        /* not a log record */
      }
    });
    void exited.then((c) => reject(new Error(`brick exited (${c}) before listening: ${stderr.trim()}`)));
  });
  const { url, port } = await listening;
  const wait = async (sig: NodeJS.Signals): Promise<void> => {
    if (child.exitCode === null && child.signalCode === null) child.kill(sig);
    await exited;
  };
  return { url, port, pid: child.pid!, child, exited, stop: () => wait('SIGTERM'), kill: () => wait('SIGKILL') };
}
