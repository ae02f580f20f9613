/**
 * Listing: a directory lives on one MDS, which answers pages sorted by name in byte order,
 * each page one range scan there (O(page)). readdirp fills in the attributes of entries whose
 * inode lives on another MDS (hard links, renamed files, most subdirectories) with one getattr
 * per such entry, in parallel.
 */
import { err } from '../errors.js';
import type { DirEntry } from '../protocol/fops.js';
import type { CallContext } from '../protocol/layer.js';
import type { VolumeCore } from './core.js';

export interface ReaddirOptions {
  /** Start after this name (exclusive): the cursor of the previous page. */
  after?: string;
  /** Page size, 1-10000 (default 1000). */
  limit?: number;
  /** Include each entry's attributes (readdirp). */
  plus?: boolean;
}

export interface ReaddirPage {
  entries: DirEntry[];
  /** True when this page ends the directory. */
  eof: boolean;
}

export async function readdirAt(v: VolumeCore, gfid: string, o: ReaddirOptions = {}, ctx?: CallContext): Promise<ReaddirPage> {
  const page = await v.mds(gfid).call('readdir', { gfid, after: o.after, limit: o.limit ?? 1000, plus: o.plus }, ctx);
  if (o.plus) {
    await Promise.all(page.entries.map(async (e) => {
      if (!e.attrs) e.attrs = await v.getattr(e.gfid, ctx).catch(() => undefined);
    }));
  }
  return page;
}

export async function readdir(v: VolumeCore, path: string, o: ReaddirOptions = {}, ctx?: CallContext): Promise<ReaddirPage> {
  const d = await v.resolve(path, ctx);
  if (d.type !== 'dir') throw err('ENOTDIR', 'not a directory');
  return readdirAt(v, d.gfid, o, ctx);
}
