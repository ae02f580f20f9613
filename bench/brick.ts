/**
 * The brick benchmark: real brick processes (spawnBrick, one MDS and one DS) driven through
 * the HTTP/2 BrickClient, next to the same work done directly on the local filesystem, so the
 * table shows what the brick layer costs and what durability (sync vs --no-sync) costs.
 *
 *  - small files: N creates, N lookups, N unlinks in the root directory at concurrency 16;
 *    baseline: open('wx') [+ fsync file + fsync dir], stat, unlink [+ fsync dir].
 *  - sequential data: one object written with dput from a stream of 1 MiB chunks and read back
 *    with dread; baseline: a local file written and read with fs streams [+ fsync file and dir].
 *    The read-back comes from the page cache on both sides (the data was just written).
 *  - readdir (a no-sync MDS): a directory of 20,000 entries (made with namelink, see
 *    readdirBench); first page of 1000, a page in the middle, and a full walk by pages, against
 *    fs.readdir + sort of a local directory of 20,000 files, which is what a plain POSIX
 *    directory needs for any sorted page.
 *
 * BENCH_SCALE multiplies N, the data size and the directory size (e.g. 0.1 for a smoke run).
 * Every measurement starts after sync(1) and a short pause (writeback of the previous phase
 * stays out of it), samples the bricks' VmRSS every 100 ms and reports the peak of the brick
 * that serves it (MDS for names, DS for data).
 */
import { randomBytes } from 'node:crypto';
import { createReadStream, createWriteStream, rmSync } from 'node:fs';
import { mkdir, mkdtemp, open, readdir, rm, stat, unlink } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { spawnBrick, type BrickProcess } from '../brick/spawn.js';
import { BrickClient, newGfid, ROOT_GFID } from '../dht2-core/index.js';
import type { Row, Unit } from './report.js';
import { RssSampler, byteChunks, drain, fsyncPath, measured, median, pool, progress, scaled, settle } from './util.js';

const SECRET = 'bench-secret-0123456789-abcdefghij';
const MiB = 1024 * 1024;
const SMALL_CONCURRENCY = 16;
const READDIR_FILL_CONCURRENCY = 32;
const PAGE = 1000;
const READDIR_REPS = 5;

interface Config {
  smallFiles: number;
  dataBytes: number;
  dirEntries: number;
}

function config(): Config {
  return {
    smallFiles: scaled(2000, 16),
    dataBytes: scaled(256, 1) * MiB,
    dirEntries: scaled(20_000, PAGE + 1),
  };
}

const brickSystem = (sync: boolean): string => (sync ? 'brick sync' : 'brick no-sync');
const localSystem = (sync: boolean): string => (sync ? 'local fs +fsync' : 'local fs');
const fileName = (i: number): string => `f${String(i).padStart(7, '0')}`;

/** One MDS and one DS brick process with a client each. */
interface Bricks {
  mds: BrickProcess;
  ds: BrickProcess;
  mdsClient: BrickClient;
  dsClient: BrickClient;
  pids: number[];
  stop(): Promise<void>;
}

async function startBrick(dir: string, role: 'mds' | 'ds', sync: boolean): Promise<BrickProcess> {
  return spawnBrick({ dir, role, secret: SECRET, volumeId: 'bench', sync });
}

async function startBricks(root: string, tag: string, sync: boolean): Promise<Bricks> {
  const [mds, ds] = await Promise.allSettled([
    startBrick(join(root, `${tag}-mds`), 'mds', sync),
    startBrick(join(root, `${tag}-ds`), 'ds', sync),
  ]);
  if (mds.status === 'rejected' || ds.status === 'rejected') {
    if (mds.status === 'fulfilled') await mds.value.stop();
    if (ds.status === 'fulfilled') await ds.value.stop();
    throw mds.status === 'rejected' ? mds.reason : (ds as PromiseRejectedResult).reason;
  }
  const mdsClient = new BrickClient({ url: mds.value.url, secret: SECRET });
  const dsClient = new BrickClient({ url: ds.value.url, secret: SECRET });
  const bricks: Bricks = {
    mds: mds.value, ds: ds.value, mdsClient, dsClient, pids: [mds.value.pid, ds.value.pid],
    async stop() {
      await Promise.allSettled([mdsClient.close(), dsClient.close()]);
      await Promise.allSettled([mds.value.stop(), ds.value.stop()]);
    },
  };
  try {
    await warmUp(mdsClient, 'mds');
    await warmUp(dsClient, 'ds');
  } catch (e) {
    await bricks.stop();
    throw e;
  }
  return bricks;
}

