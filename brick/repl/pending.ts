/**
 * The pending fresh copies of a DS set (ARCHITECTURE.md §10.7, ON-DISK-FORMAT.md §6.4):
 * `repl/pending.sqlite`, one row per (fresh object, member that lacks it). Replicated state, the
 * same on every member: rows are added only by applying a `pending` entry, removed only by
 * applying a `pendingDone` entry (one row) or a `dunlink` of the GFID (all its rows). Each
 * entry's rows change in one transaction (`synchronous = FULL`, `NORMAL` under `--no-sync`), so
 * applying an entry again changes nothing. A mirror in memory answers the hot questions (does
 * this member lack G?) without a query.
 */
import { join } from 'node:path';
import Database from 'better-sqlite3';
import type { Database as Db, Statement } from 'better-sqlite3';
import { replDir } from './paths.js';

export interface PendingRecord {
  size: number;
  crc: number;
  /** The log index of the `pending` entry that made the row. */
  idx: number;
}

/** One row whole: a (fresh object, member that lacks it) pair and its record. */
export interface PendingRow extends PendingRecord {
  gfid: string;
  member: string;
}

function toBlob(gfid: string): Buffer {
  return Buffer.from(gfid.replace(/-/g, ''), 'hex');
}

function fromBlob(b: Buffer): string {
  const h = b.toString('hex');
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20)}`;
}

export class PendingStore {
  private readonly db: Db;
  private readonly put: Statement;
  private readonly delOne: Statement;
  private readonly delAll: Statement;
  /** gfid -> member -> record: the table, in memory. */
  private readonly rows = new Map<string, Map<string, PendingRecord>>();

  private constructor(path: string, durable: boolean) {
    this.db = new Database(path);
    this.db.pragma('journal_mode = WAL');
    this.db.pragma(`synchronous = ${durable ? 'FULL' : 'NORMAL'}`);
    this.db.exec(`CREATE TABLE IF NOT EXISTS pending (gfid BLOB NOT NULL, member TEXT NOT NULL, size INTEGER NOT NULL,
                    crc INTEGER NOT NULL, idx INTEGER NOT NULL, PRIMARY KEY (gfid, member)) WITHOUT ROWID;
                  CREATE TABLE IF NOT EXISTS meta (k TEXT PRIMARY KEY, v TEXT NOT NULL);`);
    this.put = this.db.prepare('INSERT OR REPLACE INTO pending (gfid, member, size, crc, idx) VALUES (?, ?, ?, ?, ?)');
    this.delOne = this.db.prepare('DELETE FROM pending WHERE gfid = ? AND member = ?');
    this.delAll = this.db.prepare('DELETE FROM pending WHERE gfid = ?');
    const all = this.db.prepare('SELECT gfid, member, size, crc, idx FROM pending').all() as Array<{ gfid: Buffer; member: string; size: number; crc: number; idx: number }>;
    for (const r of all) this.mirrorPut(fromBlob(r.gfid), r.member, { size: r.size, crc: r.crc, idx: r.idx });
  }

  /** Opens (creating when absent) `repl/pending.sqlite` of the brick at `dir`. */
  static open(dir: string, durable: boolean): PendingStore {
    return new PendingStore(join(replDir(dir), 'pending.sqlite'), durable);
  }

  private mirrorPut(gfid: string, member: string, r: PendingRecord): void {
    let m = this.rows.get(gfid);
    if (!m) this.rows.set(gfid, (m = new Map()));
    m.set(member, r);
  }

  /** Applies a `pending` entry: one row per missing member, in one transaction. */
  add(idx: number, gfid: string, size: number, crc: number, missing: readonly string[]): void {
    const g = toBlob(gfid);
    this.db.transaction(() => { for (const m of missing) this.put.run(g, m, size, crc, idx); })();
    for (const m of missing) this.mirrorPut(gfid, m, { size, crc, idx });
  }

  /** Applies a `pendingDone` entry: the row of `member` goes. */
  done(gfid: string, member: string): void {
    this.delOne.run(toBlob(gfid), member);
    const m = this.rows.get(gfid);
    m?.delete(member);
    if (m?.size === 0) this.rows.delete(gfid);
  }

  /** Applies a `dunlink` of `gfid`: every row of it goes. */
  drop(gfid: string): void {
    if (!this.rows.has(gfid)) return;
    this.delAll.run(toBlob(gfid));
    this.rows.delete(gfid);
  }

  /** The members a row says lack `gfid` (empty: none). */
  missing(gfid: string): string[] {
    return [...(this.rows.get(gfid)?.keys() ?? [])];
  }

  has(gfid: string, member?: string): boolean {
    const m = this.rows.get(gfid);
    return member === undefined ? m !== undefined : m?.has(member) === true;
  }

  /** The GFIDs `member` lacks, oldest entry first, at most `limit`. */
  lackedBy(member: string, limit: number): string[] {
    const out: Array<[string, number]> = [];
    for (const [g, m] of this.rows) { const r = m.get(member); if (r) out.push([g, r.idx]); }
    return out.sort((a, b) => a[1] - b[1]).slice(0, limit).map(([g]) => g);
  }

  /** One page of the rows in (gfid, member) order after `after` (`rpending`, a rebuild's source). */
  page(after: { gfid: string; member: string } | undefined, limit: number): PendingRow[] {
    const rows = (after === undefined
      ? this.db.prepare('SELECT gfid, member, size, crc, idx FROM pending ORDER BY gfid, member LIMIT ?').all(limit)
      : this.db.prepare('SELECT gfid, member, size, crc, idx FROM pending WHERE gfid > ? OR (gfid = ? AND member > ?) ORDER BY gfid, member LIMIT ?')
        .all(toBlob(after.gfid), toBlob(after.gfid), after.member, limit)) as Array<{ gfid: Buffer; member: string; size: number; crc: number; idx: number }>;
    return rows.map((r) => ({ gfid: fromBlob(r.gfid), member: r.member, size: r.size, crc: r.crc, idx: r.idx }));
  }

  /**
   * Makes the table exactly `rows`, in one transaction: a member rebuilt by full copy takes its
   * source's rows (ARCHITECTURE.md §10.13 "As built (truncation)"; node.ts runRebuild).
   */
  replaceAll(rows: readonly PendingRow[]): void {
    this.db.transaction(() => {
      this.db.prepare('DELETE FROM pending').run();
      for (const r of rows) this.put.run(toBlob(r.gfid), r.member, r.size, r.crc, r.idx);
    })();
    this.rows.clear();
    for (const r of rows) this.mirrorPut(r.gfid, r.member, { size: r.size, crc: r.crc, idx: r.idx });
  }

  /** Rows by missing member (`heal info`, rstatus). */
  counts(): Record<string, number> {
    const c: Record<string, number> = {};
    for (const m of this.rows.values()) for (const member of m.keys()) c[member] = (c[member] ?? 0) + 1;
    return c;
  }

  close(): void {
    this.db.close();
  }
}
