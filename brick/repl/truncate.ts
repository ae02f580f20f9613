/**
 * Which head of the log a member may truncate (ARCHITECTURE.md §10.13 "Truncation", ON-DISK-FORMAT
 * §6.1 "Truncating the head"): a pure decision, so that it is tested alone
 * (test/brick/repl/truncate.test.ts) and the replication module (node.ts) only gathers its inputs
 * and carries it out (`ReplLog.truncateHead`, then the core's mirror).
 *
 * Whole segments go, oldest first, never the last one (the one appended to). A segment may go
 * when every entry in it is
 *  1. applied on this member (the store holds it; `repl/applied` may lag, which only means a
 *     replay after a crash, and a leftover segment at or below the base is dropped at open);
 *  2. older than the minimum retention (`minRetainMs`, 10 minutes: the duplicate window of §10.4,
 *     so that a member restarted within it still finds a resent FOP's opId in its log);
 *  3. and either at or below the **low-water mark** (every member holds it, so none needs it from
 *     this log), or, on the primary only, past the **retention** (older than `retainMs`, 1 hour, or
 *     the log and its blobs beyond `retainBytes`, 4 GiB) and at or below the **pin** (a member
 *     being rebuilt by full copy needs every entry after its copy's index i0 from this log).
 *
 * A follower applies the retention through the low-water mark: the primary announces in each
 * `rappend` the higher of the members' lowest match index and its own base (core.ts), so a
 * follower truncates no further than the primary did, and so never past a pin only the primary
 * knows (a follower that becomes primary during a rebuild still holds the learner's entries).
 */

/** The retention figures (ARCHITECTURE.md §10.13); the brick's --repl-* flags and DHT2_REPL_* variables set them (bin/dht2.ts). */
export interface Retention {
  /** Past this age (ms) a segment may go though a member lacks it: that member then needs a full copy. */
  readonly retainMs: number;
  /** Nothing younger than this (ms) goes, whatever the other rules say. */
  readonly minRetainMs: number;
  /** Beyond this many bytes of segments and blobs, the oldest segments may go though a member lacks them. */
  readonly retainBytes: number;
}

export const DEFAULT_RETENTION: Retention = {
  retainMs: 60 * 60_000,
  minRetainMs: 10 * 60_000,
  retainBytes: 4 * 1024 ** 3,
};

/** One segment as the decision sees it. */
export interface SegmentView {
  readonly first: number;
  readonly last: number;
  /** The segment file's bytes plus its blobs'. */
  readonly bytes: number;
  /** The `at` (ms, the primary's wall clock, §10.4) of its newest entry: the segment's age runs from it. */
  readonly newestAt: number;
}

export interface TruncateInput {
  /** Oldest first; the last one is never removed. */
  readonly segments: readonly SegmentView[];
  /** Every entry up to this index is applied on this member. */
  readonly applied: number;
  /** Every member holds the entries up to this index (on a follower: as the primary announced it). */
  readonly lowWater: number;
  /**
   * The retention may remove entries up to this index, no further: the lowest copy index of the
   * members being rebuilt (Infinity when none). -Infinity: no retention rule at all (a follower).
   */
  readonly pin: number;
  /** Wall clock, ms. */
  readonly now: number;
}

export interface TruncateDecision {
  /** Truncate the head up to this index (the last index of the last segment that may go); 0 when none may. */
  readonly upTo: number;
  readonly segments: number;
  /** Why the last segment that may go may go. */
  readonly reason?: 'low-water' | 'age' | 'bytes';
}

export function decideTruncation(i: TruncateInput, r: Retention): TruncateDecision {
  let left = i.segments.reduce((n, s) => n + s.bytes, 0);
  let upTo = 0;
  let n = 0;
  let reason: TruncateDecision['reason'];
  for (let k = 0; k + 1 < i.segments.length; k++) {
    const s = i.segments[k]!;
    const age = i.now - s.newestAt;
    if (s.last > i.applied || age < r.minRetainMs) break;
    let why: TruncateDecision['reason'];
    if (s.last <= i.lowWater) why = 'low-water';
    else if (s.last <= i.pin && age >= r.retainMs) why = 'age';
    else if (s.last <= i.pin && left > r.retainBytes) why = 'bytes';
    else break;
    upTo = s.last;
    n++;
    reason = why;
    left -= s.bytes;
  }
  return reason === undefined ? { upTo: 0, segments: 0 } : { upTo, segments: n, reason };
}
