/**
 * The rebuild's rules that are arithmetic on what it sees (brick/repl/rebuild.ts): the pause
 * between runs that stop short, and which rebooted members fall back when the whole set lost
 * power under `--no-sync` (ON-DISK-FORMAT.md §6.5 "As built (boot id)"). The real bricks of both
 * are in test/core/repl-rebuild.test.ts.
 */
import assert from 'node:assert/strict';
import type { ReplStatus } from '../../../dht2-core/protocol/index.js';
import { lostPowerChoice, retryPauseMs } from '../../../brick/repl/rebuild.js';

const REBUILD = {
  fromIndex: 0, phase: 'copy' as const, copiedObjects: 0, copiedBytes: 0, skippedObjects: 0, removedObjects: 0, totalObjects: 0, totalBytes: 0,
};

function st(brick: string, kind: 'rebooted' | 'healthy' | 'copying' | 'corrupt'): ReplStatus {
  return {
    set: 's', brick, term: 3, lastIndex: 10, commitIndex: 0, appliedIndex: 10, leaseValid: false,
    role: kind === 'healthy' ? 'candidate' : 'learner',
    state: kind === 'corrupt' ? 'corrupt' : 'ok',
    ...(kind === 'rebooted' || kind === 'corrupt' ? { rebuild: { source: '', ...REBUILD } } : {}),
    ...(kind === 'copying' ? { rebuild: { source: 'c', ...REBUILD } } : {}),
  };
}

describe('rebuild rules (brick/repl/rebuild.ts)', () => {
  it('a run that stops short is tried again after 1 s, doubling to at most 30 s', () => {
    assert.deepEqual([1, 2, 3, 4, 5, 6, 7, 100].map(retryPauseMs), [1000, 2000, 4000, 8000, 16_000, 30_000, 30_000, 30_000]);
  });

  it('every member of three rebooted: the two lowest ids fall back, the third waits for their primary', () => {
    const members = ['a', 'b', 'c'];
    assert.equal(lostPowerChoice('a', members, [st('b', 'rebooted'), st('c', 'rebooted')]).fallBack, true);
    assert.equal(lostPowerChoice('b', members, [st('a', 'rebooted'), st('c', 'rebooted')]).fallBack, true);
    assert.equal(lostPowerChoice('c', members, [st('a', 'rebooted'), st('b', 'rebooted')]).fallBack, false);
    // Once a fell back (a voter now, no record), b is still needed and c still is not.
    assert.equal(lostPowerChoice('b', members, [st('a', 'healthy'), st('c', 'rebooted')]).fallBack, true);
    assert.equal(lostPowerChoice('c', members, [st('a', 'healthy'), st('b', 'rebooted')]).fallBack, false);
    // a does not answer: b and c are the majority and both fall back.
    assert.equal(lostPowerChoice('c', members, [undefined, st('b', 'rebooted')]).fallBack, true);
  });

  it('a healthy majority, or rebooted learners fewer than a majority, means no fallback', () => {
    const members = ['a', 'b', 'c'];
    assert.equal(lostPowerChoice('a', members, [st('b', 'healthy'), st('c', 'healthy')]).fallBack, false);
    // c is down, b healthy: a waits (b keeps writes a may lack).
    assert.equal(lostPowerChoice('a', members, [st('b', 'healthy'), undefined]).fallBack, false);
    // A member with a real source, or a corrupt one, is not counted.
    assert.equal(lostPowerChoice('a', members, [st('b', 'copying'), st('c', 'rebooted')]).fallBack, true);
    assert.equal(lostPowerChoice('a', members, [st('b', 'copying'), st('c', 'corrupt')]).fallBack, false);
  });

  it('one healthy member and two rebooted: only one falls back, so the healthy one is outvoted by as few as can be', () => {
    const members = ['a', 'b', 'c'];
    assert.equal(lostPowerChoice('a', members, [st('b', 'rebooted'), st('c', 'healthy')]).fallBack, true);
    assert.equal(lostPowerChoice('b', members, [st('a', 'rebooted'), st('c', 'healthy')]).fallBack, false);
    // Five members, two healthy: one of the three rebooted falls back.
    const five = ['a', 'b', 'c', 'd', 'e'];
    const others = (self: string): Array<ReplStatus | undefined> => five.filter((m) => m !== self)
      .map((m) => st(m, m === 'd' || m === 'e' ? 'healthy' : 'rebooted'));
    assert.deepEqual(['a', 'b', 'c'].filter((m) => lostPowerChoice(m, five, others(m)).fallBack), ['a']);
  });
});
