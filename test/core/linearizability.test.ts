/**
 * The linearizability checker (test/helpers/linearizability.ts) and the volume model
 * (test/helpers/volume-model.ts), ARCHITECTURE.md §10.11 and §10.15 slice 9: hand-made histories
 * that must pass, the checker's self-tests (a stale read, a lost write, two If-None-Match winners),
 * seeded random histories from real sequential executions (must pass) and the same with one
 * answer changed (checked against a brute-force search over every order), and the budget. Pure
 * and fast.
 */
import assert from 'node:assert/strict';
import { checkLinearizable, type CheckResult } from '../helpers/linearizability.js';
import { rng } from '../helpers/rng.js';
import { md5Etag, volumeModel, type VolumeInput, type VolumeOp, type VolumeOperation, type VolumeOutput } from '../helpers/volume-model.js';

const model = volumeModel();
const OK: VolumeOutput = { status: 'ok' };
const ABSENT: VolumeOutput = { status: 'absent' };
const PF: VolumeOutput = { status: 'precondition-failed' };
const got = (value: string): VolumeOutput => ({ status: 'ok', value });

/** One operation; `ret` undefined: unknown outcome (then `output` is ignored). */
function op(client: string, o: VolumeOp, key: string, input: VolumeInput, output: VolumeOutput | undefined, call: number, ret: number | undefined): VolumeOperation {
  const x: VolumeOperation = { client, op: o, key, input, call, return: ret, output: ret === undefined ? undefined : output };
  if (o === 'rename') x.keys = [input.to!];
  return x;
}
const check = (h: VolumeOperation[]) => checkLinearizable(h, model);
function assertOk(r: CheckResult<VolumeInput, VolumeOutput>): void {
  assert.equal(r.ok, true, r.ok === false ? r.explanation : JSON.stringify(r));
}
function assertBad(r: CheckResult<VolumeInput, VolumeOutput>): Extract<typeof r, { ok: false }> {
  assert.equal(r.ok, false, JSON.stringify(r));
  return r as Extract<typeof r, { ok: false }>;
}

