/**
 * A whole volume's bricks on this machine as child processes, data under one folder: what
 * `dht2 local` runs (bin/dht2.ts starts the gateway over it) and what the benchmarks start
 * (bench/servers.ts). It is the supervisor of spawn.ts's bricks, so it lives beside it: the
 * brick package, not the gateway's, which keeps `server -> dht2-core <- brick` one-way.
 * On the first start it makes the cluster secret (`cluster.secret`, mode 0600) and the volume
 * file (`volume.json`); a second start serves the same data from them. A brick that dies is
 * reported and restarted.
 */
import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import type { Logger } from 'pino';
import { spawnBrick, type BrickProcess } from './spawn.js';
import type { BrickRole } from './posix2/format.js';
import {
  checkClusterSecret, Dht2Error, err, installLayout, loadVolumeFile, MIN_NEW_SECRET_BYTES, replicaOf, replicaProblem,
  volumeBricks, writeVolumeFile, type VolumeFile,
} from '../dht2-core/index.js';

export interface LocalClusterOptions {
  dataDir: string;
  /** MDS and DS sets; with `replica` 3, each set is 3 bricks. */
  mdsCount: number;
  dsCount: number;
  /** Bricks per set (1 or 3; ARCHITECTURE.md §10.12); 1 when omitted. Fixed when the data folder is made. */
  replica?: number;
  /** First brick port; bricks take consecutive ports so addresses stay the same across starts. */
  brickPortBase: number;
  host: string;
  sync: boolean;
  logger: Logger;
}

export interface LocalCluster {
  volfile: string;
  volume: VolumeFile;
  stop(): Promise<void>;
}

/**
 * The data folder's secret: made on the first start (32 random bytes, hex), else read. One
 * written by hand is checked as a new volume's when there is no volume file yet, else as an
 * existing one's (a warning when short; the bricks and the gateway log it too).
 */
async function loadOrCreateSecret(dataDir: string, newVolume: boolean): Promise<string> {
  const path = join(dataDir, 'cluster.secret');
  try {
    const secret = (await readFile(path, 'utf8')).split('\n')[0]!.trim();
    try {
      checkClusterSecret(secret, { newVolume });
    } catch (e) {
      throw err('EINVAL', `${path}: ${e instanceof Dht2Error ? e.detail : (e as Error).message}`);
    }
    return secret;
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw e;
  }
  const secret = randomBytes(MIN_NEW_SECRET_BYTES).toString('hex');
  await writeFile(path, secret + '\n', { mode: 0o600, flag: 'wx' });
  return secret;
}

/** The volume file of this data folder: kept when present (same ids), made on the first start. */
async function loadOrCreateVolume(o: LocalClusterOptions, dataDir: string): Promise<{ path: string; vf: VolumeFile }> {
  const path = join(dataDir, 'volume.json');
  const url = (port: number) => `http://${o.host.includes(':') ? `[${o.host}]` : o.host}:${port}`;
  try {
    return { path, vf: await loadVolumeFile(path) };
  } catch (e) {
    if ((e as { errno?: string }).errno !== 'ENOENT') throw e;
  }
  const replica = o.replica ?? 1;
  const common = { name: 'local', volumeId: `local-${randomBytes(4).toString('hex')}`, buckets: 65536 as const, secret: { file: 'cluster.secret' } };
  let vf: VolumeFile;
  if (replica === 1) {
    vf = {
      format: 1, ...common,
      mds: Array.from({ length: o.mdsCount }, (_, i) => ({ id: `mds${i}`, url: url(o.brickPortBase + i) })),
      ds: Array.from({ length: o.dsCount }, (_, i) => ({ id: `ds${i}`, url: url(o.brickPortBase + o.mdsCount + i) })),
    };
  } else {
    // Sets mds0, ds0, …, of bricks mds0-1, mds0-2, mds0-3 on consecutive ports.
    let port = o.brickPortBase;
    const sets = (role: string, n: number) => Array.from({ length: n }, (_, i) => ({
      id: `${role}${i}`,
      bricks: Array.from({ length: replica }, (_, j) => ({ id: `${role}${i}-${j + 1}`, url: url(port++) })),
    }));
    const mds = sets('mds', o.mdsCount);
    vf = { format: 2, ...common, replica, mds, ds: sets('ds', o.dsCount) };
  }
  await writeVolumeFile(path, vf);
  return { path, vf };
}

