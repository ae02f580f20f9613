/** Helpers of the MDS store that need no store state: handle listing, xattr keys, small fs wrappers. */
import { opendir, rmdir } from 'node:fs/promises';
import { join } from 'node:path';
import { lstat, setAttribute } from './meta-fs.js';
import { err, toDht2Error } from '../../dht2-core/protocol/index.js';
import { codeOf } from './fsutil.js';
import { XATTR_INODE, XATTR_USER_PREFIX } from './handles.js';

/** Maps `items` with at most `limit` calls in flight, keeping order. */
export async function mapLimit<T, R>(items: readonly T[], limit: number, fn: (t: T) => Promise<R>): Promise<R[]> {
  const out = new Array<R>(items.length);
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < items.length) {
      const i = next++;
      out[i] = await fn(items[i]!);
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
  return out;
}

/** Every handle on the brick, as [gfid, path]. */
export async function listHandles(dir: string): Promise<Array<[string, string]>> {
  const out: Array<[string, string]> = [];
  const hex2 = /^[0-9a-f]{2}$/;
  for (const a of (await opendirNames(dir)).filter((n) => hex2.test(n))) {
    for (const b of (await opendirNames(join(dir, a))).filter((n) => hex2.test(n))) {
      for (const g of await opendirNames(join(dir, a, b))) out.push([g, join(dir, a, b, g)]);
    }
  }
  return out;
}

async function opendirNames(path: string): Promise<string[]> {
  const names: string[] = [];
  const d = await opendir(path);
  for await (const e of d) names.push(e.name);
  return names;
}

export function userKey(name: string): string {
  const k = XATTR_USER_PREFIX + name;
  if (Buffer.byteLength(k) > 255) throw err('ERANGE', `xattr name ${name.slice(0, 32)}… too long`);
  return k;
}

export async function setUserXattr(path: string, name: string, value: Buffer): Promise<void> {
  const k = userKey(name);
  if (k === XATTR_INODE) throw err('EPERM', 'reserved xattr');
  await xattrOp(() => setAttribute(path, k, value));
}

export async function xattrOp<T>(fn: () => Promise<T>): Promise<T> {
  try {
    return await fn();
  } catch (e) {
    throw toDht2Error(e, 'xattr');
  }
}

export async function exists(path: string): Promise<boolean> {
  try {
    await lstat(path);
    return true;
  } catch (e) {
    if (codeOf(e) === 'ENOENT') return false;
    throw toDht2Error(e);
  }
}

export async function rmdirHandle(path: string): Promise<void> {
  try {
    await rmdir(path);
  } catch (e) {
    throw toDht2Error(e, 'rmdir');
  }
}
