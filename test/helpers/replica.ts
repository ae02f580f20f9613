/**
 * Replicas for the digest and comparison tests: a store filled by FOPs, and a second store
 * with the same logical content made by copying the first one's handle tree. Until the store
 * takes its times from `ctx.at` (ARCHITECTURE.md §10.6, slice 1), the same FOPs on two stores
 * stamp different times, so a copy is the only way to two identical replicas.
 */
import { execFileSync } from 'node:child_process';
import { readdir, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { newGfid, ROOT_GFID, type BrickFops, type DigestItem } from '../../dht2-core/protocol/index.js';
import { PosixStore } from '../../brick/posix2/store.js';

/** Every item of a brick's digest, read in pages of `limit`. */
export async function digestAll(b: BrickFops, limit = 1000): Promise<DigestItem[]> {
  const out: DigestItem[] = [];
  let after: string | undefined;
  for (;;) {
    const p = await b.call('digest', { after, limit });
    out.push(...p.items);
    if (p.eof) return out;
    after = p.items.at(-1)!.gfid;
  }
}

/** GFIDs of what `fillMds` made, for the tests to change one of them. */
export interface MdsContent {
  dir: string;
  file: string;
  symlink: string;
  carrier: string;
  carried: string;
  /** A name in the root pointing to an inode of another MDS. */
  remote: string;
}

const b64 = (s: string) => Buffer.from(s).toString('base64');

/** Directories, files with caller xattrs, a hard link, a symlink, a directory carrying an object, a remote name. */
export async function fillMds(s: BrickFops): Promise<MdsContent> {
  const dir = (await s.call('create', { parent: ROOT_GFID, name: 'docs', gfid: newGfid(), type: 'dir' })).gfid;
  const file = (await s.call('create', {
    parent: dir, name: 'résumé 😀.txt', gfid: newGfid(), type: 'file', size: 42,
    xattrs: { 'content-type': b64('text/plain'), etag: b64('"abc"'), 'x-amz-meta-z': b64('zz') },
  })).gfid;
  await s.call('link', { gfid: file, parent: ROOT_GFID, name: 'hard' });
  for (let i = 0; i < 5; i++) await s.call('create', { parent: dir, name: `n${i}`, gfid: newGfid(), type: 'file' });
  const symlink = (await s.call('create', { parent: ROOT_GFID, name: 'ln', gfid: newGfid(), type: 'symlink', target: 'docs/n1' })).gfid;
  const carrier = (await s.call('create', { parent: ROOT_GFID, name: 'a', gfid: newGfid(), type: 'dir' })).gfid;
  const carried = (await s.call('icreate', { gfid: newGfid(), type: 'file', size: 3 })).gfid;
  await s.call('objset', { gfid: carrier, obj: carried, expect: null });
  await s.call('create', { parent: carrier, name: 'b', gfid: newGfid(), type: 'file' });
  const remote = newGfid();
  await s.call('namelink', { parent: ROOT_GFID, name: 'remote', gfid: remote, type: 'file' });
  await s.call('setxattr', { gfid: dir, name: 'dir-note', value: b64('on a directory') });
  return { dir, file, symlink, carrier, carried, remote };
}

/** Data objects of several sizes (empty, small, over one 1 MiB read). */
export async function fillDs(s: BrickFops): Promise<string[]> {
  const gfids: string[] = [];
  for (const size of [0, 1, 1000, 3 * 1024 * 1024 + 7]) {
    const g = newGfid();
    const body = Buffer.alloc(size);
    for (let i = 0; i < size; i++) body[i] = (i * 131 + size) & 0xff;
    await s.upload('dput', { gfid: g }, Readable.from([body]));
    gfids.push(g);
  }
  await s.call('dcreate', { gfid: newGfid() }).then((r) => gfids.push(r.gfid));
  return gfids;
}

/**
 * A second replica of a closed store: its handle folders copied with their xattrs but not their
 * times (so the handles' own stat times and inode numbers differ), into a freshly formatted
 * store whose name index is rebuilt from the copied entries (so the SQLite file differs too).
 */
export async function copyReplica(from: string, to: string, role: 'mds' | 'ds', volumeId: string): Promise<PosixStore> {
  const fresh = await PosixStore.open({ dir: to, role, volumeId });
  await fresh.close();
  const hex2 = /^[0-9a-f]{2}$/;
  const tops = (await readdir(from)).filter((n) => hex2.test(n)).map((n) => join(from, n));
  // --preserve=xattr fails loudly when an xattr cannot be copied (-a would stay silent).
  if (tops.length) execFileSync('cp', ['-dR', '--preserve=mode,xattr', ...tops, to]);
  for (const f of ['names.sqlite', 'names.sqlite-wal', 'names.sqlite-shm']) await rm(join(to, '.dht2', f), { force: true });
  return PosixStore.open({ dir: to, role, volumeId });
}
