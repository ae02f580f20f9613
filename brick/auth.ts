/**
 * Request authentication on the brick: every FOP carries an HMAC-SHA256 signature with the
 * cluster secret over method, path, the target brick's id, the brick's boot epoch, date, nonce,
 * request id and the hash of its arguments (dht2-core/protocol/wire.ts). A request whose date
 * is off by more than MAX_CLOCK_SKEW_MS is refused, and a nonce is accepted once within twice
 * that window. The nonces live in memory, so they alone would let a request captured before a
 * restart through once more after it: the epoch, drawn at random at every start, makes every
 * request signed for an earlier boot fail (docs/PROTOCOL.md §3).
 */
import { checkAuthorization, MAX_CLOCK_SKEW_MS, newEpoch, type SignedParts } from '../dht2-core/protocol/index.js';

export type AuthVerdict = { ok: true } | { ok: false; status: 401 | 403; reason: string; staleEpoch?: boolean };

export class RequestAuthenticator {
  /** nonce → time seen; a Map iterates in insertion order, so pruning pops from the front. */
  private readonly seen = new Map<string, number>();

  /** This boot's epoch: new at every start, never stored. */
  readonly epoch: string;

  constructor(private readonly secret: string, private readonly now: () => number = Date.now, epoch: string = newEpoch()) {
    this.epoch = epoch;
  }

  check(authHeader: string | undefined, parts: SignedParts): AuthVerdict {
    if (!authHeader) return { ok: false, status: 401, reason: 'missing authorization' };
    const t = Number(parts.date);
    const now = this.now();
    if (!Number.isFinite(t) || Math.abs(now - t) > MAX_CLOCK_SKEW_MS) {
      return { ok: false, status: 403, reason: 'request date outside the allowed clock skew' };
    }
    if (!/^[0-9a-f]{32}$/.test(parts.nonce)) return { ok: false, status: 403, reason: 'malformed nonce' };
    // The epoch the request names (its header) must be this boot's; the signature is then
    // checked over this boot's epoch, so the header cannot say one thing and the MAC another.
    if (parts.epoch !== this.epoch) {
      return { ok: false, status: 403, reason: 'request signed for another brick epoch (the brick restarted)', staleEpoch: true };
    }
    if (!checkAuthorization(this.secret, authHeader, { ...parts, epoch: this.epoch })) return { ok: false, status: 403, reason: 'signature does not match' };
    this.prune(now);
    if (this.seen.has(parts.nonce)) return { ok: false, status: 403, reason: 'replayed request' };
    this.seen.set(parts.nonce, now);
    return { ok: true };
  }

  private prune(now: number): void {
    for (const [nonce, at] of this.seen) {
      if (now - at <= 2 * MAX_CLOCK_SKEW_MS) break;
      this.seen.delete(nonce);
    }
  }
}
