/**
 * A Porcupine-style linearizability checker (ARCHITECTURE.md §10.11, last paragraph; §10.15
 * slice 9): is a concurrent history of operations equivalent to some sequential execution of a
 * model that respects real time (Herlihy and Wing, "Linearizability: a correctness condition for
 * concurrent objects", 1990)?
 *
 * The search is Wing and Gong's ("Testing and verifying concurrent objects", 1993) with Lowe's
 * memoization ("Testing for linearizability", 2017): the history is a list of call and return
 * entries in time order; the search linearizes any operation whose call comes before the first
 * pending return, lifts it out of the list, and backtracks when it reaches a return whose
 * operation no state lets it linearize. A (set of linearized operations, model state) pair seen
 * before is never explored again. P-compositionality (Horn and Kroening, "Faster
 * linearizability checking via P-compositionality", 2015): linearizability is local, so the
 * history is split by key (keys joined by an operation that touches several, as a rename does)
 * and each part is checked alone, with its own budget.
 *
 * An operation whose outcome is unknown (a timeout, a 5xx, a reset connection: it may have been
 * applied) has no return: it may take effect at any point after its call, or never. Its return is
 * +Infinity, so the search may place it anywhere after its call, including after every other
 * operation, which is "never" as far as anything observed is concerned; the model's `step` must
 * then accept any output (it has none). A read-only operation without an outcome says nothing
 * and is dropped.
 *
 * Independent of the replication module: it checks histories, whoever made them.
 */

/** One operation of a history. Times are from one clock (e.g. `performance.now()`, ms). */
export interface Operation<I = unknown, O = unknown> {
  client: string | number;
  /** The key (object key, file path) the operation is about. */
  key: string;
  /** Further keys it touches (a rename's destination): their partitions are checked as one. */
  keys?: readonly string[];
  op: string;
  input: I;
  /** Undefined when the outcome is unknown. */
  output?: O;
  call: number;
  /** Undefined or Infinity: the outcome is unknown (it may take effect after `call`, or never). */
  return?: number;
}

/**
 * The sequential specification (Porcupine's `Model`). States are values: `step` must not change
 * the state it is given.
 */
export interface Model<S, I = unknown, O = unknown> {
  /** The state of a partition holding these keys before any operation. */
  init(keys: readonly string[]): S;
  /**
   * The states the operation may lead to from `state` when it answered `op.output` (undefined:
   * unknown, any answer). Empty: it cannot have answered that in that state. More than one: the
   * model is not deterministic for this answer (Porcupine's NondeterministicModel).
   */
  step(state: S, op: Operation<I, O>): readonly S[];
  /** Equal states, equal strings (the memo key). */
  stateKey(state: S): string;
  describeState?(state: S): string;
  describeOp?(op: Operation<I, O>): string;
  /** Operations with no effect: dropped when their outcome is unknown. */
  readOnly?(op: Operation<I, O>): boolean;
  /**
   * For the explanation only: the values an operation writes and the values it saw. A writer
   * whose value a kept operation saw is kept in the bad window, so the window does not shrink to
   * "a read of a value nobody wrote". A written value is seen when it equals or is contained in
   * the seen one (appends); values starting with NUL match only exactly.
   */
  writes?(op: Operation<I, O>): readonly string[];
  observes?(op: Operation<I, O>): readonly string[];
}

export interface CheckOptions {
  /** Wall-clock budget per partition, ms (default 10 000). */
  budgetMs?: number;
  /** Model steps per partition (default 2 000 000): bounds the memo's memory too. */
  maxSteps?: number;
  /** Time spent shrinking a failing partition to a small bad window, ms (default 2000). */
  explainMs?: number;
}

export type CheckResult<I = unknown, O = unknown> =
  | { ok: true; partitions: number; operations: number }
  | {
    ok: false;
    /** The keys of the failing partition (the first in key order when several fail). */
    key: string;
    /** The human-readable report: the bad window and the longest legal order found in it. */
    explanation: string;
    /** The operations of the bad window, by call time. */
    window: Operation<I, O>[];
    failingPartitions: number;
  }
  | { ok: 'unknown'; key: string; reason: string };

