/**
 * The duplicate tables (brick/repl/dedup.ts; ARCHITECTURE.md §10.4 "Duplicates", §10.13
 * "As built (truncation)"): a truncated entry's opId stays known as applied for the duplicate
 * window, a stale row (a dropped suffix's) is never taken for applied, and the tables are bounded.
 */
import assert from 'node:assert/strict';
import { KEEP_REPLIES_MS, OpTable } from '../../../brick/repl/dedup.js';

describe('repl duplicate tables (ARCHITECTURE.md §10.4)', () => {
  it('a reply first, then where the opId is in the log, then its truncated index', () => {
    const t = new OpTable();
    t.noteEntry('a', 5, 2);
    t.noteEntry('b', 6, 2);
    t.noteEntry('c', 7, 1); // a stale row: index 7 was replaced by another entry in term 2
    assert.deepEqual(t.lookup('a'), { kind: 'log', index: 5, term: 2 });
    t.keep('b', { ok: true, res: 1 });
    assert.deepEqual(t.lookup('b'), { kind: 'reply', outcome: { ok: true, res: 1 } });
    const now = 1_000_000;
    t.truncated([{ opId: 'a', index: 5, term: 2, at: now }, { opId: 'x', index: 7, term: 2, at: now }], now);
    assert.deepEqual(t.lookup('a'), { kind: 'truncated', index: 5 });
    // The stale row is not taken for applied: it stays a log row, at or below the base, which
    // node.ts ignores (a resend of it is a new FOP: its entry was never committed).
    assert.deepEqual(t.lookup('c'), { kind: 'log', index: 7, term: 1 });
    assert.equal(t.lookup('x'), undefined, 'an opId the table never had in the log is not invented');
    assert.equal(t.lookup('zz'), undefined);
    // The truncated table keeps the duplicate window, by the entries' `at`.
    t.truncated([], now + KEEP_REPLIES_MS + 1);
    assert.equal(t.lookup('a'), undefined);
    t.noteEntry('d', 9, 3);
    t.clearLog();
    assert.equal(t.lookup('d'), undefined);
    assert.deepEqual(t.sizes, { inLog: 0, replies: 1, truncated: 0 });
  });

  it('a full copy\'s opIds are kept as applied (within the window, never over what the log says), and paged by index on the source', () => {
    const now = 2_000_000;
    const src = new OpTable();
    src.noteEntry('p', 3, 1);
    src.noteEntry('q', 4, 1);
    src.noteEntry('r', 8, 1);
    src.truncated([{ opId: 'p', index: 3, term: 1, at: now - 10 }, { opId: 'q', index: 4, term: 1, at: now - KEEP_REPLIES_MS - 1 }, { opId: 'r', index: 8, term: 1, at: now }], now - 5);
    // q is older than the window (swept); the page is in index order, within (after, upTo].
    assert.deepEqual(src.truncatedPage(0, 10, 10, now), [{ opId: 'p', index: 3, at: now - 10 }, { opId: 'r', index: 8, at: now }]);
    assert.deepEqual(src.truncatedPage(3, 7, 10, now), []);
    assert.deepEqual(src.truncatedPage(0, 10, 1, now), [{ opId: 'p', index: 3, at: now - 10 }]);
    const dst = new OpTable();
    dst.noteEntry('r', 8, 1); // in this member's log already (the tail): left as it is
    dst.copied([{ opId: 'p', index: 3, at: now - 10 }, { opId: 'old', index: 2, at: now - KEEP_REPLIES_MS }, { opId: 'r', index: 8, at: now }], now);
    assert.deepEqual(dst.lookup('p'), { kind: 'truncated', index: 3 });
    assert.deepEqual(dst.lookup('r'), { kind: 'log', index: 8, term: 1 });
    assert.equal(dst.lookup('old'), undefined, 'outside the duplicate window');
  });
});
