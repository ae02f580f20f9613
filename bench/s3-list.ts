/**
 * The `list` scenario (issue 6): ListObjectsV2 over big buckets, to show that a page costs
 * O(page) however many keys the bucket holds.
 *
 * Population. Making 200,000 keys with S3 PUTs at 100-200/s would take most of an hour, and
 * what this scenario measures is listing. So the keys are zero-byte objects created through
 * the dht2-core Volume API (`createAt`, 64 in flight) over the bricks' own stores opened in
 * this process (brick/posix2/store.ts, without fsync, as a `--no-sync` brick runs them): the
 * same code writes the same on-disk format as the brick processes would, without the HTTP/2
 * hop. That is the volume the S3 API would have made (a bucket is a directory of mode 0755, a
 * key `d/o` the file `/bucket/d/o`; the ETag of an object without S3 metadata is derived from
 * its inode), and `fsck` must find nothing wrong with it before anything is measured. Then
 * everything is synced, the bricks start as processes with sync on and the gateway (own
 * process) starts over them: what is measured is a normal volume listed through real, signed
 * S3 requests.
 *
 * Buckets: `list-flat` (sizes().listFlatKeys keys `o0000000`… in one directory), `list-dirs`
 * (listDirs directories `d000/`… of listPerDir keys), `list-small` (listS3rverKeys flat keys,
 * the size s3rver can be given through S3 PUTs in the time budget).
 *
 * Measured (1000 keys a page; each figure the median of 3 rounds after one untimed walk, the
 * rounds interleaved over every bucket and system, each round starting with another one, so that
 * the machine's changing load hits all of them alike, which is what makes "the same cost at
 * 2,000 and at 100,000 keys" readable):
 *  - first page; the page after the middle key and the last page (start-after: a page
 *    anywhere without walking to it); a full walk by continuation tokens (ms, keys/s in the
 *    details, ms per page in the note);
 *  - baselines: the local filesystem holding the same tree (zero-byte files; a page there
 *    means readdir of the whole directory + sort + lstat of the page's entries, since POSIX
 *    directories have no order: O(n) for any page; the walk reads and sorts each directory
 *    once and lstats every entry); and s3rver with `list-small`'s keys (PUT through S3 at
 *    c=32), next to the gateway's `list-small`.
 * Ratio: dht2 (and s3rver) time / local filesystem time; `list-small` dht2 rows also give the
 * ratio to s3rver in the note.
 */
import { open, mkdir, readdir, lstat } from 'node:fs/promises';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { PosixStore } from '../brick/posix2/store.js';
import { Volume, type VolumeFile } from '../dht2-core/index.js';
import { round1 } from './measure.js';
import type { Row } from './report.js';
import { S3Client, listPage, runS3Bench } from './s3-load.js';
import { BENCH_REGION, Workspace, type System } from './servers.js';
import { sizes } from './sizes.js';
import { measured, median, pool, progress, settle, timed } from './util.js';

const PAGE = 1000;
const REPS = 3;
const FILL_CONCURRENCY = 64;
const STAT_CONCURRENCY = 16;

const keyName = (i: number): string => `o${String(i).padStart(7, '0')}`;
const dirName = (d: number): string => `d${String(d).padStart(3, '0')}`;

/** One bucket's shape: its keys, in S3 (byte) order. */
interface Tree {
  bucket: string;
  /** Directories (empty: the keys sit in the bucket itself) and keys per directory. */
  dirs: string[];
  perDir: number;
  keys: number;
}

function keyAt(t: Tree, i: number): string {
  if (t.dirs.length === 0) return keyName(i);
  return `${t.dirs[Math.floor(i / t.perDir)]!}/${keyName(i % t.perDir)}`;
}

// ------------------------------------------------------------------ population

/** The stores of a stopped local cluster's bricks, opened in this process without fsync (what `--no-sync` bricks do). */
async function openStores(dataDir: string, vf: VolumeFile): Promise<{ mds: PosixStore[]; ds: PosixStore[] }> {
  const open = (b: { id: string }, role: 'mds' | 'ds') =>
    PosixStore.open({ dir: join(dataDir, b.id), role, volumeId: vf.volumeId, brickId: b.id, sync: false });
  const mds: PosixStore[] = [];
  const ds: PosixStore[] = [];
  try {
    for (const b of vf.mds) mds.push(await open(b, 'mds'));
    for (const b of vf.ds) ds.push(await open(b, 'ds'));
  } catch (e) {
    await Promise.allSettled([...mds, ...ds].map((x) => x.close()));
    throw e;
  }
  return { mds, ds };
}

