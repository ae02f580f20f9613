/**
 * The comparison of a replica set's members (dht2-core/fops/replica-compare.ts, ARCHITECTURE.md
 * §10.12) over real stores in temp dirs: identical replicas compare equal; one changed name
 * entry, caller xattr, inode metadata, data byte, or a missing handle is reported, with the
 * majority named when there is one; paging in step gives the same report for any page size;
 * and the same over HTTP/2 through real brick processes.
 */
import assert from 'node:assert/strict';
import { rm, readFile, truncate, writeFile, symlink, unlink } from 'node:fs/promises';
import { join } from 'node:path';
import { setAttribute } from '@napi-rs/xattr';
import { newGfid, ROOT_GFID, type BrickFops } from '../../dht2-core/protocol/index.js';
import { BrickClient, compareReplicas, formatReplicaReport, type ReplicaReport } from '../../dht2-core/index.js';
import { PosixStore } from '../../brick/posix2/store.js';
import { handlePath, readMeta, writeMeta } from '../../brick/posix2/handles.js';
import { spawnBrick, type BrickProcess } from '../../brick/spawn.js';
import { rejectsErrno } from '../helpers/assert-errno.js';
import { copyReplica, digestAll, fillDs, fillMds, type MdsContent } from '../helpers/replica.js';
import { rng } from '../helpers/rng.js';
import { SECRET, tmpDir } from '../helpers/tmp.js';

/** Opens `n` replicas of one role: the first filled by `fill`, the others copies of it. */
async function replicas<T>(root: string, role: 'mds' | 'ds', n: number, fill: (s: PosixStore) => Promise<T>): Promise<{ stores: PosixStore[]; content: T }> {
  const ids = ['a', 'b', 'c', 'd', 'e'].slice(0, n);
  let first = await PosixStore.open({ dir: join(root, ids[0]!), role, volumeId: 'v' });
  const content = await fill(first);
  await first.close();
  const stores: PosixStore[] = [];
  for (const id of ids.slice(1)) stores.push(await copyReplica(first.dir, join(root, id), role, 'v'));
  first = await PosixStore.open({ dir: first.dir, role, volumeId: 'v' });
  return { stores: [first, ...stores], content };
}

const members = (stores: BrickFops[]) => stores.map((fops, i) => ({ id: 'abcde'[i]!, fops }));

/** Asserts a clean comparison of `handles` handles. */
function assertSame(r: ReplicaReport, handles: number): void {
  assert.deepEqual({ handles: r.handles, same: r.same, missing: r.missing, differs: r.differs, diffs: r.diffs },
    { handles, same: handles, missing: 0, differs: 0, diffs: [] });
  for (const m of r.members) assert.deepEqual({ ...m, id: '' }, { id: '', handles, missing: 0, extra: 0, differs: 0 });
}

