/**
 * `dht2 local` (what `npm start` runs) as a child process for the fault load test, and the
 * faults an operator's bad day brings to it: kill -9 of a brick (its supervisor restarts it),
 * SIGSTOP of a brick, kill -9 of `dht2 local` itself and a start again on the same data folder.
 *
 * The bricks' pids come from the 'brick started' lines `dht2 local` logs (pino JSON on stdout),
 * as an operator would find them; every line also goes to a log file kept for the post-mortem.
 */
import { createWriteStream, readFileSync, type WriteStream } from 'node:fs';
import { execFile } from 'node:child_process';
import { join, resolve } from 'node:path';
import { promisify } from 'node:util';
import { DHT2_BIN } from '../brick/spawn.js';
import type { FsckReport } from '../dht2-core/index.js';
import type { Incarnation } from './fault-ledger.js';
import { startNodeChild, waitReady, type NodeChild } from '../brick/node-child.js';
import { freePort, freePortRange } from './servers.js';
import { Agent, request } from './undici.js';

const run = promisify(execFile);
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** The credentials `dht2 local` starts with by default (README). */
export const LOCAL_ACCESS_KEY = 'dht2admin';
export const LOCAL_SECRET_KEY = 'dht2admin-secret';

export interface LocalProcessOptions {
  /** The volume's data folder (made on the first start). */
  dataDir: string;
  /** Every line `dht2 local` prints, for the post-mortem. */
  logFile: string;
  /** The run's clock (ms since it started): incarnations are timed with it. */
  clock: () => number;
  /** How long a start may take until /-/ready says ready. Default 60 s. */
  startTimeoutMs?: number;
}

/** A brick as `dht2 local` last reported it. */
export interface BrickPid {
  id: string;
  role: 'mds' | 'ds';
  pid: number;
}

/** A brick that died with no fault of the driver killing it: it crashed, or something outside the run killed it. */
export interface UnplannedDeath {
  brick: string;
  pid: number;
  /** Exit code or signal, as `dht2 local` reported it. */
  exit: number | string;
  /** On the run's clock. */
  at: number;
}

/** The state letter of /proc/<pid>/stat (R, S, T, Z…), undefined when there is no such process. */
function procState(pid: number): string | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3);
  } catch {
    return undefined;
  }
}

/** A zombie has exited: only its parent's wait is missing (orphans are reaped by init, late or never in a container). */
const alive = (pid: number) => { const s = procState(pid); return s !== undefined && s !== 'Z' && s !== 'X'; };

export class LocalProcess {
  /** Every start of `dht2 local`, with its exit once seen. */
  readonly incarnations: Incarnation[] = [];
  readonly unplannedDeaths: UnplannedDeath[] = [];
  private readonly killed = new Set<number>();
  private readonly bricks = new Map<string, BrickPid>();
  private readonly brickPids = new Set<number>();
  private readonly log: WriteStream;
  private readonly probe = new Agent({ connections: 2 });
  private child?: NodeChild;
  private banner = false;

  private readonly o: LocalProcessOptions;

  private constructor(o: LocalProcessOptions, readonly port: number, private readonly brickPortBase: number) {
    // Absolute: a brick's command line names its folder under it (see isBrickOfThisVolume).
    this.o = { ...o, dataDir: resolve(o.dataDir) };
    this.log = createWriteStream(o.logFile, { flags: 'a' });
  }

  /** Starts `dht2 local` on free ports; resolves once /-/ready says ready. */
  static async start(o: LocalProcessOptions): Promise<LocalProcess> {
    const p = new LocalProcess(o, await freePort(), await freePortRange(5));
    try {
      await p.startAgain();
    } catch (e) {
      await p.stop();
      throw e;
    }
    return p;
  }

  get url(): string {
    return `http://127.0.0.1:${this.port}`;
  }

  get volfile(): string {
    return join(this.o.dataDir, 'volume.json');
  }

  /** Pid of the running `dht2 local`. */
  get pid(): number | undefined {
    return this.child?.pid;
  }

  /** The bricks of the volume with their current pids. */
  brickList(role?: 'mds' | 'ds'): BrickPid[] {
    return [...this.bricks.values()].filter((b) => role === undefined || b.role === role).sort((a, b) => a.id.localeCompare(b.id));
  }

  /** Starts `dht2 local` again on the same data folder and ports; resolves once ready. */
  async startAgain(): Promise<void> {
    this.banner = false;
    this.log.write(`\n===== dht2 local start at ${(this.o.clock() / 1000).toFixed(2)} s\n`);
    const child = startNodeChild([DHT2_BIN, 'local', '--data-dir', this.o.dataDir, '--port', String(this.port),
      '--brick-port-base', String(this.brickPortBase), '--log-level', 'info'], { onLine: (line) => this.onLine(line) });
    const inc: Incarnation = { start: this.o.clock() };
    this.incarnations.push(inc);
    this.child = child;
    void child.exited.then((code) => {
      inc.exit = this.o.clock();
      this.log.write(`===== dht2 local (pid ${child.pid}) exited (${code}) at ${(inc.exit / 1000).toFixed(2)} s\n`);
    });
    await waitReady('dht2 local', child, async () => this.banner && (await this.ready()), this.o.startTimeoutMs ?? 60_000);
  }