/** Creates the tree's zero-byte objects through the Volume API; returns the seconds it took. */
async function fillVolume(v: Volume, t: Tree): Promise<number> {
  const root = await v.mkdir(`/${t.bucket}`, { mode: 0o755 });
  const parents = t.dirs.length === 0 ? [root.gfid] : [] as string[];
  const { seconds } = await timed(async () => {
    if (t.dirs.length) {
      const made = new Array<string>(t.dirs.length);
      await pool(t.dirs.length, 16, async (d) => { made[d] = (await v.mkdirAt(root.gfid, t.dirs[d]!, { mode: 0o755 })).gfid; });
      parents.push(...made);
    }
    await pool(t.keys, FILL_CONCURRENCY, async (i) => {
      const parent = t.dirs.length === 0 ? parents[0]! : parents[Math.floor(i / t.perDir)]!;
      await v.createAt(parent, keyName(t.dirs.length === 0 ? i : i % t.perDir));
    });
  });
  return seconds;
}

/** The same tree of empty files on the local filesystem (no fsync: the volume was filled without it too). */
async function fillLocal(root: string, t: Tree): Promise<number> {
  const base = join(root, t.bucket);
  await mkdir(base, { recursive: true });
  for (const d of t.dirs) await mkdir(join(base, d));
  const { seconds } = await timed(() => pool(t.keys, FILL_CONCURRENCY, async (i) => {
    await (await open(join(base, keyAt(t, i)), 'wx', 0o644)).close();
  }));
  return seconds;
}

// ------------------------------------------------------------------ listing

/** Timings of one bucket on one system (ms): first, middle and last page, full walk. */
interface Listing {
  first: number;
  middle: number;
  last: number;
  walk: number;
  pages: number;
}

/** How to time one bucket on one system: a page anywhere (by the index of the key it follows; -1: the first page), a full walk. */
interface Lister {
  page(after: number): Promise<void>;
  /** Resolves with the number of pages. */
  walk(): Promise<number>;
}

function keyIndexes(t: Tree): { middle: number; last: number } {
  return { middle: Math.floor(t.keys / 2) - 1, last: Math.max(0, t.keys - PAGE) - 1 };
}

/** S3 listings of a bucket (every page and the key count checked). */
function s3Lister(c: S3Client, t: Tree): Lister {
  return {
    async page(after) {
      const p = await listPage(c, '', PAGE, undefined, undefined, after < 0 ? undefined : keyAt(t, after));
      const expected = Math.min(PAGE, t.keys - 1 - after);
      if (p.keys.length !== expected) throw new Error(`LIST ${t.bucket} after key ${after}: ${p.keys.length} keys, expected ${expected}`);
    },
    async walk() {
      let token: string | undefined;
      let keys = 0;
      let pages = 0;
      do {
        const p = await listPage(c, '', PAGE, token);
        keys += p.keys.length;
        pages++;
        token = p.next;
      } while (token !== undefined);
      if (keys !== t.keys) throw new Error(`LIST walk of ${t.bucket}: ${keys} keys, expected ${t.keys}`);
      return pages;
    },
  };
}

/** What an S3 page holds of each key besides its name: size and mtime (lstat). */
async function statAll(dir: string, names: readonly string[]): Promise<void> {
  await pool(names.length, STAT_CONCURRENCY, async (i) => { await lstat(join(dir, names[i]!)); });
}

/** The sorted names of a directory: all of it has to be read for any page. */
async function sortedNames(dir: string): Promise<string[]> {
  return (await readdir(dir)).sort();
}

/** The same listings on the local tree (see the file comment). */
function localLister(root: string, t: Tree): Lister {
  const base = join(root, t.bucket);
  return {
    async page(after) {
      if (t.dirs.length === 0) {
        const names = await sortedNames(base);
        await statAll(base, names.slice(after + 1, after + 1 + PAGE));
        return;
      }
      const dirs = await sortedNames(base);
      let d = Math.floor((after + 1) / t.perDir);
      let skip = (after + 1) % t.perDir;
      let left = PAGE;
      while (left > 0 && d < dirs.length) {
        const dir = join(base, dirs[d]!);
        const names = (await sortedNames(dir)).slice(skip, skip + left);
        await statAll(dir, names);
        left -= names.length;
        d++;
        skip = 0;
      }
    },
    async walk() {
      let seen = 0;
      const dirs = t.dirs.length === 0 ? [base] : (await sortedNames(base)).map((d) => join(base, d));
      for (const dir of dirs) {
        const names = await sortedNames(dir);
        await statAll(dir, names);
        seen += names.length;
      }
      if (seen !== t.keys) throw new Error(`local walk of ${t.bucket}: ${seen} entries, expected ${t.keys}`);
      return Math.ceil(t.keys / PAGE);
    },
  };
}

