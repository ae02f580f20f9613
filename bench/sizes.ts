/**
 * How much work the HTTP scenarios do. Two profiles:
 *
 *  - default: what `npm run bench` runs: issue 6's sizes (4 KiB x 5,000 per concurrency, 64 MiB
 *    x 16 and 1 GiB x 1, 100,000 listed keys flat and 100 x 1,000), which end in about 13.5
 *    minutes on the project's 2-core machine (docs/PERFORMANCE.md); the file-API scenario, whose
 *    issue names no sizes, runs 4 KiB x 500 and 64 MiB x 4;
 *  - full (`BENCH_FULL=1`): the same, with the file-API scenario at S3's counts too (4 KiB x
 *    5,000, 64 MiB x 16).
 *
 * `BENCH_SCALE=<factor>` multiplies the counts of either profile (not the object sizes).
 */
import { benchScale } from './util.js';

const MiB = 1024 * 1024;

export interface Sizes {
  profile: 'default' | 'full';
  /** small: 4 KiB objects written, read, listed and deleted at each concurrency. */
  smallCount: number;
  /** large: objects of {@link largeBytes} at each concurrency. */
  largeCount: number;
  largeBytes: number;
  /** large: the one big object (its upload also shows the gateway's RSS rise). */
  hugeBytes: number;
  /** list: keys in the flat bucket. */
  listFlatKeys: number;
  /** list: directories of {@link listPerDir} keys in the second bucket. */
  listDirs: number;
  listPerDir: number;
  /** list: keys s3rver is given through S3 (its PUTs are too slow for the big buckets). */
  listS3rverKeys: number;
  /** fs: small files created, stat'ed, listed, deleted. */
  fsSmallCount: number;
  /** fs: large files written and read, of {@link largeBytes}. */
  fsLargeCount: number;
}

const DEFAULT: Omit<Sizes, 'profile'> = {
  smallCount: 5000,
  largeCount: 16,
  largeBytes: 64 * MiB,
  hugeBytes: 1024 * MiB,
  listFlatKeys: 100_000,
  listDirs: 100,
  listPerDir: 1000,
  listS3rverKeys: 10_000,
  fsSmallCount: 500,
  fsLargeCount: 4,
};

/** The default, with the file API's scenario at S3's counts. */
const FULL: Omit<Sizes, 'profile'> = { ...DEFAULT, fsSmallCount: DEFAULT.smallCount, fsLargeCount: DEFAULT.largeCount };

/** True when `BENCH_FULL` asks for the full profile. */
export function fullProfile(): boolean {
  const v = process.env.BENCH_FULL;
  return v !== undefined && v !== '' && v !== '0' && v.toLowerCase() !== 'false';
}

/** The sizes of this run: the profile, counts multiplied by BENCH_SCALE. */
export function sizes(): Sizes {
  const base = fullProfile() ? FULL : DEFAULT;
  const k = benchScale();
  const n = (v: number, min: number): number => Math.max(min, Math.round(v * k));
  return {
    profile: fullProfile() ? 'full' : 'default',
    smallCount: n(base.smallCount, 50),
    largeCount: n(base.largeCount, 2),
    largeBytes: base.largeBytes,
    hugeBytes: base.hugeBytes,
    listFlatKeys: n(base.listFlatKeys, 2000),
    listDirs: n(base.listDirs, 2),
    listPerDir: base.listPerDir,
    listS3rverKeys: n(base.listS3rverKeys, 200),
    fsSmallCount: n(base.fsSmallCount, 50),
    fsLargeCount: n(base.fsLargeCount, 1),
  };
}
