/**
 * Log truncation on a replicated volume (ARCHITECTURE.md §10.13 "Truncation", "As built
 * (truncation)"; ON-DISK-FORMAT.md §6.1) with six real brick processes (one MDS set and one DS set
 * of three), tiny segments and a retention of seconds (the brick's DHT2_REPL_* variables):
 *
 * 1. every member up: after writes that fill many segments (PUTs, then in-place writes: a fresh
 *    PUT's body skips the DS log, §10.7), the old segment files and their blobs
 *    are gone on every member, the log each member holds (firstIndex..lastIndex in rstatus) stays
 *    bounded, every file reads back, and the replicas' digests are equal;
 * 2. a follower of each set stopped while writes go on past the retention: the others truncate past
 *    what it has; once back it is reported as needing a full copy, the primary's heal loop
 *    rebuilds it (its log then starts after the copy's index), it ends equal to the others, and it
 *    serves as primary.
 */
import assert from 'node:assert/strict';
import { readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { setTimeout as delay } from 'node:timers/promises';
import { healNeeds } from '../../bin/heal.js';
import { parseBlobName, parseSegmentName } from '../../brick/repl/paths.js';
import { readLogBase } from '../../brick/repl/log-base.js';
import { newOpId, type ReplStatus } from '../../dht2-core/protocol/index.js';
import { rejectsErrno } from '../helpers/assert-errno.js';
import { ReplVolume, type Member } from '../helpers/repl-volume.js';

/** Segments of 8 KiB; nothing younger than 0.5 s goes; past 3 s a member that lacks entries no longer holds them back. */
const ENV = {
  DHT2_REPL_SEGMENT_BYTES: '8192', DHT2_REPL_MIN_RETAIN_MS: '500', DHT2_REPL_RETAIN_MS: '3000', DHT2_REPL_HEAL_EVERY_MS: '1500',
};

describe('replicated log truncation (ARCHITECTURE.md §10.13)', function () {
  this.timeout(120_000);
  /** What the bricks logged of truncations and rebuilds. */
  const truncated: Array<{ id: string; reason: string; upTo: number }> = [];
  const autoRebuilds: string[] = [];
  /** The pending rows (§10.7) each rebuilt DS member installed from its source. */
  const rowsInstalled: Array<{ id: string; rows: number }> = [];
  const rv = new ReplVolume({
    volume: 'tv', tmp: 'trunc', seed: 1013, env: ENV, logVar: 'TRUNC_TEST_LOG',
    onLog: (m, l) => {
      if (l.includes('"msg":"log head truncated"')) {
        const j = JSON.parse(l) as { reason: string; upTo: number };
        truncated.push({ id: m.id, reason: j.reason, upTo: j.upTo });
      }
      if (l.includes('pending fresh copies installed')) rowsInstalled.push({ id: m.id, rows: (JSON.parse(l) as { rows: number }).rows });
      if (l.includes('rebuilding it by full copy')) autoRebuilds.push((JSON.parse(l) as { member: string }).member);
    },
  });
  /** An in-place write: logged on the DS set (a fresh PUT's body is not, ARCHITECTURE.md §10.7). */
  const pwrite = async (path: string, offset: number, b: Buffer): Promise<void> => {
    await rv.v.write(path, offset, Readable.from([b]));
    const was = rv.files.get(path)!;
    const now = Buffer.alloc(Math.max(was.length, offset + b.length));
    was.copy(now);
    b.copy(now, offset);
    rv.files.set(path, now);
  };
  /** The member's log on disk: its segments' first indexes and its blobs' indexes. */
  const onDisk = async (m: Member): Promise<{ segs: number[]; blobs: number[] }> => ({
    segs: (await readdir(join(m.dir, '.dht2', 'repl', 'log'))).map(parseSegmentName).filter((x): x is number => x !== undefined).sort((a, b) => a - b),
    blobs: (await readdir(join(m.dir, '.dht2', 'repl', 'blobs'))).map((n) => parseBlobName(n)?.index).filter((x): x is number => x !== undefined),
  });

  before(() => rv.start());
  after(() => rv.stop());

  it('every member up: old segments and their blobs go on every member, the log held stays bounded, all reads back, replicas equal', async () => {
    await rv.v.mkdir('/d');
    for (let i = 0; i < 120; i++) await rv.put(`/d/f${i}`, rv.body(1 + Math.floor(rv.rand() * 6000)));
    // Fresh PUTs skip the DS log (§10.7): in-place writes fill it, each entry with a body (blob).
    for (let i = 0; i < 120; i++) {
      const f = `/d/f${i}`;
      await pwrite(f, Math.floor(rv.rand() * rv.files.get(f)!.length), rv.body(1 + Math.floor(rv.rand() * 6000)));
    }
    await rv.caughtUp('mds');
    await rv.caughtUp('ds');
    // The last writes are younger than the minimum retention: wait it out, then a truncation round.
    const end = Date.now() + 15_000;
    let st: Array<ReplStatus | undefined> = [];
    for (;;) {
      st = await Promise.all(rv.members.map((m) => rv.status(m.id)));
      if (st.every((s) => s && s.firstIndex! > s.lastIndex / 2)) break;
      if (Date.now() > end) break;
      await delay(200);
    }
    for (const [k, m] of rv.members.entries()) {
      const s = st[k]!;
      // Many entries written, few held: the head went (the in-memory mirror is firstIndex..lastIndex).
      assert.ok(s.lastIndex > 100, `${m.id}: ${s.lastIndex} entries written`);
      assert.ok(s.firstIndex! > s.lastIndex / 2, `${m.id}: holds ${s.firstIndex}..${s.lastIndex}`);
      // rstatus reports the core's mirror, which forgets the entries before their files go
      // (log-keeper.ts): the files follow within moments.
      let d = await onDisk(m);
      for (let t = 0; t < 50 && (d.segs[0] !== s.firstIndex || d.blobs.some((i) => i < s.firstIndex!)); t++) {
        await delay(100);
        d = await onDisk(m);
      }
      assert.equal(d.segs[0], s.firstIndex, `${m.id}: the first segment file is the first index rstatus reports`);
      assert.ok(d.segs.length <= 8, `${m.id}: ${d.segs.length} segments left`);
      assert.ok(d.blobs.every((i) => i >= s.firstIndex!), `${m.id}: a blob below the first index ${s.firstIndex} is left: ${d.blobs.filter((i) => i < s.firstIndex!).join(',')}`);
      assert.deepEqual(await readLogBase(m.dir), { index: s.firstIndex! - 1, term: (await readLogBase(m.dir))!.term }, `${m.id}: repl/logbase names the entry before the first`);
      assert.ok(s.logBytes! < 12 * 8192 + 64 * 6000, `${m.id}: ${s.logBytes} bytes of log and blobs`);
    }
    // All up: every member truncated by the low-water mark (not the retention).
    for (const m of rv.members) assert.ok(truncated.some((t) => t.id === m.id && t.reason === 'low-water'), `${m.id} truncated by the low-water mark: ${JSON.stringify(truncated.filter((t) => t.id === m.id))}`);
    const dsBlobs = (await onDisk(rv.setOf('ds')[0]!)).blobs.length;
    assert.ok(dsBlobs < 60, `the DS keeps ${dsBlobs} blobs of 120 written`);
    await rv.readAll();
    assert.ok(await rv.equalDigests('mds') > 120);
    assert.ok(await rv.equalDigests('ds') >= 120);
  });

  it('a resend of a FOP whose entry was truncated, to a primary restarted since it applied it, is EALREADY, never applied again', async () => {
    const p = await rv.primaryOf('mds');
    const opId = newOpId();
    // An xattr set only if absent: applied twice, the second answers EEXIST.
    const req = { gfid: (await rv.v.stat('/d/f0')).gfid, name: 'user.once', value: Buffer.from('1').toString('base64'), flag: 'create' as const };
    await rv.client(p).call('setxattr', req, { opId });
    const at = (await rv.status(p))!.lastIndex;
    // Applied everywhere (and so in every applied mark written at stop): not applied again after the restart.
    await rv.caughtUp('mds');
    // Every member restarts: the replies are gone, the log still names the opId.
    for (const m of rv.setOf('mds')) await m.proc!.stop();
    for (const m of rv.setOf('mds')) m.proc = undefined;
    await Promise.all(rv.setOf('mds').map((m) => rv.spawn(m, m.port)));
    const q = await rv.primaryOf('mds');
    assert.ok((await rv.status(q))!.firstIndex! <= at, 'the entry is still in the log after the restart');
    // Writes until the entry's segment is truncated on the primary.
    const end = Date.now() + 20_000;
    let i = 0;
    while ((await rv.status(q))!.firstIndex! <= at) {
      for (let k = 0; k < 10; k++) await rv.put(`/d/h${i++}`, rv.body(100));
      if (Date.now() > end) throw new Error('the entry was not truncated');
    }
    // Without the truncated opIds the resend would be planned again and answered EEXIST.
    await rejectsErrno(rv.client(q).call('setxattr', req, { opId }), 'EALREADY');
  });

  it('a follower away past the retention: the others truncate past it; back, it needs a full copy, is rebuilt by the heal loop, ends equal and serves as primary', async () => {
    const away: Record<'mds' | 'ds', Member> = { mds: undefined!, ds: undefined! };
    const had: Record<'mds' | 'ds', number> = { mds: 0, ds: 0 };
    for (const role of ['mds', 'ds'] as const) {
      const p = await rv.primaryOf(role);
      away[role] = rv.setOf(role).find((m) => m.id !== p)!;
      had[role] = (await rv.status(away[role].id))!.lastIndex;
    }
    await Promise.all([away.mds.proc!.stop(), away.ds.proc!.stop()]);
    away.mds.proc = undefined;
    away.ds.proc = undefined;
    // Writes go on past the retention (3 s) until the members still up hold nothing the away ones have.
    const end = Date.now() + 30_000;
    let i = 0;
    for (;;) {
      for (let k = 0; k < 10; k++) await rv.put(`/d/g${i++}`, rv.body(1 + Math.floor(rv.rand() * 6000)));
      const up = await Promise.all(rv.members.filter((m) => m.proc).map(async (m) => ({ m, s: await rv.status(m.id) })));
      if (up.every(({ m, s }) => s && s.firstIndex! > had[m.role] + 1)) break;
      if (Date.now() > end) throw new Error(`not truncated past the away members: ${JSON.stringify(up.map(({ m, s }) => [m.id, s?.firstIndex, had[m.role]]))}`);
    }
    for (const role of ['mds', 'ds'] as const) {
      assert.ok(truncated.some((t) => t.reason === 'age' && rv.members.find((m) => m.id === t.id)!.role === role), `the ${role} primary truncated by age past ${away[role].id}`);
    }
    // Back: reported as needing a full copy (heal info's words, /-/health's reason), then rebuilt
    // by the primary's heal loop, without a command.
    const seen = new Set<string>();
    const reasons = new Set<string>();
    await Promise.all([rv.spawn(away.mds, away.mds.port), rv.spawn(away.ds, away.ds.port)]);
    const until = Date.now() + 40_000;
    // (The heal loop acts on a member seen needing a full copy in two rounds in a row, 1.5 s apart.)
    for (;;) {
      const sets = await rv.v.setStatus().catch(() => []);
      for (const s of sets) {
        for (const n of healNeeds(s)) if (/needs a full copy/.test(n)) seen.add(n.split(':')[0]!);
        for (const d of s.degraded) if (/needs a full copy/.test(d)) reasons.add(d);
      }
      const st = await Promise.all([rv.status(away.mds.id), rv.status(away.ds.id)]);
      if (st.every((s) => s && !s.rebuild && s.role === 'follower' && s.firstIndex! > had[s.brick === away.mds.id ? 'mds' : 'ds'] + 1)) break;
      if (Date.now() > until) throw new Error(`not rebuilt: ${JSON.stringify(st)}`);
      await delay(100);
    }
    assert.deepEqual([...seen].sort(), [away.ds.id, away.mds.id].sort(), `heal info said they need a full copy: ${[...seen].join(', ')}`);
    assert.ok([...reasons].some((r) => r.includes(away.ds.id)), [...reasons].join('; '));
    assert.deepEqual([...new Set(autoRebuilds)].sort(), [away.ds.id, away.mds.id].sort(), 'the primaries\' heal loops started the rebuilds');
    // Its log starts after the copy's index (repl/logbase), not at 1.
    for (const role of ['mds', 'ds'] as const) {
      const base = await readLogBase(away[role].dir);
      assert.ok(base && base.index > had[role], `${away[role].id}'s log base ${JSON.stringify(base)}`);
    }
    assert.ok(await rv.equalDigests('mds') > 120);
    assert.ok(await rv.equalDigests('ds') > 120);
    // The rebuilt member's heal loop logs a pendingDone per row (1 s rounds, through the
    // primary): under a loaded full suite that took longer than 8 s once.
    let info = await rv.cli('heal', 'info');
    for (let k = 0; k < 60 && info.code !== 0; k++) {
      await delay(300);
      info = await rv.cli('heal', 'info');
    }
    assert.equal(info.code, 0, info.out);
    // The PUTs made while it was away left rows naming it, whose entries were truncated: the
    // rebuild took them from its source (rpending), healed them (pendingDone), and every member
    // of the set now holds the same rows (none).
    assert.ok(rowsInstalled.some((x) => x.id === away.ds.id && x.rows > 0), `${away.ds.id} installed its source's pending rows: ${JSON.stringify(rowsInstalled)}`);
    await rv.caughtUp('ds');
    const pend = await Promise.all(rv.setOf('ds').map((m) => rv.status(m.id)));
    for (const s of pend) assert.deepEqual(s!.pending, pend[0]!.pending, `${s!.brick}'s pending rows as the others': ${JSON.stringify(pend.map((x) => [x?.brick, x?.pending]))}`);
    assert.deepEqual(pend[0]!.pending, {});
    await rv.readAll();
    // The rebuilt member becomes primary: the primary is stopped (and started again) until the
    // election falls on it; then the third member is stopped and every file reads back through it.
    for (const role of ['mds', 'ds'] as const) {
      const r = away[role];
      await rv.makePrimary(r.id);
      const other = rv.setOf(role).find((m) => m !== r && m.proc)!;
      await other.proc!.stop();
      other.proc = undefined;
    }
    await rv.readAll();
    await rv.put('/d/after', rv.body(3000));
    await rv.readAll();
  });
});