describe('linearizability checker (ARCHITECTURE.md §10.11)', () => {
  describe('linearizable histories pass', () => {
    it('overlapping puts and gets, linearized in an order other than their calls', () => {
      assertOk(check([
        op('a', 'put', 'k', { value: 'A' }, OK, 0, 10),
        op('b', 'put', 'k', { value: 'B' }, OK, 2, 8),
        op('c', 'get', 'k', {}, got('B'), 1, 3), // B took effect inside [2, 3]
        op('c', 'get', 'k', {}, got('A'), 9, 12), // then A, inside [9, 10]
        op('b', 'get', 'k', {}, got('A'), 13, 14),
      ]));
      // The same gets seeing A before B: A first (inside [2, 8]), B after, also legal.
      assertOk(check([
        op('a', 'put', 'k', { value: 'A' }, OK, 0, 10),
        op('b', 'put', 'k', { value: 'B' }, OK, 2, 8),
        op('c', 'get', 'k', {}, got('A'), 1, 4),
        op('c', 'get', 'k', {}, got('B'), 5, 11),
      ]));
    });

    it('keys are independent; absent before the first put and after a delete; S3 deletes an absent key', () => {
      assertOk(check([
        op('a', 'get', 'k', {}, ABSENT, 0, 1),
        op('a', 'put', 'k', { value: 'A' }, { status: 'ok', etag: md5Etag('A') }, 2, 3),
        op('b', 'put', 'j', { value: 'J' }, OK, 2, 3),
        op('b', 'delete', 'k', { absentOk: true }, OK, 4, 5),
        op('a', 'delete', 'k', { absentOk: true }, OK, 6, 7),
        op('a', 'get', 'k', {}, ABSENT, 8, 9),
        op('b', 'get', 'j', {}, { status: 'ok', value: 'J', etag: md5Etag('J') }, 8, 9),
      ]));
    });

    it('an unknown-outcome write that took effect, that did not, and that took effect late', () => {
      const base = [op('a', 'put', 'k', { value: 'A' }, OK, 0, 1), op('b', 'put', 'k', { value: 'B' }, undefined, 2, undefined)];
      assertOk(check([...base, op('a', 'get', 'k', {}, got('B'), 5, 6), op('a', 'get', 'k', {}, got('B'), 7, 8)]));
      assertOk(check([...base, op('a', 'get', 'k', {}, got('A'), 5, 6), op('a', 'get', 'k', {}, got('A'), 7, 8)]));
      assertOk(check([...base, op('a', 'get', 'k', {}, got('A'), 5, 6), op('a', 'get', 'k', {}, got('B'), 700, 800)]));
      // A read that timed out says nothing and is dropped.
      assertOk(check([...base, op('c', 'get', 'k', {}, undefined, 3, undefined)]));
    });

    it('If-None-Match: one winner; If-Match with the ETag read; a failed If-Match changes nothing', () => {
      assertOk(check([
        op('a', 'put-if-none-match', 'k', { value: 'A' }, PF, 0, 10),
        op('b', 'put-if-none-match', 'k', { value: 'B' }, OK, 1, 9),
        op('a', 'get', 'k', {}, { status: 'ok', value: 'B', etag: md5Etag('B') }, 11, 12),
        op('a', 'put-if-match', 'k', { value: 'C', etag: md5Etag('B') }, OK, 13, 14),
        op('b', 'put-if-match', 'k', { value: 'D', etag: md5Etag('B') }, PF, 15, 16),
        op('b', 'put-if-match', 'x', { value: 'D', etag: md5Etag('B') }, PF, 15, 16),
        op('b', 'get', 'k', {}, got('C'), 17, 18),
      ]));
    });

    it('appends from two clients in one order, with the sizes they answered', () => {
      const h = (read: string) => [
        op('a', 'put', 'f', { value: '' }, OK, 0, 1),
        op('a', 'append', 'f', { value: 'aa' }, { status: 'ok', size: 2 }, 2, 10),
        op('b', 'append', 'f', { value: 'bbb' }, { status: 'ok', size: 5 }, 3, 9),
        op('c', 'get', 'f', {}, got(read), 11, 12),
      ];
      assertOk(check(h('aabbb')));
      // The sizes say aa came first: bbbaa cannot be.
      assertBad(check(h('bbbaa')));
      // A file API append answers the MDS's cached size, which a longer append may have raised.
      const raised = [...h('aabbb')];
      raised[1] = op('a', 'append', 'f', { value: 'aa' }, { status: 'ok', size: 5 }, 2, 10);
      assertBad(check(raised));
      assertOk(checkLinearizable(raised, volumeModel({ appendSize: 'at-least' })));
    });

    it('rename moves a key: both keys are one partition', () => {
      assertOk(check([
        op('a', 'put', 'src', { value: 'A' }, OK, 0, 1),
        op('a', 'rename', 'src', { to: 'dst' }, OK, 2, 3),
        op('b', 'get', 'dst', {}, got('A'), 4, 5),
        op('b', 'get', 'src', {}, ABSENT, 4, 5),
      ]));
      assertBad(check([
        op('a', 'put', 'src', { value: 'A' }, OK, 0, 1),
        op('a', 'rename', 'src', { to: 'dst' }, OK, 2, 3),
        op('b', 'get', 'src', {}, got('A'), 4, 5),
      ]));
    });
  });

  describe("the checker's self-tests (§10.15 slice 9)", () => {
    it('catches a stale read: a get returns an older value after a newer write completed before it started', () => {
      const r = assertBad(check([
        op('a', 'put', 'k', { value: 'old' }, OK, 0, 1),
        op('a', 'put', 'k', { value: 'new' }, OK, 2, 3),
        op('b', 'get', 'k', {}, got('new'), 4, 5),
        op('b', 'get', 'k', {}, got('old'), 6, 7),
        op('c', 'put', 'other', { value: 'x' }, OK, 0, 9),
      ]));
      assert.equal(r.key, 'k');
      assert.equal(r.failingPartitions, 1);
      // The window: the two writes and the stale get (the get that saw "new" is not needed).
      assert.deepEqual(r.window.map((o) => `${o.op} ${o.input.value ?? (o.output as { value?: string }).value}`), ['put old', 'put new', 'get old']);
      assert.match(r.explanation, /^key k: not linearizable; these 3 of its 4 operations/);
      assert.match(r.explanation, /get k → "old"/);
      assert.match(r.explanation, /the longest legal order found is put k "old" → ok; put k "new" → ok \(state then: k="new"\); after it, get k → "old" cannot take effect/);
    });

    it('catches a lost write: an acknowledged put never seen again while later reads see the value before it', () => {
      const r = assertBad(check([
        op('a', 'put', 'k', { value: 'v1' }, OK, 0, 1),
        op('b', 'put', 'k', { value: 'v2' }, OK, 2, 3), // acknowledged, then lost
        op('a', 'get', 'k', {}, got('v1'), 10, 11),
        op('b', 'get', 'k', {}, got('v1'), 12, 13),
      ]));
      assert.deepEqual(r.window.map((o) => o.op), ['put', 'put', 'get']);
      assert.match(r.explanation, /put k "v2" → ok/);
    });

    it('catches two clients both winning If-None-Match on one key', () => {
      const r = assertBad(check([
        op('a', 'put-if-none-match', 'k', { value: 'A' }, OK, 0, 10),
        op('b', 'put-if-none-match', 'k', { value: 'B' }, OK, 1, 9),
        op('c', 'get', 'k', {}, got('B'), 11, 12),
      ]));
      assert.deepEqual(r.window.map((o) => `${o.client} ${o.op}`), ['a put-if-none-match', 'b put-if-none-match']);
    });

    it('catches an unknown-outcome write that took effect and then vanished, or that was seen before its call', () => {
      assertBad(check([
        op('a', 'put', 'k', { value: 'A' }, OK, 0, 1),
        op('b', 'put', 'k', { value: 'B' }, undefined, 2, undefined),
        op('a', 'get', 'k', {}, got('B'), 5, 6),
        op('a', 'get', 'k', {}, got('A'), 7, 8),
      ]));
      assertBad(check([
        op('a', 'get', 'k', {}, got('B'), 0, 1),
        op('b', 'put', 'k', { value: 'B' }, undefined, 2, undefined),
      ]));
    });
  });

  describe('random histories from real sequential executions', () => {
    it('always pass (200 seeds, 3 clients, 3 keys, 120 operations, 10 % unknown outcomes)', () => {
      for (let seed = 1; seed <= 200; seed++) {
        const h = generate(seed, { clients: 3, keys: 3, ops: 120, unknown: 0.1, mix: seed % 2 ? 'objects' : 'files' });
        const r = check(h);
        assert.equal(r.ok, true, `seed ${seed}: ${r.ok === false ? r.explanation : JSON.stringify(r)}`);
      }
    });

    it('with one answer changed: the checker agrees with a brute-force search over every order, and catches the fixed seeds', () => {
      let caught = 0;
      let mutated = 0;
      const failing: number[] = [];
      for (let seed = 1; seed <= 600; seed++) {
        const h = generate(seed, { clients: 3, keys: 2, ops: 7, unknown: 0.15, mix: seed % 2 ? 'objects' : 'files' });
        assert.equal(bruteForce(h), true, `seed ${seed}: the generator made a history no order explains`);
        if (!mutate(h, rng(seed * 7919))) continue;
        mutated++;
        const want = bruteForce(h);
        const r = check(h);
        assert.notEqual(r.ok, 'unknown');
        assert.equal(r.ok, want, `seed ${seed}: checker says ${String(r.ok)}, brute force ${String(want)}\n${JSON.stringify(h)}`);
        if (!want) { caught++; failing.push(seed); }
      }
      // A changed answer usually cannot be explained (it may be, when the operation overlapped a
      // write that makes the new answer legal).
      assert.ok(mutated > 500 && caught / mutated > 0.6, `${caught} of ${mutated} mutated histories caught`);
      for (const s of [1, 2, 3, 5, 8, 13]) assert.ok(failing.includes(s), `seed ${s} no longer fails: ${failing.slice(0, 20).join(' ')}`);
      // Longer histories, mutated: the same fixed seeds are caught.
      for (const seed of [1, 2, 3, 4, 5, 6]) {
        const h = generate(seed, { clients: 3, keys: 2, ops: 60, unknown: 0.1, mix: 'objects' });
        assert.ok(mutate(h, rng(seed), 'get'));
        assert.equal(check(h).ok, false, `long seed ${seed}`);
      }
    });
  });

  describe('budget', () => {
    it('answers unknown rather than hanging when a partition is too wide to search', () => {
      // 40 concurrent puts and a read of a value nobody wrote: every subset of puts in every
      // state is a new memo entry (2^40 x 40) before the search can give up.
      const h: VolumeOperation[] = [];
      for (let i = 0; i < 40; i++) h.push(op(`c${i}`, 'put', 'k', { value: `v${i}` }, OK, i, 1000 + i));
      h.push(op('r', 'get', 'k', {}, got('nobody'), 2000, 2001));
      let t = performance.now();
      const bySteps = checkLinearizable(h, model, { maxSteps: 20_000 });
      assert.equal(bySteps.ok, 'unknown');
      assert.match((bySteps as { reason: string }).reason, /more than 20000 steps over 41 operations/);
      assert.ok(performance.now() - t < 2000);
      t = performance.now();
      const byTime = checkLinearizable(h, model, { budgetMs: 100 });
      assert.equal(byTime.ok, 'unknown');
      assert.equal((byTime as { key: string }).key, 'k');
      assert.ok(performance.now() - t < 1000, `${performance.now() - t} ms`);
      // A failure elsewhere wins over unknown.
      const bad = checkLinearizable([...h, op('a', 'get', 'z', {}, got('x'), 0, 1)], model, { maxSteps: 20_000 });
      assert.equal(bad.ok, false);
    });
  });
});