/** The result of one partition's search. */
type Search =
  | { kind: 'ok'; order: number[] }
  | { kind: 'fail'; longest: number[]; blocked: number; stateAfter: string }
  | { kind: 'budget'; reason: string };

interface Node {
  /** Operation index; -1 for the head. */
  id: number;
  /** The return entry of a call entry; undefined on a return entry. */
  match: Node | undefined;
  next: Node | undefined;
  prev: Node | undefined;
}

const isUnknown = (o: Operation<unknown, unknown>): boolean => o.return === undefined || o.return === Infinity;

/**
 * Checks `history` against `model`. Partitions are checked in key order; the result is the
 * first failure, else "unknown" if a partition ran out of budget, else ok.
 */
export function checkLinearizable<S, I, O>(history: readonly Operation<I, O>[], model: Model<S, I, O>, o: CheckOptions = {}): CheckResult<I, O> {
  for (const op of history) {
    if (!Number.isFinite(op.call)) throw new Error(`operation without a call time: ${describe(model, op)}`);
    if (!isUnknown(op) && op.return! < op.call) throw new Error(`operation returns before its call: ${describe(model, op)}`);
  }
  const parts = partition(history.filter((op) => !(isUnknown(op) && model.readOnly?.(op))));
  let unknown: { key: string; reason: string } | undefined;
  const failures: Array<{ ops: Operation<I, O>[]; keys: string[] }> = [];
  for (const p of parts) {
    const r = search(p.ops, model, p.keys, o);
    if (r.kind === 'fail') failures.push(p);
    else if (r.kind === 'budget' && unknown === undefined) unknown = { key: p.keys.join(' '), reason: r.reason };
  }
  if (failures.length > 0) {
    const f = failures[0]!;
    const { window, explanation } = explain(f.ops, model, f.keys, o);
    return { ok: false, key: f.keys.join(' '), explanation, window, failingPartitions: failures.length };
  }
  if (unknown) return { ok: 'unknown', ...unknown };
  return { ok: true, partitions: parts.length, operations: history.length };
}

/** Splits by key; an operation on several keys joins their parts (union-find). Sorted by first key. */
function partition<I, O>(history: readonly Operation<I, O>[]): Array<{ keys: string[]; ops: Operation<I, O>[] }> {
  const parent = new Map<string, string>();
  const find = (k: string): string => {
    let r = k;
    while (parent.get(r) !== r) r = parent.get(r)!;
    parent.set(k, r);
    return r;
  };
  const add = (k: string) => { if (!parent.has(k)) parent.set(k, k); };
  for (const op of history) {
    add(op.key);
    for (const k of op.keys ?? []) {
      add(k);
      const a = find(op.key);
      const b = find(k);
      if (a !== b) parent.set(b, a);
    }
  }
  const parts = new Map<string, { keys: string[]; ops: Operation<I, O>[] }>();
  for (const k of [...parent.keys()].sort()) {
    const r = find(k);
    if (!parts.has(r)) parts.set(r, { keys: [], ops: [] });
    parts.get(r)!.keys.push(k);
  }
  for (const op of history) parts.get(find(op.key))!.ops.push(op);
  return [...parts.values()];
}

/**
 * Wing and Gong's search with Lowe's memo over one partition. Ties: at equal times a call comes
 * before a return (Porcupine does the same), so operations that touch are concurrent; the
 * checker never reports a violation that depends on the order of equal timestamps.
 */
