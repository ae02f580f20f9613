/**
 * Small replication state files written whole (docs/ON-DISK-FORMAT.md §6.2, §6.5): a temp file
 * in `.dht2/tmp/`, fsynced, renamed over the target, then (for the vote) the target's
 * directory fsynced. The fsyncs go through brick/posix2/fsutil.ts so the power-loss tests see
 * them, and happen whether or not the store runs with sync: these files are what keeps a vote
 * from being granted twice in one term (§6.2).
 */
import { open, readFile, rename, rm } from 'node:fs/promises';
import { dirname } from 'node:path';
import { codeOf, fsyncPath, syncHandle } from '../posix2/fsutil.js';
import { replTmpPath } from './paths.js';

export async function writeWhole(
  dir: string, tag: 'vote' | 'applied' | 'rebuild' | 'logbase' | 'ops', target: string, bytes: Buffer, syncDir: boolean,
): Promise<void> {
  const tmp = replTmpPath(dir, tag);
  try {
    const fh = await open(tmp, 'wx', 0o600);
    try {
      let at = 0;
      while (at < bytes.length) at += (await fh.write(bytes, at, bytes.length - at)).bytesWritten;
      await syncHandle(fh, tmp);
    } finally {
      await fh.close();
    }
    await rename(tmp, target);
  } catch (e) {
    await rm(tmp, { force: true });
    throw e;
  }
  if (syncDir) await fsyncPath(dirname(target));
}

/** Reads a state file and decodes it (EIO when damaged, by `decode`); undefined when there is none. */
export async function readWhole<T>(path: string, decode: (b: Buffer, where: string) => T): Promise<T | undefined> {
  let b: Buffer;
  try {
    b = await readFile(path);
  } catch (e) {
    if (codeOf(e) === 'ENOENT') return undefined;
    throw e;
  }
  return decode(b, path);
}
