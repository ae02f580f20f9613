/**
 * The POSIX2 store over temporary directories, in process: every FOP of both roles, the
 * on-disk shape it leaves, and the errors of POSIX.
 */
import assert from 'node:assert/strict';
import { lstat, readlink, readdir, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { getAttribute } from '@napi-rs/xattr';
import { newGfid, ROOT_GFID } from '../../dht2-core/protocol/index.js';
import { PosixStore } from '../../brick/posix2/store.js';
import { decodeMeta, handlePath } from '../../brick/posix2/handles.js';
import { rejectsErrno, text } from '../helpers/assert-errno.js';
import { tmpDir } from '../helpers/tmp.js';

describe('brick store: MDS', () => {
  let dir: Awaited<ReturnType<typeof tmpDir>>;
  let s: PosixStore;
  beforeEach(async () => {
    dir = await tmpDir('mds');
    s = await PosixStore.open({ dir: dir.path, role: 'mds', volumeId: 'vol1' });
  });
  afterEach(async () => {
    await s.close();
    await dir.cleanup();
  });

  const file = (name: string, parent = ROOT_GFID, extra: object = {}) =>
    s.call('create', { parent, name, gfid: newGfid(0), type: 'file', ...extra });
  const mkdir = (name: string, parent = ROOT_GFID) => s.call('create', { parent, name, gfid: newGfid(), type: 'dir' });

  it('creates the root on first use at the reserved handle', async () => {
    const a = await s.call('getattr', { gfid: ROOT_GFID });
    assert.equal(a.type, 'dir');
    assert.ok((await stat(join(dir.path, '00', '00', ROOT_GFID))).isDirectory());
  });

  it('create puts the inode at its handle and the name as a symlink entry', async () => {
    const a = await file('hello.txt', ROOT_GFID, { mode: 0o640, uid: 7, gid: 8 });
    assert.equal(a.type, 'file');
    assert.equal(a.mode, 0o640);
    assert.equal(a.uid, 7);
    assert.equal(a.nlink, 1);
    const h = handlePath(dir.path, a.gfid);
    assert.equal(h, join(dir.path, a.gfid.slice(0, 2), a.gfid.slice(2, 4), a.gfid));
    assert.ok((await lstat(h)).isFile());
    const meta = decodeMeta((await getAttribute(h, 'user.dht2'))!, h);
    assert.equal(meta.type, 'file');
    assert.equal(await readlink(join(handlePath(dir.path, ROOT_GFID), 'hello.txt')), `${a.gfid}:f`);
    const l = await s.call('lookup', { parent: ROOT_GFID, name: 'hello.txt' });
    assert.deepEqual(l, a);
  });

  it('create with ifGfid replaces only the inode the name still points to (If-Match, decided under the name\'s lock)', async () => {
    const a = await file('if.txt');
    const b = newGfid(0);
    const r = await s.call('create', { parent: ROOT_GFID, name: 'if.txt', gfid: b, type: 'file', replace: true, ifGfid: a.gfid });
    assert.equal(r.replaced?.gfid, a.gfid);
    // The old GFID no longer matches: ESTALE, nothing changed.
    await rejectsErrno(s.call('create', { parent: ROOT_GFID, name: 'if.txt', gfid: newGfid(0), type: 'file', replace: true, ifGfid: a.gfid }), 'ESTALE');
    assert.equal((await s.call('lookup', { parent: ROOT_GFID, name: 'if.txt' })).gfid, b);
    // A name that is gone is no match either.
    await rejectsErrno(s.call('create', { parent: ROOT_GFID, name: 'gone.txt', gfid: newGfid(0), type: 'file', replace: true, ifGfid: a.gfid }), 'ESTALE');
    // Two writers with the same ETag at once: exactly one wins.
    const both = await Promise.allSettled([newGfid(0), newGfid(0)].map((g) =>
      s.call('create', { parent: ROOT_GFID, name: 'if.txt', gfid: g, type: 'file', replace: true, ifGfid: b })));
    assert.deepEqual(both.map((x) => x.status).sort(), ['fulfilled', 'rejected']);
    const lost = both.find((x): x is PromiseRejectedResult => x.status === 'rejected')!;
    assert.equal((lost.reason as { errno: string }).errno, 'ESTALE');
  });

  it('create of an existing name is EEXIST and leaves no orphan', async () => {
    await file('a');
    const g = newGfid(0);
    await rejectsErrno(s.call('create', { parent: ROOT_GFID, name: 'a', gfid: g, type: 'file' }), 'EEXIST');
    await rejectsErrno(s.call('getattr', { gfid: g }), 'ENOENT');
  });

  it('lookup: ENOENT, ENOTDIR, and EREMOTE with the GFID for an inode elsewhere', async () => {
    await rejectsErrno(s.call('lookup', { parent: ROOT_GFID, name: 'nope' }), 'ENOENT');
    const f = await file('f');
    await rejectsErrno(s.call('lookup', { parent: f.gfid, name: 'x' }), 'ENOTDIR');
    const remote = newGfid();
    await s.call('namelink', { parent: ROOT_GFID, name: 'remote', gfid: remote, type: 'file' });
    const e = await rejectsErrno(s.call('lookup', { parent: ROOT_GFID, name: 'remote' }), 'EREMOTE');
    assert.equal(e.gfid, remote);
    await rejectsErrno(s.call('lookup', { parent: newGfid(), name: 'x' }), 'ENOENT');
  });

  it('mkdir as icreate then namelink; entries inside; rmdir refuses a non-empty directory', async () => {
    const g = newGfid();
    const d = await s.call('icreate', { gfid: g, type: 'dir', mode: 0o700 });
    assert.equal(d.type, 'dir');
    await rejectsErrno(s.call('icreate', { gfid: g, type: 'dir' }), 'EEXIST');
    await s.call('namelink', { parent: ROOT_GFID, name: 'd', gfid: g, type: 'dir' });
    await rejectsErrno(s.call('namelink', { parent: ROOT_GFID, name: 'd', gfid: g, type: 'dir' }), 'EEXIST');
    await file('inner', g);
    await rejectsErrno(s.call('rmdir', { parent: ROOT_GFID, name: 'd' }), 'ENOTEMPTY');
    await rejectsErrno(s.call('unlink', { parent: ROOT_GFID, name: 'd' }), 'EISDIR');
    await s.call('unlink', { parent: g, name: 'inner' });
    const fate = await s.call('rmdir', { parent: ROOT_GFID, name: 'd' });
    assert.deepEqual(fate, { gfid: g, type: 'dir', inode: 'deleted' });
    await rejectsErrno(s.call('getattr', { gfid: g }), 'ENOENT');
    await rejectsErrno(s.call('lookup', { parent: ROOT_GFID, name: 'd' }), 'ENOENT');
  });

  it('rmdir of a file is ENOTDIR; rmdir of a directory whose inode is elsewhere is EREMOTE', async () => {
    await file('f');
    await rejectsErrno(s.call('rmdir', { parent: ROOT_GFID, name: 'f' }), 'ENOTDIR');
    const g = newGfid();
    await s.call('namelink', { parent: ROOT_GFID, name: 'rd', gfid: g, type: 'dir' });
    assert.equal((await rejectsErrno(s.call('rmdir', { parent: ROOT_GFID, name: 'rd' }), 'EREMOTE')).gfid, g);
  });

  it('unlink removes name then inode, and reports the fate', async () => {
    const a = await file('x');
    const fate = await s.call('unlink', { parent: ROOT_GFID, name: 'x' });
    assert.deepEqual(fate, { gfid: a.gfid, type: 'file', inode: 'deleted' });
    await assert.rejects(lstat(handlePath(dir.path, a.gfid)), { code: 'ENOENT' });
    await rejectsErrno(s.call('getattr', { gfid: a.gfid }), 'ENOENT');
    await rejectsErrno(s.call('unlink', { parent: ROOT_GFID, name: 'x' }), 'ENOENT');
  });

  it('link bumps nlink; unlinking one name keeps the inode', async () => {
    const a = await file('one');
    const l = await s.call('link', { gfid: a.gfid, parent: ROOT_GFID, name: 'two' });
    assert.equal(l.nlink, 2);
    await rejectsErrno(s.call('link', { gfid: a.gfid, parent: ROOT_GFID, name: 'two' }), 'EEXIST');
    assert.deepEqual(await s.call('unlink', { parent: ROOT_GFID, name: 'one' }), { gfid: a.gfid, type: 'file', inode: 'linked' });
    assert.equal((await s.call('lookup', { parent: ROOT_GFID, name: 'two' })).nlink, 1);
    const d = await mkdir('dir');
    await rejectsErrno(s.call('link', { gfid: d.gfid, parent: ROOT_GFID, name: 'dirlink' }), 'EPERM');
    await rejectsErrno(s.call('link', { gfid: newGfid(), parent: ROOT_GFID, name: 'r' }), 'EREMOTE');
  });

  it('ilink and iunlink are the halves of a cross-MDS link and unlink', async () => {
    const a = await file('f');
    assert.equal((await s.call('ilink', { gfid: a.gfid })).nlink, 2);
    assert.equal((await s.call('iunlink', { gfid: a.gfid })).inode, 'linked');
    assert.equal((await s.call('iunlink', { gfid: a.gfid })).inode, 'deleted');
    await rejectsErrno(s.call('iunlink', { gfid: a.gfid }), 'ENOENT');
  });

  it('rename within and across directories, onto existing targets, with POSIX rules', async () => {
    const a = await file('a');
    const b = await file('b');
    const d = await mkdir('d');
    const e = await mkdir('e');
    // same directory, no target
    assert.deepEqual(await s.call('rename', { parent: ROOT_GFID, name: 'a', newParent: ROOT_GFID, newName: 'a2' }), { gfid: a.gfid, type: 'file' });
    // onto an existing file: the old target's inode is dropped
    const r = await s.call('rename', { parent: ROOT_GFID, name: 'a2', newParent: ROOT_GFID, newName: 'b' });
    assert.deepEqual(r.replaced, { gfid: b.gfid, type: 'file', inode: 'deleted' });
    assert.equal((await s.call('lookup', { parent: ROOT_GFID, name: 'b' })).gfid, a.gfid);
    // across directories
    await s.call('rename', { parent: ROOT_GFID, name: 'b', newParent: d.gfid, newName: 'moved' });
    assert.equal((await s.call('lookup', { parent: d.gfid, name: 'moved' })).gfid, a.gfid);
    await rejectsErrno(s.call('lookup', { parent: ROOT_GFID, name: 'b' }), 'ENOENT');
    // file onto directory, directory onto file, directory onto non-empty directory
    await rejectsErrno(s.call('rename', { parent: d.gfid, name: 'moved', newParent: ROOT_GFID, newName: 'e' }), 'EISDIR');
    await file('f');
    await rejectsErrno(s.call('rename', { parent: ROOT_GFID, name: 'e', newParent: ROOT_GFID, newName: 'f' }), 'ENOTDIR');
    await rejectsErrno(s.call('rename', { parent: ROOT_GFID, name: 'e', newParent: ROOT_GFID, newName: 'd' }), 'ENOTEMPTY');
    await rejectsErrno(s.call('rename', { parent: ROOT_GFID, name: 'e', newParent: e.gfid, newName: 'x' }), 'EINVAL');
    // directory onto empty directory replaces it
    const r2 = await s.call('rename', { parent: ROOT_GFID, name: 'd', newParent: ROOT_GFID, newName: 'e' });
    assert.deepEqual(r2.replaced, { gfid: e.gfid, type: 'dir', inode: 'deleted' });
    // noReplace
    await rejectsErrno(s.call('rename', { parent: ROOT_GFID, name: 'f', newParent: ROOT_GFID, newName: 'e', noReplace: true }), 'EEXIST');
    await rejectsErrno(s.call('rename', { parent: ROOT_GFID, name: 'missing', newParent: ROOT_GFID, newName: 'z' }), 'ENOENT');
    const names = (await s.call('readdir', { gfid: ROOT_GFID, limit: 100 })).entries.map((x) => x.name);
    assert.deepEqual(names, ['e', 'f']);
  });

  it('rename onto another name of the same inode does nothing (POSIX)', async () => {
    const a = await file('a');
    await s.call('link', { gfid: a.gfid, parent: ROOT_GFID, name: 'b' });
    const r = await s.call('rename', { parent: ROOT_GFID, name: 'a', newParent: ROOT_GFID, newName: 'b' });
    assert.equal(r.replaced, undefined);
    assert.equal((await s.call('lookup', { parent: ROOT_GFID, name: 'a' })).nlink, 2);
  });

  it('namelink with replace and namedel are the halves of a cross-MDS rename', async () => {
    const a = await file('a');
    const b = await file('b');
    const r = await s.call('namelink', { parent: ROOT_GFID, name: 'b', gfid: a.gfid, type: 'file', replace: true });
    assert.deepEqual(r.replaced, { gfid: b.gfid, type: 'file', inode: 'deleted' });
    await rejectsErrno(s.call('namedel', { parent: ROOT_GFID, name: 'a', gfid: b.gfid }), 'ESTALE');
    assert.deepEqual(await s.call('namedel', { parent: ROOT_GFID, name: 'a', gfid: a.gfid }), { gfid: a.gfid, type: 'file' });
    assert.equal((await s.call('lookup', { parent: ROOT_GFID, name: 'b' })).gfid, a.gfid);
  });

  it('symlink inodes carry their target; readlink of a non-symlink is EINVAL', async () => {
    const l = await s.call('create', { parent: ROOT_GFID, name: 'ln', gfid: newGfid(0), type: 'symlink', target: '../x/y' });
    assert.equal(l.target, '../x/y');
    assert.equal(l.size, 6);
    assert.deepEqual(await s.call('readlink', { gfid: l.gfid }), { target: '../x/y' });
    const f = await file('f');
    await rejectsErrno(s.call('readlink', { gfid: f.gfid }), 'EINVAL');
    await rejectsErrno(s.call('create', { parent: ROOT_GFID, name: 'nt', gfid: newGfid(0), type: 'symlink' }), 'EINVAL');
  });

  it('setattr changes mode, owner, times and the cached size', async () => {
    const f = await file('f');
    const a = await s.call('setattr', { gfid: f.gfid, set: { mode: 0o600, uid: 1000, gid: 100, size: 42, mtimeMs: 1000, atimeMs: 2000 } });
    assert.equal(a.mode, 0o600);
    assert.equal(a.uid, 1000);
    assert.equal(a.gid, 100);
    assert.equal(a.size, 42);
    assert.equal(a.mtimeMs, 1000);
    assert.equal(a.atimeMs, 2000);
    assert.ok(a.ctimeMs >= f.ctimeMs);
    assert.deepEqual(await s.call('getattr', { gfid: f.gfid }), a);
    await rejectsErrno(s.call('setattr', { gfid: newGfid(), set: { mode: 0 } }), 'ENOENT');
  });

  it('xattrs: set with create/replace flags, get, list, remove; inode xattrs set at create', async () => {
    const v = (x: string) => Buffer.from(x).toString('base64');
    const f = await file('f', ROOT_GFID, { xattrs: { 'content-type': v('text/plain') } });
    assert.deepEqual(await s.call('getxattr', { gfid: f.gfid, name: 'content-type' }), { value: v('text/plain') });
    await s.call('setxattr', { gfid: f.gfid, name: 'user.a', value: v('1') });
    await rejectsErrno(s.call('setxattr', { gfid: f.gfid, name: 'user.a', value: v('2'), flag: 'create' }), 'EEXIST');
    await rejectsErrno(s.call('setxattr', { gfid: f.gfid, name: 'user.b', value: v('2'), flag: 'replace' }), 'ENODATA');
    await s.call('setxattr', { gfid: f.gfid, name: 'user.a', value: v('3'), flag: 'replace' });
    assert.deepEqual(await s.call('listxattr', { gfid: f.gfid }), { names: ['content-type', 'user.a'] });
    await s.call('removexattr', { gfid: f.gfid, name: 'user.a' });
    await rejectsErrno(s.call('getxattr', { gfid: f.gfid, name: 'user.a' }), 'ENODATA');
    await rejectsErrno(s.call('removexattr', { gfid: f.gfid, name: 'user.a' }), 'ENODATA');
    // The brick's own metadata is not reachable through the caller's namespace.
    assert.ok(!(await s.call('listxattr', { gfid: f.gfid })).names.some((n) => n.includes('inode')));
  });

  it('readdir is sorted in UTF-8 byte order and paged by (after, limit); readdirp adds attributes', async () => {
    const names = ['b', 'a-b', 'a', 'Z', 'é', 'a/x'.replace('/', '_'), '~', '日本', 'ab', '😀', 'a b'];
    for (const n of names) await file(n);
    const want = [...names].sort((x, y) => Buffer.compare(Buffer.from(x), Buffer.from(y)));
    const got: string[] = [];
    let after: string | undefined;
    for (;;) {
      const page = await s.call('readdir', { gfid: ROOT_GFID, after, limit: 3 });
      got.push(...page.entries.map((e) => e.name));
      assert.ok(page.entries.length <= 3);
      if (page.eof) break;
      after = page.entries.at(-1)!.name;
    }
    assert.deepEqual(got, want);
    const plus = await s.call('readdir', { gfid: ROOT_GFID, limit: 2, plus: true });
    assert.equal(plus.entries[0]!.attrs!.type, 'file');
    assert.equal(plus.eof, false);
    const f = await s.call('lookup', { parent: ROOT_GFID, name: 'a' });
    await rejectsErrno(s.call('readdir', { gfid: f.gfid, limit: 10 }), 'ENOTDIR');
  });

  it('readdir skips and removes index rows whose entry is gone (crash between index and entry)', async () => {
    await file('real');
    // What a crash between "row inserted" and "symlink created" leaves: a row with no entry.
    (s as unknown as { index: { add(p: string, n: string): void; count(): number } }).index.add(ROOT_GFID, 'ghost');
    const page = await s.call('readdir', { gfid: ROOT_GFID, limit: 10 });
    assert.deepEqual(page.entries.map((e) => e.name), ['real']);
    await new Promise((r) => setTimeout(r, 50));
    assert.equal((s as unknown as { index: { count(): number } }).index.count(), 1);
  });

  it('rebuilds a lost name index from the entries on disk', async () => {
    await file('x');
    await mkdir('y');
    await s.close();
    const { rm } = await import('node:fs/promises');
    await rm(join(dir.path, '.dht2', 'names.sqlite'));
    s = await PosixStore.open({ dir: dir.path, role: 'mds', volumeId: 'vol1' });
    assert.deepEqual((await s.call('readdir', { gfid: ROOT_GFID, limit: 10 })).entries.map((e) => e.name), ['x', 'y']);
  });

  it('concurrent entry operations that lock a directory and an inode never deadlock', async function () {
    this.timeout(20_000);
    // rmdir(P, D) takes P then D; a rename between D and P takes both: with D's GFID sorting
    // before P's, taking them one after the other deadlocked. Likewise unlink against link.
    for (let i = 0; i < 40; i++) {
      const d = await mkdir(`d${i}`);
      await file(`f${i}`, d.gfid);
      const a = await file(`a${i}`);
      await Promise.allSettled([
        s.call('rmdir', { parent: ROOT_GFID, name: `d${i}` }),
        s.call('rename', { parent: d.gfid, name: `f${i}`, newParent: ROOT_GFID, newName: `g${i}` }),
        s.call('unlink', { parent: ROOT_GFID, name: `a${i}` }),
        s.call('link', { gfid: a.gfid, parent: ROOT_GFID, name: `b${i}` }),
      ]);
    }
    const names = (await s.call('readdir', { gfid: ROOT_GFID, limit: 1000 })).entries.map((e) => e.name);
    assert.ok(names.length > 0);
  });

  it('objset: a directory carries one object, conditionally, idempotent on retry; it keeps the directory from rmdir', async () => {
    const d = await mkdir('dir');
    const f1 = newGfid(0);
    const f2 = newGfid(0);
    let r = await s.call('objset', { gfid: d.gfid, obj: f1, expect: null });
    assert.equal(r.attrs.obj, f1);
    assert.equal(r.prev, undefined);
    assert.equal((await s.call('getattr', { gfid: d.gfid })).obj, f1);
    await rejectsErrno(s.call('objset', { gfid: d.gfid, obj: f2, expect: null }), 'EEXIST');
    await rejectsErrno(s.call('objset', { gfid: d.gfid, obj: f2, expect: f2 }), 'ESTALE');
    r = await s.call('objset', { gfid: d.gfid, obj: f2, expect: f1 });
    assert.equal(r.prev, f1);
    // A retried request finds its change done and names no previous object to finish.
    r = await s.call('objset', { gfid: d.gfid, obj: f2, expect: f1 });
    assert.equal(r.prev, undefined);
    await rejectsErrno(s.call('rmdir', { parent: ROOT_GFID, name: 'dir' }), 'ENOTEMPTY');
    await rejectsErrno(s.call('iunlink', { gfid: d.gfid }), 'ENOTEMPTY');
    r = await s.call('objset', { gfid: d.gfid, obj: null });
    assert.equal(r.prev, f2);
    assert.equal(r.attrs.obj, undefined);
    const f = await file('plain');
    await rejectsErrno(s.call('objset', { gfid: f.gfid, obj: f1 }), 'ENOTDIR');
    await rejectsErrno(s.call('icreate', { gfid: newGfid(0), type: 'file', obj: f1 }), 'EINVAL');
    await s.call('rmdir', { parent: ROOT_GFID, name: 'dir' });
  });

  it('nameswap repoints a name from one inode to another without touching either', async () => {
    const f = await file('a');
    const d = await s.call('icreate', { gfid: newGfid(), type: 'dir', parent: ROOT_GFID, obj: f.gfid });
    await rejectsErrno(s.call('nameswap', { parent: ROOT_GFID, name: 'a', from: newGfid(0), to: d.gfid, type: 'dir' }), 'ESTALE');
    await s.call('nameswap', { parent: ROOT_GFID, name: 'a', from: f.gfid, to: d.gfid, type: 'dir' });
    await s.call('nameswap', { parent: ROOT_GFID, name: 'a', from: f.gfid, to: d.gfid, type: 'dir' }); // a retry
    assert.equal(await readlink(join(handlePath(dir.path, ROOT_GFID), 'a')), `${d.gfid}:d`);
    const fa = await s.call('getattr', { gfid: f.gfid });
    assert.equal(fa.nlink, 1, 'the file is carried now, its link count unchanged');
    assert.equal((await s.call('lookup', { parent: ROOT_GFID, name: 'a' })).obj, f.gfid);
    await rejectsErrno(s.call('nameswap', { parent: ROOT_GFID, name: 'nope', from: f.gfid, to: d.gfid, type: 'dir' }), 'ENOENT');
  });

  it('refuses DS operations and answers statfs', async () => {
    await rejectsErrno(s.call('dstat', { gfid: newGfid() }), 'ENOTSUP');
    const st = await s.call('statfs', {});
    assert.ok(st.blocks > 0 && st.bsize > 0);
  });

  it('creates in a directory of this brick only: parent missing is ENOENT, parent a file is ENOTDIR', async () => {
    await rejectsErrno(file('x', newGfid()), 'ENOENT');
    const f = await file('f');
    await rejectsErrno(file('x', f.gfid), 'ENOTDIR');
  });
});

describe('brick store: DS', () => {
  let dir: Awaited<ReturnType<typeof tmpDir>>;
  let s: PosixStore;
  beforeEach(async () => {
    dir = await tmpDir('ds');
    s = await PosixStore.open({ dir: dir.path, role: 'ds', volumeId: 'vol1' });
  });
  afterEach(async () => {
    await s.close();
    await dir.cleanup();
  });
  const put = (gfid: string, data: string) => s.upload('dput', { gfid }, Readable.from([Buffer.from(data)]));
  const read = async (gfid: string, offset?: number, length?: number) => text((await s.download('dread', { gfid, offset, length })).body);

  // The limit is counted by the writer itself (fsutil.ts handleWriter), over bodies of many chunks.
  it('refuses a dput or dwrite body past the object size limit with EFBIG: nothing lands, no temp file', async () => {
    const small = await PosixStore.open({ dir: join(dir.path, 'small'), role: 'ds', volumeId: 'vol1', maxObjectSize: 100_000 });
    try {
      const chunks = (n: number, size: number): Readable => Readable.from(Array.from({ length: n }, (_, i) => Buffer.alloc(size, 65 + (i % 26))));
      const g = newGfid();
      assert.equal((await small.upload('dput', { gfid: g }, chunks(10, 10_000))).size, 100_000, 'exactly the limit is fine');
      await rejectsErrno(small.upload('dput', { gfid: g }, chunks(40, 2_501)), 'EFBIG');
      await rejectsErrno(small.upload('dput', { gfid: newGfid(), fresh: true }, chunks(1, 100_001)), 'EFBIG');
      await rejectsErrno(small.upload('dwrite', { gfid: g, offset: 99_000 }, chunks(3, 500)), 'EFBIG');
      assert.equal((await small.call('dstat', { gfid: g })).size, 100_000);
      assert.equal((await text((await small.download('dread', { gfid: g, offset: 99_990 })).body)), 'J'.repeat(10));
      assert.deepEqual(await readdir(join(dir.path, 'small', '.dht2', 'tmp')), []);
    } finally {
      await small.close();
    }
  });

  it('dcreate, dput, dread with offset and length, dstat', async () => {
    const g = newGfid();
    assert.equal((await s.call('dcreate', { gfid: g })).size, 0);
    await rejectsErrno(s.call('dcreate', { gfid: g }), 'EEXIST');
    assert.equal((await put(g, 'hello world')).size, 11);
    assert.equal(await read(g), 'hello world');
    assert.equal(await read(g, 6), 'world');
    assert.equal(await read(g, 2, 3), 'llo');
    assert.equal(await read(g, 100), '');
    assert.equal((await s.call('dstat', { gfid: g })).size, 11);
    assert.ok((await stat(handlePath(dir.path, g))).isFile());
    await rejectsErrno(s.download('dread', { gfid: newGfid() }), 'ENOENT');
  });

  it('dwrite writes in place at an offset, creating on request', async () => {
    const g = newGfid();
    await rejectsErrno(s.upload('dwrite', { gfid: g, offset: 0 }, Readable.from([Buffer.from('x')])), 'ENOENT');
    await s.upload('dwrite', { gfid: g, offset: 0, create: true }, Readable.from([Buffer.from('aaaaaa')]));
    const st = await s.upload('dwrite', { gfid: g, offset: 2, create: false }, Readable.from([Buffer.from('BB')]));
    assert.equal(st.size, 6);
    assert.equal(await read(g), 'aaBBaa');
    await s.upload('dwrite', { gfid: g, offset: 8 }, Readable.from([Buffer.from('z')]));
    assert.equal(await read(g), 'aaBBaa\0\0z');
  });

  it('dtruncate, dfsync, dunlink', async () => {
    const g = newGfid();
    await put(g, 'abcdef');
    assert.equal((await s.call('dtruncate', { gfid: g, size: 3 })).size, 3);
    assert.equal(await read(g), 'abc');
    assert.equal((await s.call('dtruncate', { gfid: g, size: 5 })).size, 5);
    assert.deepEqual(await s.call('dfsync', { gfid: g }), {});
    assert.deepEqual(await s.call('dunlink', { gfid: g }), {});
    await rejectsErrno(s.call('dstat', { gfid: g }), 'ENOENT');
    await rejectsErrno(s.call('dunlink', { gfid: g }), 'ENOENT');
  });

  it('dconcat builds one object from parts on the brick and can remove the parts', async () => {
    const parts = [newGfid(), newGfid(), newGfid()];
    await put(parts[0]!, 'one-');
    await put(parts[1]!, 'two-');
    await put(parts[2]!, 'three');
    const g = newGfid();
    assert.equal((await s.call('dconcat', { gfid: g, parts, removeParts: true })).size, 13);
    assert.equal(await read(g), 'one-two-three');
    await rejectsErrno(s.call('dstat', { gfid: parts[0]! }), 'ENOENT');
    await rejectsErrno(s.call('dconcat', { gfid: newGfid(), parts: [newGfid()] }), 'ENOENT');
    await rejectsErrno(s.call('dconcat', { gfid: g, parts: [g] }), 'EINVAL');
  });

  it('dcopy copies whole objects and ranges', async () => {
    const a = newGfid();
    await put(a, '0123456789');
    const b = newGfid();
    await s.call('dcopy', { src: a, gfid: b });
    assert.equal(await read(b), '0123456789');
    const c = newGfid();
    assert.equal((await s.call('dcopy', { src: a, gfid: c, offset: 3, length: 4 })).size, 4);
    assert.equal(await read(c), '3456');
    await rejectsErrno(s.call('dcopy', { src: newGfid(), gfid: newGfid() }), 'ENOENT');
  });

  it('a dput whose body fails leaves the old object and no temp file', async () => {
    const g = newGfid();
    await put(g, 'old content');
    const failing = new Readable({
      read() {
        this.push(Buffer.alloc(1024, 1));
        this.destroy(new Error('client went away'));
      },
    });
    await assert.rejects(s.upload('dput', { gfid: g }, failing));
    assert.equal(await read(g), 'old content');
    assert.deepEqual(await readdir(join(dir.path, '.dht2', 'tmp')), []);
  });

  it('refuses MDS operations', async () => {
    await rejectsErrno(s.call('lookup', { parent: ROOT_GFID, name: 'x' }), 'ENOTSUP');
  });
});
