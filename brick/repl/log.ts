/**
 * The per-set replication log of a brick (ARCHITECTURE.md §10.4; the bytes and the rules are
 * docs/ON-DISK-FORMAT.md §6.1): segments in `.dht2/repl/log/`, the bodies of data entries in
 * `.dht2/repl/blobs/`. Pure storage: it knows indexes and terms, not who the primary is, and
 * never decides what to drop (the consensus core does, brick/repl/core.ts).
 *
 * What it promises:
 *  - `append` resolves only once the entries' records (and their blobs before them) are on
 *    disk: blob fsynced and renamed, `blobs/` fsynced; a new segment's header fsynced with
 *    `log/`; the record written and `fdatasync`ed. One `fdatasync` covers every record written
 *    while the previous one ran (group commit, §6.1 rule 4). These fsyncs happen whether or not
 *    the store runs with sync: the log is what makes a replicated write durable on a majority.
 *  - `open` takes back exactly what was acknowledged: a torn tail of the last segment (records
 *    no `fdatasync` covered) is cut off; any other failure is corruption, reported and left
 *    untouched (§6.1 "Reading at open").
 *  - `dropSuffix` never drops at or below the commit index it is given.
 *
 * Every fsync goes through brick/posix2/fsutil.ts, so the power-loss tests
 * (test/helpers/power-loss.ts) see each one.
 */