export async function runLocalCluster(o: LocalClusterOptions): Promise<LocalCluster> {
  const dataDir = resolve(o.dataDir);
  await mkdir(dataDir, { recursive: true });
  const secret = await loadOrCreateSecret(dataDir, !existsSync(join(dataDir, 'volume.json')));
  const problem = o.replica === undefined ? undefined : replicaProblem(o.replica);
  if (problem) throw err('EINVAL', problem);
  const { path: volfile, vf } = await loadOrCreateVolume(o, dataDir);
  if (o.replica !== undefined && replicaOf(vf) !== o.replica) {
    throw err('EINVAL', `${volfile} is a volume of replica ${replicaOf(vf)}, not ${o.replica}: a volume keeps the replica count it was made with (use another --data-dir)`);
  }
  const specs: Array<{ id: string; role: BrickRole; port: number }> = volumeBricks(vf)
    .map((b) => ({ id: b.id, role: b.role, port: Number(new URL(b.url).port) }));
  const running = new Map<string, BrickProcess>();
  let stopping = false;

  const start = async (s: (typeof specs)[number]): Promise<void> => {
    const b = await spawnBrick({
      dir: join(dataDir, s.id), role: s.role, secret, volumeId: vf.volumeId,
      port: s.port, host: o.host, sync: o.sync, args: ['--brick-id', s.id],
    });
    running.set(s.id, b);
    o.logger.info({ brick: s.id, role: s.role, pid: b.pid, url: b.url }, 'brick started');
    void b.exited.then((code) => {
      if (stopping) return;
      o.logger.error({ brick: s.id, exit: code }, 'brick died; restarting in 1 s');
      setTimeout(() => {
        if (!stopping) start(s).catch((e: unknown) => o.logger.error({ brick: s.id, err: e }, 'brick restart failed'));
      }, 1000);
    });
  };
  // Every start is waited for, not only the first to fail: a brick still starting when another
  // fails would otherwise be left behind, listening, when this process exits (issue 14).
  const started = await Promise.allSettled(specs.map(start));
  const failed = started.flatMap((r, i) => (r.status === 'rejected' ? [{ id: specs[i]!.id, reason: r.reason as unknown }] : []));
  if (failed.length > 0) {
    stopping = true;
    await Promise.all([...running.values()].map((b) => b.stop()));
    const why = failed.map((f) => `brick ${f.id} ${brickFailure(f.reason)}`).join('; ');
    throw err('EIO', `the local cluster did not start: ${why} (every brick it started was stopped)`);
  }
  try {
    await installLayout(vf, secret);
  } catch (e) {
    stopping = true;
    await Promise.all([...running.values()].map((b) => b.stop()));
    throw err('EIO', `the local cluster did not start: installing the layout failed: ${(e as Error).message} (every brick it started was stopped)`);
  }
  o.logger.info({
    volumeId: vf.volumeId, dataDir, volfile, replica: replicaOf(vf),
    bricks: Object.fromEntries(specs.map((s) => [s.id, running.get(s.id)!.url])),
  }, 'local cluster ready: every brick answers');
  return {
    volfile,
    volume: vf,
    async stop() {
      stopping = true;
      await Promise.all([...running.values()].map((b) => b.stop()));
    },
  };
}

/** What a brick that did not start said: its own last `dht2: ...` line when it printed one. */
function brickFailure(reason: unknown): string {
  const text = reason instanceof Error ? reason.message : String(reason);
  const said = /^dht2: (.+)$/m.exec(text);
  return said ? `did not start: ${said[1]}` : text;
}
