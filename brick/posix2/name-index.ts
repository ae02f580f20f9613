/**
 * The sorted name index of an MDS brick: one SQLite table of (parent GFID, name) in a
 * WITHOUT ROWID B-tree, so a readdir page is one range scan — O(log n + page) — in UTF-8 byte
 * order (names are BLOBs, compared with memcmp). The symlink entries on disk stay the truth;
 * the index is kept a superset of them: a row is inserted before its entry is created and
 * deleted after its entry is removed, so a crash can only leave a row without an entry, which
 * readdir skips and removes. docs/ON-DISK-FORMAT.md has the measurement that motivated it.
 */
import Database from 'better-sqlite3';
import type { Database as Db, Statement } from 'better-sqlite3';

function gfidBlob(gfid: string): Buffer {
  return Buffer.from(gfid.replaceAll('-', ''), 'hex');
}

export class NameIndex {
  private readonly db: Db;
  private readonly insertStmt: Statement<[Buffer, Buffer]>;
  private readonly deleteStmt: Statement<[Buffer, Buffer]>;
  private readonly deleteDirStmt: Statement<[Buffer]>;
  private readonly pageStmt: Statement<[Buffer, Buffer, number]>;
  private readonly countStmt: Statement<[]>;

  /** Opens (creating when absent) the index; `durable` makes every commit fsync (WAL, synchronous=FULL). */
  constructor(path: string, durable: boolean) {
    this.db = new Database(path);
    this.db.pragma('journal_mode = WAL');
    this.db.pragma(`synchronous = ${durable ? 'FULL' : 'NORMAL'}`);
    this.db.exec('CREATE TABLE IF NOT EXISTS names (parent BLOB NOT NULL, name BLOB NOT NULL, PRIMARY KEY (parent, name)) WITHOUT ROWID');
    this.db.exec('CREATE TABLE IF NOT EXISTS meta (k TEXT PRIMARY KEY, v TEXT NOT NULL)');
    this.insertStmt = this.db.prepare('INSERT OR IGNORE INTO names (parent, name) VALUES (?, ?)');
    this.deleteStmt = this.db.prepare('DELETE FROM names WHERE parent = ? AND name = ?');
    this.deleteDirStmt = this.db.prepare('DELETE FROM names WHERE parent = ?');
    this.pageStmt = this.db.prepare('SELECT name FROM names WHERE parent = ? AND name > ? ORDER BY name LIMIT ?');
    this.countStmt = this.db.prepare('SELECT count(*) AS n FROM names');
  }

  /** True once a full rebuild from disk has completed (an index file that was lost is rebuilt). */
  isBuilt(): boolean {
    const row = this.db.prepare('SELECT v FROM meta WHERE k = ?').get('built') as { v: string } | undefined;
    return row?.v === '1';
  }

  markBuilt(): void {
    this.db.prepare('INSERT OR REPLACE INTO meta (k, v) VALUES (?, ?)').run('built', '1');
  }

  add(parent: string, name: string): void {
    this.insertStmt.run(gfidBlob(parent), Buffer.from(name, 'utf8'));
  }

  remove(parent: string, name: string): void {
    this.deleteStmt.run(gfidBlob(parent), Buffer.from(name, 'utf8'));
  }

  removeDir(parent: string): void {
    this.deleteDirStmt.run(gfidBlob(parent));
  }

  /** Up to `limit` names of `parent` after `after` (exclusive), in byte order. */
  page(parent: string, after: string | undefined, limit: number): string[] {
    const rows = this.pageStmt.all(gfidBlob(parent), Buffer.from(after ?? '', 'utf8'), limit) as Array<{ name: Buffer }>;
    return rows.map((r) => r.name.toString('utf8'));
  }

  /** Runs `fn` in one transaction (used by the rebuild). */
  transaction(fn: () => void): void {
    this.db.transaction(fn)();
  }

  /** Removes every row (a rebuild by full copy then rebuilds the index from the entries). */
  clear(): void {
    this.db.exec('DELETE FROM names');
  }

  count(): number {
    return (this.countStmt.get() as { n: number }).n;
  }

  close(): void {
    this.db.close();
  }
}
