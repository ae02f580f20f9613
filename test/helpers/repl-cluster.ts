/**
 * A replica-3 volume of real brick processes for the whole-cluster fault tests (ARCHITECTURE.md
 * §10.15 row 10): sets of three bricks per role, the format-2 volume file naming them, the layout
 * installed as `dht2 volume create --replica` does (`installLayout`), and what the tests ask of
 * it afterwards: which member is primary (`rstatus`), `dht2 heal info` and `dht2 fsck` as the
 * CLI runs them, and `compareReplicas` per set.
 */
import { execFile } from 'node:child_process';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { setTimeout as delay } from 'node:timers/promises';
import { DHT2_BIN, spawnBrick, type BrickProcess } from '../../brick/spawn.js';
import { BrickClient, compareReplicas, installLayout, writeVolumeFile, type VolumeFile } from '../../dht2-core/index.js';
import type { ReplStatus } from '../../dht2-core/protocol/index.js';
import { SECRET } from './tmp.js';

const run = promisify(execFile);

export interface ReplBrick {
  id: string;
  set: string;
  role: 'mds' | 'ds';
  dir: string;
  /** The address it listens on (the host side, or a network namespace's). */
  host: string;
  port: number;
  url: string;
  proc: BrickProcess;
}

export interface ReplClusterOptions {
  /** Where the bricks' folders, the secret and volume.json go. */
  dir: string;
  mdsSets?: number;
  dsSets?: number;
  /**
   * How to start brick `id` (default: spawnBrick on 127.0.0.1, port 0 the first time). Answers
   * the running brick; called again with the same port on a restart.
   */
  spawn?: (b: { id: string; role: 'mds' | 'ds'; dir: string; port: number }) => Promise<BrickProcess & { host?: string }>;
}

export class ReplCluster {
  bricks: ReplBrick[] = [];
  volfile = '';
  vf!: VolumeFile;
  private readonly clients = new Map<string, BrickClient>();

  constructor(readonly o: ReplClusterOptions) {}

  async start(): Promise<void> {
    const specs: Array<{ id: string; set: string; role: 'mds' | 'ds' }> = [];
    for (const [role, n] of [['mds', this.o.mdsSets ?? 1], ['ds', this.o.dsSets ?? 1]] as const) {
      for (let s = 0; s < n; s++) for (let j = 1; j <= 3; j++) specs.push({ id: `${role}${s}-${j}`, set: `${role}${s}`, role });
    }
    const procs = await Promise.all(specs.map((s) => this.spawn(s.id, s.role, 0)));
    this.bricks = specs.map((s, i) => {
      const p = procs[i]!;
      const host = p.host ?? '127.0.0.1';
      return { ...s, dir: join(this.o.dir, s.id), host, port: p.port, url: p.url, proc: p };
    });
    const sets = (role: 'mds' | 'ds') => [...new Set(this.bricks.filter((b) => b.role === role).map((b) => b.set))]
      .map((id) => ({ id, bricks: this.bricks.filter((b) => b.set === id).map((b) => ({ id: b.id, url: b.url })) }));
    this.vf = {
      format: 2, name: 'fault', volumeId: 'faultvol', buckets: 65536, secret: { file: 'secret' }, replica: 3,
      mds: sets('mds'), ds: sets('ds'),
    };
    this.volfile = join(this.o.dir, 'volume.json');
    await writeFile(join(this.o.dir, 'secret'), SECRET + '\n');
    await writeVolumeFile(this.volfile, this.vf);
    await installLayout(this.vf, SECRET);
  }

  private spawn(id: string, role: 'mds' | 'ds', port: number, env?: Record<string, string>): Promise<BrickProcess & { host?: string }> {
    const dir = join(this.o.dir, id);
    if (this.o.spawn) return this.o.spawn({ id, role, dir, port });
    return spawnBrick({ dir, role, secret: SECRET, volumeId: 'faultvol', port, args: ['--brick-id', id], ...(env ? { env } : {}),
      // REPL_CLUSTER_LOG=1 shows the bricks' log lines (debugging a failing test).
      ...(process.env.REPL_CLUSTER_LOG ? { onLog: (l: string) => console.log(id, l) } : {}) });
  }

