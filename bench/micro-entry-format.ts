/**
 * The measurement behind the two deviations of docs/ON-DISK-FORMAT.md from the DHT2 POSIX2
 * design (../shared/design/DHT2-DESIGN-NOTES.md §3):
 *
 *  (a) name entries as symlinks `<gfid>:<t>` (symlink(2) + readlink(2)) versus the design's
 *      empty file whose `user.` xattr holds the GFID (open O_CREAT|O_EXCL + close + setxattr,
 *      resolved with getxattr), both through the same async APIs the brick uses
 *      (node:fs/promises, @napi-rs/xattr);
 *  (b) one page of 1000 names after a given name: fs.readdir + sort + slice of the whole
 *      directory versus a range query on a better-sqlite3 WITHOUT ROWID table (the brick's
 *      name index), at 10,000 and 100,000 entries, plus the index query followed by one
 *      readlink per row, which is what the brick's readdir FOP does.
 *
 * Everything runs in a fresh temporary directory (os.tmpdir()) that is removed at the end;
 * no fsync anywhere (this measures syscalls and CPU, not the disk). Results go to stdout as a
 * table, progress to stderr.
 *
 *   node dist/bench/micro-entry-format.js [entries=20000] [bigDir=100000] [smallDir=10000]
 */
import { mkdir, mkdtemp, open, readdir, readlink, rm, symlink } from 'node:fs/promises';
import { randomBytes } from 'node:crypto';
import { tmpdir, cpus } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { getAttribute, setAttribute } from '@napi-rs/xattr';
import Database from 'better-sqlite3';

const GFID_XATTR = 'user.dht2.gfid';
const PAGE = 1000;

function arg(i: number, dflt: number): number {
  const raw = process.argv[2 + i];
  if (raw === undefined) return dflt;
  const n = Number(raw);
  if (!Number.isInteger(n) || n <= 0) throw new Error(`argument ${i + 1} must be a positive integer, not ${raw}`);
  return n;
}

function log(msg: string): void {
  process.stderr.write(`[micro-entry-format] ${msg}\n`);
}