/** A reference store: sequential semantics written apart from the model's `step`. */
class Reference {
  m = new Map<string, { value: string; etag: string }>();
  private opaque = 0;
  apply(o: VolumeOperation): VolumeOutput {
    const cur = this.m.get(o.key);
    const v = o.input.value!;
    switch (o.op) {
      case 'put': this.m.set(o.key, { value: v, etag: md5Etag(v) }); return OK;
      case 'put-if-none-match': if (cur) return PF; this.m.set(o.key, { value: v, etag: md5Etag(v) }); return OK;
      case 'put-if-match': if (!cur || cur.etag !== o.input.etag) return PF; this.m.set(o.key, { value: v, etag: md5Etag(v) }); return OK;
      case 'get': return cur ? got(cur.value) : ABSENT;
      case 'delete': this.m.delete(o.key); return OK;
      case 'append': if (!cur) return ABSENT; this.m.set(o.key, { value: cur.value + v, etag: `opaque${++this.opaque}` }); return { status: 'ok', size: Buffer.byteLength(cur.value + v) };
      case 'rename': {
        if (!cur) return ABSENT;
        this.m.delete(o.key);
        this.m.set(o.input.to!, cur);
        return OK;
      }
    }
  }
  clone(): Reference {
    const r = new Reference();
    r.m = new Map(this.m);
    r.opaque = this.opaque;
    return r;
  }
}

