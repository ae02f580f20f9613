/**
 * DHT2 placement (docs/ARCHITECTURE.md §3, §10.9). The volume has 65536 buckets; a GFID carries
 * its bucket in its top 16 bits. Placement is a lookup in a versioned layout document: bucket
 * ranges map to MDS sets, so the MDS set of any inode follows from its GFID alone; ranges of the
 * GFID's low 16 bits (random, independent of the bucket) map to DS sets, so the files of one
 * directory (which all share their parent's bucket) spread over every DS set.
 *
 * A volume file names bricks; until replica sets exist each brick is a set of one, and the
 * layout is seeded from the volume file with contiguous even ranges: the formula placement used
 * before layouts, so no existing volume's placement changes (§10.14).
 */
import {
  BUCKET_COUNT, evenRanges, gfidBucket, parseLayoutDoc, randomPooled, type LayoutDoc, type LayoutRange,
} from './protocol/index.js';

/** The range holding `v`, by binary search (ranges cover 0–65535 in order, parseLayoutDoc). */
function find(ranges: readonly LayoutRange[], v: number): LayoutRange {
  let lo = 0;
  let hi = ranges.length - 1;
  while (lo < hi) {
    const mid = (lo + hi + 1) >> 1;
    if (ranges[mid]!.first <= v) lo = mid;
    else hi = mid - 1;
  }
  return ranges[lo]!;
}

export class Layout {
  readonly doc: LayoutDoc;
  /** Set ids of each role, in layout order: the index placement returns is a position here. */
  readonly mdsSets: readonly string[];
  readonly dsSets: readonly string[];
  private readonly setIndex = new Map<string, number>();

  constructor(doc: LayoutDoc) {
    this.doc = parseLayoutDoc(doc);
    this.mdsSets = this.doc.sets.filter((s) => s.role === 'mds').map((s) => s.id);
    this.dsSets = this.doc.sets.filter((s) => s.role === 'ds').map((s) => s.id);
    this.mdsSets.forEach((id, i) => this.setIndex.set(id, i));
    this.dsSets.forEach((id, i) => this.setIndex.set(id, i));
  }

  /**
   * A layout of `mdsCount` MDS and `dsCount` DS sets of one brick each, with even ranges, for a
   * volume built from brick layers directly (tests, in-process volumes). Brick ids are the set
   * ids and URLs are placeholders: nothing dials them.
   */
  static uniform(mdsCount: number, dsCount: number, volumeId = 'local'): Layout {
    const mds = Array.from({ length: mdsCount }, (_, i) => `mds${i}`);
    const ds = Array.from({ length: dsCount }, (_, i) => `ds${i}`);
    const bricks: Record<string, string> = {};
    [...mds, ...ds].forEach((id, i) => { bricks[id] = `http://127.0.0.1:${1 + i}`; });
    return new Layout({
      epoch: 1, volumeId, buckets: BUCKET_COUNT,
      sets: [...mds.map((id) => ({ id, role: 'mds' as const, members: [id] })), ...ds.map((id) => ({ id, role: 'ds' as const, members: [id] }))],
      bricks, mdsRanges: evenRanges(mds), dsRanges: evenRanges(ds),
    });
  }

  get epoch(): number { return this.doc.epoch; }
  get mdsCount(): number { return this.mdsSets.length; }
  get dsCount(): number { return this.dsSets.length; }

  /** MDS set index owning `bucket`. */
  mdsOfBucket(bucket: number): number {
    return this.setIndex.get(find(this.doc.mdsRanges, bucket).set)!;
  }

  /** MDS set index of the inode with this GFID. */
  mdsOf(gfid: string): number {
    return this.mdsOfBucket(gfidBucket(gfid));
  }

  /** DS set index of the data object of the file with this GFID (its low 16 bits). */
  dsOf(gfid: string): number {
    return this.setIndex.get(find(this.doc.dsRanges, parseInt(gfid.slice(-4), 16)).set)!;
  }

  /** The bucket ranges of each MDS set, for status and admin pages. */
  mdsRanges(): Array<{ mds: number; set: string; first: number; last: number }> {
    return this.doc.mdsRanges.map((r) => ({ mds: this.setIndex.get(r.set)!, set: r.set, first: r.first, last: r.last }));
  }

  /** The low-16-bit ranges of each DS set. */
  dsRanges(): Array<{ ds: number; set: string; first: number; last: number }> {
    return this.doc.dsRanges.map((r) => ({ ds: this.setIndex.get(r.set)!, set: r.set, first: r.first, last: r.last }));
  }

  /** A bucket for a new directory: uniformly random, which spreads directories over the MDSs. */
  newDirBucket(): number {
    // From the pooled source, so the model checker can replay a placement; every volume has
    // 65536 buckets (checked by parseLayoutDoc), which 16 random bits cover exactly.
    return randomPooled(2).readUInt16BE(0);
  }
}
