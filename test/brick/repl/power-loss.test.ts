/**
 * Power loss after every fsync of a scripted run of the replication log and its state files
 * (docs/ON-DISK-FORMAT.md §6.1, §6.2, §6.5, crash story §6.6), with test/helpers/power-loss.ts:
 * the brick directory is rebuilt from what the fsyncs made durable, plus, in the last segment, a
 * random part of what was written after its last fdatasync (the torn tail a real disk can hold).
 * Then the log is opened again and must hold every record acknowledged before the cut, each
 * with its blob, and nothing that breaks the history: no gap, no record after a torn one, no
 * record from a dropped suffix once the drop had returned.
 */
import assert from 'node:assert/strict';
import { appendFileSync, existsSync, readFileSync, readdirSync } from 'node:fs';
import { mkdir, readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { observeFsyncs } from '../../../brick/posix2/fsutil.js';
import { readApplied, writeApplied, type AppliedMark } from '../../../brick/repl/applied.js';
import { crc32c } from '../../../brick/repl/bin.js';
import { ReplLog, type AppendEntry } from '../../../brick/repl/log.js';
import { blobName, blobsDir, logDir } from '../../../brick/repl/paths.js';
import { readVote, writeVote, type VoteState } from '../../../brick/repl/vote.js';
import { DurableImage } from '../../helpers/power-loss.js';
import { rng } from '../../helpers/rng.js';
import { tmpDir } from '../../helpers/tmp.js';

class PowerLost extends Error {}

/** One appended version of an entry: (index, term) is appended once in the script. */
interface Version {
  index: number;
  term: number;
  entry: AppendEntry;
  body?: Buffer;
  /** Terms of indexes 1 .. index - 1 in the log when it was appended (Raft's log matching). */
  prefix: number[];
}

/** What the script did and what was acknowledged, in the order it happened. */
class Model {
  /** The log as the script sees it: terms[i - 1] is the term of index i. */
  terms: number[] = [];
  readonly versions = new Map<string, Version>();
  /** Acknowledged appends, with the number of drops and resets started before the ack. */
  readonly acked: Array<{ v: Version; dropsBefore: number; resetsBefore: number }> = [];
  /** The base of every resetTo called, in order. */
  readonly resets: number[] = [];
  /** The `from` of every dropSuffix called, in order. */
  readonly drops: number[] = [];
  /** Entries (index:term) a drop that returned removed: never to be seen again. */
  readonly gone = new Set<string>();
  /** The highest bound of a truncateHead called. */
  truncatedUpTo = 0;
  readonly votes: VoteState[] = [];
  lastVoteAcked = -1;
  readonly marks: AppliedMark[] = [];
}

const key = (index: number, term: number): string => `${index}:${term}`;

function fop(index: number, term: number): AppendEntry {
  return {
    index, term, kind: 'fop',
    payload: { opId: `${term}`.padStart(16, '0') + `${index}`.padStart(16, '0'), at: 1000 * index, fop: 'namelink', req: { name: `n${index}.${term}` }, out: { nlink: 1 } },
  };
}

async function script(dir: string, m: Model, rand: () => number, opened: (l: ReplLog) => void): Promise<void> {
  const log = await ReplLog.open(dir, { segmentBytes: 360 });
  opened(log);
  type Item = { index: number; term: number; body?: Buffer };
  /** Stages the blobs, in order, before the appends are made (at once, when concurrent). */
  const stage = async (list: Item[]): Promise<Array<{ e: AppendEntry; body?: Buffer }>> => {
    const out: Array<{ e: AppendEntry; body?: Buffer }> = [];
    for (const x of list) out.push(x.body ? { e: { ...fop(x.index, x.term), blob: await log.stageBlob(x.body) }, body: x.body } : { e: fop(x.index, x.term) });
    return out;
  };
  const fire = (list: Array<{ e: AppendEntry; body?: Buffer }>): Promise<void> => {
    const vs = list.map(({ e, body }): Version => {
      const v: Version = { index: e.index, term: e.term, entry: e, prefix: m.terms.slice(0, e.index - 1), ...(body ? { body } : {}) };
      m.versions.set(key(v.index, v.term), v);
      m.terms[e.index - 1] = e.term;
      return v;
    });
    const p = log.append(list.map((x) => x.e)).then(() => { for (const v of vs) m.acked.push({ v, dropsBefore: m.drops.length, resetsBefore: m.resets.length }); });
    p.catch(() => undefined);
    return p;
  };
  const run = async (list: Item[]): Promise<void> => fire(await stage(list));
  /** Appends of one entry each, all made in one turn of the event loop. */
  const together = async (list: Item[]): Promise<void> => {
    const staged = await stage(list);
    await Promise.all(staged.map((x) => fire([x])));
  };
  const body = (n: number): Buffer => Buffer.from(Array.from({ length: n }, () => Math.floor(rand() * 256)));
  const drop = (from: number, commit: number): Promise<void> => {
    m.drops.push(from);
    const victims = m.terms.slice(from - 1).map((term, i) => key(from + i, term));
    m.terms.length = Math.min(m.terms.length, from - 1);
    const p = log.dropSuffix(from, commit).then(() => { for (const v of victims) m.gone.add(v); });
    p.catch(() => undefined);
    return p;
  };
  /** A member rebuilt by full copy: its log emptied onto the copy's index (ARCHITECTURE.md §10.13). */
  const reset = async (index: number, term: number): Promise<void> => {
    m.resets.push(index);
    const victims = m.terms.map((t, i) => key(i + 1, t));
    m.terms = Array.from({ length: index }, () => -1);
    m.truncatedUpTo = Math.max(m.truncatedUpTo, index);
    await log.resetTo({ index, term });
    for (const v of victims) m.gone.add(v);
  };
  const vote = async (v: VoteState): Promise<void> => {
    m.votes.push(v);
    await writeVote(dir, v);
    m.lastVoteAcked = m.votes.length - 1;
  };
  const mark = async (a: AppliedMark): Promise<void> => {
    m.marks.push(a);
    await writeApplied(dir, a);
  };

  await run([{ index: 1, term: 1 }]);
  // Concurrent appends of single entries, some with blobs: group commit.
  await together([2, 3, 4, 5, 6, 7].map((i) => ({ index: i, term: 1, ...(i % 3 === 0 ? { body: body(500 + i) } : {}) })));
  await vote({ term: 2, votedFor: 'b1' });
  await run([8, 9, 10, 11, 12].map((i) => ({ index: i, term: 2, ...(i === 9 ? { body: body(3000) } : {}) })));
  await mark({ index: 6, term: 1 });
  // A follower's conflict: drop from 10, and the primary's records right behind the drop.
  const primary = await stage([10, 11, 12, 13].map((i) => ({ index: i, term: 3, ...(i === 11 ? { body: body(700) } : {}) })));
  await Promise.all([drop(10, 7), fire(primary)]);
  await vote({ term: 3 });
  await vote({ term: 3, votedFor: 'b2' });
  m.truncatedUpTo = 6;
  await log.truncateHead(6);
  await together(Array.from({ length: 10 }, (_, k) => ({ index: 14 + k, term: 3, ...(k % 4 === 1 ? { body: body(100 * k) } : {}) })));
  await mark({ index: 20, term: 3 });
  const next = await stage([{ index: 22, term: 4, body: body(64) }, { index: 23, term: 4 }]);
  await Promise.all([drop(22, 20), fire(next)]);
  await vote({ term: 5, votedFor: 'b3' });
  m.truncatedUpTo = 17;
  await log.truncateHead(17);
  await run([{ index: 24, term: 5 }]);
  await reset(30, 6);
  await run([{ index: 31, term: 6 }, { index: 32, term: 6, body: body(90) }]);
}

/** Checks the reopened log against what the script did and had acknowledged. */
async function check(dir: string, m: Model, label: string): Promise<{ truncatedTail: number }> {
  const mark = await readApplied(dir);
  if (mark) assert.ok(m.marks.some((x) => x.index === mark.index && x.term === mark.term), `${label}: applied mark ${JSON.stringify(mark)} was never written`);
  const log = await ReplLog.open(dir, { segmentBytes: 360, appliedIndex: mark?.index ?? 0 });
  try {
    const r = log.opened;
    assert.equal(r.corrupt, undefined, `${label}: ${r.corrupt}`);
    const entries = r.lastIndex >= r.firstIndex ? await log.read(r.firstIndex, r.lastIndex) : [];
    // Every record is one the script appended, with the history it was appended after.
    for (const e of entries) {
      const v = m.versions.get(key(e.index, e.term));
      assert.ok(v, `${label}: index ${e.index} term ${e.term} was never appended`);
      assert.ok(!m.gone.has(key(e.index, e.term)), `${label}: index ${e.index} term ${e.term} was dropped, and is back`);
      const want = JSON.parse(JSON.stringify({ ...v.entry.payload, ...(v.body ? { blob: { size: v.body.length, crc32c: crc32c(v.body) } } : {}) })) as unknown;
      assert.deepEqual(e.payload, want, `${label}: payload of ${e.index}`);
      for (let j = r.firstIndex; j < e.index; j++) {
        assert.equal(log.termAt(j), v.prefix[j - 1], `${label}: index ${j} under ${e.index}.${e.term}`);
      }
      if (v.body) assert.ok(readFileSync(join(blobsDir(dir), blobName(e.index, e.term))).equals(v.body), `${label}: blob of ${e.index}`);
    }
    // Blobs: exactly those of the records.
    const wantBlobs = entries.filter((e) => e.payload.blob).map((e) => blobName(e.index, e.term)).sort();
    assert.deepEqual((await readdir(blobsDir(dir))).sort(), wantBlobs, `${label}: blobs`);
    // Every acknowledged record is there, unless a drop started after its ack covers it, or a
    // head truncation started with a bound above it removed its segment.
    for (const { v, dropsBefore, resetsBefore } of m.acked) {
      if (m.drops.slice(dropsBefore).some((from) => from <= v.index)) continue;
      if (m.resets.length > resetsBefore) continue;
      if (v.index < r.firstIndex) {
        assert.ok(v.index <= m.truncatedUpTo, `${label}: acknowledged index ${v.index} is below the first index ${r.firstIndex}`);
        continue;
      }
      assert.equal(log.termAt(v.index), v.term, `${label}: acknowledged ${v.index}.${v.term} is lost`);
    }
    assert.ok(r.firstIndex === 1 || r.firstIndex <= m.truncatedUpTo + 1, `${label}: first index ${r.firstIndex}`);
    // The vote: the last acknowledged one, or one written after it.
    const vote = await readVote(dir);
    const at = vote === undefined ? -1 : m.votes.findIndex((v) => v.term === vote.term && v.votedFor === vote.votedFor);
    assert.ok(vote === undefined || at >= 0, `${label}: vote ${JSON.stringify(vote)} was never written`);
    assert.ok(at >= m.lastVoteAcked, `${label}: vote ${JSON.stringify(vote)} is older than the acknowledged ${JSON.stringify(m.votes[m.lastVoteAcked])}`);
    // The log goes on.
    await log.append([fop(r.lastIndex + 1, Math.max(r.lastTerm, 9))]);
    return { truncatedTail: r.truncatedTail };
  } finally {
    await log.close();
  }
}

describe('replication log: power loss after every fsync (ON-DISK-FORMAT.md §6.6)', () => {
  afterEach(() => observeFsyncs(undefined));

  it('keeps every acknowledged record, vote and blob, and nothing after a torn record', async function () {
    this.timeout(120_000);
    const t = await tmpDir('repl-power');
    try {
      // The fault-free run: the script's own end state.
      {
        const dir = join(t.path, 'clean');
        await mkdir(join(dir, '.dht2', 'tmp'), { recursive: true });
        const m = new Model();
        let log: ReplLog | undefined;
        await script(dir, m, rng(1), (l) => { log = l; });
        await log!.close();
        await check(dir, m, 'no fault');
        const l = await ReplLog.open(dir, { segmentBytes: 360 });
        assert.equal(l.lastIndex, 33);
        assert.equal(l.firstIndex, 31);
        assert.deepEqual(l.base, { index: 30, term: 6 });
        await l.close();
      }
      let cuts = 0;
      let torn = 0;
      let tornCut = 0;
      for (let k = 1; k < 500; k++) {
        const dir = join(t.path, `cut-${k}`);
        await mkdir(join(dir, '.dht2', 'tmp'), { recursive: true });
        const image = new DurableImage(dir);
        const m = new Model();
        const rand = rng(1000 + k);
        let count = 0;
        let off = false;
        let at = '';
        let segmentsAtCut = new Map<string, Buffer>();
        observeFsyncs((path) => {
          if (off) throw new PowerLost('the power is off');
          image.synced(path);
          if (++count !== k) return;
          at = path.slice(dir.length);
          // What the segments held at the cut, synced or not: the torn tail below comes from it.
          segmentsAtCut = new Map(existsSync(logDir(dir)) ? readdirSync(logDir(dir)).map((n) => [n, readFileSync(join(logDir(dir), n))]) : []);
          image.cut();
          off = true;
          throw new PowerLost('the power went');
        });
        let log: ReplLog | undefined;
        try {
          await script(dir, m, rng(1), (l) => { log = l; });
        } catch (e) {
          if (!(e instanceof PowerLost) && !(e instanceof Error && /power/.test(e.message))) throw e;
        } finally {
          observeFsyncs(undefined);
          await log?.close();
        }
        if (!off) break; // the script made fewer than k fsyncs: every fsync has had its cut
        cuts++;
        image.restore();
        // A real disk may also hold part of what was written after the last fdatasync of the
        // last segment: some of those bytes, or zeros.
        const segs = existsSync(logDir(dir)) ? readdirSync(logDir(dir)).sort() : [];
        const last = segs[segs.length - 1];
        if (last !== undefined) {
          const kept = readFileSync(join(logDir(dir), last));
          const real = segmentsAtCut.get(last);
          if (real && real.length > kept.length && real.subarray(0, kept.length).equals(kept)) {
            const n = 1 + Math.floor(rand() * (real.length - kept.length));
            appendFileSync(join(logDir(dir), last), rand() < 0.3 ? Buffer.alloc(n) : real.subarray(kept.length, kept.length + n));
            torn++;
          }
        }
        const r = await check(dir, m, `power lost after fsync ${k} (${at})`);
        if (r.truncatedTail > 0) tornCut++;
      }
      assert.ok(cuts >= 40, `only ${cuts} fsyncs in the script`);
      assert.ok(torn >= 5 && tornCut >= 3, `torn tails: ${torn} made, ${tornCut} cut at open`);
    } finally {
      await t.cleanup();
    }
  });
});
