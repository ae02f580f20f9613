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
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { healNeeds } from '../../bin/heal.js';
import { parseBlobName, parseSegmentName } from '../../brick/repl/paths.js';
import { readLogBase } from '../../brick/repl/log-base.js';
import { DHT2_BIN, spawnBrick, type BrickProcess } from '../../brick/spawn.js';
import { BrickClient, compareReplicas, installLayout, Volume } from '../../dht2-core/index.js';
import { parseVolumeFile, writeVolumeFile, type VolumeFile } from '../../dht2-core/volfile.js';
import { newOpId, type ReplStatus } from '../../dht2-core/protocol/index.js';
import { rejectsErrno } from '../helpers/assert-errno.js';
import { rng } from '../helpers/rng.js';
import { SECRET, tmpDir } from '../helpers/tmp.js';

const run = promisify(execFile);
const VOLUME = 'tv';
/** Segments of 8 KiB; nothing younger than 0.5 s goes; past 3 s a member that lacks entries no longer holds them back. */
const ENV = {
  DHT2_REPL_SEGMENT_BYTES: '8192', DHT2_REPL_MIN_RETAIN_MS: '500', DHT2_REPL_RETAIN_MS: '3000', DHT2_REPL_HEAL_EVERY_MS: '1500',
};

async function bytesOf(stream: AsyncIterable<Buffer>): Promise<Buffer> {
  const parts: Buffer[] = [];
  for await (const c of stream) parts.push(c);
  return Buffer.concat(parts);
}

interface Member {
  id: string;
  role: 'mds' | 'ds';
  dir: string;
  port: number;
  proc: BrickProcess | undefined;
}

