/**
 * The xattr-space check (ARCHITECTURE.md §10.6; brick/posix2/xattr-space.ts): with a limit, a
 * FOP that would give an inode xattrs of more encoded bytes is refused with ENOSPC before it
 * changes anything, at the same byte count on any filesystem; without one (the default) the
 * filesystem decides, as before.
 */
import assert from 'node:assert/strict';
import { lstat } from 'node:fs/promises';
import { getAttribute } from '@napi-rs/xattr';
import { newGfid, ROOT_GFID } from '../../dht2-core/protocol/index.js';
import { PosixStore } from '../../brick/posix2/store.js';
import { handlePath } from '../../brick/posix2/handles.js';
import { XATTR_ENTRY_COST } from '../../brick/posix2/xattr-space.js';
import { rejectsErrno } from '../helpers/assert-errno.js';
import { tmpDir } from '../helpers/tmp.js';

const b64 = (n: number, c = 'x'): string => Buffer.from(c.repeat(n)).toString('base64');
/** A file's `user.dht2` is 52 bytes (ON-DISK-FORMAT.md §3.1). */
const FILE_META = 'user.dht2'.length + 52 + XATTR_ENTRY_COST;
/** `user.dht2.x.k`: what a caller xattr `k` costs besides its value. */
const KEY_K = 'user.dht2.x.k'.length + XATTR_ENTRY_COST;

describe('brick store: xattr-space limit', () => {
  let dir: Awaited<ReturnType<typeof tmpDir>>;
  let s: PosixStore;
  const LIMIT = 600;
  afterEach(async () => {
    await s.close();
    await dir.cleanup();
  });
  const open = async (xattrLimit?: number): Promise<void> => {
    dir = await tmpDir('xspace');
    s = await PosixStore.open({ dir: dir.path, role: 'mds', volumeId: 'v', xattrLimit });
  };

  it('create: up to the limit byte for byte, ENOSPC one byte over, and nothing is made', async () => {
    await open(LIMIT);
    const fits = LIMIT - FILE_META - KEY_K;
    const g = newGfid();
    await rejectsErrno(s.call('create', { parent: ROOT_GFID, name: 'over', gfid: g, type: 'file', xattrs: { k: b64(fits + 1) } }), 'ENOSPC');
    await rejectsErrno(s.call('lookup', { parent: ROOT_GFID, name: 'over' }), 'ENOENT');
    await assert.rejects(lstat(handlePath(dir.path, g)), { code: 'ENOENT' });
    const a = await s.call('create', { parent: ROOT_GFID, name: 'fits', gfid: newGfid(), type: 'file', xattrs: { k: b64(fits) } });
    assert.equal((await s.call('getxattr', { gfid: a.gfid, name: 'k' })).value, b64(fits));
    // icreate and a symlink's target count too.
    await rejectsErrno(s.call('icreate', { gfid: newGfid(), type: 'file', xattrs: { k: b64(fits + 1) } }), 'ENOSPC');
    await rejectsErrno(s.call('create', { parent: ROOT_GFID, name: 'l', gfid: newGfid(), type: 'symlink', target: 't'.repeat(LIMIT) }), 'ENOSPC');
  });

  it('setxattr and objset: the inode as it would be is counted; the refused change leaves it as it was', async () => {
    await open(LIMIT);
    const f = await s.call('create', { parent: ROOT_GFID, name: 'f', gfid: newGfid(), type: 'file', xattrs: { k: b64(300) } });
    // Replacing a value counts the new one instead of the old.
    await s.call('setxattr', { gfid: f.gfid, name: 'k', value: b64(LIMIT - FILE_META - KEY_K, 'y') });
    await rejectsErrno(s.call('setxattr', { gfid: f.gfid, name: 'k', value: b64(LIMIT - FILE_META - KEY_K + 1, 'z') }), 'ENOSPC');
    await rejectsErrno(s.call('setxattr', { gfid: f.gfid, name: 'j', value: b64(1) }), 'ENOSPC');
    const v = await getAttribute(handlePath(dir.path, f.gfid), 'user.dht2.x.k');
    assert.equal(v!.toString(), 'y'.repeat(LIMIT - FILE_META - KEY_K));
    // A directory's carried object adds 16 bytes to its user.dht2.
    const d = await s.call('create', { parent: ROOT_GFID, name: 'd', gfid: newGfid(), type: 'dir', xattrs: { k: b64(LIMIT - 68 - 'user.dht2'.length - XATTR_ENTRY_COST - KEY_K - 8) } });
    await rejectsErrno(s.call('objset', { gfid: d.gfid, obj: newGfid(), expect: null }), 'ENOSPC');
    assert.equal((await s.call('getattr', { gfid: d.gfid })).obj, undefined);
  });

  it('off by default: the filesystem decides (a 3000-byte xattr fits on ext4 and tmpfs)', async () => {
    await open();
    const f = await s.call('create', { parent: ROOT_GFID, name: 'f', gfid: newGfid(), type: 'file', xattrs: { k: b64(3000) } });
    await s.call('setxattr', { gfid: f.gfid, name: 'j', value: b64(500) });
    assert.deepEqual((await s.call('listxattr', { gfid: f.gfid })).names, ['j', 'k']);
  });
});
