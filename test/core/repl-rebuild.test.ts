/**
 * Rebuild by full copy, the cases beyond a wiped or diverged member (ARCHITECTURE.md §10.13 "As
 * built (corrupt)"; ON-DISK-FORMAT.md §6.5, §6.6), on six real brick processes (one MDS set and
 * one DS set of three):
 *
 * 1. a member whose log segment was damaged on disk opens `corrupt`; `dht2 heal start --full`
 *    rebuilds it (its log discarded and reset onto the copy's index), it ends equal to the others
 *    and serves as its set's primary;
 * 2. a full copy carries the source's applied opIds (`rops`): a resend of a FOP applied before the
 *    copy's index, to the rebuilt member once it is primary (and restarted since), is EALREADY,
 *    not applied a second time (ARCHITECTURE.md §10.4 "Duplicates");
 * 3. the boot-id rule under `--no-sync` (ON-DISK-FORMAT.md §6.5): a member started with a stale
 *    lock of this boot (a process crash) is trusted; one with a stale lock of another boot (the
 *    lock file names the boot, so a test writes one) rebuilds itself by full copy, a learner from
 *    its first status on, and ends equal to the others (with two healthy members it never falls
 *    back);
 * 4. the fallback of that rule (ON-DISK-FORMAT.md §6.5 "As built (boot id)"): when every member
 *    of a set finds a stale lock of another boot, no primary can be elected to copy from, so after
 *    a few election timeouts a majority of them (the lowest ids) give up the rebuild and vote; the
 *    set elects, serves what was written before, and the last member is rebuilt by full copy;
 * 5. a DS member rebuilt from a source that itself lacks fresh objects (pending rows name the
 *    source) gets pending rows naming itself too, heals those objects, and ends equal.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { open, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { readLogBase } from '../../brick/repl/log-base.js';
import { setTimeout as delay } from 'node:timers/promises';
import { BOOT_ID_PATH } from '../../brick/posix2/format.js';
import { parseSegmentName } from '../../brick/repl/paths.js';
import { writeRebuild } from '../../brick/repl/rebuild-file.js';
import { newOpId } from '../../dht2-core/protocol/index.js';
import { rejectsErrno } from '../helpers/assert-errno.js';
import { ReplVolume } from '../helpers/repl-volume.js';

describe('rebuild by full copy: a corrupt log, the copied opIds, a --no-sync store after a reboot (ARCHITECTURE.md §10.13)', function () {
  this.timeout(120_000);
  /** Members that logged the start of a full copy. */
  const starts: string[] = [];
  /** Members that logged the fallback of the boot-id rule (the whole set lost power). */
  const fellBack: string[] = [];
  /** Members that logged pending rows for the fresh objects their rebuild's source lacked. */
  const inherited: string[] = [];
  const rv = new ReplVolume({
    volume: 'rb', tmp: 'rebuild', seed: 2207, logVar: 'REBUILD_TEST_LOG',
    onLog: (m, l) => {
      if (l.includes('"msg":"rebuild: full copy starts')) starts.push(m.id);
      if (l.includes('lost power under --no-sync')) fellBack.push(m.id);
      if (l.includes('fresh objects the source lacks too')) inherited.push(m.id);
    },
  });

  before(() => rv.start());
  after(() => rv.stop());

  it('a member whose log segment is damaged on disk is rebuilt by heal start --full, ends equal, and serves as primary', async () => {
    await rv.v.mkdir('/c');
    for (let i = 0; i < 20; i++) await rv.put(`/c/f${i}`, rv.body(1 + Math.floor(rv.rand() * 8192)));
    await rv.caughtUp('mds');
    const p = await rv.primaryOf('mds');
    const f = rv.setOf('mds').find((m) => m.id !== p)!;
    await f.proc!.stop();
    f.proc = undefined;
    // One byte of the first segment's header changed: its CRC fails, which open reports as
    // corruption of acknowledged records (ON-DISK-FORMAT.md §6.1 "Reading at open").
    const logDir = join(f.dir, '.dht2', 'repl', 'log');
    const first = (await readdir(logDir)).filter((n) => parseSegmentName(n) !== undefined).sort()[0]!;
    const fh = await open(join(logDir, first), 'r+');
    await fh.write(Buffer.from('X'), 0, 1, 0);
    await fh.close();
    await rv.spawn(f, f.port);
    assert.equal((await rv.status(f.id))?.state, 'corrupt');
    const info = await rv.cli('heal', 'info');
    assert.notEqual(info.code, 0);
    assert.match(info.out, new RegExp(`${f.id}: corrupt \\(needs a full copy`));
    // Writes meanwhile: the rebuilt member gets them as its log tail.
    for (let i = 20; i < 30; i++) await rv.put(`/c/f${i}`, rv.body(1 + Math.floor(rv.rand() * 8192)));

    const healed = await rv.cli('heal', 'start', '--full', '--timeout', '60');
    assert.equal(healed.code, 0, healed.out);
    assert.match(healed.out, new RegExp(`${f.id}: rebuilt in`));
    const s = await rv.status(f.id);
    assert.equal(s?.state, 'ok');
    // The corrupt log is gone: the log starts after the copy's index.
    const base = await readLogBase(f.dir);
    assert.ok(base && base.index > 0, `log base ${JSON.stringify(base)}`);
    assert.ok(await rv.equalDigests('mds') > 30);
    await rv.readAll();

    // It serves: elected primary, with another member stopped.
    await rv.makePrimary(f.id);
    const other = rv.setOf('mds').find((m) => m !== f && m.proc)!;
    await other.proc!.stop();
    other.proc = undefined;
    await rv.readAll();
    const dir = await rv.v.stat('/c');
    const f7 = await rv.v.stat('/c/f7');
    assert.equal((await rv.client(f.id).call('lookup', { parent: dir.gfid, name: 'f7' })).gfid, f7.gfid);
    await rv.spawn(other, other.port);
    const back = await rv.cli('heal', 'start', '--timeout', '30');
    assert.equal(back.code, 0, back.out);
  });

  it('a resend of a FOP applied before a full copy\'s index, to the rebuilt member as primary, is EALREADY, not applied again', async () => {
    const p = await rv.primaryOf('mds');
    await rv.put('/once', rv.body(10));
    const opId = newOpId();
    // An xattr set only if absent: applied a second time, it answers EEXIST.
    const req = { gfid: (await rv.v.stat('/once')).gfid, name: 'user.once', value: Buffer.from('1').toString('base64'), flag: 'create' as const };
    await rv.client(p).call('setxattr', req, { opId });
    const at = (await rv.status(p))!.lastIndex;
    await rv.caughtUp('mds');
    const f = rv.setOf('mds').find((m) => m.id !== p)!;
    const healed = await rv.cli('heal', 'start', '--full', '--member', f.id, '--timeout', '60');
    assert.equal(healed.code, 0, healed.out);
    // Its log starts after the entry: only the copied opIds can tell it the FOP was applied.
    const base = await readLogBase(f.dir);
    assert.ok(base && base.index >= at, `log base ${JSON.stringify(base)}, the entry at ${at}`);
    // Restarted (the copied opIds are kept on disk, the log cannot hold them), then elected.
    await f.proc!.stop();
    await rv.spawn(f, f.port);
    await rv.makePrimary(f.id);
    assert.ok((await rv.status(f.id))!.firstIndex! > at, 'the entry is not in the rebuilt primary\'s log');
    await rejectsErrno(rv.client(f.id).call('setxattr', req, { opId }), 'EALREADY');
    await rv.caughtUp('mds');
  });

  it('under --no-sync, a stale lock of this boot is trusted; one of another boot makes the member rebuild itself before it votes or serves', async () => {
    const boot = (await readFile(BOOT_ID_PATH, 'utf8')).trim();
    const dead = spawnSync('true').pid!; // a pid that has exited: the lock is stale
    const p = await rv.primaryOf('ds');
    const f = rv.setOf('ds').find((m) => m.id !== p)!;
    const lock = join(f.dir, '.dht2', 'lock');
    /** Polled until member `id` is a follower again with no rebuild under way (a minute at most). */
    const rebuiltFollower = async (id: string): Promise<void> => {
      const end = Date.now() + 60_000;
      for (;;) {
        const s = await rv.status(id);
        if (s && !s.rebuild && s.role === 'follower') return;
        if (Date.now() > end) throw new Error(`not rebuilt: ${JSON.stringify(s)}`);
        await delay(100);
      }
    };
    const restartWithLock = async (bootId: string): Promise<void> => {
      await f.proc!.stop();
      f.proc = undefined;
      await writeFile(lock, `${dead}\n${bootId}\n`);
      await rv.spawn(f, f.port, undefined, ['--no-sync']);
    };
    for (let i = 0; i < 10; i++) await rv.put(`/n${i}`, rv.body(1 + Math.floor(rv.rand() * 8192)));

    // A process crash: the page cache kept the unsynced writes, nothing is rebuilt.
    await restartWithLock(boot);
    const before = starts.length;
    assert.equal((await rv.status(f.id))?.rebuild, undefined);
    await delay(2000);
    assert.equal(starts.length, before, 'no full copy after a stale lock of this boot');
    assert.equal((await rv.status(f.id))?.role, 'follower');
    assert.equal(await readFile(lock, 'utf8'), `${f.proc!.pid}\n${boot}\n`, 'the lock names its pid and the boot');

    // Another boot: a learner from its first answer on (it neither votes nor serves), rebuilt by
    // itself from its primary, then a voter again, equal to the others.
    await restartWithLock('00000000-0000-4000-8000-000000000000');
    const first = await rv.status(f.id);
    assert.equal(first?.role, 'learner');
    assert.ok(first?.rebuild, 'being rebuilt');
    await rebuiltFollower(f.id);
    assert.ok(starts.slice(before).includes(f.id), 'it ran a full copy');
    assert.deepEqual(fellBack, [], 'with two healthy members, no fallback');
    assert.equal(await readFile(lock, 'utf8'), `${f.proc!.pid}\n${boot}\n`, 'the mark is cleared once the rebuild is recorded');
    assert.ok(await rv.equalDigests('ds') >= 10);
    await rv.readAll();
    // Started again as it is (its own lock, this boot): trusted, nothing rebuilt.
    const n = starts.length;
    await f.proc!.kill();
    await rv.spawn(f, f.port, undefined, ['--no-sync']);
    await delay(1500);
    assert.equal(starts.length, n);
    assert.equal((await rv.status(f.id))?.rebuild, undefined);

    // A power cut in the middle of a rebuild: what it copied was not synced either, so its record
    // (here in the replay phase, the copy done) is not trusted: the rebuild starts over, copying.
    const source = await rv.primaryOf('ds');
    await f.proc!.stop();
    f.proc = undefined;
    await writeRebuild(f.dir, {
      source, fromIndex: 1, phase: 'replay', copiedObjects: 0, copiedBytes: 0, skippedObjects: 0, removedObjects: 0,
      totalObjects: 0, totalBytes: 0, startedAt: Date.now(),
    });
    await writeFile(lock, `${dead}\n00000000-0000-4000-8000-000000000000\n`);
    await rv.spawn(f, f.port, undefined, ['--no-sync']);
    await rebuiltFollower(f.id);
    assert.ok(starts.slice(n).includes(f.id), 'the rebuild under way started over with a full copy');
    assert.ok(await rv.equalDigests('ds') >= 10);
  });

  it('under --no-sync, sets whose every member finds a stale lock of another boot elect after a few election timeouts and serve what was written', async () => {
    const dead = spawnSync('true').pid!;
    await rv.v.mkdir('/all');
    for (let i = 0; i < 10; i++) await rv.put(`/all/f${i}`, rv.body(1 + Math.floor(rv.rand() * 8192)));
    await rv.caughtUp('mds');
    await rv.caughtUp('ds');
    // Both sets: the MDS set's log holds the entries of the namespace, applied again from its base.
    const all = rv.members;
    const logged = await Promise.all(rv.setOf('mds').map(async (m) => (await rv.status(m.id))!.lastIndex));
    await Promise.all(all.map(async (m) => { await m.proc!.stop(); m.proc = undefined; }));
    // The machine went down under all six (the files are on disk: the processes wrote them).
    for (const m of all) await writeFile(join(m.dir, '.dht2', 'lock'), `${dead}\n00000000-0000-4000-8000-000000000001\n`);
    const before = starts.length;
    const t0 = Date.now();
    await Promise.all(all.map((m) => rv.spawn(m, m.port, undefined, ['--no-sync'])));
    for (const m of all) {
      const s = await rv.status(m.id);
      assert.equal(s?.role, 'learner', `${m.id} starts a learner`);
      assert.equal(s?.rebuild?.source, '', `${m.id} has no source yet`);
    }
    // No one votes until the fallback (LOST_POWER_AFTER_MS, 10 s); then each set elects.
    const p = { mds: await rv.primaryOf('mds', 60_000), ds: await rv.primaryOf('ds', 60_000) };
    const took = Date.now() - t0;
    assert.ok(took >= 9_000, `elected after ${took} ms: not before the fallback`);
    // A majority of each set fell back, the lowest ids; the last one copied from its primary.
    assert.deepEqual([...fellBack].sort(), ['d1', 'd2', 'm1', 'm2']);
    assert.ok(['m1', 'm2'].includes(p.mds) && ['d1', 'd2'].includes(p.ds), `primaries ${JSON.stringify(p)}`);
    await rv.caughtUp('mds', 60_000);
    await rv.caughtUp('ds', 60_000);
    assert.ok(starts.slice(before).includes('m3') && starts.slice(before).includes('d3'), 'm3 and d3 were rebuilt by full copy');
    const now = await rv.status(p.mds);
    assert.ok(now!.lastIndex > Math.max(...logged), 'the MDS primary logged a new term over the old entries');
    assert.ok(await rv.equalDigests('mds') > 10);
    assert.ok(await rv.equalDigests('ds') >= 10);
    await rv.readAll();
    await rv.put('/all/after', rv.body(4096));
    await rv.readAll();
    for (const m of all) assert.equal((await rv.status(m.id))?.rebuild, undefined);
  });

  it('a DS member rebuilt from a source that lacks fresh objects logs pending rows for itself, heals them, and ends equal', async () => {
    await rv.caughtUp('ds');
    const d2 = rv.member('d2');
    const d3 = rv.member('d3');
    // d3 down: these writes' fresh objects go to d1 and d2 only, with pending rows naming d3.
    await d3.proc!.stop();
    d3.proc = undefined;
    await rv.v.mkdir('/lack');
    for (let i = 0; i < 6; i++) await rv.put(`/lack/f${i}`, rv.body(1000 + i));
    // d3 back without its heal loop, so it still lacks them, and made the primary: the source of the rebuild below.
    await rv.spawn(d3, d3.port, { DHT2_TEST_NO_FRESH_HEAL: '1' });
    await rv.makePrimary('d3');
    assert.equal((await rv.status('d3'))?.pending?.['d3'], 6, 'the rows name d3');
    // d2 wiped (a replaced disk) and rebuilt by full copy from d3, which lacks the six objects.
    await d2.proc!.stop();
    d2.proc = undefined;
    await rm(d2.dir, { recursive: true, force: true });
    await rv.spawn(d2, d2.port);
    // It ends with "still needs heal": d3 cannot heal without its loop.
    const healed = await rv.cli('heal', 'start', '--full', '--timeout', '5');
    assert.match(healed.out, /d2: rebuilt in/);
    assert.ok(inherited.includes('d2'), `d2 logged pending rows for the objects its source lacked: ${healed.out}`);
    // d3 heals again: both lacking members copy the objects from d1, and the rows all go.
    await d3.proc!.stop();
    d3.proc = undefined;
    await rv.spawn(d3, d3.port);
    const back = await rv.cli('heal', 'start', '--timeout', '60');
    assert.equal(back.code, 0, back.out);
    assert.ok(await rv.equalDigests('ds') >= 6);
    await rv.readAll();
  });
});