function search<S, I, O>(ops: readonly Operation<I, O>[], model: Model<S, I, O>, keys: readonly string[], o: CheckOptions): Search {
  const n = ops.length;
  const entries: Array<{ id: number; t: number; ret: boolean }> = [];
  ops.forEach((op, id) => {
    entries.push({ id, t: op.call, ret: false });
    entries.push({ id, t: isUnknown(op) ? Infinity : op.return!, ret: true });
  });
  entries.sort((a, b) => (a.t - b.t) || (a.t === b.t && a.ret !== b.ret ? (a.ret ? 1 : -1) : 0) || a.id - b.id);
  // The doubly linked list of entries, built backwards so a call can point to its return.
  const head: Node = { id: -1, match: undefined, next: undefined, prev: undefined };
  const returns = new Map<number, Node>();
  let first: Node | undefined;
  for (let i = entries.length - 1; i >= 0; i--) {
    const e = entries[i]!;
    const node: Node = { id: e.id, match: e.ret ? undefined : returns.get(e.id), next: first, prev: undefined };
    if (e.ret) returns.set(e.id, node);
    if (first) first.prev = node;
    first = node;
  }
  head.next = first;
  if (first) first.prev = head;
  const lift = (c: Node) => {
    c.prev!.next = c.next;
    if (c.next) c.next.prev = c.prev;
    const r = c.match!;
    r.prev!.next = r.next;
    if (r.next) r.next.prev = r.prev;
  };
  const unlift = (c: Node) => {
    const r = c.match!;
    r.prev!.next = r;
    if (r.next) r.next.prev = r;
    c.prev!.next = c;
    if (c.next) c.next.prev = c;
  };

  const words = new Uint32Array(Math.ceil(n / 32) || 1);
  const memo = new Set<string>();
  const memoKey = (id: number, s: S): string => {
    words[id >>> 5]! ^= 1 << (id & 31);
    const k = `${words.join(',')}|${model.stateKey(s)}`;
    words[id >>> 5]! ^= 1 << (id & 31);
    return k;
  };
  const budgetMs = o.budgetMs ?? 10_000;
  const maxSteps = o.maxSteps ?? 2_000_000;
  const deadline = performance.now() + budgetMs;
  let steps = 0;

  // The stack of linearized operations: the entry, the state before it, the states it may lead
  // to and which of them is the one taken (a nondeterministic step is tried state by state).
  const calls: Array<{ node: Node; before: S; next: readonly S[]; taken: number }> = [];
  let state = model.init(keys);
  let longest: number[] = [];
  let blocked = -1;
  let stateAfter = '';
  let entry = head.next;

  /** Takes the first of `next` from index `from` not seen before; false when none is new. */
  const tryTake = (node: Node, next: readonly S[], from: number, before: S): boolean => {
    for (let i = from; i < next.length; i++) {
      const k = memoKey(node.id, next[i]!);
      if (memo.has(k)) continue;
      memo.add(k);
      calls.push({ node, before, next, taken: i });
      state = next[i]!;
      words[node.id >>> 5]! |= 1 << (node.id & 31);
      lift(node);
      return true;
    }
    return false;
  };

  while (head.next) {
    if (entry!.match) {
      // A call: try to linearize its operation now.
      if (++steps > maxSteps) return { kind: 'budget', reason: `more than ${maxSteps} steps over ${n} operations` };
      if ((steps & 255) === 0 && performance.now() > deadline) return { kind: 'budget', reason: `more than ${budgetMs} ms over ${n} operations` };
      const node = entry!;
      if (tryTake(node, model.step(state, ops[node.id]!), 0, state)) entry = head.next;
      else entry = node.next;
    } else {
      // A return whose operation is not linearized: every order from here fails; backtrack.
      if (calls.length > longest.length || blocked < 0) {
        longest = calls.map((c) => c.node.id);
        blocked = entry!.id;
        stateAfter = model.describeState ? model.describeState(state) : model.stateKey(state);
      }
      const top = calls.pop();
      if (!top) return { kind: 'fail', longest, blocked, stateAfter };
      state = top.before;
      words[top.node.id >>> 5]! &= ~(1 << (top.node.id & 31));
      unlift(top.node);
      // Another state the same operation may lead to, else the entry after it.
      entry = tryTake(top.node, top.next, top.taken + 1, top.before) ? head.next : top.node.next;
    }
  }
  return { kind: 'ok', order: calls.map((c) => c.node.id) };
}

function describe<S, I, O>(model: Model<S, I, O>, op: Operation<I, O>): string {
  if (model.describeOp) return model.describeOp(op);
  return `${op.op}(${JSON.stringify(op.input)}) → ${op.output === undefined ? '?' : JSON.stringify(op.output)}`;
}

const fmt = (t: number, t0: number): string => (t === Infinity ? '∞' : (t - t0).toFixed(3)).padStart(10);

