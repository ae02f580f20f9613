/**
 * The duplicate tables of a member (ARCHITECTURE.md §10.4 "Duplicates"), out of node.ts: where each
 * opId is in the log, the replies of the entries applied here, and the opIds of entries whose
 * head of the log was truncated (§10.13 "Truncation").
 *
 * Truncation must not let a resend apply twice. An entry is truncated only once applied here, so
 * its opId moves from "in the log" to "applied, truncated": a resend then gets its kept reply, or
 * EALREADY (outcome unknown, ReplicaSetFops looks), never a second entry. That table keeps the
 * duplicate window's opIds (10 minutes by the entry's `at`, 200,000 at most), as the replies do;
 * across a restart the log itself keeps them, since no entry younger than the minimum retention
 * (10 minutes by default, brick/repl/truncate.ts) is truncated.
 */
import type { Dht2Error } from '../../dht2-core/protocol/index.js';

/** Replies kept by opId (§10.4 "Duplicates"): the last 10 minutes or 200,000 entries. */
export const KEEP_REPLIES = 200_000;
export const KEEP_REPLIES_MS = 10 * 60_000;

export type Outcome = { ok: true; res: unknown } | { ok: false; error: Dht2Error };

/** What a member knows of an opId. */
export type OpState =
  | { readonly kind: 'reply'; readonly outcome: Outcome }
  | { readonly kind: 'log'; readonly index: number; readonly term: number }
  | { readonly kind: 'truncated'; readonly index: number };

export class OpTable {
  private readonly inLog = new Map<string, { index: number; term: number }>();
  private readonly replies = new Map<string, { at: number; outcome: Outcome }>();
  /** opId → index of an applied entry no longer in the log, in truncation order (so about `at` order). */
  private readonly gone = new Map<string, { index: number; at: number }>();

  /** An entry of the log carries `opId` at (index, term). */
  noteEntry(opId: string, index: number, term: number): void {
    this.inLog.set(opId, { index, term });
  }

  /** The reply of an entry applied here, kept for the duplicate window. */
  keep(opId: string, outcome: Outcome, t = Date.now()): void {
    this.replies.set(opId, { at: t, outcome });
    for (const [k, v] of this.replies) {
      if (this.replies.size <= KEEP_REPLIES && t - v.at < KEEP_REPLIES_MS) break;
      this.replies.delete(k);
    }
  }

  /**
   * What is known of `opId`: its kept reply; else where it is in the log (the caller checks that the
   * log still holds that index with that term: a dropped suffix leaves stale rows); else the index
   * of its applied, truncated entry.
   */
  lookup(opId: string): OpState | undefined {
    const r = this.replies.get(opId);
    if (r) return { kind: 'reply', outcome: r.outcome };
    const l = this.inLog.get(opId);
    if (l) return { kind: 'log', index: l.index, term: l.term };
    const g = this.gone.get(opId);
    if (g) return { kind: 'truncated', index: g.index };
    return undefined;
  }

  /**
   * The head of the log up to some index was truncated; `entries` are its entries with an opId
   * (all applied). A row that still names that (index, term) moves to the truncated table. A
   * stale row (its entry replaced by a suffix drop, never applied) is not among them and stays: the
   * caller treats a log row at or below the base as unknown (node.ts `duplicate`). Such rows are
   * few (one per entry of a dropped suffix) and are not swept.
   */
  truncated(entries: Iterable<{ opId: string; index: number; term: number; at: number }>, now = Date.now()): void {
    for (const e of entries) {
      const l = this.inLog.get(e.opId);
      if (l && l.index === e.index && l.term === e.term) {
        this.inLog.delete(e.opId);
        this.gone.set(e.opId, { index: e.index, at: e.at });
      }
    }
    this.sweepGone(now);
  }

  /**
   * The log was emptied onto a full copy's index (§10.13): its rows go. The opIds of the entries
   * up to that index come with the copy instead (`copied`).
   */
  clearLog(): void {
    this.inLog.clear();
  }

  /**
   * The opIds a full copy's source had applied up to the copy's index (`rops`, ARCHITECTURE.md
   * §10.13 "As built (op ids)"): the store holds their effects, the log here does not hold their
   * entries, so they are kept as applied and truncated (a resend gets EALREADY, never a second
   * entry). Given in index order; an opId this member knows otherwise is left as it is.
   */
  copied(entries: Iterable<{ opId: string; index: number; at: number }>, now = Date.now()): void {
    for (const e of entries) {
      if (now - e.at >= KEEP_REPLIES_MS || this.inLog.has(e.opId) || this.gone.has(e.opId)) continue;
      this.gone.set(e.opId, { index: e.index, at: e.at });
    }
    this.sweepGone(now);
  }

  /**
   * The applied, truncated opIds with index in (after, upTo] and `at` within the duplicate window,
   * in index order, at most `limit` (a page of `rops` on a rebuild's source).
   */
  truncatedPage(after: number, upTo: number, limit: number, now = Date.now()): Array<{ opId: string; index: number; at: number }> {
    const out: Array<{ opId: string; index: number; at: number }> = [];
    for (const [opId, g] of this.gone) if (g.index > after && g.index <= upTo && now - g.at < KEEP_REPLIES_MS) out.push({ opId, index: g.index, at: g.at });
    return out.sort((a, b) => a.index - b.index).slice(0, limit);
  }

  private sweepGone(now: number): void {
    for (const [k, v] of this.gone) {
      if (this.gone.size <= KEEP_REPLIES && now - v.at < KEEP_REPLIES_MS) break;
      this.gone.delete(k);
    }
  }

  get sizes(): { inLog: number; replies: number; truncated: number } {
    return { inLog: this.inLog.size, replies: this.replies.size, truncated: this.gone.size };
  }
}
