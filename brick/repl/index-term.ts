/**
 * The 32-byte (index, term) record that `repl/applied` (docs/ON-DISK-FORMAT.md §6.5) and
 * `repl/logbase` (§6.1 "The base") share: a 4-byte magic, format (u16), 0 (u16), index (u64),
 * term (u64), CRC32C of bytes 0-27. Each file has its own magic and name in its errors.
 */
import { err } from '../../dht2-core/protocol/index.js';
import { crc32c, readU64, writeU64 } from './bin.js';

export interface IndexTerm {
  index: number;
  term: number;
}

const FORMAT = 1;
const SIZE = 32;

export interface IndexTermCodec {
  encode(a: IndexTerm): Buffer;
  /** EIO when `b` is not a whole, unchanged format-1 record of this kind. */
  decode(b: Buffer, where: string): IndexTerm;
}

/** The codec of records with `magic` (4 ASCII bytes), named `what` in errors ("applied mark"). */
export function indexTermCodec(magic: string, what: string): IndexTermCodec {
  const MAGIC = Buffer.from(magic);
  if (MAGIC.length !== 4) throw new Error(`magic ${magic} is not 4 bytes`);
  return {
    encode(a) {
      for (const [k, v] of [['index', a.index], ['term', a.term]] as const) {
        if (!Number.isSafeInteger(v) || v < 0) throw err('EINVAL', `${what} ${k} ${v} cannot be stored`);
      }
      const b = Buffer.alloc(SIZE);
      MAGIC.copy(b, 0);
      b.writeUInt16LE(FORMAT, 4);
      writeU64(b, a.index, 8);
      writeU64(b, a.term, 16);
      b.writeUInt32LE(crc32c(b.subarray(0, 28)), 28);
      return b;
    },
    decode(b, where) {
      const bad = (why: string): never => { throw err('EIO', `corrupt ${what} at ${where}: ${why}`); };
      if (b.length !== SIZE || !b.subarray(0, 4).equals(MAGIC)) bad(`not ${/^[aeiou]/.test(what) ? 'an' : 'a'} ${what}`);
      if (b.readUInt32LE(28) !== crc32c(b.subarray(0, 28))) bad('checksum mismatch');
      if (b.readUInt16LE(4) !== FORMAT) bad(`format ${b.readUInt16LE(4)}`);
      return { index: readU64(b, 8) ?? bad('index out of range'), term: readU64(b, 16) ?? bad('term out of range') };
    },
  };
}