const same = (a: VolumeOutput, b: VolumeOutput): boolean => JSON.stringify(a) === JSON.stringify(b);

/**
 * A history from a real execution: clients call operations; each takes effect on the reference
 * at one moment between its call and its return (or, for an unknown outcome, at any later
 * moment, or never). Integer ticks, one event per tick.
 */
function generate(seed: number, o: { clients: number; keys: number; ops: number; unknown: number; mix: 'objects' | 'files' }): VolumeOperation[] {
  const r = rng(seed);
  const pick = <T>(xs: readonly T[]): T => xs[Math.floor(r() * xs.length)]!;
  const keys = Array.from({ length: o.keys }, (_, i) => `k${i}`);
  const kinds: VolumeOp[] = o.mix === 'objects'
    ? ['put', 'put', 'get', 'get', 'get', 'put-if-none-match', 'put-if-match', 'delete']
    : ['put', 'append', 'append', 'get', 'get', 'delete', 'rename'];
  const ref = new Reference();
  const written = new Map<string, string[]>();
  const history: VolumeOperation[] = [];
  type Flight = { o: VolumeOperation; out?: VolumeOutput; done: boolean; lost: boolean };
  const busy = new Map<number, Flight>();
  const floating: Flight[] = [];
  let t = 0;
  let n = 0;
  while (n < o.ops || busy.size > 0 || floating.length > 0) {
    t++;
    const choices: Array<() => void> = [];
    const idle = Array.from({ length: o.clients }, (_, i) => i).filter((c) => !busy.has(c));
    if (n < o.ops && idle.length > 0) {
      choices.push(() => {
        const c = pick(idle);
        const kind = pick(kinds);
        const key = pick(keys);
        const value = `<${seed}.${n}>`;
        const input: VolumeInput = {};
        if (kind !== 'get' && kind !== 'delete' && kind !== 'rename') input.value = value;
        if (kind === 'delete') input.absentOk = true;
        if (kind === 'put-if-match') input.etag = md5Etag(pick([...(written.get(key) ?? []), 'none']));
        if (kind === 'rename') input.to = pick(keys.filter((k) => k !== key));
        if (input.value !== undefined) written.set(key, [...(written.get(key) ?? []), value]);
        const x = op(`c${c}`, kind, key, input, undefined, t, undefined);
        history.push(x);
        busy.set(c, { o: x, done: false, lost: false });
        n++;
      });
    }
    for (const [c, f] of busy) {
      if (!f.done) {
        choices.push(() => { f.out = ref.apply(f.o); f.done = true; });
        if (r() < o.unknown) {
          // The client gives up (timeout): the outcome is unknown; it may still take effect.
          choices.push(() => { busy.delete(c); if (r() < 0.5) floating.push(f); });
        }
      } else {
        choices.push(() => { f.o.return = t; f.o.output = f.out; busy.delete(c); });
      }
    }
    for (const f of floating) choices.push(() => { ref.apply(f.o); floating.splice(floating.indexOf(f), 1); });
    pick(choices)();
  }
  return history;
}

