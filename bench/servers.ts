/**
 * The server processes the HTTP benchmarks (small, large, list, fs) run against, each started
 * by the run itself in one temp dir on this machine's disk:
 *
 *  - dht2: runLocalCluster (2 MDS + 3 DS brick processes) and the gateway as its own process
 *    (`node dist/bin/dht2.js gateway … --log-level warn`), so its RSS and CPU are measured apart
 *    from the load generator (this process) and from the bricks;
 *  - s3rver: `node --openssl-legacy-provider node_modules/s3rver/bin/s3rver.js --silent` (its
 *    paginated listing fails on Node 20 without the flag); it checks SigV4 signatures but does
 *    not fsync;
 *  - the HTTP sink (bench/http-sink.ts): a bare node:http server that discards uploads and
 *    produces downloads, the transport limit.
 *
 * A {@link Workspace} owns the temp dir and every child, and removes both on Ctrl-C.
 */
import { readFileSync, readdirSync, rmSync } from 'node:fs';
import { mkdir, mkdtemp, rm } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { pino } from 'pino';
import { Agent, request } from './undici.js';
import { volumeBricks } from '../dht2-core/index.js';
import { DHT2_BIN, NODE_HEAP_FLAGS } from '../brick/spawn.js';
import { runLocalCluster, type LocalCluster } from '../brick/local-cluster.js';
import { startNodeChild, waitReady, type NodeChild } from '../brick/node-child.js';

export const BENCH_ACCESS_KEY = 'bench-access';
export const BENCH_SECRET_KEY = 'bench-secret-0123456789-abcdefghij';
export const BENCH_REGION = 'us-east-1';

/** A server under test: its endpoint, credentials and the processes that serve it. */
export interface System {
  name: string;
  /** Short id used in bucket names and JSON keys (`gateway`, `s3rver`, `sink`). */
  tag: string;
  endpoint: string;
  accessKey: string;
  secretKey: string;
  /** The process whose RSS is the row's peak (the gateway, s3rver, the sink). */
  mainPid: number;
  /** Every process of the system (gateway + bricks, or one); their CPU is the row's. */
  pids: number[];
  /** Extra processes reported by name in the details (the bricks). */
  named: Map<number, string>;
}

// ------------------------------------------------------------------ ports

/** A port nobody listens on now (the OS picks it). */
export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const port = (s.address() as { port: number }).port;
      s.close(() => resolve(port));
    });
  });
}

async function portFree(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = createServer();
    s.once('error', () => resolve(false));
    s.listen(port, '127.0.0.1', () => s.close(() => resolve(true)));
  });
}

/** The first of `n` consecutive free ports (the local cluster numbers its bricks from a base). */
export async function freePortRange(n: number): Promise<number> {
  for (let attempt = 0; attempt < 50; attempt++) {
    const base = 20_000 + Math.floor(Math.random() * 30_000);
    let ok = true;
    for (let p = base; p < base + n && ok; p++) ok = await portFree(p);
    if (ok) return base;
  }
  throw new Error(`no ${n} consecutive free ports found`);
}

/** Pids of this process's children whose command line contains `word` (the bricks of runLocalCluster). */
function childPids(word: string): number[] {
  const out: number[] = [];
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    try {
      const stat = readFileSync(`/proc/${name}/stat`, 'utf8');
      const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
      if (ppid !== process.pid) continue;
      const cmd = readFileSync(`/proc/${name}/cmdline`, 'utf8').split('\0');
      if (cmd.includes(word)) out.push(Number(name));
    } catch {
      /* gone meanwhile */
    }
  }
  return out;
}

// ------------------------------------------------------------------ workspace

/** A temp dir and the processes a scenario started in it; {@link close} stops and removes them all. */
export class Workspace {
  private readonly children: NodeChild[] = [];
  private readonly clusters: LocalCluster[] = [];
  private readonly onSigint = (): void => {
    for (const c of this.children) c.proc.kill('SIGTERM');
    rmSync(this.root, { recursive: true, force: true, maxRetries: 3 });
    process.exit(130);
  };

  private constructor(readonly root: string) {
    process.once('SIGINT', this.onSigint);
  }

  static async create(tag: string): Promise<Workspace> {
    return new Workspace(await mkdtemp(join(tmpdir(), `dht2-bench-${tag}-`)));
  }

  /** Throws when one of the servers died (checked between phases: a dead server would make every later row meaningless). */
  async checkAlive(): Promise<void> {
    const gone = await Promise.race([...this.children.map((c) => c.exited), new Promise((r) => setTimeout(() => r(undefined), 0))]);
    if (gone !== undefined) throw new Error(`a server process exited (${String(gone)}) during the run`);
  }