/** A few hundred cheap calls before timing anything: HTTP/2 session, JIT on both sides, the root inode. */
async function warmUp(c: BrickClient, role: 'mds' | 'ds'): Promise<void> {
  await pool(300, SMALL_CONCURRENCY, async () => {
    if (role === 'mds') await c.call('getattr', { gfid: ROOT_GFID });
    else await c.call('statfs', {});
  });
}

/** Rows grouped by scenario, in the order scenarios first appear. */
class RowSet {
  private readonly byScenario = new Map<string, Row[]>();

  add(row: Row): void {
    const list = this.byScenario.get(row.scenario) ?? [];
    list.push(row);
    this.byScenario.set(row.scenario, list);
  }

  /** A brick row and its local baseline row; the brick row gets the ratio. */
  pair(brick: Row, local: Row): void {
    this.add({ ...brick, ratio: brick.value / local.value });
    this.add(local);
  }

  rows(): Row[] {
    return [...this.byScenario.values()].flat();
  }
}

function rssMiB(peaks: Map<number, number>, pid: number): number | undefined {
  const v = peaks.get(pid);
  return v === undefined ? undefined : Math.round(v * 10) / 10;
}

function brickRow(scenario: string, system: string, value: number, unit: Unit, b: Bricks, servedBy: 'mds' | 'ds',
  peaks: Map<number, number>, details: Record<string, number | string | boolean>): Row {
  const mds = rssMiB(peaks, b.mds.pid);
  const ds = rssMiB(peaks, b.ds.pid);
  const row: Row = { scenario, system, value, unit, details: { ...details } };
  const served = servedBy === 'mds' ? mds : ds;
  if (served !== undefined) row.peakRssMiB = served;
  if (mds !== undefined) row.details!.mdsPeakRssMiB = mds;
  if (ds !== undefined) row.details!.dsPeakRssMiB = ds;
  return row;
}

// ------------------------------------------------------------------ small files

type SmallOp = 'create' | 'lookup' | 'unlink';
const SMALL_OPS: SmallOp[] = ['create', 'lookup', 'unlink'];

async function smallFilesBrick(b: Bricks, n: number): Promise<Map<SmallOp, { seconds: number; peaks: Map<number, number> }>> {
  const gfids = Array.from({ length: n }, () => newGfid(0));
  const out = new Map<SmallOp, { seconds: number; peaks: Map<number, number> }>();
  const c = b.mdsClient;
  const create = await measured(b.pids, () => pool(n, SMALL_CONCURRENCY, async (i) => {
    const a = await c.call('create', { parent: ROOT_GFID, name: fileName(i), gfid: gfids[i]!, type: 'file' });
    if (a.gfid !== gfids[i]) throw new Error(`create ${fileName(i)} answered gfid ${a.gfid}`);
  }));
  out.set('create', create);
  const lookup = await measured(b.pids, () => pool(n, SMALL_CONCURRENCY, async (i) => {
    const a = await c.call('lookup', { parent: ROOT_GFID, name: fileName(i) });
    if (a.gfid !== gfids[i] || a.type !== 'file') throw new Error(`lookup ${fileName(i)} answered ${a.gfid} ${a.type}`);
  }));
  out.set('lookup', lookup);
  const unlinked = await measured(b.pids, () => pool(n, SMALL_CONCURRENCY, async (i) => {
    const f = await c.call('unlink', { parent: ROOT_GFID, name: fileName(i) });
    if (f.gfid !== gfids[i] || f.inode !== 'deleted') throw new Error(`unlink ${fileName(i)} answered ${JSON.stringify(f)}`);
  }));
  out.set('unlink', unlinked);
  return out;
}

