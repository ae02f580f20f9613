/**
 * Random bytes for GFIDs, RPC nonces and request ids, drawn from a 4 KiB pool refilled from
 * the CSPRNG. crypto.randomBytes(16) makes a getrandom(2) call each time, which under a gateway's
 * load was 4 % of its CPU (profile in docs/PERFORMANCE.md); crypto.randomUUID caches entropy
 * the same way. These values must be unique and unguessable, not secret keys.
 */
import { randomBytes } from 'node:crypto';

const POOL_BYTES = 4096;
let pool = Buffer.alloc(0);
let used = 0;
let source: ((n: number) => Buffer) | undefined;

/**
 * Replaces the random source, or restores the CSPRNG when `src` is undefined. Only for the
 * model checker (test/core/crash-model.test.ts): a run must draw the same GFIDs, hence the
 * same placement and the same FOP steps, every time it is replayed with one fault more.
 */
export function setRandomSource(src?: (n: number) => Buffer): void {
  source = src;
  pool = Buffer.alloc(0);
  used = 0;
}

/** `n` (at most 4096) fresh random bytes in a new buffer of their own. */
export function randomPooled(n: number): Buffer {
  if (source) return source(n);
  if (n > POOL_BYTES) return randomBytes(n);
  if (used + n > pool.length) {
    pool = randomBytes(POOL_BYTES); // a new buffer: bytes handed out before are never reused
    used = 0;
  }
  const out = Buffer.from(pool.subarray(used, used + n));
  used += n;
  return out;
}
