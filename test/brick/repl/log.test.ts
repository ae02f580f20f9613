/**
 * The replication log on real files (docs/ON-DISK-FORMAT.md §6.1): round trips across reopen,
 * group commit, torn tails against corruption, suffix drops, head truncation, orphan blobs.
 */
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { mkdir, readFile, readdir, rename, stat, truncate, unlink, writeFile, appendFile } from 'node:fs/promises';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { observeFsyncs } from '../../../brick/posix2/fsutil.js';
import { crc32c } from '../../../brick/repl/bin.js';
import { ReplLog, type AppendEntry, type LogEntry, type ReplLogOptions } from '../../../brick/repl/log.js';
import { readLogBase, writeLogBase } from '../../../brick/repl/log-base.js';
import { blobName, blobsDir, logDir, segmentName } from '../../../brick/repl/paths.js';
import { rejectsErrno, text } from '../../helpers/assert-errno.js';
import { rng } from '../../helpers/rng.js';
import { tmpDir } from '../../helpers/tmp.js';

/** A FOP entry with a payload of some size, so tiny segments hold a few records each. */
function entry(index: number, term: number, pad = 40): AppendEntry {
  return {
    index, term, kind: 'fop',
    payload: { opId: index.toString(16).padStart(32, '0'), at: 1_700_000_000_000 + index, fop: 'create', req: { name: `n${index}`, pad: 'x'.repeat(pad) }, out: { nlink: 1 } },
  };
}

function noop(index: number, term: number): AppendEntry {
  return { index, term, kind: 'noop', payload: { at: 1_700_000_000_000 + index } };
}

/** What read() returns for an appended entry: the payload with its blob info, no staged blob. */
function stored(e: AppendEntry): LogEntry {
  const payload = e.blob ? { ...e.payload, blob: { size: e.blob.size, crc32c: e.blob.crc32c } } : e.payload;
  return JSON.parse(JSON.stringify({ term: e.term, index: e.index, kind: e.kind, payload })) as LogEntry;
}

async function segments(dir: string): Promise<string[]> {
  return (await readdir(logDir(dir))).sort();
}

async function blobs(dir: string): Promise<string[]> {
  return (await readdir(blobsDir(dir))).sort();
}

/** Every file under the log and blob folders, with its bytes: to show open changed nothing. */
async function snapshot(dir: string): Promise<Map<string, Buffer>> {
  const m = new Map<string, Buffer>();
  for (const d of [logDir(dir), blobsDir(dir)]) for (const n of await readdir(d)) m.set(join(d, n), await readFile(join(d, n)));
  return m;
}