  /**
   * 2 MDS + 3 DS bricks in `<root>/<name>` on spare ports (a second call with the same name
   * serves the same volume again, e.g. with another sync mode); `shape` gives other set counts
   * and a replica count (bench/replica.ts: one MDS and one DS set, replica 1 or 3).
   */
  async cluster(name: string, sync: boolean, shape: { mds: number; ds: number; replica: number } = { mds: 2, ds: 3, replica: 1 }): Promise<LocalCluster> {
    const brickPortBase = await this.portBase(name, (shape.mds + shape.ds) * shape.replica);
    const logger = pino({ name: 'bench', level: 'warn' }, pino.destination(2));
    const c = await runLocalCluster({
      dataDir: join(this.root, name), mdsCount: shape.mds, dsCount: shape.ds, ...(shape.replica !== 1 ? { replica: shape.replica } : {}),
      brickPortBase, host: '127.0.0.1', sync, logger,
    });
    this.clusters.push(c);
    return c;
  }

  private readonly bases = new Map<string, number>();

  private async portBase(name: string, n: number): Promise<number> {
    const known = this.bases.get(name);
    if (known !== undefined) return known;
    const base = await freePortRange(n);
    this.bases.set(name, base);
    return base;
  }

  /** Stops a cluster started by {@link cluster} (its data stays). */
  async stopCluster(c: LocalCluster): Promise<void> {
    const i = this.clusters.indexOf(c);
    if (i >= 0) this.clusters.splice(i, 1);
    await c.stop();
  }

  /** The gateway over `cluster` as its own process, ready; returns the {@link System} (gateway + the cluster's bricks). */
  async gateway(cluster: LocalCluster): Promise<System & { child: NodeChild }> {
    const port = await freePort();
    // The V8 flags `npm start` and the image give the gateway (brick/spawn.ts NODE_HEAP_FLAGS).
    const child = this.track(startNodeChild([...NODE_HEAP_FLAGS, DHT2_BIN, 'gateway', '--volfile', cluster.volfile, '--port', String(port), '--host', '127.0.0.1',
      '--region', BENCH_REGION, '--access-key', BENCH_ACCESS_KEY, '--secret-key', BENCH_SECRET_KEY, '--log-level', 'warn']));
    const url = `http://127.0.0.1:${port}`;
    const probe = new Agent();
    await waitReady('gateway', child, async () => {
      const res = await request(`${url}/-/ready`, { dispatcher: probe });
      await res.body.dump();
      return res.statusCode === 200;
    }).finally(() => probe.close());
    const brickPids = childPids('brick');
    const named = new Map<number, string>();
    const ids = new Set(volumeBricks(cluster.volume).map((b) => b.id));
    for (const pid of brickPids) {
      const cmd = readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0');
      const id = cmd[cmd.indexOf('--brick-id') + 1];
      named.set(pid, id && ids.has(id) ? id : `brick${pid}`);
    }
    return {
      name: 'dht2 gateway', tag: 'gateway', endpoint: url, accessKey: BENCH_ACCESS_KEY, secretKey: BENCH_SECRET_KEY,
      mainPid: child.pid, pids: [child.pid, ...brickPids], named, child,
    };
  }

  /** s3rver on this workspace's disk. */
  async s3rver(): Promise<System> {
    const dir = join(this.root, 's3rver');
    await mkdir(dir, { recursive: true });
    const port = await freePort();
    let listening = false;
    const child = this.track(startNodeChild(['--openssl-legacy-provider', s3rverBin(), '-d', dir, '-a', '127.0.0.1', '-p', String(port), '--silent'],
      { onLine: (line) => { if (line.includes('S3rver listening')) listening = true; } }));
    await waitReady('s3rver', child, async () => listening);
    return {
      name: 's3rver', tag: 's3rver', endpoint: `http://127.0.0.1:${port}`, accessKey: 'S3RVER', secretKey: 'S3RVER',
      mainPid: child.pid, pids: [child.pid], named: new Map(),
    };
  }

  /** The bare HTTP/1.1 sink (bench/http-sink.ts) in its own process. */
  async httpSink(): Promise<System> {
    let url: string | undefined;
    const child = this.track(startNodeChild([fileURLToPath(new URL('./http-sink.js', import.meta.url))],
      { onLine: (line) => { url ??= /^http-sink listening (http:\S+)/.exec(line)?.[1]; } }));
    await waitReady('http sink', child, async () => url !== undefined);
    return {
      name: 'bare HTTP/1.1', tag: 'sink', endpoint: url!, accessKey: 'sink', secretKey: 'sink',
      mainPid: child.pid, pids: [child.pid], named: new Map(),
    };
  }

  /** Stops a child started here (e.g. the gateway, to start a fresh one). */
  async stopChild(child: NodeChild): Promise<void> {
    const i = this.children.indexOf(child);
    if (i >= 0) this.children.splice(i, 1);
    await child.stop();
  }

  private track(c: NodeChild): NodeChild {
    this.children.push(c);
    return c;
  }

  async close(): Promise<void> {
    process.off('SIGINT', this.onSigint);
    await Promise.allSettled(this.children.map((c) => c.stop()));
    await Promise.allSettled(this.clusters.map((c) => c.stop()));
    await rm(this.root, { recursive: true, force: true, maxRetries: 3 });
  }
}

function s3rverBin(): string {
  const require = createRequire(import.meta.url);
  return join(dirname(require.resolve('s3rver/package.json')), 'bin', 's3rver.js');
}
