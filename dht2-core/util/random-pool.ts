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

/** `n` (at most 4096) fresh random bytes in a new buffer of their own. */
export function randomPooled(n: number): Buffer {
  if (n > POOL_BYTES) return randomBytes(n);
  if (used + n > pool.length) {
    pool = randomBytes(POOL_BYTES); // a new buffer: bytes handed out before are never reused
    used = 0;
  }
  const out = Buffer.from(pool.subarray(used, used + n));
  used += n;
  return out;
}
