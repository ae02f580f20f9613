/**
 * The bytes of the replication log (docs/ON-DISK-FORMAT.md §6.1): the segment header and the
 * records, pure encode and decode. log.ts does the files.
 *
 * Segment header, 32 bytes, little-endian: `D2LS`, segment format 1 (u16), 0 (u16), first index
 * (u64), term of the primary that wrote the first record (u64), 0 (u32), CRC32C of bytes 0-27.
 *
 * Record: `D2LR`, payload length n (u32, at most 2 MiB), term (u64), index (u64), kind (u8),
 * 0 (3 bytes), the payload (UTF-8 JSON), CRC32C of bytes 0 to 27 + n.
 */
import { err } from '../../dht2-core/protocol/index.js';
import { crc32c, readU64, writeU64 } from './bin.js';

export const SEGMENT_HEADER = 32;
export const RECORD_HEADER = 28;
/** The CRC after a record's payload. */
export const RECORD_TRAILER = 4;
/** A control FOP's request is at most 1 MiB; its entry's payload at most 2 MiB (§6.1). */
export const MAX_PAYLOAD = 2 * 1024 * 1024;

const SEGMENT_MAGIC = Buffer.from('D2LS');
const RECORD_MAGIC = Buffer.from('D2LR');
const SEGMENT_FORMAT = 1;

/** What an entry is (ARCHITECTURE.md §10.4). `layout` is reserved: no code writes it yet. */
export type EntryKind = 'noop' | 'fop' | 'pending' | 'pendingDone' | 'layout';
const KIND_CODE: Record<EntryKind, number> = { noop: 0, fop: 1, pending: 2, pendingDone: 3, layout: 4 };
const CODE_KIND: readonly EntryKind[] = ['noop', 'fop', 'pending', 'pendingDone', 'layout'];

/** Size and CRC32C of an entry's blob, the body kept beside the log (§6.1). */
export interface BlobInfo {
  size: number;
  crc32c: number;
}

/**
 * The payload of a record (ARCHITECTURE.md §10.4): `{opId, at, fop, req, out, blob?}`; `{at}`
 * for a no-op. The log stores it as JSON and does not look inside `req` and `out`.
 */
export interface EntryPayload {
  /** The FOP's op id, 32 hex, chosen by the gateway once per FOP. */
  opId?: string;
  /** The time the FOP happens, ms (the primary's clock, never going back). */
  at: number;
  fop?: string;
  req?: unknown;
  out?: unknown;
  blob?: BlobInfo;
}

/** One entry of the log. */
export interface LogEntry {
  term: number;
  index: number;
  kind: EntryKind;
  payload: EntryPayload;
}

export function encodeSegmentHeader(firstIndex: number, term: number): Buffer {
  const b = Buffer.alloc(SEGMENT_HEADER);
  SEGMENT_MAGIC.copy(b, 0);
  b.writeUInt16LE(SEGMENT_FORMAT, 4);
  writeU64(b, firstIndex, 8);
  writeU64(b, term, 16);
  b.writeUInt32LE(crc32c(b.subarray(0, 28)), 28);
  return b;
}

/** The first index and term a header holds, or why it is not a good header. */
export function decodeSegmentHeader(b: Buffer): { firstIndex: number; term: number } | string {
  if (b.length < SEGMENT_HEADER) return `header of ${b.length} bytes`;
  if (!b.subarray(0, 4).equals(SEGMENT_MAGIC)) return 'bad header magic';
  if (b.readUInt32LE(28) !== crc32c(b.subarray(0, 28))) return 'header checksum mismatch';
  if (b.readUInt16LE(4) !== SEGMENT_FORMAT) return `segment format ${b.readUInt16LE(4)}`;
  const firstIndex = readU64(b, 8);
  const term = readU64(b, 16);
  if (firstIndex === undefined || term === undefined) return 'header index or term out of range';
  return { firstIndex, term };
}

/** The JSON of a payload, its keys in the order of §6.1. */
export function encodePayload(p: EntryPayload): Buffer {
  // JSON.stringify leaves out the undefined fields: a no-op's payload is `{"at":…}`.
  return Buffer.from(JSON.stringify({ opId: p.opId, at: p.at, fop: p.fop, req: p.req, out: p.out, blob: p.blob }), 'utf8');
}

/** A whole record: header, payload, CRC. EMSGSIZE when the payload is over 2 MiB. */
export function encodeRecord(term: number, index: number, kind: EntryKind, payload: Buffer): Buffer {
  if (payload.length > MAX_PAYLOAD) throw err('EMSGSIZE', `entry ${index}: a payload of ${payload.length} bytes, at most ${MAX_PAYLOAD}`);
  const b = Buffer.alloc(RECORD_HEADER + payload.length + RECORD_TRAILER);
  RECORD_MAGIC.copy(b, 0);
  b.writeUInt32LE(payload.length, 4);
  writeU64(b, term, 8);
  writeU64(b, index, 16);
  b[24] = KIND_CODE[kind];
  payload.copy(b, RECORD_HEADER);
  const end = RECORD_HEADER + payload.length;
  b.writeUInt32LE(crc32c(b.subarray(0, end)), end);
  return b;
}

export interface DecodedRecord {
  term: number;
  index: number;
  kind: EntryKind;
  /** Where the payload starts and ends in the buffer decoded. */
  payloadAt: number;
  payloadEnd: number;
  /** The offset just after the record. */
  end: number;
}

/**
 * The record at `at` in `b` (bytes up to `b.length` exist in the file), or why it fails: the
 * checks of §6.1 that need only the record (magic, length at most 2 MiB and within the file,
 * CRC, a known kind). The caller checks the index and term against the previous record.
 */
export function decodeRecord(b: Buffer, at: number): DecodedRecord | string {
  if (b.length - at < RECORD_HEADER + RECORD_TRAILER) return `short record (${b.length - at} bytes left)`;
  if (!b.subarray(at, at + 4).equals(RECORD_MAGIC)) return 'bad record magic';
  const n = b.readUInt32LE(at + 4);
  if (n > MAX_PAYLOAD) return `payload length ${n} over ${MAX_PAYLOAD}`;
  const end = at + RECORD_HEADER + n;
  if (end + RECORD_TRAILER > b.length) return `short record (payload of ${n} bytes, ${b.length - at} bytes left)`;
  if (b.readUInt32LE(end) !== crc32c(b.subarray(at, end))) return 'record checksum mismatch';
  const term = readU64(b, at + 8);
  const index = readU64(b, at + 16);
  const kind = CODE_KIND[b[at + 24]!];
  if (term === undefined || index === undefined) return 'record index or term out of range';
  if (kind === undefined) return `unknown kind ${b[at + 24]}`;
  return { term, index, kind, payloadAt: at + RECORD_HEADER, payloadEnd: end, end: end + RECORD_TRAILER };
}

/** Parses a payload read back from the log; EIO when it is not the JSON object it was. */
export function decodePayload(b: Buffer, where: string): EntryPayload {
  let v: unknown;
  try {
    v = JSON.parse(b.toString('utf8'));
  } catch (e) {
    throw err('EIO', `corrupt log payload at ${where}: ${(e as Error).message}`);
  }
  if (!v || typeof v !== 'object' || typeof (v as { at?: unknown }).at !== 'number') {
    throw err('EIO', `corrupt log payload at ${where}: not an entry`);
  }
  return v as EntryPayload;
}
