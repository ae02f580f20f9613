/**
 * Rebuild by full copy plus log tail (ARCHITECTURE.md §10.13, slice 8 of §10.15) on a whole
 * replicated volume of six real brick processes (one MDS set and one DS set of three):
 *
 * - a member of each set is stopped, its directory wiped (a replaced disk), and restarted with the
 *   same `--brick-id` and `--volume-id`; `dht2 heal start --full` (the CLI, as a child process)
 *   gives it the layout again and rebuilds it while writes go on; then heal info says nothing
 *   needs heal, every member's digest is equal, and the rebuilt member serves reads as the
 *   primary of its set with one of the other two stopped;
 * - a member whose data was changed behind the store's back: `dht2 fsck` reports the difference
 *   and `dht2 heal start --full --member` repairs it.
 */
import assert from 'node:assert/strict';
import { readFile, rm, writeFile } from 'node:fs/promises';
import { setTimeout as delay } from 'node:timers/promises';
import { handlePath } from '../../brick/posix2/handles.js';
import { readVote } from '../../brick/repl/vote.js';
import { newGfid, ROOT_GFID } from '../../dht2-core/protocol/index.js';
import { PosixStore } from '../../brick/posix2/store.js';
import { GatewayMetrics } from '../../server/ops/metrics.js';
import { bytesOf, ReplVolume, type Member } from '../helpers/repl-volume.js';

const VOLUME = 'hv';