function gfid(): string {
  const h = randomBytes(16).toString('hex');
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20)}`;
}

/** Names as an S3 workload makes them: a common prefix, then a varying part, unsorted on disk. */
function names(n: number): string[] {
  const out: string[] = [];
  for (let i = 0; i < n; i++) out.push(`photos-2024-${randomBytes(6).toString('hex')}-${i}.jpg`);
  return out;
}

/** Runs `fn(0..n-1)` with `concurrency` calls in flight; returns the elapsed milliseconds. */
async function timed(n: number, concurrency: number, fn: (i: number) => Promise<void>): Promise<number> {
  let next = 0;
  const t0 = performance.now();
  const worker = async (): Promise<void> => {
    while (next < n) await fn(next++);
  };
  await Promise.all(Array.from({ length: Math.min(concurrency, n) }, worker));
  return performance.now() - t0;
}

interface Row {
  what: string;
  cells: string[];
}

function table(title: string, head: string[], rows: Row[]): string {
  const all = [head, ...rows.map((r) => [r.what, ...r.cells])];
  const widths = head.map((_, c) => Math.max(...all.map((r) => (r[c] ?? '').length)));
  const line = (r: string[]): string => `| ${r.map((s, c) => (c === 0 ? s.padEnd(widths[c]!) : s.padStart(widths[c]!))).join(' | ')} |`;
  const sep = `|${widths.map((w, c) => (c === 0 ? '-'.repeat(w + 2) : `${'-'.repeat(w + 1)}:`)).join('|')}|`;
  return [`\n${title}\n`, line(head), sep, ...rows.map((r) => line([r.what, ...r.cells]))].join('\n');
}

const fmtMs = (ms: number): string => (ms >= 100 ? ms.toFixed(0) : ms >= 10 ? ms.toFixed(1) : ms.toFixed(2));

function median(xs: number[]): number {
  const s = [...xs].sort((x, y) => x - y);
  const m = s.length >> 1;
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
}

/**
 * (a) symlink entries versus empty file + xattr entries: create n, then resolve every one.
 * Each way runs `reps` times, alternating which goes first, in a fresh directory each time;
 * the table shows the median rate.
 */
async function entryFormats(base: string, n: number, reps: number): Promise<Row[]> {
  const steps = ['symlink: create (symlink)', 'symlink: resolve (readlink)',
    'empty file + xattr: create (open wx, close, setxattr)', 'empty file + xattr: resolve (getxattr)'] as const;
  const cells: Record<string, string[]> = Object.fromEntries(steps.map((k) => [k, []]));
  let seq = 0;
  const runSymlinks = async (conc: number): Promise<[number, number]> => {
    const d = join(base, `sym-${seq++}`);
    await mkdir(d);
    const ns = names(n);
    const ids = ns.map(() => gfid());
    const create = await timed(n, conc, async (i) => { await symlink(`${ids[i]}:f`, join(d, ns[i]!)); });
    let bad = 0;
    const resolve = await timed(n, conc, async (i) => {
      if ((await readlink(join(d, ns[i]!))).slice(0, 36) !== ids[i]) bad++;
    });
    if (bad !== 0) throw new Error(`${bad} symlink entries resolved to the wrong GFID`);
    await rm(d, { recursive: true, force: true });
    return [(n / create) * 1000, (n / resolve) * 1000];
  };
  const runFiles = async (conc: number): Promise<[number, number]> => {
    const d = join(base, `file-${seq++}`);
    await mkdir(d);
    const ns = names(n);
    const ids = ns.map(() => gfid());
    const create = await timed(n, conc, async (i) => {
      const p = join(d, ns[i]!);
      const fh = await open(p, 'wx', 0o600);
      await fh.close();
      await setAttribute(p, GFID_XATTR, Buffer.from(`${ids[i]}:f`));
    });
    let bad = 0;
    const resolve = await timed(n, conc, async (i) => {
      const v = await getAttribute(join(d, ns[i]!), GFID_XATTR);
      if (v === null || v.toString().slice(0, 36) !== ids[i]) bad++;
    });
    if (bad !== 0) throw new Error(`${bad} file entries resolved to the wrong GFID`);
    await rm(d, { recursive: true, force: true });
    return [(n / create) * 1000, (n / resolve) * 1000];
  };
  for (const conc of [1, 16]) {
    const sym: Array<[number, number]> = [];
    const file: Array<[number, number]> = [];
    for (let r = 0; r < reps; r++) {
      log(`(a) ${n} entries, ${conc} in flight, round ${r + 1}/${reps}`);
      if (r % 2 === 0) { sym.push(await runSymlinks(conc)); file.push(await runFiles(conc)); }
      else { file.push(await runFiles(conc)); sym.push(await runSymlinks(conc)); }
    }
    const rate = (x: number): string => `${Math.round(x).toLocaleString('en-US')}/s`;
    cells[steps[0]]!.push(rate(median(sym.map((x) => x[0]))));
    cells[steps[1]]!.push(rate(median(sym.map((x) => x[1]))));
    cells[steps[2]]!.push(rate(median(file.map((x) => x[0]))));
    cells[steps[3]]!.push(rate(median(file.map((x) => x[1]))));
  }
  return steps.map((what) => ({ what, cells: cells[what]! }));
}

/** (b) one page of PAGE names after a given name, in a directory of `size` entries. */
async function listing(base: string, db: Database.Database, size: number, rounds: number): Promise<{ size: number; cells: number[] }> {
  const dir = join(base, `dir-${size}`);
  await mkdir(dir);
  const ns = names(size);
  const parent = randomBytes(16);
  log(`(b) directory of ${size.toLocaleString('en-US')} symlink entries + index rows`);
  await timed(size, 16, async (i) => { await symlink(`${gfid()}:f`, join(dir, ns[i]!)); });
  const insert = db.prepare('INSERT INTO names (parent, name) VALUES (?, ?)');
  db.transaction(() => { for (const n of ns) insert.run(parent, Buffer.from(n, 'utf8')); })();
  const page = db.prepare('SELECT name FROM names WHERE parent = ? AND name > ? ORDER BY name LIMIT ?');

  const sorted = ns.map((n) => Buffer.from(n, 'utf8')).sort(Buffer.compare).map((b) => b.toString('utf8'));
  // Start points spread over the directory (never in its last page, so every page is full).
  const afters = Array.from({ length: rounds }, (_, r) => sorted[Math.floor(((r + 0.5) / rounds) * (size - PAGE - 1))]!);

  /** Whole directory, sorted, then a binary search for the first name after `after`. */
  const readdirPageJs = async (after: string): Promise<string[]> => {
    const all = (await readdir(dir)).sort();
    let lo = 0;
    let hi = all.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (all[mid]! <= after) lo = mid + 1;
      else hi = mid;
    }
    return all.slice(lo, lo + PAGE);
  };
  /** The same in UTF-8 byte order (S3 order): names encoded once, compared with memcmp. */
  const readdirPageBytes = async (after: string): Promise<string[]> => {
    const all = (await readdir(dir, { encoding: 'buffer' })).sort(Buffer.compare);
    const key = Buffer.from(after, 'utf8');
    let lo = 0;
    let hi = all.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (Buffer.compare(all[mid]!, key) <= 0) lo = mid + 1;
      else hi = mid;
    }
    return all.slice(lo, lo + PAGE).map((b) => b.toString('utf8'));
  };
  const sqlitePage = (after: string): string[] =>
    (page.all(parent, Buffer.from(after, 'utf8'), PAGE) as Array<{ name: Buffer }>).map((r) => r.name.toString('utf8'));

  // Warm-up (page cache, SQLite cache, JIT), and a check that all ways give the same page.
  const want = await readdirPageBytes(afters[0]!);
  const got = sqlitePage(afters[0]!);
  const js = await readdirPageJs(afters[0]!);
  if (want.length !== PAGE || want.join('\n') !== got.join('\n') || js.join('\n') !== got.join('\n')) {
    throw new Error('readdir and SQLite pages differ');
  }

  // The four ways take turns at each start point, so a noisy second hits all of them alike;
  // each cell is the median time per page.
  const ways: Array<(after: string) => Promise<unknown>> = [
    readdirPageJs,
    readdirPageBytes,
    async (a) => sqlitePage(a),
    async (a) => { for (const n of sqlitePage(a)) await readlink(join(dir, n)); },
  ];
  const times: number[][] = ways.map(() => []);
  log(`(b) ${size.toLocaleString('en-US')}: ${rounds} pages each way`);
  for (const a of afters) {
    for (let w = 0; w < ways.length; w++) {
      const t0 = performance.now();
      await ways[w]!(a);
      times[w]!.push(performance.now() - t0);
    }
  }
  await rm(dir, { recursive: true, force: true });
  return { size, cells: times.map(median) };
}

async function main(): Promise<void> {
  const entries = arg(0, 20_000);
  const big = arg(1, 100_000);
  const small = arg(2, 10_000);
  if (Math.min(big, small) <= PAGE + 1) throw new Error(`directory sizes must exceed ${PAGE + 1} entries (one full page after the start point)`);
  const base = await mkdtemp(join(tmpdir(), 'dht2-micro-entry-'));
  log(`working in ${base}`);
  const db = new Database(join(base, 'names.sqlite'));
  try {
    db.pragma('journal_mode = WAL');
    db.pragma('synchronous = NORMAL');
    db.exec('CREATE TABLE names (parent BLOB NOT NULL, name BLOB NOT NULL, PRIMARY KEY (parent, name)) WITHOUT ROWID');

    const a = await entryFormats(base, entries, 3);
    const bSmall = await listing(base, db, small, 20);
    const bBig = await listing(base, db, big, 10);

    const out: string[] = [];
    out.push(`micro-entry-format: ${new Date().toISOString()}, node ${process.version}, ${cpus().length} cores, tmp dir on ${tmpdir()}`);
    out.push(table(`(a) ${entries.toLocaleString('en-US')} name entries, one directory, no fsync (operations per second, median of 3)`,
      ['entry format: step', 'one at a time', '16 in flight'], a));
    const bRows: Row[] = [
      { what: 'fs.readdir + sort (JS string order) + slice', cells: [bSmall.cells[0]!, bBig.cells[0]!].map(fmtMs) },
      { what: 'fs.readdir + sort (UTF-8 byte order) + slice', cells: [bSmall.cells[1]!, bBig.cells[1]!].map(fmtMs) },
      { what: 'SQLite WITHOUT ROWID range query', cells: [bSmall.cells[2]!, bBig.cells[2]!].map(fmtMs) },
      { what: 'SQLite range query + readlink per row (readdir FOP)', cells: [bSmall.cells[3]!, bBig.cells[3]!].map(fmtMs) },
    ];
    out.push(table(`(b) one page of ${PAGE} names after a given name (milliseconds per page, median)`,
      ['method', `${small.toLocaleString('en-US')} entries`, `${big.toLocaleString('en-US')} entries`], bRows));
    const growth = (i: number): string => `${(bBig.cells[i]! / bSmall.cells[i]!).toFixed(1)}x`;
    out.push(`\ngrowth from ${small.toLocaleString('en-US')} to ${big.toLocaleString('en-US')} entries: readdir+sort ${growth(0)} / ${growth(1)}, SQLite ${growth(2)}, SQLite+readlink ${growth(3)}`);
    process.stdout.write(out.join('\n') + '\n');
  } finally {
    db.close();
    await rm(base, { recursive: true, force: true });
  }
}

main().catch((e: unknown) => {
  process.stderr.write(`micro-entry-format failed: ${e instanceof Error ? e.stack ?? e.message : String(e)}\n`);
  process.exit(1);
});
