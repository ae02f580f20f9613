/**
 * The consensus core over a log that starts after a base (Raft's snapshot lastIncludedIndex and
 * lastIncludedTerm; ARCHITECTURE.md §10.13 "Truncation"): `MemLog`'s base, a follower that is
 * sent entries it already truncated, and a primary whose follower needs entries it no longer
 * holds (reported as needing a full copy, with a heartbeat from the base every HEARTBEAT_MS and
 * nothing sent back on each refusal).
 */
import assert from 'node:assert/strict';
import { HEARTBEAT_MS, MemLog, ReplCore, RESTART_QUIET_MS, type Action, type LogEntry, type Message } from '../../../brick/repl/core.js';
import type { Payload } from '../../helpers/repl-sim.js';
import { rng } from '../../helpers/rng.js';

const sends = (a: readonly Action<Payload>[]): Array<{ to: string; msg: Message<Payload> }> =>
  a.flatMap((x) => (x.type === 'send' ? [{ to: x.to, msg: x.msg }] : []));
const ofType = <T extends Action<Payload>['type']>(a: readonly Action<Payload>[], type: T): Array<Extract<Action<Payload>, { type: T }>> =>
  a.filter((x): x is Extract<Action<Payload>, { type: T }> => x.type === type);
const op = (term: number, index: number, c: number): LogEntry<Payload> => ({ term, index, kind: 'op', payload: { c } });
const ops = (term: number, from: number, to: number): Array<LogEntry<Payload>> => {
  const out: Array<LogEntry<Payload>> = [];
  for (let i = from; i <= to; i++) out.push(op(term, i, i));
  return out;
};

