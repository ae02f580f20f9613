/**
 * `dht2 local`: a whole volume on this machine as child processes, data under one folder.
 * Today it runs the bricks (2 MDS + 3 DS by default); the gateway joins when it exists.
 * The cluster secret and volume id are made on the first start and kept in the data folder,
 * so a second start serves the same data. A brick that dies is reported and restarted.
 */
import { randomBytes, randomUUID } from 'node:crypto';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import type { Logger } from 'pino';
import { spawnBrick, type BrickProcess } from '../brick/spawn.js';
import type { BrickRole } from '../brick/posix2/format.js';

export interface LocalClusterOptions {
  dataDir: string;
  mdsCount: number;
  dsCount: number;
  /** First brick port; bricks take consecutive ports so addresses stay the same across starts. */
  brickPortBase: number;
  host: string;
  sync: boolean;
  logger: Logger;
}

interface ClusterState {
  volumeId: string;
  secret: string;
}

async function loadOrCreateState(dataDir: string): Promise<ClusterState> {
  const path = join(dataDir, 'cluster.json');
  try {
    return JSON.parse(await readFile(path, 'utf8')) as ClusterState;
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw e;
  }
  const state: ClusterState = { volumeId: `local-${randomUUID().slice(0, 8)}`, secret: randomBytes(24).toString('hex') };
  await writeFile(path, JSON.stringify(state, null, 2) + '\n', { mode: 0o600, flag: 'wx' });
  return state;
}

export async function runLocalCluster(o: LocalClusterOptions): Promise<{ stop(): Promise<void> }> {
  const dataDir = resolve(o.dataDir);
  await mkdir(dataDir, { recursive: true });
  const state = await loadOrCreateState(dataDir);
  const specs: Array<{ name: string; role: BrickRole; port: number }> = [];
  for (let i = 0; i < o.mdsCount; i++) specs.push({ name: `mds${i}`, role: 'mds', port: o.brickPortBase + i });
  for (let i = 0; i < o.dsCount; i++) specs.push({ name: `ds${i}`, role: 'ds', port: o.brickPortBase + o.mdsCount + i });
  const running = new Map<string, BrickProcess>();
  let stopping = false;

  const start = async (s: (typeof specs)[number]): Promise<void> => {
    const b = await spawnBrick({
      dir: join(dataDir, s.name), role: s.role, secret: state.secret, volumeId: state.volumeId,
      port: s.port, host: o.host, sync: o.sync,
    });
    running.set(s.name, b);
    void b.exited.then((code) => {
      if (stopping) return;
      o.logger.error({ brick: s.name, exit: code }, 'brick died; restarting in 1 s');
      setTimeout(() => {
        if (!stopping) start(s).catch((e: unknown) => o.logger.error({ brick: s.name, err: e }, 'brick restart failed'));
      }, 1000);
    });
  };
  try {
    await Promise.all(specs.map(start));
  } catch (e) {
    stopping = true;
    await Promise.all([...running.values()].map((b) => b.stop()));
    throw e;
  }
  await writeFile(join(dataDir, 'bricks.json'), JSON.stringify({
    volumeId: state.volumeId,
    bricks: specs.map((s) => ({ name: s.name, role: s.role, url: running.get(s.name)!.url, dir: join(dataDir, s.name) })),
  }, null, 2) + '\n');
  o.logger.info({
    volumeId: state.volumeId, dataDir,
    bricks: Object.fromEntries(specs.map((s) => [s.name, running.get(s.name)!.url])),
  }, 'local cluster ready: every brick answers');
  return {
    async stop() {
      stopping = true;
      await Promise.all([...running.values()].map((b) => b.stop()));
    },
  };
}
