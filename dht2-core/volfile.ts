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

const common = {
  name: z.string().regex(/^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/, 'name: 1-64 of [A-Za-z0-9._-]'),
  volumeId: z.string().regex(/^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$/, 'volumeId: 1-128 of [A-Za-z0-9._-]'),
  buckets: z.literal(BUCKET_COUNT),
  secret: z.union([
    z.strictObject({ env: z.string().min(1) }),
    z.strictObject({ file: z.string().min(1) }),
  ]),
  /** PEM CA file for https bricks (relative to the volume file). */
  tlsCa: z.string().optional(),
};

/** Format 1: a list of bricks per role, each brick its own set (every volume before issue 16). */
export const VolumeFileV1Schema = z.strictObject({
  format: z.literal(1),
  ...common,
  mds: z.array(BrickRef).min(1),
  ds: z.array(BrickRef).min(1),
});
export type VolumeFileV1 = z.infer<typeof VolumeFileV1Schema>;

const SetRef = z.strictObject({
  /** The set's id (the layout's, ARCHITECTURE.md §10.9). */
  id: z.string().regex(/^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$/, 'set id: 1-128 of [A-Za-z0-9._-]'),
  bricks: z.array(BrickRef).min(1).max(7),
});
export type SetRef = z.infer<typeof SetRef>;

/** Format 2 (ARCHITECTURE.md §10.12): replica sets per role, each of `replica` bricks. */
export const VolumeFileV2Schema = z.strictObject({
  format: z.literal(2),
  ...common,
  replica: z.number().int().min(1).max(7),
  mds: z.array(SetRef).min(1),
  ds: z.array(SetRef).min(1),
});
export type VolumeFileV2 = z.infer<typeof VolumeFileV2Schema>;

export const VolumeFileSchema = z.discriminatedUnion('format', [VolumeFileV1Schema, VolumeFileV2Schema]);
export type VolumeFile = z.infer<typeof VolumeFileSchema>;

/** A replica set of a volume file: a set of one for every brick of a format-1 file. */
export interface VolumeSet {
  id: string;
  role: 'mds' | 'ds';
  bricks: BrickRef[];
}

/** The sets of a volume file, MDS sets first, in layout order. */
export function volumeSets(v: VolumeFile): VolumeSet[] {
  if (v.format === 1) {
    return [
      ...v.mds.map((b) => ({ id: b.id, role: 'mds' as const, bricks: [b] })),
      ...v.ds.map((b) => ({ id: b.id, role: 'ds' as const, bricks: [b] })),
    ];
  }
  return [...v.mds.map((s) => ({ ...s, role: 'mds' as const })), ...v.ds.map((s) => ({ ...s, role: 'ds' as const }))];
}

/** Every brick of a volume file with its role and set, MDS bricks first. */
export function volumeBricks(v: VolumeFile): Array<BrickRef & { role: 'mds' | 'ds'; set: string }> {
  return volumeSets(v).flatMap((s) => s.bricks.map((b) => ({ ...b, role: s.role, set: s.id })));
}

/** The replica count: 1 for a format-1 file. */
export function replicaOf(v: VolumeFile): number {
  return v.format === 1 ? 1 : v.replica;
}

/**
 * Why a replica count is refused, or undefined when it is supported (ARCHITECTURE.md §10.12):
 * a majority of an even count is more than half, so replica 2 stops writes when one brick is
 * down, and taking writes on one brick instead is AFR's split brain.
 */
export function replicaProblem(n: number): string | undefined {
  if (!Number.isInteger(n) || n < 1 || n > 7) return `replica ${n}: 1, 3, 5 or 7`;
  if (n % 2 === 0) {
    return `replica ${n} is not supported: a write must reach a majority (${n / 2 + 1} of ${n}), so with one brick down ` +
      `writes would stop; use 3 (survives one brick down) or 1 (docs/ARCHITECTURE.md §10.12)`;
  }
  return undefined;
}

/** Checks a parsed document; throws EINVAL naming the first problem. */
export function parseVolumeFile(doc: unknown, where = 'volume file'): VolumeFile {
  const r = VolumeFileSchema.safeParse(doc);
  if (!r.success) {
    const i = r.error.issues[0]!;
    throw err('EINVAL', `${where}: ${i.path.join('.') || '(top)'}: ${i.message}`);
  }
  const v = r.data;
  if (v.format === 2) {
    const problem = replicaProblem(v.replica);
    if (problem) throw err('EINVAL', `${where}: ${problem}`);
  }
  const seenId = new Map<string, string>();
  const seenUrl = new Map<string, string>();
  const brick = (b: BrickRef, here: string): void => {
    const url = new URL(b.url).origin;
    if (seenId.has(b.id)) throw err('EINVAL', `${where}: brick id ${b.id} is named twice (${seenId.get(b.id)} and ${here})`);
    if (seenUrl.has(url)) throw err('EINVAL', `${where}: brick ${url} is named twice (${seenUrl.get(url)} and ${here})`);
    seenId.set(b.id, here);
    seenUrl.set(url, here);
  };
  if (v.format === 1) {
    for (const role of ['mds', 'ds'] as const) v[role].forEach((b, i) => brick(b, `${role}[${i}]`));
    return v;
  }
  const seenSet = new Map<string, string>();
  for (const role of ['mds', 'ds'] as const) {
    v[role].forEach((s, i) => {
      const here = `${role}[${i}]`;
      if (seenSet.has(s.id)) throw err('EINVAL', `${where}: set id ${s.id} is named twice (${seenSet.get(s.id)} and ${here})`);
      seenSet.set(s.id, here);
      if (s.bricks.length !== v.replica) {
        throw err('EINVAL', `${where}: set ${s.id} has ${s.bricks.length} bricks; a volume of replica ${v.replica} needs ${v.replica} in every set`);
      }
      s.bricks.forEach((b, j) => brick(b, `${here}.bricks[${j}]`));
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
 * The layout a volume file implies (ARCHITECTURE.md §10.9, §10.14): epoch 1, the file's sets
 * (format 1: each brick a set of one whose id is the brick's id), even contiguous ranges in the
 * order the file lists them. For format 1 that is the placement every volume had before
 * layouts, so opening an old volume moves nothing.
 */
export function seedLayout(v: VolumeFile): LayoutDoc {
  const bricks: Record<string, string> = {};
  for (const b of volumeBricks(v)) bricks[b.id] = b.url;
  const sets = volumeSets(v);
  return parseLayoutDoc({
    epoch: 1,
    volumeId: v.volumeId,
    buckets: v.buckets,
    sets: sets.map((s) => ({ id: s.id, role: s.role, members: s.bricks.map((b) => b.id) })),
    bricks,
    mdsRanges: evenRanges(sets.filter((s) => s.role === 'mds').map((s) => s.id)),
    dsRanges: evenRanges(sets.filter((s) => s.role === 'ds').map((s) => s.id)),
  }, 'layout seeded from the volume file');
}
