/**
 * Listing: a directory lives on one MDS, which answers pages sorted by name in byte order,
 * each page one range scan there (O(page)). readdirp fills in the attributes of entries whose
 * inode lives on another MDS (hard links, renamed files, most subdirectories) with one getattr
 * per such entry, in parallel.
 */
import { err, type CallContext, type DirEntry } from '../protocol/index.js';
import type { VolumeCore } from './core.js';

export interface ReaddirOptions {
  /** Start after this name (exclusive): the cursor of the previous page. */
  after?: string;
  /** Page size, 1-10000 (default 1000). */
  limit?: number;
  /** Include each entry's attributes (readdirp). */
  plus?: boolean;
  /** With plus: xattrs to return in each entry's `attrs.xattrs` (object metadata for listings). */
  want?: string[];
}

export interface ReaddirPage {
  entries: DirEntry[];
  /** True when this page ends the directory. */
  eof: boolean;
}

export async function readdirAt(v: VolumeCore, gfid: string, o: ReaddirOptions = {}, ctx?: CallContext): Promise<ReaddirPage> {
  const req = { gfid, after: o.after, limit: o.limit ?? 1000, plus: o.plus, ...(o.plus && o.want ? { want: o.want } : {}) };
  const page = await v.mds(gfid).call('readdir', req, ctx);
  if (o.plus) {
    // Entries whose inode is on another MDS: one getattr each, 32 workers in flight.
    const remote = page.entries.filter((e) => !e.attrs);
    let next = 0;
    await Promise.all(Array.from({ length: Math.min(32, remote.length) }, async () => {
      while (next < remote.length) {
        const e = remote[next++]!;
        e.attrs = await v.getattr(e.gfid, ctx, o.want).catch(() => undefined);
      }
    }));
  }
  return page;
}

export async function readdir(v: VolumeCore, path: string, o: ReaddirOptions = {}, ctx?: CallContext): Promise<ReaddirPage> {
  const d = await v.resolve(path, ctx);
  if (d.type !== 'dir') throw err('ENOTDIR', 'not a directory');
  return readdirAt(v, d.gfid, o, ctx);
}