describe('repl core: a log after a base (ARCHITECTURE.md §10.13 truncation)', () => {
  it('MemLog keeps the base term for the (prevIndex, prevTerm) check and forgets what is below', () => {
    const l = new MemLog<Payload>(ops(2, 1, 10));
    l.truncateHead(6);
    assert.equal(l.baseIndex, 6);
    assert.equal(l.baseTerm, 2);
    assert.equal(l.termAt(6), 2);
    assert.equal(l.termAt(5), undefined);
    assert.equal(l.termAt(0), 0);
    assert.equal(l.lastIndex, 10);
    assert.deepEqual(l.entries(7, 8), [op(2, 7, 7), op(2, 8, 8)]);
    assert.throws(() => l.entries(6, 7), /at or below the base/);
    assert.throws(() => l.truncateFrom(6), /at or below the base/);
    l.truncateHead(4); // below the base: nothing
    assert.equal(l.baseIndex, 6);
    assert.throws(() => l.truncateHead(11), /past the last index/);
    l.truncateHead(10);
    assert.equal(l.lastIndex, 10);
    assert.equal(l.lastTerm, 2, 'an empty log after a base ends at the base, of the base term');
    l.append([op(3, 11, 11)]);
    assert.throws(() => l.append([op(3, 13, 13)]), /append of 13 after 11/);
    l.reset({ index: 40, term: 5 });
    assert.deepEqual([l.baseIndex, l.lastIndex, l.lastTerm, l.termAt(40), l.termAt(39)], [40, 40, 5, 5, undefined]);
    assert.throws(() => new MemLog<Payload>([op(1, 3, 3)], { index: 1, term: 1 }), /entry 2 has index 3/);
  });

  it('a core started on a log with a base counts the base committed and votes by the base term when empty', () => {
    const b = new ReplCore<Payload>({ id: 'b', voters: ['a', 'b', 'c'], rng: rng(1), now: 0, vote: { term: 4, votedFor: null }, log: new MemLog<Payload>([], { index: 50, term: 4 }) });
    assert.equal(b.commitIndex, 50);
    const t = RESTART_QUIET_MS + 1;
    for (const [lastTerm, lastIndex, granted] of [[4, 49, false], [3, 90, false], [4, 50, true]] as const) {
      const c = new ReplCore<Payload>({ id: 'b', voters: ['a', 'b', 'c'], rng: rng(1), now: 0, vote: { term: 4, votedFor: null }, log: new MemLog<Payload>([], { index: 50, term: 4 }) });
      const a = c.receive('a', { type: 'rvote', term: 5, pre: false, lastTerm, lastIndex }, t);
      const done = c.persisted('vote', ofType(a, 'persist-vote').at(-1)!.seq, t);
      assert.equal((sends(done)[0]!.msg as { granted: boolean }).granted, granted, `(${lastTerm}, ${lastIndex})`);
    }
  });

  it('a follower sent entries it truncated takes them as matching (committed) and appends the rest', () => {
    const log = new MemLog<Payload>(ops(1, 1, 20));
    log.truncateHead(15);
    const b = new ReplCore<Payload>({ id: 'b', voters: ['a', 'b', 'c'], rng: rng(1), now: 0, vote: { term: 1, votedFor: 'a' }, log });
    const t = RESTART_QUIET_MS + 1;
    // From index 10: 10..15 are below or at the base, 16..20 are here, 21..22 are new.
    const m: Message<Payload> = { type: 'rappend', term: 1, prevIndex: 9, prevTerm: 1, commit: 22, lowestMatch: 9, round: 3, entries: ops(1, 10, 22) };
    const a = b.receive('a', m, t);
    assert.deepEqual(ofType(a, 'write-log').map((w) => [w.truncateFrom, w.entries]), [[undefined, ops(1, 21, 22)]]);
    const acked = b.persisted('log', ofType(a, 'write-log')[0]!.seq, t + 1);
    assert.deepEqual(sends(acked), [{ to: 'a', msg: { type: 'rappend-reply', term: 1, ok: true, lastIndex: 22, round: 3 } }]);
    // A heartbeat from below the base, all of whose entries are truncated here: ok up to the base.
    const hb = b.receive('a', { ...m, prevIndex: 2, prevTerm: 1, entries: ops(1, 3, 5), round: 4 }, t + 2);
    assert.deepEqual(sends(hb), [{ to: 'a', msg: { type: 'rappend-reply', term: 1, ok: true, lastIndex: 15, round: 4 } }]);
    // A refusal's hint skips back over a conflicting term, never below the commit index, so never below the base.
    const log2 = new MemLog<Payload>(ops(1, 1, 20));
    log2.truncateHead(15);
    const c = new ReplCore<Payload>({ id: 'c', voters: ['a', 'b', 'c'], rng: rng(1), now: 0, vote: { term: 2, votedFor: 'a' }, log: log2 });
    const miss = c.receive('a', { ...m, term: 2, prevIndex: 20, prevTerm: 2, entries: [], commit: 15, round: 5 }, t);
    assert.deepEqual(sends(miss), [{ to: 'a', msg: { type: 'rappend-reply', term: 2, ok: false, lastIndex: 15, round: 5 } }]);
  });

  it('a primary whose follower needs truncated entries reports it and heartbeats it from the base, without a send per refusal', () => {
    // a is primary of term 2 over a log whose entries 1..30 are truncated.
    const log = new MemLog<Payload>(ops(1, 1, 40));
    const a = new ReplCore<Payload>({ id: 'a', voters: ['a', 'b', 'c'], rng: rng(3), now: 0, vote: { term: 1, votedFor: 'a' }, log });
    let t = a.nextWake();
    let acts = a.tick(t);
    acts = acts.concat(a.receive('b', { type: 'rvote-reply', term: 2, pre: true, granted: true }, t));
    acts = acts.concat(a.persisted('vote', ofType(acts, 'persist-vote').at(-1)!.seq, t));
    acts = a.receive('b', { type: 'rvote-reply', term: 2, pre: false, granted: true }, t);
    assert.equal(a.role, 'primary');
    const noop = ofType(acts, 'write-log')[0]!;
    a.persisted('log', noop.seq, t);
    log.truncateHead(30);
    const round = (sends(acts).find((s) => s.to === 'b')!.msg as { round: number }).round;
    // b is caught up; c answers that it holds only up to 12.
    a.receive('b', { type: 'rappend-reply', term: 2, ok: true, lastIndex: 41, round }, t + 1);
    assert.equal(a.serving, true);
    const refused = a.receive('c', { type: 'rappend-reply', term: 2, ok: false, lastIndex: 12, round }, t + 1);
    assert.equal(sends(refused).length, 0, 'no immediate resend: c cannot be repaired by replay');
    assert.deepEqual(a.peers(t + 1).find((p) => p.id === 'c')?.needsCopy, true);
    assert.deepEqual(a.peers(t + 1).find((p) => p.id === 'b')?.needsCopy, false);
    assert.equal(a.lowestMatch, 0, 'c has acknowledged nothing in this term: the low-water mark stays at 0');
    // A proposal goes to b only; the heartbeat goes to c from the base, with no entries.
    const p = a.propose({ c: 99 }, t + 2);
    assert.deepEqual(sends(p.actions).map((s) => s.to), ['b']);
    t += HEARTBEAT_MS + 1;
    const hb = sends(a.tick(t)).find((s) => s.to === 'c')!.msg as Extract<Message<Payload>, { type: 'rappend' }>;
    assert.deepEqual([hb.prevIndex, hb.prevTerm, hb.entries.length], [30, 1, 0]);
    // c rebuilt by full copy from index 35: its log now starts after 35; it answers ok to the heartbeat from 30.
    const back = a.receive('c', { type: 'rappend-reply', term: 2, ok: true, lastIndex: 35, round: hb.round }, t + 1);
    assert.equal(a.peers(t + 1).find((p) => p.id === 'c')?.needsCopy, false);
    const resend = sends(back).find((s) => s.to === 'c')!.msg as Extract<Message<Payload>, { type: 'rappend' }>;
    assert.deepEqual([resend.prevIndex, resend.entries[0]?.index], [35, 36]);
    assert.equal(a.lowestMatch, 35);
  });
});
