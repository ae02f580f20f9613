/** Small filesystem helpers shared by the MDS and DS stores: durable renames, fsync of dirs. */
import { closeSync, fsync, openSync } from 'node:fs';
import { mkdir, type FileHandle } from 'node:fs/promises';
import { dirname } from 'node:path';
import { Writable } from 'node:stream';
import { promisify } from 'node:util';

const fsyncFd = promisify(fsync);

let fsyncObserver: ((path: string) => void) | undefined;

/**
 * Sets (or, with undefined, clears) a function called after every fsync a store makes, with the
 * path it made durable. Only the model checker's power-loss mode sets one
 * (test/helpers/power-loss.ts): it keeps the image of what an fsync made durable, and throws to
 * cut the power at a chosen fsync. Every fsync of the stores goes through fsyncPath, syncHandle or syncDataHandle.
 */
export function observeFsyncs(o: ((path: string) => void) | undefined): void {
  fsyncObserver = o;
}

/** fsync through an open handle (the descriptor a body was written with), observed as fsyncPath is. */
export async function syncHandle(fh: FileHandle, path: string): Promise<void> {
  await fh.sync();
  fsyncObserver?.(path);
}

/**
 * fdatasync through an open handle, observed as syncHandle is: the replication log's group
 * commit (docs/ON-DISK-FORMAT.md §6.1), where the data and the size of an appended record are
 * what must reach the disk, not the file's times.
 */
export async function syncDataHandle(fh: FileHandle, path: string): Promise<void> {
  await fh.datasync();
  fsyncObserver?.(path);
}

/**
 * fsync a file or directory by path. Only the fsync, which can take milliseconds, goes to the
 * thread pool; open and close are microseconds and run in place (one hand-off instead of three:
 * brick/posix2/meta-fs.ts says why that matters).
 */
export async function fsyncPath(path: string): Promise<void> {
  const fd = openSync(path, 'r');
  try {
    await fsyncFd(fd);
  } finally {
    closeSync(fd);
  }
  fsyncObserver?.(path);
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

/**
 * mkdirDurable for the `<xx>/<yy>` handle folders of one open store. A store never removes
 * them, so a folder made (or found) once is remembered, and every later create skips the
 * mkdir, the EEXIST error and the stat that `recursive` costs on an existing folder. Scoped to
 * the store instance, never global: a brick directory removed and made again in one process
 * starts with an empty memory.
 */
export class HandleDirs {
  private readonly known = new Set<string>();

  constructor(private readonly sync: boolean) {}

  async ensure(path: string): Promise<void> {
    if (this.known.has(path)) return;
    await mkdirDurable(path, this.sync);
    this.known.add(path);
  }
}

/**
 * A Writable into an open handle at `start` (or at the file's position, which O_APPEND makes the
 * end), that never closes the handle: its owner closes it once. (An fs.WriteStream over `fd`
 * closes that descriptor when a pipeline destroys it on error, even with `autoClose: false`;
 * the owner's close then failed with EBADF in place of the real error, or closed a descriptor
 * number another open had been given meanwhile.)
 *
 * `limit`: the writer fails with `limit.error()` instead of writing the chunks that take the
 * total past `limit.max` bytes (their owner then removes what was written). Counted here rather than in a stage of its own: an upload arrives in
 * HTTP/2 DATA frames of 16 KiB (4,096 chunks per 64 MiB), and an async-generator stage in the
 * pipeline cost ~20 ms of CPU per 64 MiB (replica bench, ARCHITECTURE.md §10.16).
 */
export function handleWriter(fh: FileHandle, start?: number, limit?: { max: number; error: () => Error }): Writable {
  let pos = start;
  let total = 0;
  const writeAll = async (chunks: Buffer[]): Promise<void> => {
    let left = chunks;
    while (left.length > 0) {
      const { bytesWritten } = await fh.writev(left, pos);
      if (pos !== undefined) pos += bytesWritten;
      left = skip(left, bytesWritten);
    }
  };
  const over = (chunks: Buffer[]): boolean => {
    if (!limit) return false;
    for (const c of chunks) total += c.length;
    return total > limit.max;
  };
  return new Writable({
    highWaterMark: 1024 * 1024,
    write(chunk: Buffer, _enc, cb) {
      if (over([chunk])) { cb(limit!.error()); return; }
      writeAll([chunk]).then(() => cb(), cb);
    },
    writev(items, cb) {
      const chunks = items.map((i) => i.chunk as Buffer);
      // What the body's owner does with a failed write (removes the temp file) needs no prefix.
      if (over(chunks)) { cb(limit!.error()); return; }
      writeAll(chunks).then(() => cb(), cb);
    },
  });
}

/** `chunks` without their first `n` bytes (after a short write). */
function skip(chunks: Buffer[], n: number): Buffer[] {
  let i = 0;
  while (i < chunks.length && n >= chunks[i]!.length) n -= chunks[i++]!.length;
  if (i === chunks.length) return [];
  return n === 0 ? chunks.slice(i) : [chunks[i]!.subarray(n), ...chunks.slice(i + 1)];
}
