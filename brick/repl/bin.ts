/** Byte-level helpers shared by the replication state files (docs/ON-DISK-FORMAT.md §6). */
import { Crc32c } from '@aws-crypto/crc32c';

/** CRC32C (Castagnoli) of `b`, the checksum of every record and state file of §6. */
export function crc32c(b: Uint8Array): number {
  return new Crc32c().update(b).digest();
}

/** Writes a u64, little-endian. Indexes and terms are JS numbers: safe integers only. */
export function writeU64(b: Buffer, n: number, at: number): void {
  if (!Number.isSafeInteger(n) || n < 0) throw new RangeError(`${n} is not a u64 this code can store`);
  b.writeBigUInt64LE(BigInt(n), at);
}

/** Reads a u64, little-endian; undefined when it is beyond 2^53 (no index or term gets there). */
export function readU64(b: Buffer, at: number): number | undefined {
  const v = b.readBigUInt64LE(at);
  return v <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(v) : undefined;
}
