/**
 * The logical content of a brick directory (ARCHITECTURE.md §10.6), read straight from disk for
 * comparing two stores: every handle with its type, its `user.*` xattrs (`user.dht2` byte for
 * byte, times included), its name entries (directories) and a hash of its data (files), and for
 * data objects their mtime. Not read: inode numbers, the handles' other stat times, the name
 * index, tmp/. (Slice 2 of §10.15 adds a `digest` FOP; this is the tests' own reading of it.)
 */
import { createHash } from 'node:crypto';
import { lstat, readdir, readFile, readlink } from 'node:fs/promises';
import { join } from 'node:path';
import { getAttribute, listAttributes } from '@napi-rs/xattr';
import { listHandles } from '../../brick/posix2/mds-util.js';

export interface HandleView {
  kind: 'dir' | 'file' | 'other';
  xattrs: Record<string, string>;
  entries?: Record<string, string>;
  sha256?: string;
  mtimeMs?: number;
}

export async function storeTree(dir: string, opts: { dataTimes?: boolean } = {}): Promise<Record<string, HandleView>> {
  const out: Record<string, HandleView> = {};
  for (const [gfid, path] of (await listHandles(dir)).sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0))) {
    const st = await lstat(path);
    const xattrs: Record<string, string> = {};
    for (const n of (await listAttributes(path)).filter((x) => x.startsWith('user.')).sort()) {
      xattrs[n] = (await getAttribute(path, n))!.toString('base64');
    }
    const v: HandleView = { kind: st.isDirectory() ? 'dir' : st.isFile() ? 'file' : 'other', xattrs };
    if (st.isDirectory()) {
      v.entries = {};
      for (const n of (await readdir(path)).sort()) v.entries[n] = await readlink(join(path, n));
    } else if (st.isFile()) {
      v.sha256 = createHash('sha256').update(await readFile(path)).digest('hex');
      if (opts.dataTimes) v.mtimeMs = Math.round(st.mtimeMs);
    }
    out[gfid] = v;
  }
  return out;
}
