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
import { err } from '../../dht2-core/protocol/index.js';
import { crc32c, readU64, writeU64 } from './bin.js';
import { replDir } from './paths.js';
import { readWhole, writeWhole } from './state-file.js';

export interface LogBaseMark {
  /** Every entry up to this index was truncated away (or is in the store of a full copy). */
  index: number;
  /** The term of the entry at `index`. */
  term: number;
}

const MAGIC = Buffer.from('D2LB');
const FORMAT = 1;
const SIZE = 32;

export function logBasePath(dir: string): string {
  return join(replDir(dir), 'logbase');
}

export function encodeLogBase(a: LogBaseMark): Buffer {
  for (const [k, v] of [['index', a.index], ['term', a.term]] as const) {
    if (!Number.isSafeInteger(v) || v < 0) throw err('EINVAL', `log base ${k} ${v} cannot be stored`);
  }
  const b = Buffer.alloc(SIZE);
  MAGIC.copy(b, 0);
  b.writeUInt16LE(FORMAT, 4);
  writeU64(b, a.index, 8);
  writeU64(b, a.term, 16);
  b.writeUInt32LE(crc32c(b.subarray(0, 28)), 28);
  return b;
}

/** Decodes a log base; EIO when it is not a whole, unchanged format-1 base. */
export function decodeLogBase(b: Buffer, where: string): LogBaseMark {
  const bad = (why: string): never => { throw err('EIO', `corrupt log base at ${where}: ${why}`); };
  if (b.length !== SIZE || !b.subarray(0, 4).equals(MAGIC)) bad('not a log base');
  if (b.readUInt32LE(28) !== crc32c(b.subarray(0, 28))) bad('checksum mismatch');
  if (b.readUInt16LE(4) !== FORMAT) bad(`format ${b.readUInt16LE(4)}`);
  return { index: readU64(b, 8) ?? bad('index out of range'), term: readU64(b, 16) ?? bad('term out of range') };
}

/** The stored base; undefined when there is none (the log starts at index 1). */
export function readLogBase(dir: string): Promise<LogBaseMark | undefined> {
  return readWhole(logBasePath(dir), decodeLogBase);
}

/** `tmp/logbase.X`, fsync, rename over `repl/logbase`, fsync `repl/` (§6.1 "The base"). */
export async function writeLogBase(dir: string, a: LogBaseMark): Promise<void> {
  await writeWhole(dir, 'logbase', logBasePath(dir), encodeLogBase(a), true);
}