async function smallFilesLocal(dir: string, n: number, sync: boolean): Promise<Map<SmallOp, number>> {
  await mkdir(dir, { recursive: true });
  const out = new Map<SmallOp, number>();
  const path = (i: number): string => join(dir, fileName(i));
  out.set('create', (await measured([], () => pool(n, SMALL_CONCURRENCY, async (i) => {
    const fh = await open(path(i), 'wx', 0o600);
    try {
      if (sync) await fh.sync();
    } finally {
      await fh.close();
    }
    if (sync) await fsyncPath(dir);
  }))).seconds);
  out.set('lookup', (await measured([], () => pool(n, SMALL_CONCURRENCY, async (i) => {
    const s = await stat(path(i));
    if (!s.isFile()) throw new Error(`${path(i)} is not a file`);
  }))).seconds);
  out.set('unlink', (await measured([], () => pool(n, SMALL_CONCURRENCY, async (i) => {
    await unlink(path(i));
    if (sync) await fsyncPath(dir);
  }))).seconds);
  await rm(dir, { recursive: true, force: true });
  return out;
}

async function smallFiles(rows: RowSet, b: Bricks, root: string, n: number, sync: boolean): Promise<void> {
  progress(`${brickSystem(sync)}: small files, ${n} creates/lookups/unlinks at concurrency ${SMALL_CONCURRENCY}`);
  const brick = await smallFilesBrick(b, n);
  const local = await smallFilesLocal(join(root, `local-small-${sync ? 'sync' : 'nosync'}`), n, sync);
  for (const op of SMALL_OPS) {
    const scenario = `small files: ${op} ${n} (c=${SMALL_CONCURRENCY})`;
    const bm = brick.get(op)!;
    const ls = local.get(op)!;
    rows.pair(
      brickRow(scenario, brickSystem(sync), n / bm.seconds, 'ops/s', b, 'mds', bm.peaks, { ops: n, seconds: bm.seconds, sync }),
      { scenario, system: localSystem(sync), value: n / ls, unit: 'ops/s', details: { ops: n, seconds: ls, sync } },
    );
    progress(`  ${op}: brick ${(n / bm.seconds).toFixed(0)} ops/s, local ${(n / ls).toFixed(0)} ops/s`);
  }
}

// ------------------------------------------------------------------ sequential data

function dataStream(total: number, chunk: Buffer): Readable {
  return Readable.from(byteChunks(total, chunk), { objectMode: false, highWaterMark: chunk.length });
}

async function sequential(rows: RowSet, b: Bricks, root: string, total: number, sync: boolean): Promise<void> {
  const mib = total / MiB;
  progress(`${brickSystem(sync)}: sequential ${mib} MiB write (dput) and read (dread)`);
  const chunk = randomBytes(MiB);
  const gfid = newGfid(0);

  const w = await measured(b.pids, () => b.dsClient.upload('dput', { gfid }, dataStream(total, chunk)));
  if (w.result.size !== total) throw new Error(`dput stored ${w.result.size} bytes, sent ${total}`);
  const r = await measured(b.pids, async () => {
    const { res, body } = await b.dsClient.download('dread', { gfid });
    const n = await drain(body);
    if (n !== total || res.size !== total) throw new Error(`dread gave ${n} bytes (size ${res.size}), expected ${total}`);
  });
  await b.dsClient.call('dunlink', { gfid });

  const dir = join(root, `local-seq-${sync ? 'sync' : 'nosync'}`);
  await mkdir(dir, { recursive: true });
  const file = join(dir, 'data.bin');
  const lw = await measured([], async () => {
    await pipeline(dataStream(total, chunk), createWriteStream(file, { flags: 'wx', mode: 0o600 }));
    if (sync) {
      await fsyncPath(file);
      await fsyncPath(dir);
    }
  });
  const lr = await measured([], async () => {
    const n = await drain(createReadStream(file, { highWaterMark: MiB }));
    if (n !== total) throw new Error(`local read gave ${n} bytes, expected ${total}`);
  });
  await rm(dir, { recursive: true, force: true });

  const mbps = (s: number): number => total / 1e6 / s;
  const wScenario = `seq write ${mib} MiB (dput, 1 MiB chunks)`;
  const rScenario = `seq read ${mib} MiB (dread, page cache)`;
  rows.pair(
    brickRow(wScenario, brickSystem(sync), mbps(w.seconds), 'MB/s', b, 'ds', w.peaks, { bytes: total, seconds: w.seconds, sync }),
    { scenario: wScenario, system: localSystem(sync), value: mbps(lw.seconds), unit: 'MB/s', details: { bytes: total, seconds: lw.seconds, sync } },
  );
  rows.pair(
    brickRow(rScenario, brickSystem(sync), mbps(r.seconds), 'MB/s', b, 'ds', r.peaks, { bytes: total, seconds: r.seconds, sync }),
    { scenario: rScenario, system: localSystem(sync), value: mbps(lr.seconds), unit: 'MB/s', details: { bytes: total, seconds: lr.seconds, sync } },
  );
  progress(`  write: brick ${mbps(w.seconds).toFixed(0)} MB/s, local ${mbps(lw.seconds).toFixed(0)} MB/s; ` +
    `read: brick ${mbps(r.seconds).toFixed(0)} MB/s, local ${mbps(lr.seconds).toFixed(0)} MB/s`);
}

