/**
 * Installing a replicated volume's layout on its bricks (ARCHITECTURE.md §10.9): how a brick
 * learns its set and its peers. `dht2 volume create --replica` and `dht2 local --replica` do it;
 * a replica-1 volume installs nothing (its layout is computed from the volume file, §10.14).
 */
import { BrickClient } from './rpc/brick-client.js';
import { replicaOf, seedLayout, volumeBricks, type VolumeFile } from './volfile.js';

/**
 * Installs the volume file's layout on every brick of a replicated volume. Installing the same
 * layout again is a repeat the bricks accept, so it may run on every start (a first start cut
 * after some bricks). Rejects with the first brick's error; the others are still attempted.
 */
export async function installLayout(vf: VolumeFile, secret: string, o: { timeoutMs?: number; tls?: { ca?: string | Buffer } } = {}): Promise<void> {
  if (replicaOf(vf) === 1) return;
  const layout = seedLayout(vf);
  const results = await Promise.allSettled(volumeBricks(vf).map(async (b) => {
    const c = new BrickClient({ url: b.url, secret, brickId: b.id, timeoutMs: o.timeoutMs ?? 10_000, tls: o.tls });
    try {
      await c.call('layoutset', { layout });
    } catch (e) {
      throw new Error(`brick ${b.id} (${b.url}): ${(e as Error).message}`, { cause: e });
    } finally {
      await c.close();
    }
  }));
  const failed = results.find((r): r is PromiseRejectedResult => r.status === 'rejected');
  if (failed) throw failed.reason;
}
