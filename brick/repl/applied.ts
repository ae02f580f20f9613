/**
 * The applied mark, `repl/applied` (docs/ON-DISK-FORMAT.md §6.5): `D2AP`, format (u16), 0
 * (u16), index (u64), term (u64), CRC32C of bytes 0-27; 32 bytes. Every entry up to `index` is
 * applied to the store. Written every 100 ms or 1000 entries (ARCHITECTURE.md §10.4 rule 5) as
 * tmp, fsync, rename, without an fsync of `repl/`: a mark older than the last one written only
 * means more entries are applied again, and apply is idempotent (ARCHITECTURE.md §10.6).
 */
import { join } from 'node:path';
import { indexTermCodec } from './index-term.js';
import { replDir } from './paths.js';
import { readWhole, writeWhole } from './state-file.js';

export interface AppliedMark {
  /** Every entry up to this index is applied. */
  index: number;
  /** The term of the entry at `index`. */
  term: number;
}

export function appliedPath(dir: string): string {
  return join(replDir(dir), 'applied');
}

const CODEC = indexTermCodec('D2AP', 'applied mark');

export function encodeApplied(a: AppliedMark): Buffer {
  return CODEC.encode(a);
}

/** Decodes an applied mark; EIO when it is not a whole, unchanged format-1 mark. */
export function decodeApplied(b: Buffer, where: string): AppliedMark {
  return CODEC.decode(b, where);
}

/** The stored mark; undefined when there is none (nothing applied yet). */
export function readApplied(dir: string): Promise<AppliedMark | undefined> {
  return readWhole(appliedPath(dir), decodeApplied);
}

/** `tmp/applied.X`, fsync, rename over `repl/applied`; no directory fsync (§6.5). */
export async function writeApplied(dir: string, a: AppliedMark): Promise<void> {
  await writeWhole(dir, 'applied', appliedPath(dir), encodeApplied(a), false);
}