/** Changes one known answer (of a get only, with `only`); false when there is none to change. */
function mutate(h: VolumeOperation[], r: () => number, only?: VolumeOp): boolean {
  const cands = h.filter((x) => x.output !== undefined && (only ? x.op === only : ['get', 'put-if-none-match', 'put-if-match', 'append'].includes(x.op)));
  if (cands.length === 0) return false;
  const x = cands[Math.floor(r() * cands.length)]!;
  const out = x.output!;
  switch (x.op) {
    case 'get': {
      const others = h.filter((y) => y.key === x.key && y.input.value !== undefined && !(out.status === 'ok' && out.value === y.input.value));
      x.output = out.status === 'absent' || (others.length > 0 && r() < 0.8)
        ? (others.length ? got(others[Math.floor(r() * others.length)]!.input.value!) : got('never written'))
        : ABSENT;
      return true;
    }
    case 'put-if-none-match': case 'put-if-match': x.output = out.status === 'ok' ? PF : OK; return true;
    case 'append': x.output = out.status === 'ok' ? { status: 'ok', size: out.size! + 1 } : { status: 'ok', size: 1 }; return true;
    default: return false;
  }
}

/**
 * Every order that respects real time (an operation that returned before another's call comes
 * first; ties are concurrent), run on the reference; an unknown-outcome operation may be left
 * out. Exponential: small histories only.
 */
function bruteForce(h: readonly VolumeOperation[]): boolean {
  const known = (x: VolumeOperation) => x.return !== undefined;
  const done = new Array<boolean>(h.length).fill(false);
  const dfs = (ref: Reference, left: number): boolean => {
    if (left === 0) return true;
    for (let i = 0; i < h.length; i++) {
      if (done[i]) continue;
      const x = h[i]!;
      if (h.some((y, j) => !done[j] && known(y) && y.return! < x.call)) continue;
      const next = ref.clone();
      const out = next.apply(x);
      if (known(x) && !same(out, x.output!)) continue;
      done[i] = true;
      const ok = dfs(next, left - (known(x) ? 1 : 0));
      done[i] = false;
      if (ok) return true;
    }
    return false;
  };
  return dfs(new Reference(), h.filter(known).length);
}
