/**
 * How much work the HTTP scenarios do. Two profiles:
 *
 *  - default: what `npm run bench` runs, sized so that the whole suite (build included) ends in
 *    under 15 minutes on the project's 2-core machine while other work runs on it. It has issue
 *    6's listing (100,000 keys flat and 100 x 1,000, filled in process: bench/s3-list.ts) and its
 *    64 MiB and 1 GiB objects; only the count of small objects is cut, to 1,500 per concurrency
 *    (docs/PERFORMANCE.md: 5,000 at three concurrencies on two systems is ~8 minutes alone);
 *  - full (`BENCH_FULL=1`): issue 6's sizes everywhere: 4 KiB x 5,000 per concurrency, and the
 *    file API's small files and large files at the same counts as S3's.
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
  smallCount: 1500,
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

/** Issue 6's sizes. */
const FULL: Omit<Sizes, 'profile'> = {
  smallCount: 5000,
  largeCount: 16,
  largeBytes: 64 * MiB,
  hugeBytes: 1024 * MiB,
  listFlatKeys: 100_000,
  listDirs: 100,
  listPerDir: 1000,
  listS3rverKeys: 10_000,
  fsSmallCount: 5000,
  fsLargeCount: 16,
};

/** True when `BENCH_FULL` asks for issue 6's sizes. */
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