  brick(id: string): ReplBrick {
    const b = this.bricks.find((x) => x.id === id);
    if (!b) throw new Error(`no brick ${id}`);
    return b;
  }

  /** Starts a killed brick again on its port, with its data. */
  async restart(id: string, env?: Record<string, string>): Promise<void> {
    const b = this.brick(id);
    b.proc = await this.spawn(id, b.role, b.port, env);
  }

  client(id: string): BrickClient {
    let c = this.clients.get(id);
    if (!c) {
      c = new BrickClient({ url: this.brick(id).url, secret: SECRET, brickId: id, timeoutMs: 10_000, liveness: { quietMs: 500, pingTimeoutMs: 1500 } });
      this.clients.set(id, c);
    }
    return c;
  }

  async status(id: string): Promise<ReplStatus | undefined> {
    try {
      return await this.client(id).call('rstatus', {}, { timeoutMs: 1500 });
    } catch {
      return undefined;
    }
  }

  /** The member of `set` that is primary with a valid lease, polled for up to `withinMs`. */
  async primary(set: string, withinMs = 15_000): Promise<string> {
    const end = performance.now() + withinMs;
    while (performance.now() < end) {
      for (const b of this.bricks.filter((x) => x.set === set)) {
        const s = await this.status(b.id);
        if (s?.role === 'primary' && s.leaseValid) return b.id;
      }
      await delay(100);
    }
    throw new Error(`set ${set}: no primary within ${withinMs} ms`);
  }

  sets(): string[] {
    return [...new Set(this.bricks.map((b) => b.set))];
  }

  /** `dht2 <args>` as a user runs it; resolves with the exit code and output. */
  async cli(...args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
    try {
      const { stdout, stderr } = await run(process.execPath, [DHT2_BIN, ...args], { maxBuffer: 64 * 1024 * 1024, timeout: 60_000 });
      return { code: 0, stdout, stderr };
    } catch (e) {
      const x = e as { code?: number; stdout?: string; stderr?: string };
      return { code: typeof x.code === 'number' ? x.code : -1, stdout: x.stdout ?? '', stderr: x.stderr ?? String(e) };
    }
  }

  /** Polls `dht2 heal info` until it exits 0; answers how long it took, or throws with its last output. */
  async healed(withinMs: number): Promise<number> {
    const t0 = performance.now();
    let last = '';
    while (performance.now() - t0 < withinMs) {
      const r = await this.cli('heal', 'info', '--volfile', this.volfile);
      if (r.code === 0) return performance.now() - t0;
      last = r.stdout + r.stderr;
      await delay(500);
    }
    throw new Error(`heal info did not reach 0 within ${withinMs} ms:\n${last}`);
  }

  /** compareReplicas over every set's members: the sets whose members differ, with the first differences. */
  async differingSets(): Promise<string[]> {
    const bad: string[] = [];
    for (const set of this.sets()) {
      const r = await compareReplicas(this.bricks.filter((b) => b.set === set).map((b) => ({ id: b.id, fops: this.client(b.id) })));
      if (r.missing + r.differs > 0 || r.same !== r.handles) bad.push(`${set}: ${JSON.stringify(r.diffs.slice(0, 5))}`);
    }
    return bad;
  }

  async stop(): Promise<void> {
    for (const c of this.clients.values()) await c.close();
    this.clients.clear();
    await Promise.all(this.bricks.map(async (b) => {
      try {
        process.kill(b.proc.pid, 'SIGCONT');
      } catch {
        /* gone */
      }
      await b.proc.kill();
    }));
  }
}