/**
 * Times every (system, bucket) pair: one untimed walk each (caches, JIT, and the check that every
 * key is there), then REPS rounds in which every pair takes its turn for each measurement, so
 * a change in the machine's load between two buckets hits them all alike. Medians.
 */
async function timeListings(pairs: ReadonlyArray<{ tree: Tree; lister: Lister }>): Promise<Listing[]> {
  for (const p of pairs) await p.lister.walk();
  const samples = pairs.map(() => ({ first: [] as number[], middle: [] as number[], last: [] as number[], walk: [] as number[], pages: 0 }));
  const time = async (fn: () => Promise<unknown>): Promise<number> => {
    const t0 = performance.now();
    await fn();
    return performance.now() - t0;
  };
  for (let rep = 0; rep < REPS; rep++) {
    // Each round starts with another pair, so no pair always takes the slot right after the
    // previous round's walks (the first request after them was seen to run slow).
    const order = pairs.map((_, i) => [(i + rep) % pairs.length, pairs[(i + rep) % pairs.length]!] as const);
    for (const [kind, at] of [['first', () => -1], ['middle', (t: Tree) => keyIndexes(t).middle], ['last', (t: Tree) => keyIndexes(t).last]] as const) {
      for (const [i, p] of order) samples[i]![kind].push(await time(() => p.lister.page(at(p.tree))));
    }
    for (const [i, p] of order) {
      const t0 = performance.now();
      samples[i]!.pages = await p.lister.walk();
      samples[i]!.walk.push(performance.now() - t0);
    }
  }
  return samples.map((x) => ({ first: median(x.first), middle: median(x.middle), last: median(x.last), walk: median(x.walk), pages: x.pages }));
}

// ------------------------------------------------------------------ rows

function listingRows(label: string, t: Tree, sysName: string, l: Listing, base: Listing | undefined, baseName: string, peak?: number): Row[] {
  const kinds: Array<[keyof Listing, string]> = [
    ['first', `first page of ${PAGE}`],
    ['middle', `page after key ${Math.floor(t.keys / 2)}`],
    ['last', `last page`],
    ['walk', `full walk (${l.pages} page${l.pages === 1 ? '' : 's'})`],
  ];
  const rows: Row[] = [];
  for (const [k, what] of kinds) {
    const scenario = `${label}: ${what}`;
    const row: Row = {
      scenario, system: sysName, value: l[k], unit: 'ms',
      details: { keys: t.keys, pageSize: PAGE, medianOf: REPS, ...(k === 'walk' ? { pages: l.pages, keysPerSec: round1(t.keys / (l.walk / 1000)) } : {}) },
      ...(peak !== undefined ? { peakRssMiB: round1(peak) } : {}),
    };
    if (k === 'walk') row.note = `${(l.walk / l.pages).toFixed(1)} ms/page`;
    if (base) {
      row.ratio = base[k] > 0 ? l[k] / base[k] : undefined;
      if (row.ratio === undefined) delete row.ratio;
    }
    rows.push(row);
    if (base) {
      rows.push({
        scenario, system: baseName, value: base[k], unit: 'ms', details: { keys: t.keys, medianOf: REPS },
        ...(k === 'walk' ? { note: `${(base.walk / base.pages).toFixed(1)} ms/page` } : {}),
      });
    }
  }
  return rows;
}

// ------------------------------------------------------------------ scenario

