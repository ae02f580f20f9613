/**
 * Installing a replicated volume's layout on its bricks (ARCHITECTURE.md §10.9): how a brick
 * learns its set and its peers. `dht2 volume create --replica` and `dht2 local --replica` do it;
 * a replica-1 volume installs nothing (its layout is computed from the volume file, §10.14).
 */
import { isErr } from './protocol/index.js';
import { BrickClient } from './rpc/brick-client.js';
import { replicaOf, seedLayout, volumeBricks, volumeSets, type VolumeFile } from './volfile.js';

/**
 * Installs the volume file's layout on every brick of a replicated volume. Installing the same
 * layout again is a repeat the bricks accept, so it may run on every start (a first start cut
 * after some bricks). A brick that cannot be reached is skipped while every set got the layout
 * on a majority (a gateway restarting with one member down, ARCHITECTURE.md §10.12): the ids of
 * the skipped bricks are answered, and `dht2 heal start --full` installs it later. Any other
 * refusal, or a set without a majority, rejects with the first brick's error.
 */
export async function installLayout(
  vf: VolumeFile, secret: string, o: { timeoutMs?: number; tls?: { ca?: string | Buffer } } = {},
): Promise<{ unreachable: string[] }> {
  if (replicaOf(vf) === 1) return { unreachable: [] };
  const layout = seedLayout(vf);
  const bricks = volumeBricks(vf);
  const results = await Promise.allSettled(bricks.map(async (b) => {
    const c = new BrickClient({ url: b.url, secret, brickId: b.id, timeoutMs: o.timeoutMs ?? 10_000, tls: o.tls });
    try {
      await c.call('layoutset', { layout });
    } catch (e) {
      throw new Error(`brick ${b.id} (${b.url}): ${(e as Error).message}`, { cause: e });
    } finally {
      await c.close();
    }
  }));
  const down = new Set(bricks.filter((_, i) => {
    const r = results[i]!;
    return r.status === 'rejected' && isErr((r.reason as Error).cause, 'EHOSTDOWN', 'ENOTCONN', 'ETIMEDOUT');
  }).map((b) => b.id));
  const failed = results.find((r, i): r is PromiseRejectedResult => r.status === 'rejected' && !down.has(bricks[i]!.id));
  if (failed) throw failed.reason;
  for (const s of volumeSets(vf)) {
    const missing = s.bricks.filter((b) => down.has(b.id));
    if ((s.bricks.length - missing.length) * 2 <= s.bricks.length) {
      throw (results[bricks.findIndex((b) => b.id === missing[0]!.id)] as PromiseRejectedResult).reason;
    }
  }
  return { unreachable: [...down] };
}
