/**
 * The truncation decision (brick/repl/truncate.ts; ARCHITECTURE.md §10.13 "Truncation"): which
 * whole segments may go given the applied index, the low-water mark, their ages and sizes, and a
 * rebuild's pin.
 */
import assert from 'node:assert/strict';
import { decideTruncation, DEFAULT_RETENTION, type SegmentView, type TruncateInput } from '../../../brick/repl/truncate.js';

const MIN = 60_000;
const r = { retainMs: 60 * MIN, minRetainMs: 10 * MIN, retainBytes: 1000 };
const NOW = 1_000 * MIN;
/** Five segments of 10 entries (1..50) and 100 bytes, the k-th of age `ages[k]` minutes. */
const segs = (ages: number[], bytes = 100): SegmentView[] =>
  ages.map((a, k) => ({ first: k * 10 + 1, last: k * 10 + 10, bytes, newestAt: NOW - a * MIN }));
const input = (o: Partial<TruncateInput>): TruncateInput => ({
  segments: segs([50, 40, 30, 20, 0]), applied: 50, lowWater: 0, pin: Infinity, now: NOW, ...o,
});

describe('repl truncation decision (ARCHITECTURE.md §10.13)', () => {
  it('up to the low-water mark, by whole segments, never the last one', () => {
    assert.deepEqual(decideTruncation(input({ lowWater: 25 }), r), { upTo: 20, segments: 2, reason: 'low-water' });
    assert.deepEqual(decideTruncation(input({ lowWater: 9 }), r), { upTo: 0, segments: 0 });
    const all = decideTruncation(input({ lowWater: 50, segments: segs([90, 80, 70, 60, 50]) }), r);
    assert.deepEqual(all, { upTo: 40, segments: 4, reason: 'low-water' });
  });

  it('only what is applied here, and nothing younger than the minimum retention', () => {
    assert.deepEqual(decideTruncation(input({ lowWater: 50, applied: 29 }), r), { upTo: 20, segments: 2, reason: 'low-water' });
    // The fourth segment is 20 minutes old, the minimum is 10: it may go; at 30 it may not.
    assert.equal(decideTruncation(input({ lowWater: 50 }), r).upTo, 40);
    assert.equal(decideTruncation(input({ lowWater: 50 }), { ...r, minRetainMs: 30 * MIN }).upTo, 30);
    // A young segment stops the walk: nothing after it goes either.
    assert.equal(decideTruncation(input({ lowWater: 50, segments: segs([90, 5, 70, 60, 0]) }), r).upTo, 10);
  });

  it('past the retention, a member that lacks entries does not hold them back (it will need a full copy)', () => {
    const old = segs([90, 80, 70, 20, 0]);
    // Low-water 5 (a member away): the segments older than an hour go anyway.
    assert.deepEqual(decideTruncation(input({ segments: old, lowWater: 5 }), r), { upTo: 30, segments: 3, reason: 'age' });
    // …but not past a pin (a member rebuilt from index 12 needs 13 on).
    assert.deepEqual(decideTruncation(input({ segments: old, lowWater: 5, pin: 12 }), r), { upTo: 10, segments: 1, reason: 'age' });
    // A follower (no retention rule of its own, -Infinity) goes by the announced mark only.
    assert.deepEqual(decideTruncation(input({ segments: old, lowWater: 5, pin: -Infinity }), r), { upTo: 0, segments: 0 });
    assert.deepEqual(decideTruncation(input({ segments: old, lowWater: 25, pin: -Infinity }), r), { upTo: 20, segments: 2, reason: 'low-water' });
  });

  it('beyond the byte retention, the oldest segments go until the rest fits', () => {
    // Five segments of 300 bytes = 1500 > 1000: two go (1500 → 900), though they are young enough to stay by age.
    const s = segs([50, 40, 30, 20, 0], 300);
    assert.deepEqual(decideTruncation(input({ segments: s, lowWater: 0 }), r), { upTo: 20, segments: 2, reason: 'bytes' });
    assert.deepEqual(decideTruncation(input({ segments: s, lowWater: 0, pin: 10 }), r), { upTo: 10, segments: 1, reason: 'bytes' });
    // Never what is younger than the minimum retention, even over the bytes.
    assert.deepEqual(decideTruncation(input({ segments: segs([5, 4, 3, 2, 0], 300), lowWater: 0 }), r), { upTo: 0, segments: 0 });
  });

  it('defaults: 1 hour, at least 10 minutes, 4 GiB', () => {
    assert.deepEqual(DEFAULT_RETENTION, { retainMs: 3_600_000, minRetainMs: 600_000, retainBytes: 4 * 1024 ** 3 });
  });
});
