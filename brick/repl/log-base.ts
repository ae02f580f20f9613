/**
 * The base of the log, `repl/logbase` (docs/ON-DISK-FORMAT.md §6.1 "The base"): the index and
 * term of the last entry truncated away from the head of the log (Raft's snapshot
 * lastIncludedIndex/lastIncludedTerm), so that a log whose head was truncated, or that was emptied
 * onto a full copy's index (ARCHITECTURE.md §10.13), still knows the term of the entry before its
 * first. `D2LB`, format (u16), 0 (u16), index (u64), term (u64), CRC32C of bytes 0-27; 32 bytes,
 * as `repl/applied`. Written whole (tmp, fsync, rename, fsync `repl/`). No file: the log starts
 * at index 1.
 */
import { join } from 'node:path';
import { indexTermCodec } from './index-term.js';
import { replDir } from './paths.js';
import { readWhole, writeWhole } from './state-file.js';

export interface LogBaseMark {
  /** Every entry up to this index was truncated away (or is in the store of a full copy). */
  index: number;
  /** The term of the entry at `index`. */
  term: number;
}

export function logBasePath(dir: string): string {
  return join(replDir(dir), 'logbase');
}

const CODEC = indexTermCodec('D2LB', 'log base');

export function encodeLogBase(a: LogBaseMark): Buffer {
  return CODEC.encode(a);
}

/** Decodes a log base; EIO when it is not a whole, unchanged format-1 base. */
export function decodeLogBase(b: Buffer, where: string): LogBaseMark {
  return CODEC.decode(b, where);
}

/** The stored base; undefined when there is none (the log starts at index 1). */
export function readLogBase(dir: string): Promise<LogBaseMark | undefined> {
  return readWhole(logBasePath(dir), decodeLogBase);
}

/** `tmp/logbase.X`, fsync, rename over `repl/logbase`, fsync `repl/` (§6.1 "The base"). */
export async function writeLogBase(dir: string, a: LogBaseMark): Promise<void> {
  await writeWhole(dir, 'logbase', logBasePath(dir), encodeLogBase(a), true);
}