/**
 * Shrinks a failing partition to a small window that still fails on its own (ddmin, Zeller and
 * Hildebrandt 2002), keeping the writers of values that kept operations saw, and describes it:
 * the operations with their times, and the longest legal order found with the operation that
 * could not follow it.
 */
function explain<S, I, O>(ops: readonly Operation<I, O>[], model: Model<S, I, O>, keys: readonly string[], o: CheckOptions): { window: Operation<I, O>[]; explanation: string } {
  const deadline = performance.now() + (o.explainMs ?? 2000);
  const sub = { budgetMs: 200, maxSteps: 200_000 };
  const fails = (set: readonly Operation<I, O>[]) => search(set, model, keys, sub).kind === 'fail';
  const seen = (w: string, s: string) => w === s || (!w.startsWith('\0') && s.includes(w));
  /**
   * Whether dropping `out` leaves a kept operation seeing a value only a dropped one wrote (and
   * could have written before the kept one returned).
   */
  const orphans = (kept: readonly Operation<I, O>[], out: readonly Operation<I, O>[]): boolean => {
    if (!model.writes || !model.observes) return false;
    const stillWritten = new Set(kept.flatMap((op) => model.writes!(op)));
    const lost = out.flatMap((op) => model.writes!(op).filter((w) => !stillWritten.has(w)).map((w) => ({ w, call: op.call })));
    if (lost.length === 0) return false;
    return kept.some((op) => {
      const ret = isUnknown(op) ? Infinity : op.return!;
      return model.observes!(op).some((s) => lost.some((l) => l.call <= ret && seen(l.w, s)));
    });
  };
  let cur = [...ops].sort((a, b) => a.call - b.call);
  let chunks = 2;
  while (cur.length >= 2 && performance.now() < deadline) {
    const size = Math.ceil(cur.length / chunks);
    let shrunk = false;
    for (let i = 0; i < cur.length && performance.now() < deadline; i += size) {
      const out = cur.slice(i, i + size);
      const kept = [...cur.slice(0, i), ...cur.slice(i + size)];
      if (kept.length === 0 || orphans(kept, out) || !fails(kept)) continue;
      cur = kept;
      chunks = Math.max(chunks - 1, 2);
      shrunk = true;
      break;
    }
    if (!shrunk) {
      if (size === 1) break;
      chunks = Math.min(chunks * 2, cur.length);
    }
  }
  const r = search(cur, model, keys, { budgetMs: 2000, maxSteps: 1_000_000 });
  const t0 = Math.min(...ops.map((op) => op.call));
  const line = (op: Operation<I, O>) => `  [${fmt(op.call, t0)} ..${fmt(isUnknown(op) ? Infinity : op.return!, t0)} ms] client ${String(op.client)}: ${describe(model, op)}`;
  const lines = [
    `key ${keys.join(', ')}: not linearizable; these ${cur.length} of its ${ops.length} operations cannot be ordered (times from the partition's first call):`,
    ...cur.map(line),
  ];
  if (r.kind === 'fail') {
    const blocked = cur[r.blocked]!;
    lines.push(r.longest.length === 0
      ? `no operation can come first; ${describe(model, blocked)} cannot take effect before it returns.`
      : `the longest legal order found is ${r.longest.map((id) => describe(model, cur[id]!)).join('; ')} (state then: ${r.stateAfter}); ` +
        `after it, ${describe(model, blocked)} cannot take effect before it returns, nor can any other operation called by then.`);
  } else {
    lines.push(`(no longest order for this window: ${r.kind === 'budget' ? r.reason : 'it is linearizable alone'})`);
  }
  // The rest of the partition around the window: what a reader checks the window against.
  const lo = Math.min(...cur.map((op) => op.call));
  const hi = Math.max(...cur.map((op) => (isUnknown(op) ? op.call : op.return!)));
  const around = ops.filter((op) => !cur.includes(op) && op.call <= hi && (isUnknown(op) ? Infinity : op.return!) >= lo).sort((a, b) => a.call - b.call);
  if (around.length > 0) {
    lines.push(`the partition's other operations overlapping the window${around.length > 30 ? ' (the first 30)' : ''}:`, ...around.slice(0, 30).map(line));
  }
  return { window: cur, explanation: lines.join('\n') };
}
