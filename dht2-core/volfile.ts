/**
 * The volume file (docs/VOLUME-FILE.md): one JSON document that names the volume, its id, the
 * bucket count, the MDS and DS bricks with their addresses, and where the cluster secret comes
 * from. Malformed files, a brick named twice, and bricks whose identity disagrees are refused
 * with a message that says what is wrong.
 */
import { readFile, writeFile, rename } from 'node:fs/promises';
import { dirname, isAbsolute, resolve } from 'node:path';
import { z } from 'zod';
import { BUCKET_COUNT, err, evenRanges, parseLayoutDoc, type LayoutDoc } from './protocol/index.js';

const BrickRef = z.strictObject({
  /** The brick's id (its identity file's brickId). */
  id: z.string().min(1).max(128),
  /** http://host:port (h2c) or https://host:port (h2 over TLS). */
  url: z.url({ protocol: /^https?$/ }),
});
export type BrickRef = z.infer<typeof BrickRef>;

export const VolumeFileSchema = z.strictObject({
  format: z.literal(1),
  name: z.string().regex(/^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/, 'name: 1-64 of [A-Za-z0-9._-]'),
  volumeId: z.string().regex(/^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$/, 'volumeId: 1-128 of [A-Za-z0-9._-]'),
  buckets: z.literal(BUCKET_COUNT),
  secret: z.union([
    z.strictObject({ env: z.string().min(1) }),
    z.strictObject({ file: z.string().min(1) }),
  ]),
  mds: z.array(BrickRef).min(1),
  ds: z.array(BrickRef).min(1),
  /** PEM CA file for https bricks (relative to the volume file). */
  tlsCa: z.string().optional(),
});
export type VolumeFile = z.infer<typeof VolumeFileSchema>;

/** Checks a parsed document; throws EINVAL naming the first problem. */
export function parseVolumeFile(doc: unknown, where = 'volume file'): VolumeFile {
  const r = VolumeFileSchema.safeParse(doc);
  if (!r.success) {
    const i = r.error.issues[0]!;
    throw err('EINVAL', `${where}: ${i.path.join('.') || '(top)'}: ${i.message}`);
  }
  const v = r.data;
  const seenId = new Map<string, string>();
  const seenUrl = new Map<string, string>();
  for (const [role, list] of [['mds', v.mds], ['ds', v.ds]] as const) {
    list.forEach((b, i) => {
      const here = `${role}[${i}]`;
      const url = new URL(b.url).origin;
      if (seenId.has(b.id)) throw err('EINVAL', `${where}: brick id ${b.id} is named twice (${seenId.get(b.id)} and ${here})`);
      if (seenUrl.has(url)) throw err('EINVAL', `${where}: brick ${url} is named twice (${seenUrl.get(url)} and ${here})`);
      seenId.set(b.id, here);
      seenUrl.set(url, here);
    });
  }
  return v;
}

/** Reads and checks a volume file. */
export async function loadVolumeFile(path: string): Promise<VolumeFile> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (e) {
    throw err('ENOENT', `cannot read volume file ${path}: ${(e as Error).message}`);
  }
  let doc: unknown;
  try {
    doc = JSON.parse(text);
  } catch (e) {
    throw err('EINVAL', `${path} is not valid JSON: ${(e as Error).message}`);
  }
  return parseVolumeFile(doc, path);
}

/**
 * The cluster secret a volume file points to (`file` is relative to the volume file's folder).
 * It is not judged here: the caller knows whether the volume is new (checkClusterSecret).
 */
export async function resolveSecret(v: VolumeFile, volfilePath?: string, env: NodeJS.ProcessEnv = process.env): Promise<string> {
  let secret: string | undefined;
  if ('env' in v.secret) {
    secret = env[v.secret.env];
    if (!secret) throw err('EINVAL', `the volume's cluster secret is read from $${v.secret.env}, which is not set`);
  } else {
    const p = isAbsolute(v.secret.file) || !volfilePath ? v.secret.file : resolve(dirname(volfilePath), v.secret.file);
    secret = (await readFile(p, 'utf8').catch((e: Error) => { throw err('ENOENT', `cannot read cluster secret file ${p}: ${e.message}`); }))
      .split('\n')[0]!.trim();
  }
  return secret;
}

/** Writes a volume file atomically (temp + rename). */
export async function writeVolumeFile(path: string, v: VolumeFile): Promise<void> {
  parseVolumeFile(v, path);
  const tmp = `${path}.tmp-${process.pid}`;
  await writeFile(tmp, JSON.stringify(v, null, 2) + '\n', { mode: 0o644 });
  await rename(tmp, path);
}

/** What a brick says about itself (GET /-/health). */
export interface BrickIdentityInfo {
  role: string;
  volumeId: string;
  brickId: string;
}

/** Compares a brick's identity with its place in the volume file; returns a problem or undefined. */
export function identityProblem(v: VolumeFile, role: 'mds' | 'ds', ref: BrickRef, id: BrickIdentityInfo): string | undefined {
  if (id.volumeId !== v.volumeId) return `brick ${ref.url} belongs to volume ${id.volumeId}, but the volume file says ${v.volumeId}`;
  if (id.role !== role) return `brick ${ref.url} is a ${id.role} brick, but the volume file lists it as ${role}`;
  if (id.brickId !== ref.id) return `brick ${ref.url} is ${id.brickId}, but the volume file calls it ${ref.id}`;
  return undefined;
}

/**
 * The layout a volume file implies (ARCHITECTURE.md §10.9, §10.14): epoch 1, each brick a set of
 * one whose id is the brick's id, even contiguous ranges in the order the file lists the bricks.
 * That is the placement every volume had before layouts, so opening an old volume moves nothing.
 */
export function seedLayout(v: VolumeFile): LayoutDoc {
  const bricks: Record<string, string> = {};
  for (const b of [...v.mds, ...v.ds]) bricks[b.id] = b.url;
  return parseLayoutDoc({
    epoch: 1,
    volumeId: v.volumeId,
    buckets: v.buckets,
    sets: [
      ...v.mds.map((b) => ({ id: b.id, role: 'mds' as const, members: [b.id] })),
      ...v.ds.map((b) => ({ id: b.id, role: 'ds' as const, members: [b.id] })),
    ],
    bricks,
    mdsRanges: evenRanges(v.mds.map((b) => b.id)),
    dsRanges: evenRanges(v.ds.map((b) => b.id)),
  }, 'layout seeded from the volume file');
}