// ------------------------------------------------------------------ readdir

/** Walks the whole directory by pages; returns the number of entries and pages, checking the order. */
async function walk(c: BrickClient, expected: number): Promise<{ entries: number; pages: number }> {
  let after: string | undefined;
  let entries = 0;
  let pages = 0;
  for (;;) {
    const page = await c.call('readdir', after === undefined ? { gfid: ROOT_GFID, limit: PAGE } : { gfid: ROOT_GFID, after, limit: PAGE });
    pages++;
    for (const e of page.entries) {
      if (after !== undefined && !(after < e.name)) throw new Error(`readdir out of order: ${e.name} after ${after}`);
      after = e.name;
    }
    entries += page.entries.length;
    if (page.eof) break;
    if (page.entries.length === 0) throw new Error('readdir: empty page without eof');
    if (pages > expected / PAGE + 10) throw new Error('readdir: walk does not end');
  }
  if (entries !== expected) throw new Error(`readdir walk saw ${entries} entries, expected ${expected}`);
  return { entries, pages };
}

async function readdirBench(rows: RowSet, root: string, n: number): Promise<void> {
  progress(`brick no-sync: readdir of a directory of ${n} entries (filled at concurrency ${READDIR_FILL_CONCURRENCY})`);
  const mds = await startBrick(join(root, 'readdir-mds'), 'mds', false);
  const c = new BrickClient({ url: mds.url, secret: SECRET });
  const localDir = join(root, 'local-readdir');
  try {
    const pids = [mds.pid];
    await warmUp(c, 'mds');
    // Entries only (namelink): `create` also makes an inode under the directory's lock and
    // runs at ~100 ops/s on a small VM, which would make the fill alone take minutes. A plain
    // readdir reads only the entries, so a name whose inode lives elsewhere lists the same.
    const fill = await measured(pids, () => pool(n, READDIR_FILL_CONCURRENCY, async (i) => {
      await c.call('namelink', { parent: ROOT_GFID, name: fileName(i), gfid: newGfid(), type: 'file' });
    }));
    await mkdir(localDir);
    const lfill = await measured([], () => pool(n, READDIR_FILL_CONCURRENCY, async (i) => {
      await (await open(join(localDir, fileName(i)), 'wx', 0o600)).close();
    }));
    const fillScenario = `readdir setup: ${n} entries in one dir (namelink vs open wx, c=${READDIR_FILL_CONCURRENCY})`;
    const fillPeak = rssMiB(fill.peaks, mds.pid);
    rows.pair(
      { scenario: fillScenario, system: brickSystem(false), value: n / fill.seconds, unit: 'ops/s', ...(fillPeak !== undefined ? { peakRssMiB: fillPeak } : {}), details: { ops: n, seconds: fill.seconds } },
      { scenario: fillScenario, system: localSystem(false), value: n / lfill.seconds, unit: 'ops/s', details: { ops: n, seconds: lfill.seconds } },
    );
    progress(`  fill: brick ${(n / fill.seconds).toFixed(0)} ops/s, local ${(n / lfill.seconds).toFixed(0)} ops/s`);

    // Warm both sides once (page cache, SQLite pages, HTTP/2 session) before timing.
    await walk(c, n);
    const localList = async (): Promise<string[]> => (await readdir(localDir)).sort();
    if ((await localList()).length !== n) throw new Error('local directory has the wrong size');

    const middle = fileName(Math.floor(n / 2) - 1);
    const times = { first: [] as number[], middle: [] as number[], walk: [] as number[], local: [] as number[] };
    await settle();
    const sampler = new RssSampler(pids).start();
    let peaks: Map<number, number>;
    try {
      for (let rep = 0; rep < READDIR_REPS; rep++) {
        let t0 = performance.now();
        const first = await c.call('readdir', { gfid: ROOT_GFID, limit: PAGE });
        times.first.push(performance.now() - t0);
        if (first.entries.length !== PAGE || first.entries[0]!.name !== fileName(0)) throw new Error('readdir: bad first page');
        t0 = performance.now();
        const mid = await c.call('readdir', { gfid: ROOT_GFID, after: middle, limit: PAGE });
        times.middle.push(performance.now() - t0);
        if (mid.entries[0]?.name !== fileName(Math.floor(n / 2))) throw new Error('readdir: bad middle page');
        t0 = performance.now();
        await walk(c, n);
        times.walk.push(performance.now() - t0);
        t0 = performance.now();
        const all = await localList();
        times.local.push(performance.now() - t0);
        if (all.length !== n) throw new Error('local readdir: wrong count');
      }
    } finally {
      peaks = sampler.stop();
    }
    const peak = rssMiB(peaks, mds.pid);
    const local = median(times.local);
    const localRow = (scenario: string): Row => ({
      scenario, system: `${localSystem(false)} readdir+sort all`, value: local, unit: 'ms',
      details: { entries: n, medianOf: READDIR_REPS, samplesMs: times.local.map((t) => t.toFixed(2)).join(' ') },
    });
    const brick = (scenario: string, ts: number[], pages: number): Row => ({
      scenario, system: brickSystem(false), value: median(ts), unit: 'ms', ...(peak !== undefined ? { peakRssMiB: peak } : {}),
      details: { entries: n, pageSize: PAGE, pages, medianOf: READDIR_REPS, samplesMs: ts.map((t) => t.toFixed(2)).join(' ') },
    });
    const s1 = `readdir: first page of ${PAGE} (of ${n})`;
    const s2 = `readdir: page of ${PAGE} after entry ${Math.floor(n / 2)}`;
    const s3 = `readdir: full walk of ${n} by pages of ${PAGE}`;
    rows.pair(brick(s1, times.first, 1), localRow(s1));
    rows.pair(brick(s2, times.middle, 1), localRow(s2));
    rows.pair(brick(s3, times.walk, Math.ceil(n / PAGE)), localRow(s3));
    progress(`  first page ${median(times.first).toFixed(1)} ms, middle page ${median(times.middle).toFixed(1)} ms, ` +
      `full walk ${median(times.walk).toFixed(1)} ms; local readdir+sort ${local.toFixed(1)} ms`);
  } finally {
    await c.close().catch(() => undefined);
    await mds.stop();
    await rm(localDir, { recursive: true, force: true });
  }
}

