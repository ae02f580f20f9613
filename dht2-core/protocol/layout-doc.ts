/**
 * The versioned layout (docs/ARCHITECTURE.md §10.9): which replica sets a volume has, which
 * bricks are members of each, and which bucket ranges each set serves. Placement is a lookup in
 * it, not a formula, so that later work (a directory sharded over MDS sets, ranges moved to a new
 * set when a volume grows) changes the ranges and nothing else.
 *
 * In the protocol leaf because the bricks keep it too (`layoutset`/`layoutget`,
 * ON-DISK-FORMAT.md §6.3), and both ends must agree on what a valid layout is and on its digest.
 */
import { createHash } from 'node:crypto';
import { z } from 'zod';
import { err } from './errors.js';
import { BUCKET_COUNT } from './gfid.js';

const Id = z.string().min(1).max(128);

const RangeSchema = z.strictObject({
  first: z.number().int().min(0).max(BUCKET_COUNT - 1),
  last: z.number().int().min(0).max(BUCKET_COUNT - 1),
  set: Id,
});

export const LayoutDocSchema = z.strictObject({
  /** Raised by every change of sets or ranges; a brick refuses to go back (§10.9). */
  epoch: z.number().int().min(1),
  volumeId: z.string().min(1).max(128),
  buckets: z.literal(BUCKET_COUNT),
  sets: z.array(z.strictObject({
    id: Id,
    role: z.enum(['mds', 'ds']),
    members: z.array(Id).min(1).max(7),
  })).min(2),
  /** Brick id → URL its gateways and peers reach it at. */
  bricks: z.record(Id, z.url({ protocol: /^https?$/ })),
  /** A GFID's bucket (top 16 bits) → MDS set. */
  mdsRanges: z.array(RangeSchema).min(1),
  /** A GFID's low 16 bits → DS set (independent of the bucket, so one directory's files spread). */
  dsRanges: z.array(RangeSchema).min(1),
});
export type LayoutDoc = z.infer<typeof LayoutDocSchema>;
export type LayoutRange = LayoutDoc['mdsRanges'][number];

/**
 * Checks a layout beyond its shape: the ranges of each role cover 0–65535 in order without gap or
 * overlap and name sets of that role; every member of a set has a URL and belongs to no other
 * set; sets have an odd member count (ARCHITECTURE.md §10.12: replica 2 cannot keep its
 * promises). Throws EINVAL naming the first problem.
 */
export function parseLayoutDoc(doc: unknown, where = 'layout'): LayoutDoc {
  const r = LayoutDocSchema.safeParse(doc);
  if (!r.success) {
    const i = r.error.issues[0]!;
    throw err('EINVAL', `${where}: ${i.path.join('.') || '(top)'}: ${i.message}`);
  }
  const l = r.data;
  const setRole = new Map<string, 'mds' | 'ds'>();
  const memberOf = new Map<string, string>();
  for (const s of l.sets) {
    if (setRole.has(s.id)) throw err('EINVAL', `${where}: set ${s.id} is named twice`);
    setRole.set(s.id, s.role);
    if (s.members.length % 2 === 0) {
      throw err('EINVAL', `${where}: set ${s.id} has ${s.members.length} members; a set needs an odd count (1, 3, 5 or 7) so that a majority survives a loss`);
    }
    for (const m of s.members) {
      if (memberOf.has(m)) throw err('EINVAL', `${where}: brick ${m} is a member of both ${memberOf.get(m)} and ${s.id}`);
      memberOf.set(m, s.id);
      if (!(m in l.bricks)) throw err('EINVAL', `${where}: brick ${m} of set ${s.id} has no URL in bricks`);
    }
  }
  for (const role of ['mds', 'ds'] as const) {
    if (![...setRole.values()].includes(role)) throw err('EINVAL', `${where}: no ${role} set`);
    const ranges = role === 'mds' ? l.mdsRanges : l.dsRanges;
    let next = 0;
    for (const g of ranges) {
      if (g.first !== next || g.last < g.first) {
        throw err('EINVAL', `${where}: ${role}Ranges must cover 0-${BUCKET_COUNT - 1} in order; ${g.first}-${g.last} does not start at ${next}`);
      }
      if (setRole.get(g.set) !== role) throw err('EINVAL', `${where}: ${role}Ranges names ${g.set}, which is not a ${role} set`);
      next = g.last + 1;
    }
    if (next !== BUCKET_COUNT) throw err('EINVAL', `${where}: ${role}Ranges stop at ${next - 1}, not ${BUCKET_COUNT - 1}`);
  }
  return l;
}

/** JSON with object keys sorted at every level and no spaces: the form the digest covers. */
function canonicalJson(v: unknown): string {
  if (Array.isArray(v)) return `[${v.map(canonicalJson).join(',')}]`;
  if (v !== null && typeof v === 'object') {
    const o = v as Record<string, unknown>;
    return `{${Object.keys(o).sort().map((k) => `${JSON.stringify(k)}:${canonicalJson(o[k])}`).join(',')}}`;
  }
  return JSON.stringify(v);
}

/**
 * SHA-256 (hex) of the layout's canonical JSON (ON-DISK-FORMAT.md §6.3): two layouts of one epoch
 * are the same layout exactly when their digests are equal.
 */
export function layoutDigest(l: LayoutDoc): string {
  return createHash('sha256').update(canonicalJson(l)).digest('hex');
}

/**
 * `count` contiguous ranges over the 65536 values, range i = [⌈i·T/n⌉, ⌈(i+1)·T/n⌉ − 1]: exactly
 * the values v with ⌊v·n/T⌋ = i, the formula placement used before layouts (so a volume's
 * placement does not change when its layout is seeded from its volume file, §10.9).
 */
export function evenRanges(setIds: readonly string[]): LayoutRange[] {
  const n = setIds.length;
  return setIds.map((set, i) => ({
    first: Math.ceil((i * BUCKET_COUNT) / n),
    last: Math.ceil(((i + 1) * BUCKET_COUNT) / n) - 1,
    set,
  }));
}
