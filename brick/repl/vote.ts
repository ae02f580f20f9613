/**
 * The vote state of a replicated brick, `repl/vote` (docs/ON-DISK-FORMAT.md §6.2):
 *
 * | offset | size | content |
 * |---|---|---|
 * | 0 | 4 | `D2VT` |
 * | 4 | 2 | format, 1 |
 * | 6 | 2 | length `m` of the vote (0: no vote in this term) |
 * | 8 | 8 | current term (u64) |
 * | 16 | `m` | the brick id voted for in the current term, UTF-8 (at most 128 bytes) |
 * | 16 + `m` | 4 | CRC32C of bytes 0 to 15 + `m` |
 *
 * Raft's (currentTerm, votedFor), fsynced before a vote is granted or a higher term adopted
 * (ARCHITECTURE.md §10.3), so a brick never grants two votes in one term across crashes.
 */
import { join } from 'node:path';
import { err } from '../../dht2-core/protocol/index.js';
import { crc32c, readU64, writeU64 } from './bin.js';
import { replDir } from './paths.js';
import { readWhole, writeWhole } from './state-file.js';

export interface VoteState {
  /** The brick's current term. */
  term: number;
  /** The brick id it voted for in `term`; undefined when it has not voted in it. */
  votedFor?: string;
}

const MAGIC = Buffer.from('D2VT');
const FORMAT = 1;
const MAX_VOTE = 128;

export function votePath(dir: string): string {
  return join(replDir(dir), 'vote');
}

export function encodeVote(v: VoteState): Buffer {
  const id = Buffer.from(v.votedFor ?? '', 'utf8');
  if (v.votedFor !== undefined && id.length === 0) throw err('EINVAL', 'a vote names a brick id');
  if (id.length > MAX_VOTE) throw err('EINVAL', `brick id of ${id.length} bytes: at most ${MAX_VOTE} can be stored in a vote`);
  if (!Number.isSafeInteger(v.term) || v.term < 0) throw err('EINVAL', `term ${v.term} cannot be stored`);
  const b = Buffer.alloc(16 + id.length + 4);
  MAGIC.copy(b, 0);
  b.writeUInt16LE(FORMAT, 4);
  b.writeUInt16LE(id.length, 6);
  writeU64(b, v.term, 8);
  id.copy(b, 16);
  b.writeUInt32LE(crc32c(b.subarray(0, 16 + id.length)), 16 + id.length);
  return b;
}

/** Decodes a vote file; EIO when it is not a whole, unchanged format-1 vote (§6.2). */
export function decodeVote(b: Buffer, where: string): VoteState {
  const bad = (why: string): never => { throw err('EIO', `corrupt vote state at ${where}: ${why}`); };
  if (b.length < 20 || !b.subarray(0, 4).equals(MAGIC)) bad('not a vote file');
  const m = b.readUInt16LE(6);
  if (b.length !== 20 + m) bad(`${b.length} bytes for a vote of ${m}`);
  if (b.readUInt32LE(16 + m) !== crc32c(b.subarray(0, 16 + m))) bad('checksum mismatch');
  if (b.readUInt16LE(4) !== FORMAT) bad(`format ${b.readUInt16LE(4)}`);
  if (m > MAX_VOTE) bad(`a vote of ${m} bytes`);
  const term = readU64(b, 8) ?? bad('term out of range');
  return m === 0 ? { term } : { term, votedFor: b.toString('utf8', 16, 16 + m) };
}

/**
 * The stored vote state; undefined when there is none (what that means depends on the set:
 * §6.2, ARCHITECTURE.md §10.13). EIO when the file fails its checks: the brick must not start,
 * since voting with a lost vote could elect two primaries in one term.
 */
export function readVote(dir: string): Promise<VoteState | undefined> {
  return readWhole(votePath(dir), decodeVote);
}

/**
 * Stores the vote state durably: `tmp/vote.X`, fsync, rename over `repl/vote`, fsync `repl/`
 * (§6.2). The caller grants the vote, or acts on the term, only after this resolves.
 */
export async function writeVote(dir: string, v: VoteState): Promise<void> {
  await writeWhole(dir, 'vote', votePath(dir), encodeVote(v), true);
}