// ------------------------------------------------------------------ scenario

/** The `brick` scenario: see the file comment. */
export async function brickScenario(): Promise<Row[]> {
  const cfg = config();
  const root = await mkdtemp(join(tmpdir(), 'dht2-bench-brick-'));
  // On Ctrl-C the bricks get SIGINT from the terminal too; only the temp dir needs removing.
  const onSigint = (): void => {
    rmSync(root, { recursive: true, force: true, maxRetries: 3 });
    process.exit(130);
  };
  process.once('SIGINT', onSigint);
  progress(`brick: temp dir ${root}; ${cfg.smallFiles} small files, ${cfg.dataBytes / MiB} MiB data, ${cfg.dirEntries} dir entries`);
  const rows = new RowSet();
  try {
    for (const sync of [true, false]) {
      const b = await startBricks(root, sync ? 'sync' : 'nosync', sync);
      try {
        await smallFiles(rows, b, root, cfg.smallFiles, sync);
        await sequential(rows, b, root, cfg.dataBytes, sync);
      } finally {
        await b.stop();
      }
      await rm(join(root, `${sync ? 'sync' : 'nosync'}-mds`), { recursive: true, force: true });
      await rm(join(root, `${sync ? 'sync' : 'nosync'}-ds`), { recursive: true, force: true });
    }
    await readdirBench(rows, root, cfg.dirEntries);
  } finally {
    process.off('SIGINT', onSigint);
    await rm(root, { recursive: true, force: true, maxRetries: 3 });
  }
  return rows.rows();
}