  private onLine(line: string): void {
    this.log.write(line + '\n');
    if (line.includes('DHT2 Gateway is ready')) this.banner = true;
    const started = line.includes('"brick started"');
    if (!started && !line.includes('"brick died')) return;
    try {
      const rec = JSON.parse(line) as { brick?: string; role?: 'mds' | 'ds'; pid?: number; exit?: number | string };
      const known = rec.brick === undefined ? undefined : this.bricks.get(rec.brick);
      if (started && rec.brick && rec.role && rec.pid) {
        this.bricks.set(rec.brick, { id: rec.brick, role: rec.role, pid: rec.pid });
        this.brickPids.add(rec.pid);
      } else if (!started && known && !this.killed.has(known.pid)) {
        this.unplannedDeaths.push({ brick: known.id, pid: known.pid, exit: rec.exit ?? '?', at: this.o.clock() });
      }
    } catch {
      /* a line that only looked like one */
    }
  }

  /** One GET /-/ready: true on 200 (every brick answers). */
  async ready(timeoutMs = 2500): Promise<boolean> {
    try {
      const res = await request(`${this.url}/-/ready`, { dispatcher: this.probe, signal: AbortSignal.timeout(timeoutMs) });
      await res.body.dump();
      return res.statusCode === 200;
    } catch {
      return false;
    }
  }

  /** Polls /-/ready until it says ready; the clock reading then, or undefined after `timeoutMs`. */
  async waitReady(timeoutMs: number): Promise<number | undefined> {
    const until = Date.now() + timeoutMs;
    while (Date.now() < until) {
      if (await this.ready()) return this.o.clock();
      await sleep(200);
    }
    return undefined;
  }

  /** kill -9 of a brick; resolves with the pid of the brick the supervisor started in its place. */
  async killBrick(id: string, timeoutMs: number): Promise<{ old: number; new: number }> {
    const old = this.bricks.get(id)?.pid;
    if (old === undefined) throw new Error(`no brick ${id}`);
    this.killed.add(old);
    process.kill(old, 'SIGKILL');
    const until = Date.now() + timeoutMs;
    while (Date.now() < until) {
      const now = this.bricks.get(id)!.pid;
      if (now !== old) return { old, new: now };
      await sleep(50);
    }
    throw new Error(`brick ${id} (pid ${old}) killed: no new brick started within ${timeoutMs / 1000} s`);
  }

  /** SIGSTOP of a brick for `ms`, then SIGCONT: a brick that stops answering without closing its connections. */
  async pauseBrick(id: string, ms: number): Promise<number> {
    const pid = this.bricks.get(id)?.pid;
    if (pid === undefined) throw new Error(`no brick ${id}`);
    process.kill(pid, 'SIGSTOP');
    try {
      await sleep(ms);
    } finally {
      process.kill(pid, 'SIGCONT');
    }
    return pid;
  }

  /** kill -9 of `dht2 local` itself; resolves once it has exited. */
  async kill(): Promise<number> {
    const child = this.child;
    if (!child) throw new Error('dht2 local is not running');
    child.proc.kill('SIGKILL');
    await child.exited;
    return child.pid;
  }

  /** Bricks this volume ever ran whose process is still there (after `dht2 local` is gone: bricks that outlived it). */
  survivingBricks(): number[] {
    return [...this.brickPids].filter((pid) => alive(pid) && this.isBrickOfThisVolume(pid));
  }

  /** A pid may be reused once its process is gone: only a `dht2 brick` of this data folder is one of ours. */
  private isBrickOfThisVolume(pid: number): boolean {
    try {
      const cmd = readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0');
      return cmd.includes('brick') && cmd.some((a) => a.startsWith(this.o.dataDir));
    } catch {
      return false;
    }
  }

  /** kill -9 of the bricks that outlived `dht2 local`; resolves with their pids once they are gone. */
  async killSurvivingBricks(): Promise<number[]> {
    const pids = this.survivingBricks();
    for (const pid of pids) process.kill(pid, 'SIGKILL');
    for (let i = 0; i < 100 && pids.some(alive); i++) await sleep(50);
    return pids;
  }

  /** `dht2 fsck --grace 0 --json` (with `--repair`: and removes what it found) on the volume's file. */
  async fsck(repair: boolean): Promise<FsckReport> {
    const args = [DHT2_BIN, 'fsck', '--volfile', this.volfile, '--grace', '0', '--json', ...(repair ? ['--repair'] : [])];
    const { stdout } = await run(process.execPath, args, { timeout: 120_000, maxBuffer: 64 * 1024 * 1024 });
    return JSON.parse(stdout) as FsckReport;
  }

  /**
   * SIGTERM and wait (SIGKILL after 15 s); resolves with the pids of bricks still running
   * afterwards (they should all have stopped), which it then kills, so a run leaves nothing behind.
   */
  async stop(): Promise<number[]> {
    for (const b of this.bricks.values()) if (alive(b.pid)) process.kill(b.pid, 'SIGCONT');
    await this.child?.stop();
    for (let i = 0; i < 40 && this.survivingBricks().length > 0; i++) await sleep(50);
    const left = await this.killSurvivingBricks();
    await this.probe.close();
    await new Promise((r) => this.log.end(r));
    return left;
  }
}