import { createReadStream } from 'node:fs';
import { mkdir, open, readdir, readFile, rename, rm, stat, unlink, type FileHandle } from 'node:fs/promises';
import { join } from 'node:path';
import { Readable, Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { err, toDht2Error, type Dht2Error } from '../../dht2-core/protocol/index.js';
import { fsyncPath, handleWriter, mkdirDurable, syncDataHandle, syncHandle } from '../posix2/fsutil.js';
import {
  decodePayload, decodeRecord, decodeSegmentHeader, encodePayload, encodeRecord, encodeSegmentHeader,
  SEGMENT_HEADER, type BlobInfo, type LogEntry,
} from './log-format.js';
import { readLogBase, writeLogBase, type LogBaseMark } from './log-base.js';
import { blobName, blobsDir, logDir, parseBlobName, parseSegmentName, replTmpPath, segmentName } from './paths.js';
import { crc32c } from './bin.js';

export type { BlobInfo, EntryKind, EntryPayload, LogEntry } from './log-format.js';
export type { LogBaseMark } from './log-base.js';

/** One segment as the truncation decision sees it (brick/repl/truncate.ts). */
export interface SegmentInfo {
  readonly first: number;
  readonly last: number;
  /** The segment file's bytes plus its records' blobs. */
  readonly bytes: number;
}

/** A segment is closed when it reaches this size; the next record starts a new one (§6.1). */
export const SEGMENT_BYTES = 64 * 1024 * 1024;

export interface ReplLogOptions {
  /** The size at which a segment is closed; 64 MiB. Tests use tiny segments. */
  segmentBytes?: number;
  /**
   * The applied mark (`repl/applied`, §6.5). Segments before a gap in the log whose records are
   * all at or below it are what a head truncation left behind after a power cut: they are
   * dropped at open instead of being taken for corruption (§6.1 "Truncating the head").
   */
  appliedIndex?: number;
}

/** What `open` found and did (§6.1 "Reading at open"); logged in the `brick listening` line. */
export interface OpenReport {
  firstIndex: number;
  lastIndex: number;
  lastTerm: number;
  /** Bytes of torn tail cut off the last segment (0 when it ended with a whole record). */
  truncatedTail: number;
  /** Segments unlinked at open: leftovers of a head truncation, or a last segment whose creation was cut before its header was written. */
  droppedSegments: number;
  /** Blobs that named no record of the log (written before a crash that came before their record). */
  removedBlobs: number;
  /**
   * Set when acknowledged records fail their checks: the log is left as found, serves nothing
   * and every call but `close` fails with EIO. The brick waits for `heal start --full`.
   */
  corrupt?: string;
}

/** A blob written to `tmp/blob.X` and fsynced, not yet in the log (§6.1 rule 1). */
export interface StagedBlob {
  readonly path: string;
  readonly size: number;
  readonly crc32c: number;
}

/** An entry to append; `blob`, when the entry has a body, from `stageBlob`. */
export interface AppendEntry extends LogEntry {
  blob?: StagedBlob;
}

/** One segment file as the log knows it. */
interface Segment {
  readonly first: number;
  readonly path: string;
  /** Bytes in the file (header and whole records). */
  size: number;
  /** Records in it: indexes first to first + count - 1. */
  count: number;
  /** Offset of record first + i at offsets[i]; the array grows by doubling. */
  offsets: Uint32Array;
  /** Indexes (ascending) of its records that have a blob. */
  blobs: number[];
  /** The bytes of those blobs. */
  blobBytes: number;
  /** The write handle (O_APPEND), open on the tail, and on a rolled segment until its last fdatasync. */
  fh?: FileHandle;
}

/** An encoded entry waiting to be written. */
interface Prepared {
  term: number;
  index: number;
  record: Buffer;
  blob?: StagedBlob;
}

interface Deferred {
  resolve(): void;
  reject(e: unknown): void;
}

type Task =
  | { kind: 'append'; entries: Prepared[]; done: Deferred }
  | { kind: 'op'; run: () => Promise<void>; done: Deferred };

/** Waits for the fdatasync that makes a written append durable. */
interface SyncWaiter {
  last: number;
  segs: Segment[];
  done: Deferred;
}

function lastOf(s: Segment): number {
  return s.first + s.count - 1;
}

function pushOffset(s: Segment, off: number): void {
  if (s.count === s.offsets.length) {
    const grown = new Uint32Array(Math.max(16, s.offsets.length * 2));
    grown.set(s.offsets);
    s.offsets = grown;
  }
  s.offsets[s.count++] = off;
}

function deferred<T = void>(): { promise: Promise<T>; resolve(v: T): void; reject(e: unknown): void } {
  let resolve!: (v: T) => void;
  let reject!: (e: unknown) => void;
  const promise = new Promise<T>((a, b) => { resolve = a; reject = b; });
  return { promise, resolve, reject };
}

async function writeAll(fh: FileHandle, bufs: Buffer[]): Promise<void> {
  let left = bufs;
  while (left.length > 0) {
    // No position: the handle is O_APPEND, so every write lands at the end (§6.1 rule 3).
    const { bytesWritten } = await fh.writev(left);
    let n = bytesWritten;
    let i = 0;
    while (i < left.length && n >= left[i]!.length) n -= left[i++]!.length;
    left = i === left.length ? [] : n === 0 ? left.slice(i) : [left[i]!.subarray(n), ...left.slice(i + 1)];
  }
}

/** The result of reading one segment file at open. */
interface Scanned {
  seg: Segment;
  /** Terms of its records, in order. */
  terms: number[];
  /** Why the segment (or a record) failed, and where the good part ends. */
  failure?: { why: string; at: number; length: number; headerTorn: boolean };
}

export class ReplLog {
  private readonly logDir: string;
  private readonly blobsDir: string;
  private readonly segmentBytes: number;
  private segments: Segment[] = [];
  /** Runs of equal terms over the accepted entries: runs[k].term from index runs[k].index on. */
  private runs: Array<{ index: number; term: number }> = [];
  private first = 1;
  /**
   * The entry before `first` (`repl/logbase`, §6.1 "The base"): its index is first - 1, its term
   * the one kept for the (prevIndex, prevTerm) check. Term undefined only for a log whose head went
   * before the base file existed (segments dropped before a gap at open).
   */
  private baseTerm: number | undefined = 0;
  /** The last index accepted by `append` (written or queued). */
  private last = 0;
  /** Tasks queued so far, and tasks done (written, or run): reads wait for the ones before them. */
  private queuedSeq = 0;
  private doneSeq = 0;
  private seqWaiters: Array<{ seq: number; resolve(): void }> = [];
  /** The last index made durable by an fdatasync. */
  private durable = 0;
  private readonly queue: Task[] = [];
  private draining = false;
  private drained: { promise: Promise<void>; resolve(): void } | undefined;
  private syncWaiters: SyncWaiter[] = [];
  private syncing = false;
  private synced: { promise: Promise<void>; resolve(): void } | undefined;
  /** Set after a failed write or fsync: the state on disk is unknown until the log is opened again. */
  private failure: Dht2Error | undefined;
  private closed = false;

  private constructor(readonly dir: string, opts: ReplLogOptions, readonly opened: OpenReport) {
    this.logDir = logDir(dir);
    this.blobsDir = blobsDir(dir);
    this.segmentBytes = opts.segmentBytes ?? SEGMENT_BYTES;

    if (opened.corrupt !== undefined) this.failure = err('EIO', `replication log is corrupt: ${opened.corrupt}`);
  }

  /**
   * Opens the log of the brick at `dir` (creating `repl/log/` and `repl/blobs/` when missing)
   * and reads it back (§6.1 "Reading at open"). Resolves even when the log is corrupt:
   * `opened.corrupt` then says why, and the log refuses everything.
   */
  static async open(dir: string, opts: ReplLogOptions = {}): Promise<ReplLog> {
    // Record offsets are kept as u32: a segment ends within one record of this size.
    const size = opts.segmentBytes ?? SEGMENT_BYTES;
    if (!(Number.isSafeInteger(size) && size > 0 && size <= 2 ** 31)) throw err('EINVAL', `segment size ${size}: 1 byte to 2 GiB`);
    await mkdirDurable(logDir(dir), true);
    await mkdirDurable(blobsDir(dir), true);
    await mkdir(join(dir, '.dht2', 'tmp'), { recursive: true, mode: 0o700 });
    const report: OpenReport = { firstIndex: 1, lastIndex: 0, lastTerm: 0, truncatedTail: 0, droppedSegments: 0, removedBlobs: 0 };
    const base: LogBaseMark = await readLogBase(dir) ?? { index: 0, term: 0 };
    const scanned: Scanned[] = [];
    const names = (await readdir(logDir(dir)))
      .map((n) => ({ n, first: parseSegmentName(n) }))
      .filter((x): x is { n: string; first: number } => x.first !== undefined)
      .sort((a, b) => a.first - b.first);
    for (let i = 0; i < names.length; i++) {
      scanned.push(await scanSegment(join(logDir(dir), names[i]!.n), names[i]!.first));
    }
    const corrupt = (why: string): ReplLog => new ReplLog(dir, opts, { ...report, corrupt: why });

    // Segments wholly at or below the base are what a head truncation cut by a crash left: the
    // base is written before they are unlinked (§6.1 "The base"). Checked first, so that a damaged
    // leftover is not taken for corruption.
    const below: Scanned[] = [];
    while (scanned.length > 0 && scanned[0]!.failure === undefined && lastOf(scanned[0]!.seg) <= base.index) below.push(scanned.shift()!);

    // A head truncation cut by a power cut can leave old segments before a gap (§6.1): every
    // segment before the last gap is such a leftover if all its records are applied.
    let lastGap = -1;
    for (let i = 0; i + 1 < scanned.length; i++) {
      const a = scanned[i]!;
      if (a.failure === undefined && lastOf(a.seg) + 1 !== scanned[i + 1]!.seg.first) lastGap = i;
    }
    let drop: Scanned[] = [];
    if (lastGap >= 0) {
      drop = scanned.slice(0, lastGap + 1);
      const applied = opts.appliedIndex ?? 0;
      if (drop.some((s) => s.failure !== undefined || lastOf(s.seg) > applied)) {
        const a = scanned[lastGap]!.seg;
        return corrupt(`gap in the log: ${segmentName(a.first)} ends at ${lastOf(a)}, ${segmentName(scanned[lastGap + 1]!.seg.first)} starts at ${scanned[lastGap + 1]!.seg.first}`);
      }
    }
    const kept = scanned.slice(drop.length);

    // The checks of §6.1: only the last segment may fail (a torn tail), and only after its header,
    // unless the header itself was never written (the crash came between create and fsync).
    let prevTerm = 0;
    for (let i = 0; i < kept.length; i++) {
      const s = kept[i]!;
      const isLast = i === kept.length - 1;
      const name = segmentName(s.seg.first);
      if (i > 0 && lastOf(kept[i - 1]!.seg) + 1 !== s.seg.first) {
        return corrupt(`gap in the log: ${segmentName(kept[i - 1]!.seg.first)} ends at ${lastOf(kept[i - 1]!.seg)}, ${name} starts at ${s.seg.first}`);
      }
      if (s.failure && !(isLast && (s.failure.at > 0 || s.failure.headerTorn))) {
        return corrupt(`${name} at byte ${s.failure.at}: ${s.failure.why}`);
      }
      if (s.terms.length > 0 && s.terms[0]! < prevTerm) {
        return corrupt(`${name}: term ${s.terms[0]} of index ${s.seg.first} is below the previous record's ${prevTerm}`);
      }
      if (s.terms.length > 0) prevTerm = s.terms[s.terms.length - 1]!;
    }

    const startsAt = kept[0]?.seg.first;
    if (startsAt !== undefined && base.index > 0 && startsAt !== base.index + 1) {
      return corrupt(`the log base is index ${base.index}, the first segment ${segmentName(startsAt)} starts at ${startsAt}`);
    }

    // Nothing is corrupt: repair what a crash may leave, in the order that keeps every
    // intermediate state readable (a prefix of the log).
    for (const s of [...below, ...drop]) {
      await unlink(s.seg.path);
      report.droppedSegments++;
    }
    const tail = kept[kept.length - 1];
    if (tail?.failure?.headerTorn) {
      // Created, never fsynced with its header: no record in it was ever acknowledged.
      await unlink(tail.seg.path);
      report.droppedSegments++;
      kept.pop();
    } else if (tail?.failure) {
      const fh = await open(tail.seg.path, 'r+');
      try {
        await fh.truncate(tail.failure.at);
        await syncHandle(fh, tail.seg.path);
      } finally {
        await fh.close();
      }
      report.truncatedTail = tail.failure.length - tail.failure.at;
    }
    if (report.droppedSegments > 0) await fsyncPath(logDir(dir));

    const log = new ReplLog(dir, opts, report);
    log.segments = kept.map((s) => s.seg);
    for (const s of kept) {
      for (let k = 0; k < s.terms.length; k++) log.noteTerm(s.seg.first + k, s.terms[k]!);
    }
    const firstSeg = log.segments[0];
    const lastSeg = log.segments[log.segments.length - 1];
    log.first = firstSeg ? firstSeg.first : base.index + 1;
    log.last = log.durable = lastSeg ? lastOf(lastSeg) : base.index;
    log.baseTerm = log.first === base.index + 1 ? base.term : undefined;

    // Blobs whose <index>-<term> names no record are removed (§6.1).
    for (const n of await readdir(log.blobsDir)) {
      const b = parseBlobName(n);
      if (!b) continue;
      const seg = log.segmentOf(b.index);
      if (seg && log.termAt(b.index) === b.term) {
        seg.blobs.push(b.index);
        seg.blobBytes += (await stat(join(log.blobsDir, n))).size;
      } else {
        await rm(join(log.blobsDir, n), { force: true });
        report.removedBlobs++;
      }
    }
    for (const s of log.segments) s.blobs.sort((a, b) => a - b);
    report.firstIndex = log.first;
    report.lastIndex = log.last;
    report.lastTerm = log.lastTerm;
    return log;
  }

  /** The first index the log holds (the last index + 1 when it holds none). */
  get firstIndex(): number {
    return this.first;
  }

  /**
   * The index and term of the entry before the first (§6.1 "The base"): (0, 0) for a log that
   * starts at index 1. Term undefined only when not known (see `baseTerm`).
   */
  get base(): { index: number; term: number | undefined } {
    return { index: this.first - 1, term: this.first === 1 ? 0 : this.baseTerm };
  }

  /** The segments, oldest first, with their sizes (the last one is the one appended to). */
  segmentInfo(): SegmentInfo[] {
    return this.segments.filter((s) => s.count > 0).map((s) => ({ first: s.first, last: lastOf(s), bytes: s.size + s.blobBytes }));
  }

  /** The last index accepted by `append`, durable or not yet. */
  get lastIndex(): number {
    return this.last;
  }

  /** The term of the last index; 0 when unknown (an empty log). */
  get lastTerm(): number {
    return this.termAt(this.last) ?? 0;
  }

  /** The last index whose record is durable: every append up to it has resolved. */
  get durableIndex(): number {
    return this.durable;
  }

  /** Why the log refuses to work (corrupt at open, or a failed write), if it does. */
  get failed(): Dht2Error | undefined {
    return this.failure;
  }

  /** The term of the entry at `index` (0 for index 0); undefined when the log does not hold it. */
  termAt(index: number): number | undefined {
    if (index === 0) return 0;
    if (index === this.first - 1) return this.baseTerm;
    if (index < this.first || index > this.last) return undefined;
    let lo = 0;
    let hi = this.runs.length - 1;
    while (lo < hi) {
      const mid = (lo + hi + 1) >> 1;
      if (this.runs[mid]!.index <= index) lo = mid;
      else hi = mid - 1;
    }
    return this.runs[lo]?.term;
  }

  private noteTerm(index: number, term: number): void {
    const r = this.runs[this.runs.length - 1];
    if (!r || r.term !== term) this.runs.push({ index, term });
  }

  /** Forgets the terms of indexes from `from` on. */
  private trimTerms(from: number): void {
    while (this.runs.length > 0 && this.runs[this.runs.length - 1]!.index >= from) this.runs.pop();
  }

  private segmentOf(index: number): Segment | undefined {
    let lo = 0;
    let hi = this.segments.length - 1;
    while (lo <= hi) {
      const mid = (lo + hi) >> 1;
      const s = this.segments[mid]!;
      if (index < s.first) hi = mid - 1;
      else if (index > lastOf(s)) lo = mid + 1;
      else return s;
    }
    return undefined;
  }

  private check(): void {
    if (this.closed) throw err('EIO', 'replication log is closed');
    if (this.failure) throw this.failure;
  }

  /**
   * Streams a blob into `tmp/blob.X` and fsyncs it (§6.1 rule 1), before its entry is appended.
   * The caller checks the body's MAC trailer (PROTOCOL.md §3.1) while it streams; a body that
   * fails it fails the pipeline and leaves nothing. EFBIG beyond `maxBytes`.
   */
  async stageBlob(body: Readable | Buffer, maxBytes = Number.MAX_SAFE_INTEGER): Promise<StagedBlob> {
    this.check();
    const path = replTmpPath(this.dir, 'blob');
    let crc = 0;
    let size = 0;
    const fh = await open(path, 'wx', 0o600);
    try {
      const count = new Transform({
        transform(chunk: Buffer, _enc, cb) {
          size += chunk.length;
          if (size > maxBytes) { cb(err('EFBIG', `blob over ${maxBytes} bytes`)); return; }
          crc = crc32c(chunk, crc);
          cb(null, chunk);
        },
      });
      await pipeline(Buffer.isBuffer(body) ? Readable.from([body]) : body, count, handleWriter(fh));
      await syncHandle(fh, path);
    } catch (e) {
      await fh.close();
      await rm(path, { force: true });
      throw e;
    }
    await fh.close();
    return { path, size, crc32c: crc };
  }

  /** Removes a staged blob that will not be appended. */
  async discardBlob(b: StagedBlob): Promise<void> {
    await rm(b.path, { force: true });
  }

  /**
   * Appends entries: indexes consecutive from `lastIndex + 1`, terms never going down. Checked
   * at once (EINVAL), so appends called one after the other are written in call order.
   * Resolves when every entry is durable (§6.1 rules 1-4); a failed write or fsync rejects it
   * and every append after it, and the log refuses everything until it is opened again.
   */
  append(entries: readonly AppendEntry[]): Promise<void> {
    let prepared: Prepared[];
    try {
      this.check();
      prepared = this.prepare(entries);
    } catch (e) {
      return Promise.reject(e);
    }
    if (prepared.length === 0) return Promise.resolve();
    for (const p of prepared) this.noteTerm(p.index, p.term);
    this.last = prepared[prepared.length - 1]!.index;
    return this.enqueue((done) => ({ kind: 'append', entries: prepared, done }));
  }

  private prepare(entries: readonly AppendEntry[]): Prepared[] {
    let index = this.last;
    let term = this.lastTerm;
    return entries.map((e) => {
      if (e.index !== index + 1) throw err('EINVAL', `append of index ${e.index}: the log ends at ${index}`);
      if (!Number.isSafeInteger(e.term) || e.term < term) throw err('EINVAL', `append of index ${e.index} in term ${e.term}, below term ${term} of the entry before`);
      let blob: BlobInfo | undefined = e.payload.blob;
      if (e.blob) {
        const staged = { size: e.blob.size, crc32c: e.blob.crc32c };
        if (blob && (blob.size !== staged.size || blob.crc32c !== staged.crc32c)) {
          throw err('EINVAL', `entry ${e.index}: its blob has ${staged.size} bytes and CRC32C ${staged.crc32c}, the entry says ${blob.size} and ${blob.crc32c}`);
        }
        blob = staged;
      } else if (blob) {
        throw err('EINVAL', `entry ${e.index} names a blob and none was staged`);
      }
      const record = encodeRecord(e.term, e.index, e.kind, encodePayload({ ...e.payload, blob }));
      index = e.index;
      term = e.term;
      return e.blob ? { term: e.term, index: e.index, record, blob: e.blob } : { term: e.term, index: e.index, record };
    });
  }

  private enqueue(make: (done: Deferred) => Task): Promise<void> {
    const d = deferred();
    this.queue.push(make(d));
    this.queuedSeq++;
    // In a microtask: appends made in one turn of the event loop are written as one batch.
    queueMicrotask(() => void this.drain());
    return d.promise;
  }

  /** Runs the queue in order; appends next to each other are written as one batch. */
  private async drain(): Promise<void> {
    if (this.draining) return;
    this.draining = true;
    try {
      while (this.queue.length > 0 && !this.failure) {
        const head = this.queue[0]!;
        if (head.kind === 'op') {
          this.queue.shift();
          try {
            await this.syncIdle();
            if (this.failure) throw this.failure;
            await head.run();
            head.done.resolve();
          } catch (e) {
            this.fail(e);
            head.done.reject(e);
          }
          this.tasksDone(1);
          continue;
        }
        const batch: Array<Extract<Task, { kind: 'append' }>> = [];
        while (this.queue[0]?.kind === 'append') batch.push(this.queue.shift() as Extract<Task, { kind: 'append' }>);
        try {
          await this.writeBatch(batch);
        } catch (e) {
          this.fail(e);
          for (const t of batch) t.done.reject(e);
        }
        this.tasksDone(batch.length);
      }
    } finally {
      this.draining = false;
      const d = this.drained;
      this.drained = undefined;
      d?.resolve();
    }
  }

  /** Resolves once the queue is empty (or the log failed). */
  private async drainIdle(): Promise<void> {
    while (this.draining || this.queue.length > 0) {
      this.drained ??= deferred();
      await this.drained.promise;
    }
  }

  private tasksDone(n: number): void {
    this.doneSeq += n;
    const ready = this.seqWaiters.filter((w) => w.seq <= this.doneSeq);
    this.seqWaiters = this.seqWaiters.filter((w) => w.seq > this.doneSeq);
    for (const w of ready) w.resolve();
  }

  /**
   * Resolves once every task queued before the call is done (or the log failed), so a read sees
   * what the calls before it wrote, and nothing a drop called before it removed; tasks queued
   * later are not waited for (a busy primary's queue is never empty).
   */
  private async caughtUp(): Promise<void> {
    const seq = this.queuedSeq;
    if (this.doneSeq >= seq || this.failure) return;
    const d = deferred();
    this.seqWaiters.push({ seq, resolve: d.resolve });
    await d.promise;
  }

  /** Resolves once no fdatasync is running or waiting. */
  private async syncIdle(): Promise<void> {
    while (this.syncing) {
      this.synced ??= deferred();
      await this.synced.promise;
    }
  }

  /** Stops the log after a failed write or fsync: what is on disk is known only after a reopen. */
  private fail(e: unknown): void {
    if (this.failure) return;
    this.failure = toDht2Error(e, 'replication log');
    const dropped = this.queue.splice(0);
    for (const t of dropped) t.done.reject(this.failure);
    for (const w of this.syncWaiters.splice(0)) w.done.reject(this.failure);
    for (const w of this.seqWaiters.splice(0)) w.resolve();
  }

  /**
   * Writes a batch of appends: their blobs renamed into `blobs/` and one fsync of it, then the
   * records, rolling to a new segment at the size limit; the fdatasync is the sync loop's.
   */
  private async writeBatch(batch: Array<Extract<Task, { kind: 'append' }>>): Promise<void> {
    const blobs = batch.flatMap((t) => t.entries.filter((p) => p.blob));
    for (const p of blobs) await rename(p.blob!.path, join(this.blobsDir, blobName(p.index, p.term)));
    if (blobs.length > 0) await fsyncPath(this.blobsDir);
    // All the batch's records in as few writes as there are segments, then one wake-up of the
    // sync loop: the records of one batch share an fdatasync.
    let bufs: Buffer[] = [];
    let seg = this.tailSegment();
    const flush = async (): Promise<void> => {
      if (seg && bufs.length > 0) await writeAll(await this.writeHandle(seg), bufs);
      bufs = [];
    };
    const waiters: SyncWaiter[] = [];
    for (const t of batch) {
      const touched: Segment[] = [];
      for (const p of t.entries) {
        if (!seg || (seg.count > 0 && seg.size >= this.segmentBytes)) {
          await flush();
          // The closed segment is made durable before the next one exists, so that a crash
          // never leaves a later segment after a torn one, which open would take for a gap.
          if (seg) await syncDataHandle(await this.writeHandle(seg), seg.path);
          seg = await this.newSegment(p.index, p.term);
        }
        if (!touched.includes(seg)) touched.push(seg);
        bufs.push(p.record);
        pushOffset(seg, seg.size);
        seg.size += p.record.length;
        if (p.blob) { seg.blobs.push(p.index); seg.blobBytes += p.blob.size; }
      }
      waiters.push({ last: t.entries[t.entries.length - 1]!.index, segs: touched, done: t.done });
    }
    await flush();
    this.syncWaiters.push(...waiters);
    this.kickSync();
  }

  private tailSegment(): Segment | undefined {
    return this.segments[this.segments.length - 1];
  }

  private async writeHandle(seg: Segment): Promise<FileHandle> {
    seg.fh ??= await open(seg.path, 'a', 0o600);
    return seg.fh;
  }

  /** §6.1 rule 2: `O_EXCL` create, header, fsync, fsync `log/`, before its first record. */
  private async newSegment(first: number, term: number): Promise<Segment> {
    const path = join(this.logDir, segmentName(first));
    const fh = await open(path, 'ax', 0o600);
    const seg: Segment = { first, path, size: SEGMENT_HEADER, count: 0, offsets: new Uint32Array(16), blobs: [], blobBytes: 0, fh };
    this.segments.push(seg);
    await writeAll(fh, [encodeSegmentHeader(first, term)]);
    await syncHandle(fh, path);
    await fsyncPath(this.logDir);
    return seg;
  }

  private kickSync(): void {
    if (this.syncing || this.syncWaiters.length === 0) return;
    this.syncing = true;
    void this.syncLoop();
  }

  /**
   * Group commit (§6.1 rule 4): one fdatasync per segment for every record written before it
   * started; what is written while it runs waits for the next round.
   */
  private async syncLoop(): Promise<void> {
    try {
      while (this.syncWaiters.length > 0 && !this.failure) {
        const round = this.syncWaiters.splice(0);
        const segs = [...new Set(round.flatMap((w) => w.segs))];
        try {
          // A segment without a handle is closed: it was made durable when the next one was
          // created (writeBatch), and gets no more records.
          for (const s of segs) if (s.fh) await syncDataHandle(s.fh, s.path);
        } catch (e) {
          for (const w of round) w.done.reject(e);
          this.fail(e);
          return;
        }
        this.durable = Math.max(this.durable, ...round.map((w) => w.last));
        for (const w of round) w.done.resolve();
        // A rolled segment gets no more records: its handle is done with its last fdatasync.
        for (const s of segs) {
          if (s !== this.tailSegment() && !this.syncWaiters.some((w) => w.segs.includes(s))) {
            const fh = s.fh;
            s.fh = undefined;
            await fh?.close();
          }
        }
      }
    } finally {
      this.syncing = false;
      const d = this.synced;
      this.synced = undefined;
      d?.resolve();
    }
  }

  /**
   * Reads entries `from` to `to` (inclusive), stopping early, after at least one entry, once
   * `maxBytes` of records are read. Waits for the appends and drops called before it to be
   * written (not synced: the primary sends an entry while its own fdatasync runs,
   * ARCHITECTURE.md §10.4).
   */
  async read(from: number, to: number, maxBytes = Number.MAX_SAFE_INTEGER): Promise<LogEntry[]> {
    this.check();
    if (from < this.first || to > this.last || from > to) {
      throw err('EINVAL', `read of ${from}..${to}: the log holds ${this.first}..${this.last}`);
    }
    await this.caughtUp();
    this.check();
    const out: LogEntry[] = [];
    let bytes = 0;
    let index = from;
    while (index <= to && (out.length === 0 || bytes < maxBytes)) {
      const seg = this.segmentOf(index);
      if (!seg) throw err('EIO', `replication log: no segment holds index ${index}`);
      const end = Math.min(to, lastOf(seg));
      const start = seg.offsets[index - seg.first]!;
      const stop = end === lastOf(seg) ? seg.size : seg.offsets[end + 1 - seg.first]!;
      const fh = await open(seg.path, 'r');
      let b: Buffer;
      try {
        b = Buffer.alloc(stop - start);
        const { bytesRead } = await fh.read(b, 0, b.length, start);
        if (bytesRead !== b.length) throw err('EIO', `replication log: ${seg.path} is shorter than the log says`);
      } finally {
        await fh.close();
      }
      let at = 0;
      while (index <= end && (out.length === 0 || bytes < maxBytes)) {
        const where = `${seg.path} index ${index}`;
        const r = decodeRecord(b, at);
        if (typeof r === 'string') throw err('EIO', `replication log: ${where}: ${r}`);
        if (r.index !== index) throw err('EIO', `replication log: ${where} holds index ${r.index}`);
        out.push({ term: r.term, index: r.index, kind: r.kind, payload: decodePayload(b.subarray(r.payloadAt, r.payloadEnd), where) });
        bytes += r.end - at;
        at = r.end;
        index++;
      }
    }
    return out;
  }

  /** Where the blob of the entry at `index` is, if the log holds that entry. */
  blobPath(index: number): string | undefined {
    const term = this.termAt(index);
    return term === undefined ? undefined : join(this.blobsDir, blobName(index, term));
  }

  /**
   * A stream of the blob of the entry at `index` (after the appends called before, as `read`);
   * ENOENT when it has none.
   */
  async openBlob(index: number): Promise<Readable> {
    this.check();
    await this.caughtUp();
    this.check();
    const p = this.blobPath(index);
    const seg = this.segmentOf(index);
    if (p === undefined || !seg || !seg.blobs.includes(index)) throw err('ENOENT', `entry ${index} has no blob in the log`);
    return createReadStream(p);
  }

  /**
   * Drops the entries from `fromIndex` on (a follower whose log conflicts with the primary's,
   * Raft §5.3). Refuses (EINVAL, nothing changed) at or below `commitIndex`: a conflict there is
   * a bug and stops the brick (§6.1, ARCHITECTURE.md §10.4). Appends called after this one are
   * checked against the shortened log at once.
   *
   * Order on disk (§6.1, with the later segments first, see docs/ON-DISK-FORMAT.md §6.1 "As
   * built"): the later segments unlinked, newest first, and `log/` fsynced; the segment holding
   * `fromIndex` truncated there and fsynced; then the dropped records' blobs unlinked. Every
   * state a crash can leave is a prefix of the old log, never one with a gap.
   */
  dropSuffix(fromIndex: number, commitIndex: number): Promise<void> {
    try {
      this.check();
      if (fromIndex <= commitIndex) throw err('EINVAL', `drop of the log from index ${fromIndex}, at or below the commit index ${commitIndex}`);
      if (fromIndex < this.first) throw err('EINVAL', `drop of the log from index ${fromIndex}, below its first index ${this.first}`);
    } catch (e) {
      return Promise.reject(e);
    }
    if (fromIndex > this.last) return Promise.resolve();
    // The terms of the dropped entries name their blobs; the runs forget them now, so that the
    // appends that follow are checked against the shortened log.
    const before = this.runs.slice();
    const termBefore = (i: number): number => before.filter((r) => r.index <= i).pop()!.term;
    this.trimTerms(fromIndex);
    this.last = fromIndex - 1;
    return this.enqueue((done) => ({ kind: 'op', done, run: () => this.dropOnDisk(fromIndex, termBefore) }));
  }

  private async dropOnDisk(from: number, termBefore: (index: number) => number): Promise<void> {
    const at = this.segments.findIndex((s) => from >= s.first && from <= lastOf(s));
    if (at < 0) throw err('EIO', `replication log: no segment holds index ${from}`);
    const seg = this.segments[at]!;
    const later = this.segments.slice(at + 1);
    for (const s of [...later].reverse()) {
      const fh = s.fh;
      s.fh = undefined;
      await fh?.close();
      await unlink(s.path);
    }
    if (later.length > 0) await fsyncPath(this.logDir);
    this.segments.length = at + 1;
    const cut = seg.offsets[from - seg.first]!;
    const fh = await open(seg.path, 'r+');
    try {
      await fh.truncate(cut);
      await syncHandle(fh, seg.path);
    } finally {
      await fh.close();
    }
    const dropped = [...seg.blobs.filter((i) => i >= from), ...later.flatMap((s) => s.blobs)];
    const names = dropped.map((i) => blobName(i, termBefore(i)));
    const mine = new Set(seg.blobs.filter((i) => i >= from).map((i) => blobName(i, termBefore(i))));
    seg.count = from - seg.first;
    seg.size = cut;
    seg.blobs = seg.blobs.filter((i) => i < from);
    this.durable = Math.min(this.durable, from - 1);
    for (const n of names) {
      if (mine.has(n)) seg.blobBytes -= await stat(join(this.blobsDir, n)).then((x) => x.size, () => 0);
      await rm(join(this.blobsDir, n), { force: true });
    }
  }

  /**
   * Removes whole segments, oldest first, whose every index is at most `upToIndex`, never the
   * last segment (the one appended to). The caller decides the bound (the applied mark, the
   * primary's lowest match index or the retention, a pinned index: ARCHITECTURE.md §10.13).
   * Resolves with the new first index.
   */
  truncateHead(upToIndex: number): Promise<number> {
    try {
      this.check();
    } catch (e) {
      return Promise.reject(e);
    }
    let first = this.first;
    return this.enqueue((done) => ({
      kind: 'op', done, run: async () => { first = await this.truncateOnDisk(upToIndex); },
    })).then(() => first);
  }

  private async truncateOnDisk(upTo: number): Promise<number> {
    // Not past the log as appends and drops called so far left it (a drop called after this
    // truncation, before it ran, has already shortened `last`).
    const bound = Math.min(upTo, this.last);
    let n = 0;
    while (n + 1 < this.segments.length && lastOf(this.segments[n]!) <= bound) n++;
    if (n === 0) return this.first;
    const gone = this.segments.slice(0, n);
    const base = { index: lastOf(gone[n - 1]!), term: this.termAt(lastOf(gone[n - 1]!))! };
    const names = gone.flatMap((s) => s.blobs.map((i) => blobName(i, this.termAt(i)!)));
    // §6.1 "The base": the base first, so that a segment a crash leaves behind is wholly at or
    // below it and is dropped at the next open, and the term before the new first is known.
    await writeLogBase(this.dir, base);
    for (const s of gone) {
      const fh = s.fh;
      s.fh = undefined;
      await fh?.close();
      await unlink(s.path);
    }
    // With `log/` fsynced before the blobs go, a segment that comes back after a power cut still
    // has its blobs (docs/ON-DISK-FORMAT.md §6.1 "As built"), though open drops it anyway now.
    await fsyncPath(this.logDir);
    this.segments = this.segments.slice(n);
    this.first = this.segments[0]!.first;
    this.baseTerm = base.term;
    while (this.runs.length > 1 && this.runs[1]!.index <= this.first) this.runs.shift();
    if (this.runs[0] && this.runs[0].index < this.first) this.runs[0] = { index: this.first, term: this.runs[0].term };
    for (const name of names) await rm(join(this.blobsDir, name), { force: true });
    return this.first;
  }

  /**
   * Empties the log onto a new base (ARCHITECTURE.md §10.13: a member rebuilt by full copy, whose
   * store holds every entry up to `base.index`): every record and blob goes, the next append is
   * `base.index + 1`, and `termAt(base.index)` is `base.term`. Appends called after this one are
   * checked against the empty log at once.
   *
   * Order on disk (§6.1 "The base"): the segments unlinked newest first and `log/` fsynced (a crash
   * leaves a prefix of the old log, as a suffix drop does); then `repl/logbase` written; then the
   * blobs unlinked (a crash leaves blobs that name no record, removed at open).
   *
   * A log that refuses work (corrupt at open, or a failed write: its state on disk is not known)
   * is reset too (§6.1 "Reset onto a full copy's index", a corrupt member rebuilt): every segment
   * file in `log/` goes, whatever it holds, and the log works again if the reset succeeds.
   */
  resetTo(base: LogBaseMark): Promise<void> {
    try {
      if (this.closed) throw err('EIO', 'replication log is closed');
      if (!Number.isSafeInteger(base.index) || base.index < 0 || !Number.isSafeInteger(base.term) || base.term < 0) {
        throw err('EINVAL', `log base ${base.index}/${base.term}`);
      }
    } catch (e) {
      return Promise.reject(e);
    }
    this.runs = [];
    this.first = base.index + 1;
    this.last = base.index;
    this.baseTerm = base.term;
    // The queue was emptied when the log failed (fail()); work queued from here on runs again.
    this.failure = undefined;
    return this.enqueue((done) => ({
      kind: 'op', done, run: async () => {
        const gone = this.segments.splice(0);
        for (const s of gone) {
          const fh = s.fh;
          s.fh = undefined;
          await fh?.close().catch(() => undefined);
        }
        // Every segment file, newest first, known or not (a corrupt log's were not loaded).
        const files = (await readdir(this.logDir)).map((n) => ({ n, first: parseSegmentName(n) }))
          .filter((x): x is { n: string; first: number } => x.first !== undefined)
          .sort((a, b) => b.first - a.first);
        for (const f of files) await unlink(join(this.logDir, f.n));
        if (files.length > 0) await fsyncPath(this.logDir);
        await writeLogBase(this.dir, base);
        this.durable = base.index;
        for (const n of await readdir(this.blobsDir)) {
          if (parseBlobName(n)) await rm(join(this.blobsDir, n), { force: true });
        }
      },
    }));
  }

  /** Waits for queued work to finish (or fail) and closes the files. The log is unusable after. */
  async close(): Promise<void> {
    if (this.closed) return;
    await this.drainIdle();
    await this.syncIdle();
    this.closed = true;
    for (const s of this.segments) {
      const fh = s.fh;
      s.fh = undefined;
      await fh?.close().catch(() => undefined);
    }
  }
}

/** Reads one segment file and checks it (§6.1): its header, then each record in turn. */
async function scanSegment(path: string, first: number): Promise<Scanned> {
  const b = await readFile(path);
  const seg: Segment = { first, path, size: SEGMENT_HEADER, count: 0, offsets: new Uint32Array(16), blobs: [], blobBytes: 0 };
  const terms: number[] = [];
  const h = decodeSegmentHeader(b);
  if (typeof h === 'string' || h.firstIndex !== first) {
    // A header shorter than its 32 bytes, or all zeros: the file was created and the crash came
    // before its header reached the disk. Anything else in a header is damage.
    const headerTorn = b.length < SEGMENT_HEADER || b.subarray(0, SEGMENT_HEADER).every((x) => x === 0);
    const why = typeof h === 'string' ? h : `header says first index ${h.firstIndex}`;
    return { seg, terms, failure: { why, at: 0, length: b.length, headerTorn } };
  }
  let at = SEGMENT_HEADER;
  let prevTerm = 0;
  while (at < b.length) {
    const r = decodeRecord(b, at);
    const index = first + seg.count;
    const why = typeof r === 'string' ? r
      : r.index !== index ? `index ${r.index} where ${index} was expected`
        : r.term < prevTerm ? `term ${r.term} below the previous record's ${prevTerm}` : undefined;
    if (why !== undefined || typeof r === 'string') {
      seg.size = at;
      return { seg, terms, failure: { why: why ?? '', at, length: b.length, headerTorn: false } };
    }
    pushOffset(seg, at);
    terms.push(r.term);
    prevTerm = r.term;
    at = r.end;
  }
  seg.size = at;
  return { seg, terms };
}
