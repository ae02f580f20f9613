/**
 * The ledger of the fault load test (issue 13, "Nothing acknowledged is ever lost"): every
 * write sent to a key with its outcome, and which final states of the key that allows. Pure:
 * the load driver fills it, the read-back checks against it, unit tests feed it by hand.
 *
 * One worker owns each key, so the writes to a key are sent one after another, each after the
 * previous one's reply or failure. What the client saw is not always what the server did:
 *
 * - acked (a 2xx reply): took effect, and is the state until a later write takes effect.
 * - rejected (any other complete HTTP reply): the server is done with it, but a 5xx may follow
 *   a partial effect, so it may have taken effect, no later than its reply.
 * - refused (the connection was refused): it was never sent, so it took no effect.
 * - cut (the connection broke before a reply) and hung (no reply within the deadline, the client
 *   gave up): the gateway may still be running it. It may take effect at any time until the
 *   `dht2 local` process that received it exits, which may be after later writes.
 *
 * So the allowed final states of a key are the last acknowledged write's (the key as it was
 * before the run, absent, when none was acknowledged) plus the state of every unacknowledged
 * write that may have taken effect after the last acknowledged one started.
 */

export type WriteKind = 'put' | 'delete' | 'multipart';

export type Outcome = 'acked' | 'rejected' | 'refused' | 'cut' | 'hung';

/** What a key holds: the sha256 (hex) of its bytes, or {@link ABSENT}. */
export type KeyState = string;

export const ABSENT: KeyState = 'absent';

/** One write to a key: a PUT, a DELETE or the CompleteMultipartUpload of a multipart upload. */
export interface LedgerWrite {
  /** Request number in the run (all requests, reads included, are numbered in one sequence). */
  seq: number;
  worker: number;
  kind: WriteKind;
  /** Milliseconds since the run started: request sent, and reply or failure seen. */
  start: number;
  end: number;
  outcome: Outcome;
  /** HTTP status, when a reply came. */
  status?: number;
  /** Why it failed, for the report. */
  error?: string;
  /** PUT and multipart: sha256 (hex) and length of the bytes sent (all parts, in order). */
  sha256?: string;
  size?: number;
}

/** One run of `dht2 local` (the gateway and the supervisor of the bricks): when it started and exited (ms since the run started). */
export interface Incarnation {
  start: number;
  exit?: number;
}

/** The state a write leaves when it takes effect. */
export function stateOf(w: LedgerWrite): KeyState {
  if (w.kind === 'delete') return ABSENT;
  if (w.sha256 === undefined) throw new Error(`write #${w.seq} (${w.kind}) has no sha256`);
  return w.sha256;
}

/**
 * The last moment `w` may take effect (ms since the run started; Infinity: any time still).
 * A cut or hung request may still run in the `dht2 local` that received it: the one that was
 * up last when the client gave up (it received the request then or earlier), until it exits.
 */
export function effectDeadline(w: LedgerWrite, incarnations: readonly Incarnation[]): number {
  switch (w.outcome) {
    case 'acked':
    case 'rejected':
      return w.end;
    case 'refused':
      return -Infinity;
    case 'cut':
    case 'hung': {
      const serving = incarnations.filter((i) => i.start <= w.end).at(-1);
      return serving?.exit ?? Infinity;
    }
  }
}

/** What a key may hold once every write in `writes` (one key's, in the order sent) is done with. */
export interface Allowed {
  states: Set<KeyState>;
  /** The last acknowledged write, when there is one. */
  lastAcked?: LedgerWrite;
}

/** The allowed states of a key after `writes` (see the file comment). */
export function allowedStates(writes: readonly LedgerWrite[], incarnations: readonly Incarnation[]): Allowed {
  const lastAcked = writes.findLast((w) => w.outcome === 'acked');
  const states = new Set<KeyState>([lastAcked ? stateOf(lastAcked) : ABSENT]);
  for (const w of writes) {
    if (w.outcome === 'acked' || w.outcome === 'refused') continue;
    if (lastAcked === undefined || effectDeadline(w, incarnations) > lastAcked.start) states.add(stateOf(w));
  }
  return lastAcked ? { states, lastAcked } : { states };
}

/** A key whose state read back is not one the ledger allows. */
export interface KeyProblem {
  key: string;
  /** What was read: a state, or why it could not be read. */
  read: KeyState | { error: string };
  allowed: KeyState[];
  writes: LedgerWrite[];
  /** True when an acknowledged write is among the writes: then this is a lost acknowledged write. */
  acked: boolean;
}

/** Checks what was read of a key against its writes; undefined when it is allowed (a read that failed never is). */
export function checkKey(key: string, read: KeyState | { error: string }, writes: readonly LedgerWrite[], incarnations: readonly Incarnation[]): KeyProblem | undefined {
  const a = allowedStates(writes, incarnations);
  if (typeof read === 'string' && a.states.has(read)) return undefined;
  return { key, read, allowed: [...a.states], writes: [...writes], acked: a.lastAcked !== undefined };
}

const short = (s: KeyState) => (s === ABSENT ? s : s.slice(0, 12));

/** One line per write: `#seq put acked 200 12.3-14.1s 4096 B 3fa9c1…`. */
export function formatWrite(w: LedgerWrite): string {
  const t = `${(w.start / 1000).toFixed(2)}-${(w.end / 1000).toFixed(2)}s`;
  const bytes = w.size === undefined ? '' : ` ${w.size} B ${short(stateOf(w))}`;
  return `#${w.seq} w${w.worker} ${w.kind} ${w.outcome}${w.status ? ` ${w.status}` : ''} ${t}${bytes}${w.error ? ` (${w.error})` : ''}`;
}

/** A problem key with its ledger, for a failure message a person can act on. */
export function formatProblem(p: KeyProblem): string {
  const read = typeof p.read === 'string' ? short(p.read) : `error: ${p.read.error}`;
  return [`${p.key}: read ${read}, allowed ${p.allowed.map(short).join(' | ')}`, ...p.writes.map((w) => `    ${formatWrite(w)}`)].join('\n');
}
