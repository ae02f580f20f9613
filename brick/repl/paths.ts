/**
 * Where a replicated brick keeps its replication state (docs/ON-DISK-FORMAT.md §6.0):
 *
 *   <dir>/.dht2/repl/vote                       current term and vote (§6.2, vote.ts)
 *   <dir>/.dht2/repl/applied                    the applied mark (§6.5, applied.ts)
 *   <dir>/.dht2/repl/logbase                    index and term before the log's first (§6.1, log-base.ts)
 *   <dir>/.dht2/repl/log/<20 digits>.seg        log segments, named by their first index (§6.1)
 *   <dir>/.dht2/repl/blobs/<20>-<16>.blob       the body of a logged data entry, <index>-<term>
 *   <dir>/.dht2/tmp/{blob,vote,applied,logbase}.<hex>   temp files before their rename (§2.3)
 */
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';

export function replDir(dir: string): string {
  return join(dir, '.dht2', 'repl');
}

export function logDir(dir: string): string {
  return join(dir, '.dht2', 'repl', 'log');
}

export function blobsDir(dir: string): string {
  return join(dir, '.dht2', 'repl', 'blobs');
}

/** A fresh temp name in `.dht2/tmp/`, on the same filesystem as repl/, so its rename is atomic. */
export function replTmpPath(dir: string, tag: 'blob' | 'vote' | 'applied' | 'rebuild' | 'logbase' | 'ops'): string {
  return join(dir, '.dht2', 'tmp', `${tag}.${randomBytes(8).toString('hex')}`);
}

const SEGMENT_RE = /^(\d{20})\.seg$/;
const BLOB_RE = /^(\d{20})-(\d{16})\.blob$/;

/** `00000000000000000001.seg`: 20 decimal digits, so that names sort in log order (§6.1). */
export function segmentName(firstIndex: number): string {
  return `${String(firstIndex).padStart(20, '0')}.seg`;
}

/** The first index a segment's name says, or undefined for a name that is not a segment's. */
export function parseSegmentName(name: string): number | undefined {
  const m = SEGMENT_RE.exec(name);
  if (!m) return undefined;
  const n = Number(m[1]);
  return Number.isSafeInteger(n) ? n : undefined;
}

/**
 * `<index>-<term>.blob`, 20 and 16 decimal digits. The term is in the name because a dropped
 * suffix can be replaced by another entry with the same index (§6.1).
 */
export function blobName(index: number, term: number): string {
  return `${String(index).padStart(20, '0')}-${String(term).padStart(16, '0')}.blob`;
}

export function parseBlobName(name: string): { index: number; term: number } | undefined {
  const m = BLOB_RE.exec(name);
  if (!m) return undefined;
  const index = Number(m[1]);
  const term = Number(m[2]);
  return Number.isSafeInteger(index) && Number.isSafeInteger(term) ? { index, term } : undefined;
}
