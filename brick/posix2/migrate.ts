/**
 * Upgrades a brick directory to FORMAT_VERSION when it opens. Format 1 → 2 (MDS only): every
 * inode's JSON `user.dht2.inode` becomes the binary `user.dht2` (handles.ts).
 *
 * Crash story: each handle is converted by setxattr of the new value, fsync, then removexattr
 * of the old one, and identity.json says format 2 only after every handle is done. A crash
 * leaves identity at format 1, and the next open converts again: a handle that already has
 * `user.dht2` and no `user.dht2.inode` is skipped, one with both is converted again from the
 * JSON (which was the truth until it was removed).
 */
import { removeAttribute } from '@napi-rs/xattr';
import { FORMAT_VERSION, writeIdentity, type BrickIdentity } from './format.js';
import { fsyncPath } from './fsutil.js';
import { XATTR_INODE_V1, readMetaV1, writeMeta } from './handles.js';
import { listHandles } from './mds-util.js';

/** Migrates `dir` to the current format; returns the identity to serve with and the number of inodes converted. */
export async function upgradeFormat(dir: string, id: BrickIdentity): Promise<{ identity: BrickIdentity; converted: number }> {
  let converted = 0;
  if (id.format >= FORMAT_VERSION) return { identity: id, converted };
  if (id.role === 'mds') {
    for (const [, path] of await listHandles(dir)) {
      const old = await readMetaV1(path);
      if (!old) continue;
      await writeMeta(path, old);
      await fsyncPath(path);
      await removeAttribute(path, XATTR_INODE_V1);
      converted++;
    }
  }
  const identity = { ...id, format: FORMAT_VERSION };
  await writeIdentity(dir, identity);
  return { identity, converted };
}
