/** /-/admin/volume: the layout, the bricks and the capacity, for the root key only. */
import type { IncomingMessage } from 'node:http';
import type { Volume } from '../../dht2-core/volume.js';
import { authenticate, type CredentialStore } from '../auth/index.js';
import { constantTimeEqual } from '../auth/common.js';

/** True for Basic or S3-signed requests made with the root access key. */
export function isRootRequest(req: IncomingMessage, creds: CredentialStore, rootAccessKey: string): boolean {
  const h = req.headers.authorization;
  if (typeof h === 'string' && h.startsWith('Basic ')) {
    const dec = Buffer.from(h.slice(6), 'base64').toString('utf8');
    const i = dec.indexOf(':');
    if (i < 0 || dec.slice(0, i) !== rootAccessKey) return false;
    const secret = creds.secretFor(rootAccessKey);
    return secret !== undefined && constantTimeEqual(secret, dec.slice(i + 1));
  }
  const url = req.url ?? '/';
  const qi = url.indexOf('?');
  try {
    const a = authenticate({ method: req.method ?? 'GET', rawPath: qi < 0 ? url : url.slice(0, qi), rawQuery: qi < 0 ? '' : url.slice(qi + 1), headers: req.headers }, creds);
    return a.accessKeyId === rootAccessKey;
  } catch {
    return false;
  }
}

export async function adminVolume(v: Volume): Promise<Record<string, unknown>> {
  const [health, fs, total] = await Promise.all([v.brickHealth(), v.brickStatfs(), v.statfs().catch(() => undefined)]);
  const vf = v.file;
  return {
    name: vf?.name,
    volumeId: vf?.volumeId,
    buckets: vf?.buckets,
    layout: { mds: v.layout.mdsRanges(), dsCount: v.layout.dsCount, dsPlacement: 'floor(low16(gfid) * DS / 65536)' },
    capacity: total,
    bricks: health.map((b) => {
      const i = b.role === 'mds' ? vf!.mds.findIndex((x) => x.id === b.id) : vf!.ds.findIndex((x) => x.id === b.id);
      const s = fs.find((x) => x.role === b.role && x.index === i);
      return { ...b, ...(s?.statfs ? { sizeBytes: s.statfs.blocks * s.statfs.bsize, availBytes: s.statfs.bavail * s.statfs.bsize, files: s.statfs.files, freeFiles: s.statfs.ffree } : {}) };
    }),
  };
}
