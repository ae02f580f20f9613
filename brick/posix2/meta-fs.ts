/**
 * The metadata syscalls of the MDS store (readlink, symlink, link, unlink, rename, lstat, an
 * empty exclusive create, xattrs), run synchronously on the brick's event loop.
 *
 * Why: each of these takes tens of microseconds in the kernel, but through node:fs/promises
 * (or an async napi call) it is also a trip to the libuv thread pool and back: a futex wake of
 * a worker, then an eventfd wake of the loop. A create makes about fifteen such calls, and the
 * hand-offs cost more than the calls (docs/PERFORMANCE.md, "What changed": MDS creates 423 ->
 * 684/s, unlinks 1,127 -> 3,066/s at c=64). fsync and anything that reads or writes data stay
 * asynchronous: they can take milliseconds.
 *
 * The functions keep the async shape of node:fs/promises so call sites read the same, and throw
 * the same errors (with `code`).
 */
import { closeSync, linkSync, lstatSync, mkdirSync, openSync, readlinkSync, renameSync, symlinkSync, unlinkSync, type Stats } from 'node:fs';
import { getAttributeSync, removeAttributeSync, setAttributeSync } from '@napi-rs/xattr';

export async function readlink(path: string): Promise<string> {
  return readlinkSync(path);
}

export async function symlink(target: string, path: string): Promise<void> {
  symlinkSync(target, path);
}

export async function link(existing: string, path: string): Promise<void> {
  linkSync(existing, path);
}

export async function unlink(path: string): Promise<void> {
  unlinkSync(path);
}

export async function rename(from: string, to: string): Promise<void> {
  renameSync(from, to);
}

export async function lstat(path: string): Promise<Stats> {
  return lstatSync(path);
}

/** mkdir of one directory (not recursive). */
export async function mkdir(path: string, mode: number): Promise<void> {
  mkdirSync(path, { mode });
}

/** Creates an empty file that must not exist yet (O_CREAT|O_EXCL). */
export async function createEmpty(path: string, mode: number): Promise<void> {
  closeSync(openSync(path, 'wx', mode));
}

export async function getAttribute(path: string, name: string): Promise<Buffer | null> {
  return getAttributeSync(path, name);
}

export async function setAttribute(path: string, name: string, value: Buffer): Promise<void> {
  setAttributeSync(path, name, value);
}

export async function removeAttribute(path: string, name: string): Promise<void> {
  removeAttributeSync(path, name);
}
