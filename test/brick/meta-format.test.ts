/**
 * Format 2 inode metadata (brick/posix2/handles.ts): the binary `user.dht2` value, that it fits
 * in the inode (no xattr block: the reason for the format), that a damaged value is EIO, and
 * that a format-1 brick (JSON `user.dht2.inode`) is migrated when it opens.
 */
import assert from 'node:assert/strict';
import { readFile, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { getAttribute, removeAttribute, setAttribute } from '@napi-rs/xattr';
import { newGfid, ROOT_GFID } from '../../dht2-core/protocol/index.js';
import { PosixStore } from '../../brick/posix2/store.js';
import { decodeMeta, encodeMeta, handlePath, newMeta, readMeta, type InodeMeta } from '../../brick/posix2/handles.js';
import { listHandles } from '../../brick/posix2/mds-util.js';
import { rejectsErrno } from '../helpers/assert-errno.js';
import { tmpDir } from '../helpers/tmp.js';

/** A fixed FOP time (ms), as a log entry's `at` (ARCHITECTURE.md §10.6). */
const T0 = 1_700_000_000_000;

describe('brick inode metadata, format 2', () => {
  const g = (): string => newGfid();

  it('round-trips every field of files, directories and symlinks', () => {
    const cases: InodeMeta[] = [
      { ...newMeta({ type: 'file', mode: 0o4755, uid: 4_000_000_000, gid: 12, size: 2 ** 53 - 1 }, T0), nlink: 70_000 },
      newMeta({ type: 'dir', parent: g() }, T0),
      { ...newMeta({ type: 'dir', parent: g(), obj: g() }, T0), dying: true },
      newMeta({ type: 'dir' }, T0),
      newMeta({ type: 'symlink', target: 'ünï/cödé/../target' }, T0),
      { ...newMeta({ type: 'file' }, T0), atimeMs: -86_400_000, mtimeMs: 0, ctimeMs: 4_102_444_800_000, btimeMs: 1 },
    ];
    for (const m of cases) assert.deepEqual(decodeMeta(encodeMeta(m), 'x'), m);
  });

  it('keeps a file in 52 bytes and a directory with its parent in 68 (in-inode on ext4)', () => {
    assert.equal(encodeMeta(newMeta({ type: 'file' }, T0)).length, 52);
    assert.equal(encodeMeta(newMeta({ type: 'dir', parent: g() }, T0)).length, 68);
  });

  it('keeps times to the millisecond', () => {
    const m = { ...newMeta({ type: 'file' }, T0), mtimeMs: 1_700_000_000_123.6 };
    assert.equal(decodeMeta(encodeMeta(m), 'x').mtimeMs, 1_700_000_000_124);
  });

  it('answers EIO for a damaged, truncated or foreign value', () => {
    const b = encodeMeta(newMeta({ type: 'dir', parent: g() }, T0));
    const flipped = Buffer.from(b);
    flipped[30] = flipped[30]! ^ 0x01;
    assert.throws(() => decodeMeta(flipped, 'h'), (e: { errno?: string; message?: string }) => e.errno === 'EIO' && /checksum/.test(e.message ?? ''));
    assert.throws(() => decodeMeta(b.subarray(0, 40), 'h'), { errno: 'EIO' });
    assert.throws(() => decodeMeta(Buffer.from('{"v":1,"type":"file"}'), 'h'), { errno: 'EIO' });
  });

  describe('on a brick', () => {
    let dir: Awaited<ReturnType<typeof tmpDir>>;
    let s: PosixStore | undefined;
    beforeEach(async () => { dir = await tmpDir('meta'); });
    afterEach(async () => {
      await s?.close();
      s = undefined;
      await dir.cleanup();
    });

    it('a file inode takes no block of its own: its metadata is in the inode', async () => {
      s = await PosixStore.open({ dir: dir.path, role: 'mds', volumeId: 'v' });
      const a = await s.call('create', { parent: ROOT_GFID, name: 'f', gfid: newGfid(0), type: 'file' });
      assert.equal((await stat(handlePath(dir.path, a.gfid))).blocks, 0);
    });

    it('a corrupt value reads as EIO through the FOPs', async () => {
      s = await PosixStore.open({ dir: dir.path, role: 'mds', volumeId: 'v' });
      const a = await s.call('create', { parent: ROOT_GFID, name: 'f', gfid: newGfid(0), type: 'file' });
      const h = handlePath(dir.path, a.gfid);
      const b = (await getAttribute(h, 'user.dht2'))!;
      b[20] = b[20]! ^ 0xff;
      await setAttribute(h, 'user.dht2', b);
      await rejectsErrno(s.call('getattr', { gfid: a.gfid }), 'EIO');
    });

    it('migrates a format-1 brick (JSON user.dht2.inode) when it opens, and only once', async () => {
      s = await PosixStore.open({ dir: dir.path, role: 'mds', volumeId: 'v' });
      const d = await s.call('create', { parent: ROOT_GFID, name: 'd', gfid: newGfid(), type: 'dir', mode: 0o750 });
      const f = await s.call('create', { parent: d.gfid, name: 'f', gfid: newGfid(0), type: 'file', size: 5 });
      const l = await s.call('create', { parent: d.gfid, name: 'l', gfid: newGfid(0), type: 'symlink', target: '../x' });
      const before = await Promise.all([ROOT_GFID, d.gfid, f.gfid, l.gfid].map((x) => s!.call('getattr', { gfid: x })));
      await s.close();
      s = undefined;
      // Turn the directory back into format 1, as a previous release left it.
      for (const [, path] of await listHandles(dir.path)) {
        const m = (await readMeta(path))!;
        await setAttribute(path, 'user.dht2.inode', Buffer.from(JSON.stringify({ v: 1, ...m })));
        await removeAttribute(path, 'user.dht2');
      }
      const idPath = join(dir.path, '.dht2', 'identity.json');
      const id = JSON.parse(await readFile(idPath, 'utf8')) as { format: number };
      await writeFile(idPath, JSON.stringify({ ...id, format: 1 }));

      s = await PosixStore.open({ dir: dir.path, role: 'mds', volumeId: 'v' });
      assert.equal(s.migrated, 4);
      assert.equal((JSON.parse(await readFile(idPath, 'utf8')) as { format: number }).format, 2);
      const after = await Promise.all([ROOT_GFID, d.gfid, f.gfid, l.gfid].map((x) => s!.call('getattr', { gfid: x })));
      assert.deepEqual(after, before);
      for (const [, path] of await listHandles(dir.path)) assert.equal(await getAttribute(path, 'user.dht2.inode'), null);
      assert.equal((await s.call('lookup', { parent: d.gfid, name: 'f' })).gfid, f.gfid);
      await s.close();
      s = await PosixStore.open({ dir: dir.path, role: 'mds', volumeId: 'v' });
      assert.equal(s.migrated, 0);
    });
  });
});
