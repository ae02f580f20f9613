/**
 * The xattr-space check (ARCHITECTURE.md §10.6, last paragraph): a fixed limit on the encoded
 * size of all of an inode's xattrs (`user.dht2` and every `user.dht2.x.*`), checked before a
 * FOP writes, so that every member of a replicated set refuses the same FOPs whatever its
 * filesystem. Without it (a set of one, the default) the filesystem answers for itself: ext4
 * without `ea_inode` refuses with ENOSPC at about 4 KiB (ON-DISK-FORMAT.md §3.1).
 */
import { listAttributes } from '@napi-rs/xattr';
import { err } from '../../dht2-core/protocol/index.js';
import { getAttribute } from './meta-fs.js';
import { xattrOp } from './mds-util.js';

/**
 * What one xattr costs besides its name and value: ext4's 16-byte entry header plus the
 * rounding of its name and value to 4 bytes each (at most 3 + 3), rounded up.
 */
export const XATTR_ENTRY_COST = 24;

/**
 * A limit that fits ext4's one 4 KiB xattr block (its 32-byte header included) whatever the
 * mix of names and values: the value a replicated set is meant to use.
 */
export const XATTR_SPACE_EXT4 = 4096 - 32 - 64;

/** The encoded size of xattrs given as full name → value length. */
export function xattrSpace(sizes: ReadonlyMap<string, number>): number {
  let n = 0;
  for (const [name, len] of sizes) n += Buffer.byteLength(name) + len + XATTR_ENTRY_COST;
  return n;
}

/** The `user.*` xattrs of the inode at `path`, as full name → value length. */
export async function xattrSizes(path: string): Promise<Map<string, number>> {
  const out = new Map<string, number>();
  for (const name of await xattrOp(() => listAttributes(path))) {
    if (!name.startsWith('user.')) continue;
    const v = await xattrOp(() => getAttribute(path, name));
    if (v !== null) out.set(name, v.length);
  }
  return out;
}

/** ENOSPC when xattrs of these sizes would exceed `limit` (undefined: no limit). */
export function checkXattrSpace(limit: number | undefined, sizes: ReadonlyMap<string, number>, gfid: string): void {
  if (limit === undefined) return;
  const n = xattrSpace(sizes);
  if (n > limit) throw err('ENOSPC', `the xattrs of ${gfid} would take ${n} bytes, over the limit of ${limit}`, { gfid });
}