describe('replication log (ON-DISK-FORMAT.md §6.1)', () => {
  let t: Awaited<ReturnType<typeof tmpDir>>;
  let dir: string;
  const open: ReplLog[] = [];
  const openLog = async (o?: ReplLogOptions): Promise<ReplLog> => {
    const l = await ReplLog.open(dir, o);
    open.push(l);
    return l;
  };
  beforeEach(async () => {
    t = await tmpDir('repl-log');
    dir = t.path;
    await mkdir(join(dir, '.dht2', 'tmp'), { recursive: true });
  });
  afterEach(async () => {
    observeFsyncs(undefined);
    for (const l of open.splice(0)) await l.close();
    await t.cleanup();
  });

  it('keeps records and blobs across a reopen, in segments named by their first index', async () => {
    const log = await openLog({ segmentBytes: 400 });
    assert.deepEqual(log.opened, { firstIndex: 1, lastIndex: 0, lastTerm: 0, truncatedTail: 0, droppedSegments: 0, removedBlobs: 0 });
    const rand = rng(7);
    const body = Buffer.from(Array.from({ length: 70_000 }, () => Math.floor(rand() * 256)));
    const all: AppendEntry[] = [noop(1, 1)];
    for (let i = 2; i <= 20; i++) all.push(entry(i, i < 12 ? 1 : 3));
    all[4] = { ...all[4]!, blob: await log.stageBlob(Readable.from([body.subarray(0, 1000), body.subarray(1000)])) };
    all[15] = { ...all[15]!, blob: await log.stageBlob(Buffer.from('small body')) };
    await log.append(all.slice(0, 10));
    await log.append(all.slice(10));
    assert.equal(log.lastIndex, 20);
    assert.equal(log.durableIndex, 20);
    assert.deepEqual(await log.read(1, 20), all.map(stored));
    await log.close();

    const segs = await segments(dir);
    assert.ok(segs.length >= 4, `tiny segments: ${segs.join(' ')}`);
    assert.equal(segs[0], '00000000000000000001.seg');
    assert.deepEqual(await blobs(dir), [blobName(5, 1), blobName(16, 3)]);
    assert.equal(blobName(16, 3), '00000000000000000016-0000000000000003.blob');
    // Each segment's header names its first index, and its first record has that index.
    for (const s of segs) {
      const b = await readFile(join(logDir(dir), s));
      assert.equal(b.toString('latin1', 0, 4), 'D2LS');
      assert.equal(b.readUInt16LE(4), 1);
      assert.equal(Number(b.readBigUInt64LE(8)), Number(s.slice(0, 20)));
      assert.equal(b.readUInt32LE(28), crc32c(b.subarray(0, 28)));
      assert.equal(b.toString('latin1', 32, 36), 'D2LR');
      assert.equal(Number(b.readBigUInt64LE(32 + 16)), Number(s.slice(0, 20)));
    }

    const again = await openLog({ segmentBytes: 400 });
    assert.deepEqual(again.opened, { firstIndex: 1, lastIndex: 20, lastTerm: 3, truncatedTail: 0, droppedSegments: 0, removedBlobs: 0 });
    assert.deepEqual(await again.read(1, 20), all.map(stored));
    const chunks: Buffer[] = [];
    for await (const c of await again.openBlob(5)) chunks.push(c as Buffer);
    assert.ok(Buffer.concat(chunks).equals(body));
    assert.equal(await text(await again.openBlob(16)), 'small body');
    await rejectsErrno(again.openBlob(6), 'ENOENT');
    assert.equal(again.termAt(0), 0);
    assert.equal(again.termAt(11), 1);
    assert.equal(again.termAt(12), 3);
    assert.equal(again.termAt(21), undefined);
    // read stops after maxBytes, but always returns one entry.
    const some = await again.read(3, 20, 1);
    assert.equal(some.length, 1);
    assert.ok((await again.read(3, 20, 600)).length < 18);
    // Appending continues in the last segment, then rolls.
    await again.append([entry(21, 4), entry(22, 4)]);
    await again.close();
    const third = await openLog({ segmentBytes: 400 });
    assert.equal(third.lastIndex, 22);
    assert.deepEqual(await third.read(21, 22), [stored(entry(21, 4)), stored(entry(22, 4))]);
  });

  it('refuses appends out of order, with a falling term, with a payload over 2 MiB or a blob that does not match', async () => {
    const log = await openLog();
    await log.append([entry(1, 2)]);
    await rejectsErrno(log.append([entry(3, 2)]), 'EINVAL');
    await rejectsErrno(log.append([entry(1, 2)]), 'EINVAL');
    await rejectsErrno(log.append([entry(2, 1)]), 'EINVAL');
    await rejectsErrno(log.append([entry(2, 2), entry(4, 2)]), 'EINVAL');
    await rejectsErrno(log.append([entry(2, 2, 2 * 1024 * 1024)]), 'EMSGSIZE');
    const b = await log.stageBlob(Buffer.from('abc'));
    await rejectsErrno(log.append([{ ...entry(2, 2), blob: b, payload: { ...entry(2, 2).payload, blob: { size: 3, crc32c: 1 } } }]), 'EINVAL');
    await rejectsErrno(log.append([{ ...entry(2, 2), payload: { ...entry(2, 2).payload, blob: { size: 3, crc32c: 1 } } }]), 'EINVAL');
    await rejectsErrno(log.stageBlob(Buffer.alloc(100), 99), 'EFBIG');
    // Nothing refused was taken: the log goes on at 2, and a matching blob is accepted.
    assert.equal(log.lastIndex, 1);
    await log.append([{ ...entry(2, 2), blob: b, payload: { ...entry(2, 2).payload, blob: { size: 3, crc32c: crc32c(Buffer.from('abc')) } } }]);
    assert.deepEqual((await log.read(2, 2))[0]!.payload.blob, { size: 3, crc32c: crc32c(Buffer.from('abc')) });
    assert.deepEqual((await readdir(join(dir, '.dht2', 'tmp'))).length, 0);
  });

  it('group commit: one fdatasync for the appends made together, one more for those made while it ran', async () => {
    const log = await openLog();
    await log.append([entry(1, 1)]); // the segment exists: what follows are record fdatasyncs only
    const fsyncs: string[] = [];
    let acked = 0;
    observeFsyncs((p) => {
      fsyncs.push(p);
      // Nothing is acknowledged before the fdatasync that covers it has returned.
      assert.equal(acked, 0);
    });
    const together = Array.from({ length: 50 }, (_, i) => log.append([entry(i + 2, 1)]).then(() => { acked++; }));
    await Promise.all(together);
    assert.equal(acked, 50);
    assert.deepEqual(fsyncs, [join(logDir(dir), segmentName(1))]);

    // Appends made while an fdatasync runs wait for the next one, which covers all of them.
    fsyncs.length = 0;
    acked = 0;
    const during: Array<Promise<void>> = [];
    observeFsyncs((p) => {
      fsyncs.push(p);
      if (fsyncs.length === 1) for (let i = 0; i < 20; i++) during.push(log.append([entry(53 + i, 1)]).then(() => { acked++; }));
    });
    await log.append([entry(52, 1)]);
    assert.equal(acked, 0);
    await Promise.all(during);
    assert.equal(acked, 20);
    assert.equal(fsyncs.length, 2);
    assert.equal(log.durableIndex, 72);
  });

  it('appends spread over many turns, rolling a segment at every record, all land and read back', async () => {
    const log = await openLog({ segmentBytes: 100 });
    const all = Array.from({ length: 120 }, (_, i) => entry(i + 1, 1 + Math.floor(i / 40)));
    const pending: Array<Promise<void>> = [];
    const rand = rng(3);
    for (let i = 0; i < all.length;) {
      const n = 1 + Math.floor(rand() * 4);
      for (const e of all.slice(i, i + n)) pending.push(log.append([e]));
      i += n;
      await new Promise((r) => setImmediate(r));
    }
    await Promise.all(pending);
    await log.close();
    assert.equal((await segments(dir)).length, 120);
    const again = await openLog({ segmentBytes: 100 });
    assert.deepEqual(await again.read(1, 120), all.map(stored));
  });

  describe('a torn tail in the last segment is cut off and counted', () => {
    /** Offsets of the records in a segment file. */
    const starts = (b: Buffer): number[] => {
      const out: number[] = [];
      for (let at = b.indexOf('D2LR'); at >= 0; at = b.indexOf('D2LR', at + 1)) out.push(at);
      return out;
    };
    // Each tear returns the bytes open must cut, the records lost, the size left.
    const cases: Array<[string, (seg: string, b: Buffer) => Promise<{ cut: number; lost: number; left: number }>]> = [
      ['a short record', async (seg, b) => {
        const last = starts(b).pop()!;
        await truncate(seg, last + 30);
        return { cut: 30, lost: 1, left: last };
      }],
      ['a bad CRC, and the records after it', async (seg, b) => {
        const at = starts(b).slice(-2)[0]!;
        b[at + 40] ^= 0x01;
        await writeFile(seg, b);
        return { cut: b.length - at, lost: 2, left: at };
      }],
      ['zeros', async (seg, b) => {
        await appendFile(seg, Buffer.alloc(100));
        return { cut: 100, lost: 0, left: b.length };
      }],
    ];
    for (const [name, tear] of cases) {
      it(name, async () => {
        const log = await openLog({ segmentBytes: 500 });
        const all = Array.from({ length: 12 }, (_, i) => entry(i + 1, 1));
        await log.append(all);
        await log.close();
        const segs = await segments(dir);
        const seg = join(logDir(dir), segs[segs.length - 1]!);
        const b = await readFile(seg);
        assert.ok(starts(b).length >= 2);
        const { cut, lost, left } = await tear(seg, b);
        const again = await openLog({ segmentBytes: 500 });
        assert.equal(again.opened.corrupt, undefined);
        assert.equal(again.opened.truncatedTail, cut);
        assert.equal(again.lastIndex, 12 - lost);
        assert.deepEqual(await again.read(1, 12 - lost), all.slice(0, 12 - lost).map(stored));
        assert.equal((await stat(seg)).size, left);
        // The log goes on from there, and the next open finds nothing to cut.
        await again.append([entry(13 - lost, 2)]);
        await again.close();
        const third = await openLog({ segmentBytes: 500 });
        assert.equal(third.opened.truncatedTail, 0);
        assert.equal(third.lastIndex, 13 - lost);
      });
    }

    it('a last segment with its header only is accepted; one whose header never reached the disk is removed', async () => {
      const log = await openLog({ segmentBytes: 300 });
      await log.append(Array.from({ length: 8 }, (_, i) => entry(i + 1, 1)));
      await log.close();
      const segs = await segments(dir);
      const last = join(logDir(dir), segs[segs.length - 1]!);
      const first = Number(segs[segs.length - 1]!.slice(0, 20));
      await truncate(last, 32);
      let again = await openLog({ segmentBytes: 300 });
      assert.equal(again.opened.corrupt, undefined);
      assert.equal(again.opened.truncatedTail, 0);
      assert.equal(again.lastIndex, first - 1);
      await again.close();
      assert.ok(existsSync(last));
      for (const len of [0, 10]) {
        await writeFile(last, Buffer.alloc(len));
        again = await openLog({ segmentBytes: 300 });
        assert.equal(again.opened.corrupt, undefined);
        assert.equal(again.opened.droppedSegments, 1);
        assert.equal(again.lastIndex, first - 1);
        assert.ok(!existsSync(last));
        await again.append([entry(first, 1)]);
        await again.close();
      }
    });
  });

  describe('a failure anywhere else is corruption: reported, nothing changed, nothing served', () => {
    async function threeSegments(): Promise<string[]> {
      const log = await openLog({ segmentBytes: 300 });
      await log.append(Array.from({ length: 12 }, (_, i) => entry(i + 1, 1)));
      await log.append([{ ...entry(13, 1), blob: await log.stageBlob(Buffer.from('b')) }]);
      await log.close();
      const segs = await segments(dir);
      assert.ok(segs.length >= 3);
      return segs.map((s) => join(logDir(dir), s));
    }

    async function assertCorrupt(pattern: RegExp, o: ReplLogOptions = {}): Promise<void> {
      const before = await snapshot(dir);
      const log = await openLog({ segmentBytes: 300, ...o });
      assert.match(log.opened.corrupt ?? '(not corrupt)', pattern);
      assert.deepEqual(await snapshot(dir), before);
      await rejectsErrno(log.append([entry(log.lastIndex + 1, 1)]), 'EIO');
      await rejectsErrno(log.read(1, 1), 'EIO');
      await rejectsErrno(log.dropSuffix(5, 0), 'EIO');
      await rejectsErrno(log.truncateHead(1), 'EIO');
    }

    it('a bad record in an earlier segment', async () => {
      const segs = await threeSegments();
      const b = await readFile(segs[0]!);
      b[b.length - 2] ^= 0xff; // the CRC of its last record
      await writeFile(segs[0]!, b);
      await assertCorrupt(/00000000000000000001\.seg at byte \d+: record checksum mismatch/);
    });

    it('a torn record in an earlier segment', async () => {
      const segs = await threeSegments();
      await truncate(segs[1]!, (await stat(segs[1]!)).size - 3);
      await assertCorrupt(/short record/);
    });

    it('a gap between segments', async () => {
      const segs = await threeSegments();
      await unlink(segs[1]!);
      await assertCorrupt(/gap in the log/);
    });

    it('a damaged header, in the last segment too', async () => {
      const segs = await threeSegments();
      const b = await readFile(segs[segs.length - 1]!);
      b[9] ^= 0x01;
      await writeFile(segs[segs.length - 1]!, b);
      await assertCorrupt(/at byte 0: header checksum mismatch/);
    });

    it('a segment whose header names another index', async () => {
      const segs = await threeSegments();
      await rename(segs[1]!, join(logDir(dir), segmentName(1000)));
      await assertCorrupt(/header says first index|gap/);
    });

    it('but old segments before a gap, all at or below the applied mark, are what a head truncation left: dropped', async () => {
      const segs = await threeSegments();
      const second = Number(segs[1]!.split('/').pop()!.slice(0, 20));
      const third = Number(segs[2]!.split('/').pop()!.slice(0, 20));
      await unlink(segs[1]!);
      await assertCorrupt(/gap in the log/, { appliedIndex: second - 1 - 1 });
      const log = await openLog({ segmentBytes: 300, appliedIndex: second - 1 });
      assert.equal(log.opened.corrupt, undefined);
      assert.equal(log.opened.droppedSegments, 1);
      assert.equal(log.firstIndex, third);
      assert.ok(!existsSync(segs[0]!));
    });

    it('a corrupt log is reset onto a full copy\'s index: every segment file and blob goes, and it works again, across a reopen', async () => {
      const segs = await threeSegments();
      const b = await readFile(segs[0]!);
      b[b.length - 2] ^= 0xff;
      await writeFile(segs[0]!, b);
      const log = await openLog({ segmentBytes: 300 });
      assert.notEqual(log.opened.corrupt, undefined);
      await log.resetTo({ index: 90, term: 4 });
      assert.deepEqual(await segments(dir), []);
      assert.deepEqual(await blobs(dir), []);
      await log.append([entry(91, 5), entry(92, 5)]);
      assert.deepEqual(await log.read(91, 92), [entry(91, 5), entry(92, 5)].map(stored));
      await log.close();
      const again = await openLog({ segmentBytes: 300 });
      assert.equal(again.opened.corrupt, undefined);
      assert.deepEqual([again.firstIndex, again.lastIndex, again.termAt(90)], [91, 92, 4]);
    });
  });

  it('drops a suffix (segments after it, its blobs), refuses to drop at or below the commit index', async () => {
    const log = await openLog({ segmentBytes: 300 });
    const all: AppendEntry[] = [];
    for (let i = 1; i <= 16; i++) all.push(i % 3 === 0 ? { ...entry(i, 1), blob: await log.stageBlob(Buffer.from(`body ${i}`)) } : entry(i, 1));
    await log.append(all);
    const segsBefore = await segments(dir);
    assert.ok(segsBefore.length >= 4);

    await rejectsErrno(log.dropSuffix(5, 5), 'EINVAL');
    await rejectsErrno(log.dropSuffix(3, 5), 'EINVAL');
    assert.equal(log.lastIndex, 16);
    assert.deepEqual(await segments(dir), segsBefore);

    const fsyncs: string[] = [];
    observeFsyncs((p) => fsyncs.push(p));
    await log.dropSuffix(7, 5);
    observeFsyncs(undefined);
    assert.equal(log.lastIndex, 6);
    assert.equal(log.termAt(7), undefined);
    // Later segments unlinked and log/ fsynced first, then the segment cut and fsynced (§6.1 as built).
    const holding = segsBefore.filter((s) => Number(s.slice(0, 20)) <= 7).pop()!;
    assert.deepEqual(fsyncs, [logDir(dir), join(logDir(dir), holding)]);
    assert.deepEqual(await segments(dir), segsBefore.filter((s) => Number(s.slice(0, 20)) <= 7));
    assert.deepEqual(await blobs(dir), [blobName(3, 1), blobName(6, 1)]);
    // The primary's records replace the dropped ones, with the same indexes in a new term.
    const next = [entry(7, 2), { ...entry(8, 2), blob: await log.stageBlob(Buffer.from('new 8')) }, entry(9, 2)];
    await log.append(next);
    await log.close();
    const again = await openLog({ segmentBytes: 300 });
    assert.deepEqual(again.opened, { firstIndex: 1, lastIndex: 9, lastTerm: 2, truncatedTail: 0, droppedSegments: 0, removedBlobs: 0 });
    assert.deepEqual(await again.read(1, 9), [...all.slice(0, 6), ...next].map(stored));
    assert.equal(await text(await again.openBlob(8)), 'new 8');
    // Dropping at a segment's first record leaves that segment with its header only.
    const segs = await segments(dir);
    const start = Number(segs[segs.length - 1]!.slice(0, 20));
    await again.dropSuffix(start, start - 1);
    assert.equal(again.lastIndex, start - 1);
    assert.equal((await stat(join(logDir(dir), segs[segs.length - 1]!))).size, 32);
    await again.append([noop(start, 3)]);
    assert.deepEqual(await again.read(start, start), [stored(noop(start, 3))]);
    // A drop past the end changes nothing.
    await again.dropSuffix(start + 1, 0);
    assert.equal(again.lastIndex, start);
  });

  it('a drop queued behind appends drops them too, and the appends after it are checked against the shorter log', async () => {
    const log = await openLog({ segmentBytes: 300 });
    await log.append(Array.from({ length: 5 }, (_, i) => entry(i + 1, 1)));
    const queued = log.append([entry(6, 1), entry(7, 1)]);
    const dropped = log.dropSuffix(4, 2);
    await rejectsErrno(log.append([entry(8, 2)]), 'EINVAL');
    const after = log.append([entry(4, 2)]);
    // A read made now sees the calls before it: the drop done, the new 4 written (not yet synced).
    const read = log.read(1, 4);
    await Promise.all([queued, dropped, after]);
    assert.deepEqual((await read).map((e) => [e.index, e.term]), [[1, 1], [2, 1], [3, 1], [4, 2]]);
    assert.deepEqual((await log.read(1, 4)).map((e) => [e.index, e.term]), [[1, 1], [2, 1], [3, 1], [4, 2]]);
    // And a read in the same turn as an append finds the entry.
    const p = log.append([entry(5, 2)]);
    assert.deepEqual((await log.read(5, 5)).map((e) => [e.index, e.term]), [[5, 2]]);
    await p;
  });

  it('truncates the head by whole segments, never the last one, with their blobs', async () => {
    const log = await openLog({ segmentBytes: 300 });
    const all: AppendEntry[] = [];
    for (let i = 1; i <= 20; i++) all.push(i % 4 === 1 ? { ...entry(i, 1), blob: await log.stageBlob(Buffer.from(`b${i}`)) } : entry(i, 1));
    await log.append(all);
    const segs = (await segments(dir)).map((s) => Number(s.slice(0, 20)));
    assert.ok(segs.length >= 5);
    // Up to an index inside the third segment: the first two go.
    const first = await log.truncateHead(segs[3]! - 2);
    assert.equal(first, segs[2]);
    assert.equal(log.firstIndex, segs[2]);
    assert.deepEqual((await segments(dir)).map((s) => Number(s.slice(0, 20))), segs.slice(2));
    assert.deepEqual(await blobs(dir), all.filter((e) => e.blob && e.index >= segs[2]!).map((e) => blobName(e.index, 1)));
    // The entry before the first keeps its term (repl/logbase), for the (prevIndex, prevTerm) check.
    assert.equal(log.termAt(segs[2]! - 1), 1);
    assert.equal(log.termAt(segs[2]! - 2), undefined);
    assert.deepEqual(log.base, { index: segs[2]! - 1, term: 1 });
    assert.equal(log.termAt(segs[2]!), 1);
    await rejectsErrno(log.read(1, 3), 'EINVAL');
    // Never the last segment, even when everything is below the bound.
    assert.equal(await log.truncateHead(1000), segs[segs.length - 1]);
    assert.deepEqual((await segments(dir)).length, 1);
    assert.equal(log.lastIndex, 20);
    await log.append([entry(21, 2)]);
    await log.close();
    const again = await openLog({ segmentBytes: 300 });
    assert.equal(again.firstIndex, segs[segs.length - 1]);
    assert.equal(again.lastIndex, 21);
    assert.deepEqual(again.base, { index: segs[segs.length - 1]! - 1, term: 1 });
    assert.deepEqual(await again.read(again.firstIndex, 21), all.slice(again.firstIndex - 1).concat([entry(21, 2)]).map(stored));
  });

  it('a segment at or below the base is a truncation\'s leftover (dropped at open); a first segment not right after the base is corruption', async () => {
    const log = await openLog({ segmentBytes: 300 });
    const all: AppendEntry[] = [];
    for (let i = 1; i <= 20; i++) all.push(i % 4 === 1 ? { ...entry(i, 1), blob: await log.stageBlob(Buffer.from(`b${i}`)) } : entry(i, 1));
    await log.append(all);
    await log.close();
    const segs = (await segments(dir)).map((s) => Number(s.slice(0, 20)));
    // A truncation that wrote the base (up to the end of the second segment) and was cut before its unlinks.
    await writeLogBase(dir, { index: segs[2]! - 1, term: 1 });
    const again = await openLog({ segmentBytes: 300 });
    assert.equal(again.opened.corrupt, undefined);
    assert.equal(again.opened.droppedSegments, 2);
    assert.equal(again.firstIndex, segs[2]);
    assert.deepEqual(await blobs(dir), all.filter((e) => e.blob && e.index >= segs[2]!).map((e) => blobName(e.index, 1)));
    await again.close();
    // A base that does not end where the first segment starts: corruption, nothing touched.
    // (the base inside a segment of two records or more: that segment straddles it)
    const k = segs.findIndex((f, i) => i >= 2 && i + 1 < segs.length && segs[i + 1]! - f >= 2);
    await writeLogBase(dir, { index: segs[k]!, term: 1 });
    const before = await snapshot(dir);
    const bad = await openLog({ segmentBytes: 300 });
    assert.match(bad.opened.corrupt ?? '', /the log base is index \d+, the first segment/);
    assert.deepEqual(await snapshot(dir), before);
  });

  it('resets onto a new base: every record and blob goes, the next append is base + 1, across a reopen', async () => {
    const log = await openLog({ segmentBytes: 300 });
    const all: AppendEntry[] = [];
    for (let i = 1; i <= 12; i++) all.push(i % 3 === 0 ? { ...entry(i, 2), blob: await log.stageBlob(Buffer.from(`b${i}`)) } : entry(i, 2));
    await log.append(all);
    const reset = log.resetTo({ index: 40, term: 5 });
    // Appends called after it are checked against the empty log at once.
    assert.equal(log.lastIndex, 40);
    assert.equal(log.lastTerm, 5);
    await rejectsErrno(log.append([entry(13, 2)]), 'EINVAL');
    const next = log.append([entry(41, 6), entry(42, 6)]);
    await reset;
    await next;
    assert.deepEqual(await segments(dir), [segmentName(41)]);
    assert.deepEqual(await blobs(dir), []);
    await log.close();
    const again = await openLog({ segmentBytes: 300 });
    assert.deepEqual([again.firstIndex, again.lastIndex, again.lastTerm, again.termAt(40), again.termAt(39)], [41, 42, 6, 5, undefined]);
    assert.deepEqual(await again.read(41, 42), [entry(41, 6), entry(42, 6)].map(stored));
    await again.resetTo({ index: 50, term: 7 });
    await again.close();
    const empty = await openLog({ segmentBytes: 300 });
    assert.deepEqual([empty.firstIndex, empty.lastIndex, empty.lastTerm, empty.opened.lastTerm], [51, 50, 7, 7]);
    assert.deepEqual(await readLogBase(dir), { index: 50, term: 7 });
  });

  it('removes at open the blobs that name no record, and leaves the others', async () => {
    const log = await openLog();
    await log.append([{ ...entry(1, 1), blob: await log.stageBlob(Buffer.from('kept')) }, entry(2, 1)]);
    await log.close();
    // A blob renamed into place before a crash that came before its record; one of a dropped term.
    await writeFile(join(blobsDir(dir), blobName(3, 1)), 'orphan');
    await writeFile(join(blobsDir(dir), blobName(2, 7)), 'other term');
    await writeFile(join(blobsDir(dir), 'not-a-blob'), 'left alone');
    const again = await openLog();
    assert.equal(again.opened.removedBlobs, 2);
    assert.deepEqual(await blobs(dir), [blobName(1, 1), 'not-a-blob']);
    assert.equal(await text(await again.openBlob(1)), 'kept');
  });
});
