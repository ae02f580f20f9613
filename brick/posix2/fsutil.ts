/** Small filesystem helpers shared by the MDS and DS stores: durable renames, fsync of dirs. */
import { open, mkdir } from 'node:fs/promises';
import { dirname } from 'node:path';

/** fsync a file or directory by path. */
export async function fsyncPath(path: string): Promise<void> {
  const fh = await open(path, 'r');
  try {
    await fh.sync();
  } finally {
    await fh.close();
  }
}

/**
 * mkdir -p that, when it creates anything, fsyncs the parents so the new directories survive a
 * power cut (a name in a directory is durable only once the directory is fsynced).
 */
export async function mkdirDurable(path: string, sync: boolean): Promise<void> {
  const first = await mkdir(path, { recursive: true, mode: 0o700 });
  if (first === undefined || !sync) return;
  let p = path;
  while (p.length >= first.length) {
    await fsyncPath(dirname(p));
    p = dirname(p);
  }
}

/** Errno code of a node:fs error, or undefined. */
export function codeOf(e: unknown): string | undefined {
  return e && typeof e === 'object' ? (e as { code?: string }).code : undefined;
}
