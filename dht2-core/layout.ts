/**
 * DHT2 placement (docs/ARCHITECTURE.md "Placement"). The volume has 65536 buckets; a GFID
 * carries its bucket in its top 16 bits. Buckets map to MDS subvolumes in contiguous ranges,
 * so the MDS of any inode is computed from its GFID alone. The DS of a file's data is computed
 * from the GFID's low 16 bits, which are random and independent of the bucket, so the files of
 * one directory (which all share their parent's bucket) spread over every DS.
 */
import { BUCKET_COUNT, err, gfidBucket, randomPooled } from './protocol/index.js';

export class Layout {
  constructor(
    readonly mdsCount: number,
    readonly dsCount: number,
    readonly buckets: number = BUCKET_COUNT,
  ) {
    if (buckets !== BUCKET_COUNT) throw err('EINVAL', `a volume has ${BUCKET_COUNT} buckets, not ${buckets}`);
    if (!(mdsCount >= 1 && dsCount >= 1)) throw err('EINVAL', 'a volume needs at least one MDS and one DS');
  }

  /** MDS index owning `bucket`: contiguous ranges of ⌊T/M⌋ or ⌈T/M⌉ buckets. */
  mdsOfBucket(bucket: number): number {
    return Math.floor((bucket * this.mdsCount) / this.buckets);
  }

  /** MDS index of the inode with this GFID. */
  mdsOf(gfid: string): number {
    return this.mdsOfBucket(gfidBucket(gfid));
  }

  /** DS index of the data object of the file with this GFID. */
  dsOf(gfid: string): number {
    return Math.floor((parseInt(gfid.slice(-4), 16) * this.dsCount) / 65536);
  }

  /** The bucket ranges of each MDS, for status and admin pages. */
  mdsRanges(): Array<{ mds: number; first: number; last: number }> {
    const out: Array<{ mds: number; first: number; last: number }> = [];
    for (let i = 0; i < this.mdsCount; i++) {
      const first = Math.ceil((i * this.buckets) / this.mdsCount);
      const last = Math.ceil(((i + 1) * this.buckets) / this.mdsCount) - 1;
      out.push({ mds: i, first, last });
    }
    return out;
  }

  /** A bucket for a new directory: uniformly random, which spreads directories over the MDSs. */
  newDirBucket(): number {
    // From the pooled source, so the model checker can replay a placement; every volume has
    // 65536 buckets (checked above), which 16 random bits cover exactly.
    return randomPooled(2).readUInt16BE(0);
  }
}