describe('heal: a wiped or tampered member rebuilt by full copy (dht2 heal start --full)', function () {
  this.timeout(120_000);
  /** The bricks' own account of each full copy ("rebuild: copy done" in their logs). */
  const copies: Array<{ id: string; copied: number; skipped: number; removed: number }> = [];
  const starts: string[] = [];
  const rv = new ReplVolume({
    volume: VOLUME, tmp: 'heal', seed: 816, logVar: 'HEAL_TEST_LOG',
    onLog: (m, l) => {
      if (l.includes('"msg":"rebuild: full copy starts')) starts.push(m.id);
      if (l.includes('"msg":"rebuild: copy done')) copies.push({ id: m.id, ...(JSON.parse(l) as { copied: number; skipped: number; removed: number }) });
    },
  });
  const wipeAndRestart = async (m: Member): Promise<void> => {
    await m.proc!.stop();
    m.proc = undefined;
    await rm(m.dir, { recursive: true, force: true });
    await rv.spawn(m, m.port);
  };

  before(() => rv.start());
  after(() => rv.stop());

  it('a wiped member of each set is rebuilt while writes go on, then serves reads as its primary with another member stopped', async () => {
    await rv.v.mkdir('/d');
    for (let i = 0; i < 40; i++) await rv.put(`/d/f${i}`, rv.body(1 + Math.floor(rv.rand() * 96 * 1024)));
    await rv.v.mkdir('/d/sub');
    await rv.v.setxattr('/d/f0', 'user.k', Buffer.from('v'));

    // A follower of each set loses its disk.
    const wiped: Record<'mds' | 'ds', Member> = { mds: undefined!, ds: undefined! };
    for (const role of ['mds', 'ds'] as const) {
      const p = await rv.primaryOf(role);
      wiped[role] = rv.setOf(role).find((m) => m.id !== p)!;
    }
    await Promise.all([wipeAndRestart(wiped.mds), wipeAndRestart(wiped.ds)]);

    // Writes go on through the rebuild.
    let writing = true;
    let written = 0;
    const writer = (async () => {
      while (writing) {
        await rv.put(`/d/w${written}`, rv.body(1 + Math.floor(rv.rand() * 8192)));
        written++;
      }
    })();
    // What the gateway's poll (server/ops/sets.ts) sees meanwhile: /-/health reasons, metrics.
    const metrics = new GatewayMetrics();
    const reasons = new Set<string>();
    let polling = true;
    let maxProgress = 0;
    const poller = (async () => {
      while (polling) {
        for (const st of await rv.v.setStatus().catch(() => [])) {
          metrics.setSeen(st, 0);
          for (const d of st.degraded) reasons.add(d.replace(/\d+ %/, 'N %'));
        }
        for (const g of (await metrics.healRebuildProgress.get()).values) if (g.labels.brick === wiped.ds.id) maxProgress = Math.max(maxProgress, g.value);
        await delay(50);
      }
    })();
    const healed = await rv.cli('heal', 'start', '--full', '--timeout', '60');
    writing = false;
    polling = false;
    await writer;
    await poller;
    assert.ok(reasons.has(`member ${wiped.ds.id} is being rebuilt: N %`), [...reasons].join('; '));
    assert.ok(maxProgress > 0 && maxProgress <= 1, `dht2_heal_rebuild_progress of ${wiped.ds.id} seen at ${maxProgress}`);
    const text = await metrics.registry.metrics();
    assert.match(text, new RegExp(`dht2_heal_rebuild_progress\\{set="ds-0",brick="${wiped.ds.id}"\\} 0\n`), 'back to 0 once rebuilt');
    const copied = /dht2_heal_copy_bytes_total\{set="ds-0"\} (\d+)/.exec(text);
    assert.ok(copied && Number(copied[1]) > 0, `copy bytes counted: ${copied?.[1]}`);
    assert.equal(healed.code, 0, healed.out);
    for (const m of [wiped.mds, wiped.ds]) {
      assert.match(healed.out, new RegExp(`${m.id}: rebuild by full copy started`));
      assert.match(healed.out, new RegExp(`${m.id}: rebuilt in [0-9.]+ s; it votes again`));
    }
    assert.match(healed.out, /: copy \d+ %: \d+\/\d+ objects|rebuilt in/, 'plain progress lines when stdout is not a TTY');
    assert.ok(written > 0, 'writes went on during the rebuild');
    // ON-DISK-FORMAT.md §6.2: the wiped member, without a vote file, stored the term of the first
    // primary it heard as voted for that primary (no election has run since).
    for (const role of ['mds', 'ds'] as const) {
      const p = await rv.primaryOf(role);
      const vote = await readVote(wiped[role].dir);
      assert.deepEqual(vote, { term: (await rv.status(p))!.term, votedFor: p }, `${wiped[role].id}'s vote file`);
    }
    // The copy walked every handle of the source: copied, or equal already (a wiped member that
    // has its layout again catches up by log replay meanwhile, from index 1, until rrebuild).
    for (const m of [wiped.mds, wiped.ds]) {
      const c = copies.find((x) => x.id === m.id);
      assert.ok(c && c.copied > 0 && c.copied + c.skipped >= 40, `${m.id} copied its set's handles: ${JSON.stringify(c)}`);
    }

    // Heal info reaches 0 (a follower learns the last commit index with the next heartbeat).
    let info = await rv.cli('heal', 'info');
    for (let i = 0; i < 10 && info.code !== 0; i++) {
      await delay(300);
      info = await rv.cli('heal', 'info');
    }
    assert.equal(info.code, 0, info.out);
    assert.match(info.out, /every set is whole and caught up/);
    assert.ok(await rv.equalDigests('mds') > 40);
    assert.ok(await rv.equalDigests('ds') >= 40);
    await rv.readAll();

    // The rebuilt member becomes its set's primary: the primary is stopped (and started again)
    // until the election falls on the rebuilt member; then a third member is stopped and every
    // file is read through the volume, served by the rebuilt primary with one other member.
    for (const role of ['mds', 'ds'] as const) {
      const r = wiped[role];
      await rv.makePrimary(r.id);
      const other = rv.setOf(role).find((m) => m !== r)!;
      await other.proc!.stop();
      other.proc = undefined;
    }
    await rv.readAll();
    for (const role of ['mds', 'ds'] as const) {
      const s = await rv.status(wiped[role].id);
      assert.equal(s?.role, 'primary');
      assert.equal(s?.leaseValid, true);
    }
    // Directly from the rebuilt members, as primaries: a name on the MDS, bytes on the DS.
    const f3 = await rv.v.stat('/d/f3');
    const root = await rv.v.stat('/d');
    assert.equal((await rv.client(wiped.mds.id).call('lookup', { parent: root.gfid, name: 'f3' })).gfid, f3.gfid);
    const d = await rv.client(wiped.ds.id).download('dread', { gfid: f3.gfid });
    assert.ok((await bytesOf(d.body)).equals(rv.files.get('/d/f3')!), 'the rebuilt DS primary serves the bytes');
    // Every member back for the next test.
    for (const m of rv.members) if (!m.proc) await rv.spawn(m, m.port);
    const back = await rv.cli('heal', 'start', '--timeout', '30');
    assert.equal(back.code, 0, back.out);
  });

  it('a member whose data was changed behind its back: fsck reports it, heal start --full repairs it', async () => {
    const p = await rv.primaryOf('ds');
    const t = rv.setOf('ds').find((m) => m.id !== p)!;
    const f = await rv.v.stat('/d/f5');
    const path = handlePath(t.dir, f.gfid);
    const bytes = await readFile(path);
    bytes[0] = bytes[0]! ^ 0xff;
    await writeFile(path, bytes);
    const fsck = await rv.cli('fsck');
    assert.notEqual(fsck.code, 0, fsck.out);
    assert.match(fsck.out, new RegExp(`${f.gfid}: differs`));
    assert.match(fsck.out, new RegExp(`heal would: rebuild ${t.id} by full copy`));
    const healed = await rv.cli('heal', 'start', '--full', '--member', t.id, '--timeout', '60');
    assert.equal(healed.code, 0, healed.out);
    assert.match(healed.out, new RegExp(`${t.id}: rebuilt in`));
    // Only the changed object was copied; the rest were found equal by digest and skipped.
    const c = copies.filter((x) => x.id === t.id).at(-1);
    assert.ok(c && c.copied >= 1 && c.copied <= 3 && c.skipped >= 40, `${t.id}: ${JSON.stringify(c)}`);
    await rv.equalDigests('ds');
    const again = await rv.cli('fsck');
    assert.equal(again.code, 0, again.out);

    // `fsck --repair --json` repairs too, and its stdout stays one JSON document: the heal it
    // starts reports on stderr (it printed its progress after the JSON before).
    bytes[1] = bytes[1]! ^ 0xff;
    await writeFile(path, bytes);
    const repaired = await rv.cli('fsck', '--repair', '--json', '--grace', '0');
    assert.equal(repaired.code, 0, repaired.out);
    const doc = JSON.parse(repaired.out) as { replicas?: { problems: number; rebuild: string[] } };
    assert.deepEqual(doc.replicas?.rebuild, [t.id], repaired.out);
    await rv.equalDigests('ds');
  });

  it('a rebuild cut by a crash after a page resumes at its saved cursor when the member is back', async () => {
    for (let i = 0; i < 40; i++) await rv.put(`/d/r${i}`, rv.body(1 + Math.floor(rv.rand() * 4096)));
    const p = await rv.primaryOf('ds');
    const f = rv.setOf('ds').find((m) => m.id !== p)!;
    await f.proc!.stop();
    await rm(f.dir, { recursive: true, force: true });
    await rv.spawn(f, f.port, { DHT2_CRASH_AT: 'rebuild:page' });
    const crashed = f.proc!.exited;
    const startsBefore = starts.filter((x) => x === f.id).length;
    const healing = rv.cli('heal', 'start', '--full', '--member', f.id, '--timeout', '60');
    assert.equal(await crashed, 'SIGKILL', 'the member died at the crash point, after saving its first page');
    await rv.spawn(f, f.port);
    const healed = await healing;
    assert.equal(healed.code, 0, healed.out);
    assert.match(healed.out, new RegExp(`${f.id}: rebuilt in`));
    // One copy, counted once, resumed: no second "full copy starts" after the restart.
    assert.equal(starts.filter((x) => x === f.id).length - startsBefore, 1);
    const c = copies.filter((x) => x.id === f.id).at(-1);
    assert.ok(c && c.copied + c.skipped >= 80, JSON.stringify(c));
    await rv.equalDigests('ds');
    await rv.readAll();
  });

  it('a member that diverged (its store differs from what the primary planned) is rebuilt by heal start --full', async () => {
    const p = await rv.primaryOf('mds');
    const f = rv.setOf('mds').find((m) => m.id !== p)!;
    await f.proc!.kill();
    f.proc = undefined;
    // Behind the set's back: an inode the next create will name, made with other metadata.
    const g = newGfid(0);
    const st = await PosixStore.open({ dir: f.dir, role: 'mds', volumeId: VOLUME });
    await st.callWith('icreate', { gfid: g, type: 'file', mode: 0o600 }, { at: 1 });
    await st.close();
    await rv.spawn(f, f.port);
    await rv.client(p).call('create', { parent: ROOT_GFID, name: 'victim', gfid: g, type: 'file' });
    const end = Date.now() + 10_000;
    while ((await rv.status(f.id))?.state !== 'diverged') {
      if (Date.now() > end) throw new Error(`${f.id} did not diverge`);
      await delay(50);
    }
    const info = await rv.cli('heal', 'info');
    assert.notEqual(info.code, 0);
    assert.match(info.out, new RegExp(`${f.id}: diverged \\(needs a full copy`));
    const healed = await rv.cli('heal', 'start', '--full', '--timeout', '60');
    assert.equal(healed.code, 0, healed.out);
    assert.match(healed.out, new RegExp(`${f.id}: rebuilt in`));
    assert.equal((await rv.status(f.id))?.state, 'ok');
    await rv.equalDigests('mds');
    await rv.readAll();
  });
});
