/**
 * The applied mark, `repl/applied` (docs/ON-DISK-FORMAT.md §6.5): `D2AP`, format (u16), 0
 * (u16), index (u64), term (u64), CRC32C of bytes 0-27; 32 bytes. Every entry up to `index` is
 * applied to the store. Written every 100 ms or 1000 entries (ARCHITECTURE.md §10.4 rule 5) as
 * tmp, fsync, rename, without an fsync of `repl/`: a mark older than the last one written only
 * means more entries are applied again, and apply is idempotent (ARCHITECTURE.md §10.6).
 */
import { join } from 'node:path';
import { err } from '../../dht2-core/protocol/index.js';
import { crc32c, readU64, writeU64 } from './bin.js';
import { replDir } from './paths.js';
import { readWhole, writeWhole } from './state-file.js';

export interface AppliedMark {
  /** Every entry up to this index is applied. */
  index: number;
  /** The term of the entry at `index`. */
  term: number;
}

const MAGIC = Buffer.from('D2AP');
const FORMAT = 1;
const SIZE = 32;

export function appliedPath(dir: string): string {
  return join(replDir(dir), 'applied');
}

export function encodeApplied(a: AppliedMark): Buffer {
  for (const [k, v] of [['index', a.index], ['term', a.term]] as const) {
    if (!Number.isSafeInteger(v) || v < 0) throw err('EINVAL', `${k} ${v} cannot be stored`);
  }
  const b = Buffer.alloc(SIZE);
  MAGIC.copy(b, 0);
  b.writeUInt16LE(FORMAT, 4);
  writeU64(b, a.index, 8);
  writeU64(b, a.term, 16);
  b.writeUInt32LE(crc32c(b.subarray(0, 28)), 28);
  return b;
}

/** Decodes an applied mark; EIO when it is not a whole, unchanged format-1 mark. */
export function decodeApplied(b: Buffer, where: string): AppliedMark {
  const bad = (why: string): never => { throw err('EIO', `corrupt applied mark at ${where}: ${why}`); };
  if (b.length !== SIZE || !b.subarray(0, 4).equals(MAGIC)) bad('not an applied mark');
  if (b.readUInt32LE(28) !== crc32c(b.subarray(0, 28))) bad('checksum mismatch');
  if (b.readUInt16LE(4) !== FORMAT) bad(`format ${b.readUInt16LE(4)}`);
  return { index: readU64(b, 8) ?? bad('index out of range'), term: readU64(b, 16) ?? bad('term out of range') };
}

/** The stored mark; undefined when there is none (nothing applied yet). */
export function readApplied(dir: string): Promise<AppliedMark | undefined> {
  return readWhole(appliedPath(dir), decodeApplied);
}

/** `tmp/applied.X`, fsync, rename over `repl/applied`; no directory fsync (§6.5). */
export async function writeApplied(dir: string, a: AppliedMark): Promise<void> {
  await writeWhole(dir, 'applied', appliedPath(dir), encodeApplied(a), false);
}