/** The `list` scenario: see the file comment. */
export async function listScenario(): Promise<Row[]> {
  const sz = sizes();
  const trees: Tree[] = [
    { bucket: 'list-flat', dirs: [], perDir: sz.listFlatKeys, keys: sz.listFlatKeys },
    { bucket: 'list-dirs', dirs: Array.from({ length: sz.listDirs }, (_, d) => dirName(d)), perDir: sz.listPerDir, keys: sz.listDirs * sz.listPerDir },
    { bucket: 'list-small', dirs: [], perDir: sz.listS3rverKeys, keys: sz.listS3rverKeys },
  ];
  const ws = await Workspace.create('list');
  const localRoot = join(ws.root, 'local');
  progress(`list: temp dir ${ws.root}; ${trees.map((t) => `${t.bucket} ${t.keys} keys${t.dirs.length ? ` in ${t.dirs.length} dirs` : ''}`).join(', ')}`);
  try {
    const rows: Row[] = [];
    // --- population: the bricks' own store code, in this process (see the module comment)
    const filler = await ws.cluster('dht2', false); // formats the brick directories
    await ws.stopCluster(filler);
    const stores = await openStores(join(ws.root, 'dht2'), filler.volume);
    const vol = new Volume(stores.mds, stores.ds);
    try {
      for (const t of trees) {
        progress(`list: creating ${t.keys} objects in ${t.bucket} (Volume API over the brick stores in process, c=${FILL_CONCURRENCY})`);
        const s = await fillVolume(vol, t);
        const ls = await fillLocal(localRoot, t);
        progress(`  ${(t.keys / s).toFixed(0)} creates/s; local fs ${(t.keys / ls).toFixed(0)}/s`);
        const scenario = `setup: ${t.keys} zero-byte objects in ${t.bucket} (c=${FILL_CONCURRENCY})`;
        rows.push(
          { scenario, system: 'brick stores in process', value: t.keys / s, unit: 'ops/s', ratio: ls / s, details: { keys: t.keys, seconds: s } },
          { scenario, system: 'local fs open wx', value: t.keys / ls, unit: 'ops/s', details: { keys: t.keys, seconds: ls } },
        );
      }
      progress('list: fsck of the filled volume');
      const { result: report, seconds: fsckSeconds } = await timed(() => vol.fsck());
      const problems = report.dangling.length + report.orphanInodes.length + report.orphanData.length + report.nlinkMismatch.length + report.dyingNamed.length;
      progress(`  fsck: ${report.names} names, ${report.inodes} inodes, ${problems} problems (${fsckSeconds.toFixed(1)} s)`);
      if (problems > 0) throw new Error(`fsck found ${problems} problems in the filled volume: ${JSON.stringify(report).slice(0, 500)}`);
    } finally {
      await Promise.allSettled([...stores.mds, ...stores.ds].map((b) => b.close()));
    }
    await settle();
    // --- the gateway over the same volume, bricks with sync on
    const gw = await ws.gateway(await ws.cluster('dht2', true));
    const s3 = await ws.s3rver();
    const small = trees[2]!;
    progress(`list: s3rver: ${small.keys} PUTs (c=32) into ${small.bucket}`);
    await runS3Bench({
      endpoint: s3.endpoint, accessKey: s3.accessKey, secretKey: s3.secretKey, region: BENCH_REGION, bucket: small.bucket,
      size: 0, count: small.keys, concurrency: 32, phases: ['put'], dirs: 0, prefix: '', keep: true,
    });
    const clients: S3Client[] = [];
    const lister = (sys: System, t: Tree): Lister => {
      const c = new S3Client({ endpoint: sys.endpoint, accessKey: sys.accessKey, secretKey: sys.secretKey, region: BENCH_REGION, bucket: t.bucket, concurrency: 1 });
      clients.push(c);
      return s3Lister(c, t);
    };
    const pairs = [
      ...trees.map((tree) => ({ sys: gw.name, tree, lister: lister(gw, tree) })),
      { sys: s3.name, tree: small, lister: lister(s3, small) },
      ...trees.map((tree) => ({ sys: 'local', tree, lister: localLister(localRoot, tree) })),
    ];
    progress(`list: ${REPS} rounds of first, middle and last pages and full walks over ${pairs.length} (system, bucket) pairs`);
    let timing: { result: Listing[]; peaks: Map<number, number> };
    try {
      timing = await measured([...gw.pids, s3.mainPid], () => timeListings(pairs));
    } finally {
      await Promise.allSettled(clients.map((c) => c.close()));
    }
    const listing = (sys: string, t: Tree): Listing => timing.result[pairs.findIndex((p) => p.sys === sys && p.tree === t)]!;
    const peak = (pid: number): number | undefined => timing.peaks.get(pid);
    for (const t of trees) {
      const local = listing('local', t);
      const label = `${t.bucket}, ${t.keys} keys${t.dirs.length ? ` (${t.dirs.length} dirs x ${t.perDir})` : ' (one dir)'}`;
      const dRows = listingRows(label, t, gw.name, listing(gw.name, t), local, 'local fs readdir+sort+lstat', peak(gw.mainPid));
      for (const [pid, name] of gw.named) {
        const p = peak(pid);
        if (p !== undefined) for (const r of dRows) if (r.system === gw.name) r.details = { ...r.details, [`${name}PeakRssMiB`]: round1(p) };
      }
      if (t !== small) {
        rows.push(...dRows);
        continue;
      }
      const sRows = listingRows(label, t, s3.name, listing(s3.name, t), local, 'local fs readdir+sort+lstat', peak(s3.mainPid));
      // dht2 row, s3rver's row (both against the local filesystem), then the local row, for each kind.
      for (let i = 0; i < dRows.length; i += 2) {
        const dr = dRows[i]!;
        const sr = sRows[i]!;
        dr.note = [dr.note, `${(dr.value / sr.value).toFixed(2)}x s3rver`].filter(Boolean).join('; ');
        rows.push(dr, sr, dRows[i + 1]!);
      }
    }
    await ws.checkAlive();
    return rows;
  } finally {
    await ws.close();
  }
}