describe('replica comparison: MDS sets', () => {
  let tmp: Awaited<ReturnType<typeof tmpDir>>;
  let s: PosixStore[];
  let c: MdsContent;
  let n: number;
  beforeEach(async () => {
    tmp = await tmpDir('cmp-mds');
    ({ stores: s, content: c } = await replicas(tmp.path, 'mds', 2, fillMds));
    n = (await digestAll(s[0]!)).length;
  });
  afterEach(async () => {
    for (const x of s) await x.close();
    await tmp.cleanup();
  });

  /** The one difference of a two-member comparison, checked to be about `gfid`. */
  async function oneDiff(gfid: string, what: 'missing' | 'differs') {
    const r = await compareReplicas(members(s));
    assert.equal(r.handles, what === 'missing' && r.handles > n ? n + 1 : n);
    assert.equal(r.same, r.handles - 1);
    assert.equal(r.diffs.length, 1, JSON.stringify(r.diffs));
    const d = r.diffs[0]!;
    assert.equal(d.gfid, gfid);
    assert.equal(d.what, what);
    assert.equal(d.majority, undefined, 'two members that disagree have no majority');
    assert.deepEqual(d.states.map((x) => x.members).sort(), [['a'], ['b']]);
    assert.equal(r.missing, what === 'missing' ? 1 : 0);
    assert.equal(r.differs, what === 'differs' ? 1 : 0);
    return { r, d };
  }

  it('two copies with the same logical content compare equal', async () => {
    assert.ok(n > 10);
    assertSame(await compareReplicas(members(s)), n);
  });

  it('reports a name entry added, retargeted or removed in one member: the directory differs', async () => {
    const rootB = handlePath(s[1]!.dir, ROOT_GFID);
    await symlink(`${newGfid()}:f`, join(rootB, 'extra'));
    await oneDiff(ROOT_GFID, 'differs');
    await unlink(join(rootB, 'extra'));
    assertSame(await compareReplicas(members(s)), n);
    await unlink(join(rootB, 'hard'));
    await symlink(`${c.carried}:f`, join(rootB, 'hard'));
    await oneDiff(ROOT_GFID, 'differs');
    await unlink(join(rootB, 'hard'));
    await symlink(`${c.file}:f`, join(rootB, 'hard'));
    assertSame(await compareReplicas(members(s)), n);
    await unlink(join(handlePath(s[1]!.dir, c.dir), 'n3'));
    const { d } = await oneDiff(c.dir, 'differs');
    assert.equal(d.states[0]!.item!.kind, 'dir');
  });

  it('reports one caller xattr changed (same length)', async () => {
    await setAttribute(handlePath(s[1]!.dir, c.file), 'user.dht2.x.etag', Buffer.from('"abd"'));
    const { d, r } = await oneDiff(c.file, 'differs');
    assert.equal(d.states.find((x) => x.members[0] === 'b')!.item!.kind, 'file');
    assert.deepEqual(r.members.map((m) => m.differs), [1, 1], 'with no majority, both differ');
  });

  it('reports the inode metadata changed (one field of user.dht2)', async () => {
    const p = handlePath(s[1]!.dir, c.carried);
    const m = (await readMeta(p))!;
    await writeMeta(p, { ...m, gid: m.gid + 1 });
    await oneDiff(c.carried, 'differs');
  });

  it('reports a handle missing on one member, and one only on the other', async () => {
    await rm(handlePath(s[1]!.dir, c.symlink));
    const { d, r } = await oneDiff(c.symlink, 'missing');
    assert.deepEqual(d.states.find((x) => x.members[0] === 'a')!.item!.kind, 'symlink');
    assert.equal(d.states.find((x) => x.members[0] === 'b')!.item, undefined);
    assert.deepEqual(r.members.map(({ id, missing, extra }) => ({ id, missing, extra })), [{ id: 'a', missing: 0, extra: 1 }, { id: 'b', missing: 1, extra: 0 }]);
    assert.deepEqual(r.members.map((x) => x.handles), [n, n - 1]);
    const g = (await s[0]!.call('icreate', { gfid: newGfid(), type: 'dir' })).gfid;
    const r2 = await compareReplicas(members(s));
    assert.equal(r2.missing, 2);
    assert.deepEqual(r2.diffs.map((x) => x.gfid), [c.symlink, g].sort());
  });

  it('with three members, names the majority and the odd one out', async () => {
    await s[1]!.close();
    await s[0]!.close();
    const third = await copyReplica(s[0]!.dir, join(tmp.path, 'c'), 'mds', 'v');
    s = [await PosixStore.open({ dir: s[0]!.dir, role: 'mds', volumeId: 'v' }), await PosixStore.open({ dir: s[1]!.dir, role: 'mds', volumeId: 'v' }), third];
    assertSame(await compareReplicas(members(s)), n);
    await setAttribute(handlePath(s[1]!.dir, c.dir), 'user.dht2.x.dir-note', Buffer.from('changed'));
    await rm(handlePath(s[2]!.dir, c.file));
    const r = await compareReplicas(members(s));
    assert.equal(r.handles, n);
    assert.equal(r.same, n - 2);
    assert.deepEqual(r.diffs.map((d) => [d.gfid, d.what, d.majority]).sort(), [
      [c.dir, 'differs', ['a', 'c']],
      [c.file, 'missing', ['a', 'b']],
    ].sort());
    assert.deepEqual(r.members.map(({ id, missing, extra, differs }) => ({ id, missing, extra, differs })), [
      { id: 'a', missing: 0, extra: 1, differs: 0 },
      { id: 'b', missing: 0, extra: 1, differs: 1 },
      { id: 'c', missing: 1, extra: 0, differs: 0 },
    ]);
    const lines = formatReplicaReport('mds-0', r);
    assert.match(lines[0]!, /^mds-0: \d+ handles, \d+ identical, 1 missing on some member, 1 differing$/);
    assert.ok(lines.some((l) => l.includes(c.file) && l.includes('c absent') && l.includes('(majority: a,b)')), lines.join('\n'));
  });

  it('pages through the members in step: any page size gives the same report', async () => {
    const random = rng(16);
    for (let i = 0; i < 30; i++) await s[0]!.call('icreate', { gfid: newGfid(), type: 'file' });
    await s[1]!.close();
    await s[0]!.close();
    await rm(s[1]!.dir, { recursive: true });
    s[1] = await copyReplica(s[0]!.dir, s[1]!.dir, 'mds', 'v');
    s[0] = await PosixStore.open({ dir: s[0]!.dir, role: 'mds', volumeId: 'v' });
    const all = (await digestAll(s[0])).map((i) => i.gfid).filter((g) => g !== ROOT_GFID);
    // Remove handles from either member and change some, chosen by a seeded draw.
    const expected = new Map<string, string>();
    for (const g of all) {
      const x = random();
      if (x < 0.15) { await rm(handlePath(s[0].dir, g), { recursive: true }); expected.set(g, 'missing'); }
      else if (x < 0.3) { await rm(handlePath(s[1].dir, g), { recursive: true }); expected.set(g, 'missing'); }
      else if (x < 0.4) { await setAttribute(handlePath(s[1].dir, g), 'user.dht2.x.k', Buffer.from([Math.floor(random() * 256)])); expected.set(g, 'differs'); }
    }
    assert.ok(expected.size >= 5, `${expected.size} differences drawn`);
    const full = await compareReplicas(members(s), { pageSize: 10000 });
    assert.deepEqual(full.diffs.map((d) => [d.gfid, d.what]), [...expected].sort());
    for (const pageSize of [1, 2, 3, 7]) assert.deepEqual(await compareReplicas(members(s), { pageSize }), full, `page size ${pageSize}`);
    // The report keeps at most maxDiffs differences, and counts all of them.
    const short = await compareReplicas(members(s), { maxDiffs: 2, pageSize: 4 });
    assert.deepEqual(short.diffs, full.diffs.slice(0, 2));
    assert.equal(short.truncated, true);
    assert.deepEqual({ ...short, diffs: [], truncated: false }, { ...full, diffs: [] });
    assert.match(formatReplicaReport('mds-0', short).at(-1)!, new RegExp(`… ${expected.size - 2} more differences`));
  });

  it('refuses fewer than two members or repeated ids', async () => {
    await rejectsErrno(compareReplicas(members([s[0]!])), 'EINVAL');
    await rejectsErrno(compareReplicas([{ id: 'x', fops: s[0]! }, { id: 'x', fops: s[1]! }]), 'EINVAL');
  });
});

