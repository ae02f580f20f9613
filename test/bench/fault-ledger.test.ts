/**
 * The ledger check of the fault load test (issue 13): which final states of a key its writes
 * allow, given what the client saw of each and when `dht2 local` was restarted.
 */
import assert from 'node:assert/strict';
import { ABSENT, allowedStates, checkKey, effectDeadline, formatProblem, type Incarnation, type LedgerWrite } from '../../bench/fault-ledger.js';

let seq = 0;
const w = (kind: LedgerWrite['kind'], outcome: LedgerWrite['outcome'], start: number, end: number, sha256?: string): LedgerWrite => ({
  seq: ++seq, worker: 0, kind, start, end, outcome, ...(sha256 ? { sha256, size: 1 } : {}),
});
const states = (writes: LedgerWrite[], inc: Incarnation[] = [{ start: 0 }]) => [...allowedStates(writes, inc).states].sort();

describe('fault load ledger (issue 13)', () => {
  it('a key never written acknowledged may only be absent, or what an unacknowledged write sent', () => {
    assert.deepEqual(states([]), [ABSENT]);
    assert.deepEqual(states([w('put', 'rejected', 0, 1, 'a')]), ['a', ABSENT].sort());
    assert.deepEqual(states([w('put', 'refused', 0, 1, 'a')]), [ABSENT], 'a refused request was never sent');
  });

  it('the last acknowledged write wins over earlier writes that were done before it started', () => {
    assert.deepEqual(states([w('put', 'acked', 0, 1, 'a'), w('put', 'acked', 2, 3, 'b')]), ['b']);
    assert.deepEqual(states([w('put', 'rejected', 0, 1, 'a'), w('put', 'acked', 2, 3, 'b')]), ['b'], 'a reply ends a request');
    assert.deepEqual(states([w('put', 'acked', 0, 1, 'a'), w('delete', 'acked', 2, 3)]), [ABSENT]);
  });

  it('unacknowledged writes after the last acknowledged one may have taken effect', () => {
    assert.deepEqual(states([w('put', 'acked', 0, 1, 'a'), w('put', 'rejected', 2, 3, 'b')]), ['a', 'b']);
    assert.deepEqual(states([w('delete', 'acked', 0, 1), w('put', 'hung', 2, 3, 'b')]), [ABSENT, 'b'].sort());
    assert.deepEqual(states([w('put', 'acked', 0, 1, 'a'), w('delete', 'cut', 2, 3)]), [ABSENT, 'a'].sort());
    assert.deepEqual(states([w('put', 'acked', 0, 1, 'a'), w('put', 'refused', 2, 3, 'b')]), ['a']);
  });

  it('a cut or hung write may land after later writes until the dht2 local that received it exits', () => {
    const writes = [w('put', 'cut', 0, 1, 'a'), w('put', 'acked', 5, 6, 'b')];
    assert.deepEqual(states(writes, [{ start: 0 }]), ['a', 'b'], 'still running: it may land any time');
    assert.deepEqual(states(writes, [{ start: 0, exit: 10 }, { start: 11 }]), ['a', 'b'], 'its gateway exited after b started');
    assert.deepEqual(states(writes, [{ start: 0, exit: 2 }, { start: 3 }]), ['b'], 'its gateway exited before b started');
    assert.equal(effectDeadline(w('put', 'hung', 0, 4), [{ start: 0, exit: 2 }, { start: 3, exit: 9 }]), 9, 'the one up when the client gave up');
    assert.equal(effectDeadline(w('put', 'rejected', 0, 4), []), 4);
    assert.equal(effectDeadline(w('put', 'refused', 0, 4), []), -Infinity);
  });

  it('checkKey reports a lost acknowledged write with the key\'s ledger', () => {
    const writes = [w('put', 'acked', 0, 1000, 'aaaaaaaaaaaaaaaa'), w('put', 'acked', 2000, 3000, 'bbbbbbbbbbbbbbbb')];
    assert.equal(checkKey('k', 'bbbbbbbbbbbbbbbb', writes, []), undefined);
    const p = checkKey('a/b/c/k', ABSENT, writes, []);
    assert.ok(p?.acked);
    assert.deepEqual(p.allowed, ['bbbbbbbbbbbbbbbb']);
    const text = formatProblem(p);
    assert.match(text, /^a\/b\/c\/k: read absent, allowed bbbbbbbbbbbb\n/);
    assert.match(text, /put acked 2\.00-3\.00s 1 B bbbbbbbbbbbb/);
    assert.equal(checkKey('k', 'x', [w('put', 'rejected', 0, 1, 'a')], [])?.acked, false, 'nothing acknowledged: not a lost write');
  });
});