describe('replicated log truncation (ARCHITECTURE.md §10.13)', function () {
  this.timeout(120_000);
  let dir: Awaited<ReturnType<typeof tmpDir>>;
  let members: Member[];
  let volfile: string;
  let vf: VolumeFile;
  let v: Volume;
  const clients = new Map<string, BrickClient>();
  const files = new Map<string, Buffer>();
  const rand = rng(1013);
  /** What the bricks logged of truncations and rebuilds. */
  const truncated: Array<{ id: string; reason: string; upTo: number }> = [];
  const autoRebuilds: string[] = [];
  /** The pending rows (§10.7) each rebuilt DS member installed from its source. */
  const rowsInstalled: Array<{ id: string; rows: number }> = [];

  const spawn = async (m: Member, port?: number): Promise<void> => {
    m.proc = await spawnBrick({
      dir: m.dir, role: m.role, secret: SECRET, volumeId: VOLUME, args: ['--brick-id', m.id], env: ENV, ...(port ? { port } : {}),
      onLog: (l) => {
        if (process.env.TRUNC_TEST_LOG) console.log(m.id, l);
        if (l.includes('"msg":"log head truncated"')) {
          const j = JSON.parse(l) as { reason: string; upTo: number };
          truncated.push({ id: m.id, reason: j.reason, upTo: j.upTo });
        }
        if (l.includes('pending fresh copies installed')) rowsInstalled.push({ id: m.id, rows: (JSON.parse(l) as { rows: number }).rows });
        if (l.includes('rebuilding it by full copy')) autoRebuilds.push((JSON.parse(l) as { member: string }).member);
      },
    });
    m.port = m.proc.port;
  };
  const client = (id: string): BrickClient => {
    let c = clients.get(id);
    if (!c) {
      const m = members.find((x) => x.id === id)!;
      c = new BrickClient({ url: `http://127.0.0.1:${m.port}`, secret: SECRET, brickId: id, timeoutMs: 10_000 });
      clients.set(id, c);
    }
    return c;
  };
  const status = (id: string): Promise<ReplStatus | undefined> => client(id).call('rstatus', {}, { timeoutMs: 2000 }).catch(() => undefined);
  const setOf = (role: 'mds' | 'ds'): Member[] => members.filter((m) => m.role === role);
  const primaryOf = async (role: 'mds' | 'ds', within = 10_000, among?: string[]): Promise<string> => {
    const end = Date.now() + within;
    while (Date.now() < end) {
      for (const m of setOf(role)) {
        if (among && !among.includes(m.id)) continue;
        const s = m.proc ? await status(m.id) : undefined;
        if (s?.role === 'primary' && s.leaseValid) return m.id;
      }
      await delay(50);
    }
    throw new Error(`no primary in the ${role} set within ${within} ms`);
  };
  const body = (n: number): Buffer => Buffer.from(Array.from({ length: n }, () => Math.floor(rand() * 256)));
  const put = async (path: string, b: Buffer): Promise<void> => {
    await v.writeFile(path, Readable.from([b]));
    files.set(path, b);
  };
  /** An in-place write: logged on the DS set (a fresh PUT's body is not, ARCHITECTURE.md §10.7). */
  const pwrite = async (path: string, offset: number, b: Buffer): Promise<void> => {
    await v.write(path, offset, Readable.from([b]));
    const was = files.get(path)!;
    const now = Buffer.alloc(Math.max(was.length, offset + b.length));
    was.copy(now);
    b.copy(now, offset);
    files.set(path, now);
  };
  const readAll = async (): Promise<void> => {
    for (const [path, b] of files) {
      const r = await v.openRead(path);
      assert.ok((await bytesOf(r.body)).equals(b), `${path} reads back as written`);
    }
  };
  const caughtUp = async (role: 'mds' | 'ds'): Promise<void> => {
    const ids = setOf(role).filter((m) => m.proc).map((m) => m.id);
    const end = Date.now() + 20_000;
    for (;;) {
      const st = await Promise.all(ids.map(status));
      const p = st.find((s) => s?.role === 'primary');
      if (p && st.every((s) => s && !s.rebuild && s.appliedIndex === p.commitIndex)) return;
      if (Date.now() > end) throw new Error(`not caught up: ${JSON.stringify(st.map((s) => s && [s.brick, s.role, s.firstIndex, s.appliedIndex, s.commitIndex, s.rebuild?.phase]))}`);
      await delay(50);
    }
  };
  const equalDigests = async (role: 'mds' | 'ds'): Promise<number> => {
    await caughtUp(role);
    const ids = setOf(role).filter((m) => m.proc).map((m) => m.id);
    const r = await compareReplicas(ids.map((id) => ({ id, fops: client(id) })));
    assert.equal(r.missing + r.differs, 0, `replicas of the ${role} set differ: ${JSON.stringify(r.diffs.slice(0, 5))}`);
    return r.handles;
  };
  /** The member's log on disk: its segments' first indexes and its blobs' indexes. */
  const onDisk = async (m: Member): Promise<{ segs: number[]; blobs: number[] }> => ({
    segs: (await readdir(join(m.dir, '.dht2', 'repl', 'log'))).map(parseSegmentName).filter((x): x is number => x !== undefined).sort((a, b) => a - b),
    blobs: (await readdir(join(m.dir, '.dht2', 'repl', 'blobs'))).map((n) => parseBlobName(n)?.index).filter((x): x is number => x !== undefined),
  });
  const cli = async (...args: string[]): Promise<{ code: number; out: string }> => {
    try {
      const r = await run(process.execPath, [DHT2_BIN, ...args, '--volfile', volfile], { timeout: 90_000 });
      return { code: 0, out: r.stdout };
    } catch (e) {
      const x = e as { code?: number; stdout?: string; stderr?: string };
      return { code: x.code ?? -1, out: `${x.stdout ?? ''}${x.stderr ?? ''}` };
    }
  };

  before(async () => {
    dir = await tmpDir('trunc');
    members = [
      ...[1, 2, 3].map((i) => ({ id: `m${i}`, role: 'mds' as const, dir: join(dir.path, `m${i}`), port: 0, proc: undefined })),
      ...[1, 2, 3].map((i) => ({ id: `d${i}`, role: 'ds' as const, dir: join(dir.path, `d${i}`), port: 0, proc: undefined })),
    ];
    await Promise.all(members.map((m) => spawn(m)));
    const { writeFile } = await import('node:fs/promises');
    await writeFile(join(dir.path, 'secret'), SECRET + '\n');
    vf = parseVolumeFile({
      format: 2, name: VOLUME, volumeId: VOLUME, buckets: 65536, secret: { file: 'secret' }, replica: 3,
      mds: [{ id: 'mds-0', bricks: setOf('mds').map((m) => ({ id: m.id, url: m.proc!.url })) }],
      ds: [{ id: 'ds-0', bricks: setOf('ds').map((m) => ({ id: m.id, url: m.proc!.url })) }],
    }, 'test');
    volfile = join(dir.path, 'volume.json');
    await writeVolumeFile(volfile, vf);
    await installLayout(vf, SECRET);
    await primaryOf('mds');
    await primaryOf('ds');
    v = await Volume.open(volfile);
  });

  after(async () => {
    await v?.close();
    for (const c of clients.values()) await c.close();
    await Promise.all(members.map((m) => m.proc?.stop()));
    await dir.cleanup();
  });

  it('every member up: old segments and their blobs go on every member, the log held stays bounded, all reads back, replicas equal', async () => {
    await v.mkdir('/d');
    for (let i = 0; i < 120; i++) await put(`/d/f${i}`, body(1 + Math.floor(rand() * 6000)));
    // Fresh PUTs skip the DS log (§10.7): in-place writes fill it, each entry with a body (blob).
    for (let i = 0; i < 120; i++) {
      const f = `/d/f${i}`;
      await pwrite(f, Math.floor(rand() * files.get(f)!.length), body(1 + Math.floor(rand() * 6000)));
    }
    await caughtUp('mds');
    await caughtUp('ds');
    // The last writes are younger than the minimum retention: wait it out, then a truncation round.
    const end = Date.now() + 15_000;
    let st: Array<ReplStatus | undefined> = [];
    for (;;) {
      st = await Promise.all(members.map((m) => status(m.id)));
      if (st.every((s) => s && s.firstIndex! > s.lastIndex / 2)) break;
      if (Date.now() > end) break;
      await delay(200);
    }
    for (const [k, m] of members.entries()) {
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
    for (const m of members) assert.ok(truncated.some((t) => t.id === m.id && t.reason === 'low-water'), `${m.id} truncated by the low-water mark: ${JSON.stringify(truncated.filter((t) => t.id === m.id))}`);
    const dsBlobs = (await onDisk(setOf('ds')[0]!)).blobs.length;
    assert.ok(dsBlobs < 60, `the DS keeps ${dsBlobs} blobs of 120 written`);
    await readAll();
    assert.ok(await equalDigests('mds') > 120);
    assert.ok(await equalDigests('ds') >= 120);
  });

  it('a resend of a FOP whose entry was truncated, to a primary restarted since it applied it, is EALREADY, never applied again', async () => {
    const p = await primaryOf('mds');
    const opId = newOpId();
    // An xattr set only if absent: applied twice, the second answers EEXIST.
    const req = { gfid: (await v.stat('/d/f0')).gfid, name: 'user.once', value: Buffer.from('1').toString('base64'), flag: 'create' as const };
    await client(p).call('setxattr', req, { opId });
    const at = (await status(p))!.lastIndex;
    // Applied everywhere (and so in every applied mark written at stop): not applied again after the restart.
    await caughtUp('mds');
    // Every member restarts: the replies are gone, the log still names the opId.
    for (const m of setOf('mds')) await m.proc!.stop();
    for (const m of setOf('mds')) m.proc = undefined;
    await Promise.all(setOf('mds').map((m) => spawn(m, m.port)));
    const q = await primaryOf('mds');
    assert.ok((await status(q))!.firstIndex! <= at, 'the entry is still in the log after the restart');
    // Writes until the entry's segment is truncated on the primary.
    const end = Date.now() + 20_000;
    let i = 0;
    while ((await status(q))!.firstIndex! <= at) {
      for (let k = 0; k < 10; k++) await put(`/d/h${i++}`, body(100));
      if (Date.now() > end) throw new Error('the entry was not truncated');
    }
    // Without the truncated opIds the resend would be planned again and answered EEXIST.
    await rejectsErrno(client(q).call('setxattr', req, { opId }), 'EALREADY');
  });

  it('a follower away past the retention: the others truncate past it; back, it needs a full copy, is rebuilt by the heal loop, ends equal and serves as primary', async () => {
    const away: Record<'mds' | 'ds', Member> = { mds: undefined!, ds: undefined! };
    const had: Record<'mds' | 'ds', number> = { mds: 0, ds: 0 };
    for (const role of ['mds', 'ds'] as const) {
      const p = await primaryOf(role);
      away[role] = setOf(role).find((m) => m.id !== p)!;
      had[role] = (await status(away[role].id))!.lastIndex;
    }
    await Promise.all([away.mds.proc!.stop(), away.ds.proc!.stop()]);
    away.mds.proc = undefined;
    away.ds.proc = undefined;
    // Writes go on past the retention (3 s) until the members still up hold nothing the away ones have.
    const end = Date.now() + 30_000;
    let i = 0;
    for (;;) {
      for (let k = 0; k < 10; k++) await put(`/d/g${i++}`, body(1 + Math.floor(rand() * 6000)));
      const up = await Promise.all(members.filter((m) => m.proc).map(async (m) => ({ m, s: await status(m.id) })));
      if (up.every(({ m, s }) => s && s.firstIndex! > had[m.role] + 1)) break;
      if (Date.now() > end) throw new Error(`not truncated past the away members: ${JSON.stringify(up.map(({ m, s }) => [m.id, s?.firstIndex, had[m.role]]))}`);
    }
    for (const role of ['mds', 'ds'] as const) {
      assert.ok(truncated.some((t) => t.reason === 'age' && members.find((m) => m.id === t.id)!.role === role), `the ${role} primary truncated by age past ${away[role].id}`);
    }
    // Back: reported as needing a full copy (heal info's words, /-/health's reason), then rebuilt
    // by the primary's heal loop, without a command.
    const seen = new Set<string>();
    const reasons = new Set<string>();
    await Promise.all([spawn(away.mds, away.mds.port), spawn(away.ds, away.ds.port)]);
    const until = Date.now() + 40_000;
    // (The heal loop acts on a member seen needing a full copy in two rounds in a row, 1.5 s apart.)
    for (;;) {
      const sets = await v.setStatus().catch(() => []);
      for (const s of sets) {
        for (const n of healNeeds(s)) if (/needs a full copy/.test(n)) seen.add(n.split(':')[0]!);
        for (const d of s.degraded) if (/needs a full copy/.test(d)) reasons.add(d);
      }
      const st = await Promise.all([status(away.mds.id), status(away.ds.id)]);
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
    assert.ok(await equalDigests('mds') > 120);
    assert.ok(await equalDigests('ds') > 120);
    // The rebuilt member's heal loop logs a pendingDone per row (1 s rounds, through the
    // primary): under a loaded full suite that took longer than 8 s once.
    let info = await cli('heal', 'info');
    for (let k = 0; k < 60 && info.code !== 0; k++) {
      await delay(300);
      info = await cli('heal', 'info');
    }
    assert.equal(info.code, 0, info.out);
    // The PUTs made while it was away left rows naming it, whose entries were truncated: the
    // rebuild took them from its source (rpending), healed them (pendingDone), and every member
    // of the set now holds the same rows (none).
    assert.ok(rowsInstalled.some((x) => x.id === away.ds.id && x.rows > 0), `${away.ds.id} installed its source's pending rows: ${JSON.stringify(rowsInstalled)}`);
    await caughtUp('ds');
    const pend = await Promise.all(setOf('ds').map((m) => status(m.id)));
    for (const s of pend) assert.deepEqual(s!.pending, pend[0]!.pending, `${s!.brick}'s pending rows as the others': ${JSON.stringify(pend.map((x) => [x?.brick, x?.pending]))}`);
    assert.deepEqual(pend[0]!.pending, {});
    await readAll();
    // The rebuilt member becomes primary: the primary is stopped (and started again) until the
    // election falls on it; then the third member is stopped and every file reads back through it.
    for (const role of ['mds', 'ds'] as const) {
      const r = away[role];
      for (let attempt = 0; attempt < 8; attempt++) {
        const p = await primaryOf(role);
        if (p === r.id) break;
        const pm = members.find((m) => m.id === p)!;
        await pm.proc!.stop();
        pm.proc = undefined;
        await primaryOf(role, 10_000, setOf(role).filter((m) => m !== pm).map((m) => m.id));
        await spawn(pm, pm.port);
      }
      assert.equal(await primaryOf(role), r.id, `the rebuilt ${r.id} was elected primary of its set`);
      const other = setOf(role).find((m) => m !== r && m.proc)!;
      await other.proc!.stop();
      other.proc = undefined;
    }
    await readAll();
    await put('/d/after', body(3000));
    await readAll();
  });
});