describe('replica comparison: DS sets', () => {
  let tmp: Awaited<ReturnType<typeof tmpDir>>;
  let s: PosixStore[];
  let g: string[];
  beforeEach(async () => {
    tmp = await tmpDir('cmp-ds');
    ({ stores: s, content: g } = await replicas(tmp.path, 'ds', 2, fillDs));
  });
  afterEach(async () => {
    for (const x of s) await x.close();
    await tmp.cleanup();
  });

  it('two copies compare equal; one byte flipped (same size) is reported with both CRCs', async () => {
    assertSame(await compareReplicas(members(s)), g.length);
    const big = g[3]!;
    const p = handlePath(s[1]!.dir, big);
    const bytes = await readFile(p);
    bytes[bytes.length - 1] ^= 0x80;
    await writeFile(p, bytes);
    const r = await compareReplicas(members(s));
    assert.equal(r.differs, 1);
    const d = r.diffs[0]!;
    assert.equal(d.gfid, big);
    assert.equal(d.what, 'differs');
    const [x, y] = d.states.map((st) => st.item!);
    assert.equal(x!.size, bytes.length);
    assert.equal(y!.size, bytes.length);
    assert.notEqual(x!.hash, y!.hash);
  });

  it('reports a truncated object and a missing one', async () => {
    await truncate(handlePath(s[0]!.dir, g[2]!), 999);
    await rm(handlePath(s[1]!.dir, g[1]!));
    const r = await compareReplicas(members(s));
    assert.deepEqual(r.diffs.map((d) => [d.gfid, d.what]), [[g[1]!, 'missing'], [g[2]!, 'differs']].sort((p, q) => (p[0]! < q[0]! ? -1 : 1)));
    const t = r.diffs.find((d) => d.gfid === g[2])!;
    assert.deepEqual(t.states.map((st) => [st.members[0], st.item!.size]).sort(), [['a', 999], ['b', 1000]]);
  });
});

describe('replica comparison over HTTP/2', function () {
  this.timeout(180_000);
  let tmp: Awaited<ReturnType<typeof tmpDir>>;
  const procs: BrickProcess[] = [];
  const clients: BrickClient[] = [];
  after(async () => {
    for (const cl of clients) await cl.close();
    for (const p of procs) await p.stop();
    await tmp?.cleanup();
  });

  it('compares the members through BrickClients, and sees a change made through one of them', async () => {
    tmp = await tmpDir('cmp-h2');
    const { stores, content } = await replicas(tmp.path, 'mds', 2, fillMds);
    const n = (await digestAll(stores[0]!)).length;
    for (const x of stores) await x.close();
    for (const x of stores) {
      const p = await spawnBrick({ dir: x.dir, role: 'mds', secret: SECRET, volumeId: 'v' });
      procs.push(p);
      clients.push(new BrickClient({ url: p.url, secret: SECRET }));
    }
    assertSame(await compareReplicas(members(clients), { pageSize: 4 }), n);
    await clients[1]!.call('setxattr', { gfid: content.file, name: 'etag', value: Buffer.from('other').toString('base64') });
    const r = await compareReplicas(members(clients), { pageSize: 4 });
    assert.deepEqual(r.diffs.map((d) => [d.gfid, d.what]), [[content.file, 'differs']]);
  });
});
