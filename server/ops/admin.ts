/** /-/admin/volume: the layout, the bricks and the capacity, for the root key only. */
import type { IncomingMessage } from 'node:http';
import type { Volume } from '../../dht2-core/index.js';
import { authenticate, type CredentialStore } from '../auth/index.js';
import { isBasicAuth, verifyBasicAuth } from '../auth/basic.js';
import type { RequestTarget } from '../request-target.js';

/**
 * True for Basic or S3-signed requests made with the root access key. `target` is the raw path
 * and query as sent (server/request-target.ts), which is what a signature covers.
 */
export function isRootRequest(req: IncomingMessage, target: Pick<RequestTarget, 'rawPath' | 'rawQuery'>, creds: CredentialStore, rootAccessKey: string): boolean {
  const h = req.headers.authorization;
  if (isBasicAuth(h)) return verifyBasicAuth(h, creds) === rootAccessKey;
  try {
    const a = authenticate({ method: req.method ?? 'GET', rawPath: target.rawPath, rawQuery: target.rawQuery, headers: req.headers }, creds);
    return a.accessKeyId === rootAccessKey;
  } catch {
    return false;
  }
}

export async function adminVolume(v: Volume): Promise<Record<string, unknown>> {
  const [health, fs, total] = await Promise.all([v.brickHealth(), v.brickStatfs(), v.statfs().catch(() => undefined)]);
  const vf = v.file;
  const ids = v.setIds();
  return {
    name: vf?.name,
    volumeId: vf?.volumeId,
    buckets: vf?.buckets,
    // Placement is a lookup in the layout (ARCHITECTURE.md §10.9): bucket ranges to MDS sets,
    // ranges of a GFID's low 16 bits to DS sets.
    layout: { epoch: v.layout.epoch, mds: v.layout.mdsRanges(), ds: v.layout.dsRanges(), dsCount: v.layout.dsCount },
    capacity: total,
    bricks: health.map((b) => {
      // Capacity is per set: on a replicated set, its primary's.
      const i = (b.role === 'mds' ? ids.mds : ids.ds).indexOf(b.set);
      const s = fs.find((x) => x.role === b.role && x.index === i);
      return { ...b, ...(s?.statfs ? { sizeBytes: s.statfs.blocks * s.statfs.bsize, availBytes: s.statfs.bavail * s.statfs.bsize, files: s.statfs.files, freeFiles: s.statfs.ffree } : {}) };
    }),
  };
}
