/** A real volume for tests: brick processes (2 MDS + 3 DS by default) on ephemeral ports. */
import { join } from 'node:path';
import { spawnBrick, type BrickProcess } from '../../brick/spawn.js';
import { BrickClient } from '../../dht2-core/rpc/brick-client.js';
import { CountingFops } from '../../dht2-core/layers/counting.js';
import { Volume } from '../../dht2-core/volume.js';
import { writeVolumeFile, type VolumeFile } from '../../dht2-core/volfile.js';
import { writeFile } from 'node:fs/promises';
import { SECRET, tmpDir } from './tmp.js';

export interface TestCluster {
  dir: string;
  mds: BrickProcess[];
  ds: BrickProcess[];
  /** Counting layers over each brick client, MDS first. */
  mdsCount: CountingFops[];
  dsCount: CountingFops[];
  volume: Volume;
  volfile: string;
  /** Starts brick `i` of a role again (same dir and port) after a kill. */
  restart(role: 'mds' | 'ds', i: number): Promise<void>;
  stop(): Promise<void>;
}

export async function startCluster(o: { mds?: number; ds?: number; sync?: boolean } = {}): Promise<TestCluster> {
  const tmp = await tmpDir('cluster');
  const volumeId = 'testvol';
  const spawnOne = (role: 'mds' | 'ds', i: number, port = 0) =>
    spawnBrick({ dir: join(tmp.path, `${role}${i}`), role, secret: SECRET, volumeId, sync: o.sync ?? false, port, args: ['--brick-id', `${role}${i}`] });
  const mds = await Promise.all(Array.from({ length: o.mds ?? 2 }, (_, i) => spawnOne('mds', i)));
  const ds = await Promise.all(Array.from({ length: o.ds ?? 3 }, (_, i) => spawnOne('ds', i)));
  const client = (b: BrickProcess, i: number, role: string) => new CountingFops(new BrickClient({ url: b.url, secret: SECRET, brickId: `${role}${i}`, timeoutMs: 20_000 }));
  const mdsCount = mds.map((b, i) => client(b, i, 'mds'));
  const dsCount = ds.map((b, i) => client(b, i, 'ds'));
  const vf: VolumeFile = {
    format: 1, name: 'testvol', volumeId, buckets: 65536, secret: { file: 'secret' },
    mds: mds.map((b, i) => ({ id: `mds${i}`, url: b.url })), ds: ds.map((b, i) => ({ id: `ds${i}`, url: b.url })),
  };
  const volfile = join(tmp.path, 'volume.json');
  await writeFile(join(tmp.path, 'secret'), SECRET + '\n');
  await writeVolumeFile(volfile, vf);
  const volume = new Volume(mdsCount, dsCount, vf);
  const c: TestCluster = {
    dir: tmp.path, mds, ds, mdsCount, dsCount, volume, volfile,
    async restart(role, i) {
      const list = role === 'mds' ? mds : ds;
      list[i] = await spawnOne(role, i, list[i]!.port);
    },
    async stop() {
      await volume.close();
      await Promise.all([...mds, ...ds].map((b) => b.stop()));
      await tmp.cleanup();
    },
  };
  return c;
}
