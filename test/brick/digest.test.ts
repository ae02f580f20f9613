/**
 * The `digest` FOP (ARCHITECTURE.md §10.12): its exact definition, recomputed here from the
 * bytes on disk; what it leaves out (§10.6: inode numbers, the handles' stat times, the SQLite
 * index, tmp/); paging in GFID order; and the FOP over HTTP/2 through real brick processes.
 */
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { execFileSync } from 'node:child_process';
import { lstat, readdir, readlink, readFile, utimes, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { Crc32c } from '@aws-crypto/crc32c';
import { getAttribute, listAttributes } from '@napi-rs/xattr';
import { newGfid, ROOT_GFID, type DigestItem } from '../../dht2-core/protocol/index.js';
import { BrickClient } from '../../dht2-core/index.js';
import { PosixStore } from '../../brick/posix2/store.js';
import { handlePath } from '../../brick/posix2/handles.js';
import { spawnBrick, type BrickProcess } from '../../brick/spawn.js';
import { rejectsErrno } from '../helpers/assert-errno.js';
import { copyReplica, digestAll, fillDs, fillMds } from '../helpers/replica.js';
import { SECRET, tmpDir } from '../helpers/tmp.js';

const u32 = (n: number) => { const b = Buffer.alloc(4); b.writeUInt32LE(n); return b; };
const lp = (b: Buffer) => Buffer.concat([u32(b.length), b]);

/** The MDS digest of one handle, computed from the definition in ARCHITECTURE.md §10.12 independently of brick/. */
async function expectedMdsHash(path: string, isDir: boolean): Promise<string> {
  const parts = [Buffer.from('dht2 mds digest 1\0'), lp((await getAttribute(path, 'user.dht2'))!)];
  const names = (await listAttributes(path)).filter((n) => n.startsWith('user.dht2.x.'));
  const xs = await Promise.all(names.map(async (n) => [Buffer.from(n.slice('user.dht2.x.'.length)), (await getAttribute(path, n))!] as const));
  xs.sort((a, b) => Buffer.compare(a[0], b[0]));
  parts.push(u32(xs.length), ...xs.flatMap(([n, v]) => [lp(n), lp(v)]));
  if (isDir) {
    const es = (await readdir(path, { encoding: 'buffer' })).sort(Buffer.compare);
    parts.push(u32(es.length));
    for (const e of es) parts.push(lp(e), lp(await readlink(Buffer.concat([Buffer.from(path + '/'), e]), { encoding: 'buffer' })));
  }
  return createHash('sha256').update(Buffer.concat(parts)).digest('hex');
}

describe('digest FOP: MDS', () => {
  let tmp: Awaited<ReturnType<typeof tmpDir>>;
  let a: PosixStore;
  beforeEach(async () => {
    tmp = await tmpDir('digest-mds');
    a = await PosixStore.open({ dir: join(tmp.path, 'a'), role: 'mds', volumeId: 'v' });
  });
  afterEach(async () => {
    await a.close();
    await tmp.cleanup();
  });

  it('hashes user.dht2, the sorted caller xattrs and a directory\'s sorted entries, as documented', async () => {
    const c = await fillMds(a);
    const items = await digestAll(a);
    const byGfid = new Map(items.map((i) => [i.gfid, i]));
    assert.equal(byGfid.get(c.file)!.kind, 'file');
    assert.equal(byGfid.get(c.dir)!.kind, 'dir');
    assert.equal(byGfid.get(c.symlink)!.kind, 'symlink');
    assert.equal(byGfid.get(c.remote), undefined, 'a remote name has no handle here');
    // Every handle on disk is in the digest, in GFID order, and nothing else.
    const handles: string[] = [];
    for (const xx of (await readdir(a.dir)).filter((n) => /^[0-9a-f]{2}$/.test(n)))
      for (const yy of await readdir(join(a.dir, xx))) handles.push(...await readdir(join(a.dir, xx, yy)));
    assert.deepEqual(items.map((i) => i.gfid), handles.sort());
    for (const it of items) {
      const p = handlePath(a.dir, it.gfid);
      assert.equal(it.size, undefined);
      assert.equal(it.hash, await expectedMdsHash(p, (await lstat(p)).isDirectory()), `hash of ${it.kind} ${it.gfid}`);
    }
  });

  it('leaves out inode numbers, handle stat times, the name index and tmp/ (§10.6)', async () => {
    const c = await fillMds(a);
    const before = await digestAll(a);
    await a.close();
    const b = await copyReplica(a.dir, join(tmp.path, 'b'), 'mds', 'v');
    try {
      // The copy's handles are other inodes with other times, and its index was rebuilt.
      const pa = handlePath(a.dir, c.file);
      const pb = handlePath(b.dir, c.file);
      assert.notEqual((await lstat(pa)).ino, (await lstat(pb)).ino);
      await utimes(pb, new Date(1000), new Date(2000));
      assert.notDeepEqual(await readFile(join(a.dir, '.dht2', 'names.sqlite')), await readFile(join(b.dir, '.dht2', 'names.sqlite')));
      await writeFile(join(b.dir, '.dht2', 'tmp', 'data.leftover'), 'x');
      assert.deepEqual(await digestAll(b), before);
    } finally {
      await b.close();
    }
    a = await PosixStore.open({ dir: a.dir, role: 'mds', volumeId: 'v' });
    assert.deepEqual(await digestAll(a), before, 'reading the digest changes nothing');
  });

  it('changes with each part of the logical content', async () => {
    const c = await fillMds(a);
    let prev = await digestAll(a);
    /** Runs `change` and returns the GFIDs whose digest changed. */
    const changed = async (change: () => Promise<unknown>) => {
      await change();
      const now = await digestAll(a);
      const was = new Map(prev.map((i) => [i.gfid, i.hash]));
      const out = now.filter((i) => was.has(i.gfid) && was.get(i.gfid) !== i.hash).map((i) => i.gfid);
      prev = now;
      return out;
    };
    const b64 = (s: string) => Buffer.from(s).toString('base64');
    assert.deepEqual(await changed(() => a.call('setxattr', { gfid: c.file, name: 'etag', value: b64('"abd"') })), [c.file]);
    assert.deepEqual(await changed(() => a.call('removexattr', { gfid: c.file, name: 'x-amz-meta-z' })), [c.file]);
    // A directory's entries: namelink and namedel change its mtime too, so the entry itself is
    // changed on disk here, with nothing else.
    const rootH = handlePath(a.dir, ROOT_GFID);
    assert.deepEqual(await changed(async () => execFileSync('ln', ['-s', `${newGfid()}:f`, join(rootH, 'extra')])), [ROOT_GFID]);
    assert.deepEqual(await changed(async () => execFileSync('ln', ['-sfn', `${newGfid()}:f`, join(rootH, 'extra')])), [ROOT_GFID]);
    assert.deepEqual(await changed(async () => execFileSync('rm', [join(rootH, 'extra')])), [ROOT_GFID]);
    assert.deepEqual(await changed(() => a.call('imark', { gfid: c.dir, dying: false })), []);
    assert.deepEqual(await changed(() => a.call('setattr', { gfid: c.symlink, set: { uid: 5 } })), [c.symlink]);
    const n = prev.length;
    assert.deepEqual(await changed(() => a.call('icreate', { gfid: newGfid(), type: 'file' })), [], 'a new handle is a new item');
    assert.equal(prev.length, n + 1);
  });

  it('pages in GFID order: any page size gives the same items, and `after` starts after that GFID', async () => {
    await fillMds(a);
    for (let i = 0; i < 20; i++) await a.call('icreate', { gfid: newGfid(), type: 'file' });
    const all = await digestAll(a, 10000);
    assert.ok(all.length > 30);
    const gfids = all.map((i) => i.gfid);
    assert.deepEqual(gfids, [...gfids].sort());
    for (const limit of [1, 3, 7, all.length - 1, all.length]) assert.deepEqual(await digestAll(a, limit), all, `limit ${limit}`);
    const p = await a.call('digest', { after: all[4]!.gfid, limit: 5 });
    assert.deepEqual(p.items, all.slice(5, 10));
    assert.equal(p.eof, false);
    const last = await a.call('digest', { after: all.at(-2)!.gfid, limit: 5 });
    assert.deepEqual(last, { items: [all.at(-1)!], eof: true });
  });

  it('answers EIO for a corrupt inode or name entry', async () => {
    const c = await fillMds(a);
    await writeFile(join(handlePath(a.dir, c.dir), 'not-an-entry'), 'x');
    await rejectsErrno(digestAll(a), 'EIO');
  });
});

describe('digest FOP: DS', () => {
  let tmp: Awaited<ReturnType<typeof tmpDir>>;
  let a: PosixStore;
  beforeEach(async () => {
    tmp = await tmpDir('digest-ds');
    a = await PosixStore.open({ dir: join(tmp.path, 'a'), role: 'ds', volumeId: 'v' });
  });
  afterEach(async () => {
    await a.close();
    await tmp.cleanup();
  });

  it('gives each data object its size and the CRC32C of its bytes', async () => {
    const gfids = await fillDs(a);
    const items = await digestAll(a, 2);
    assert.deepEqual(items.map((i) => i.gfid), [...gfids].sort());
    for (const it of items) {
      const bytes = await readFile(handlePath(a.dir, it.gfid));
      const crc = new Crc32c().update(bytes).digest().toString(16).padStart(8, '0');
      assert.deepEqual(it, { gfid: it.gfid, kind: 'data', size: bytes.length, hash: crc } satisfies DigestItem);
    }
    // CRC32C("") = 0, and the check value of "123456789" (RFC 3720 §B.4).
    assert.equal(items.find((i) => i.size === 0)!.hash, '00000000');
    const g = newGfid();
    await a.upload('dput', { gfid: g }, Readable.from([Buffer.from('123456789')]));
    assert.equal((await a.call('digest', { after: undefined, limit: 10 })).items.find((i) => i.gfid === g)!.hash, 'e3069283');
  });

  it('ends a page once it has read 128 MiB, so one page stays within the RPC timeout', async () => {
    // GFIDs in buckets 1, 2, 3 come in that order; the first two objects hold 130 MiB.
    const big = 65 * 1024 * 1024;
    const [g1, g2, g3] = [newGfid(1), newGfid(2), newGfid(3)];
    for (const [g, size] of [[g1, big], [g2, big], [g3, 1]] as const) {
      await a.upload('dput', { gfid: g }, Readable.from((function* () {
        for (let left = size; left > 0; left -= 1024 * 1024) yield Buffer.alloc(Math.min(left, 1024 * 1024), 7);
      })()));
    }
    const p1 = await a.call('digest', { limit: 10 });
    assert.deepEqual(p1.items.map((i) => [i.gfid, i.size]), [[g1, big], [g2, big]]);
    assert.equal(p1.eof, false);
    const p2 = await a.call('digest', { after: g2, limit: 10 });
    assert.deepEqual(p2.items.map((i) => [i.gfid, i.size]), [[g3, 1]]);
    assert.equal(p2.eof, true);
  });

  it('sees one byte flipped, but not a data object\'s times', async () => {
    const [, , , big] = await fillDs(a);
    const before = await digestAll(a);
    const p = handlePath(a.dir, big!);
    await utimes(p, new Date(5000), new Date(6000));
    assert.deepEqual(await digestAll(a), before);
    const bytes = await readFile(p);
    bytes[2 * 1024 * 1024] ^= 0x01;
    await writeFile(p, bytes);
    const after = await digestAll(a);
    const i = before.findIndex((x) => x.gfid === big);
    assert.equal(after[i]!.size, before[i]!.size);
    assert.notEqual(after[i]!.hash, before[i]!.hash);
    assert.deepEqual(after.filter((_, j) => j !== i), before.filter((_, j) => j !== i));
  });
});

describe('digest FOP over HTTP/2', function () {
  this.timeout(180_000);
  let tmp: Awaited<ReturnType<typeof tmpDir>>;
  const procs: BrickProcess[] = [];
  const clients: BrickClient[] = [];
  before(async () => { tmp = await tmpDir('digest-h2'); });
  after(async () => {
    for (const c of clients) await c.close();
    for (const p of procs) await p.stop();
    await tmp.cleanup();
  });

  it('a brick answers the same digest as its store in process, for both roles', async () => {
    for (const role of ['mds', 'ds'] as const) {
      const dir = join(tmp.path, role);
      const s = await PosixStore.open({ dir, role, volumeId: 'hv' });
      if (role === 'mds') await fillMds(s); else await fillDs(s);
      const local = await digestAll(s);
      await s.close();
      const p = await spawnBrick({ dir, role, secret: SECRET, volumeId: 'hv' });
      procs.push(p);
      const c = new BrickClient({ url: p.url, secret: SECRET });
      clients.push(c);
      assert.deepEqual(await digestAll(c, 3), local, role);
      await rejectsErrno(c.call('digest', { limit: 10001 }), 'EINVAL');
    }
  });
});
