/**
 * Keeps a member's log bounded (ARCHITECTURE.md §10.13 "Truncation", "As built (truncation)"):
 * every second it decides (truncate.ts) which head segments may go and truncates them, on disk
 * (`ReplLog.truncateHead`, ON-DISK-FORMAT.md §6.1) and in the core's mirror (`MemLog.truncateHead`),
 * moving their opIds to the truncated table (dedup.ts). On the primary it also runs the heal loop:
 * it polls every other member's `rstatus` to learn which are being rebuilt by full copy (their
 * copy's index pins the log: the retention never truncates past it) and starts the rebuild of a
 * member that needs entries the log no longer holds (`rrebuild`, §10.13 "As built (slice 8)").
 *
 * Out of node.ts, which it reaches only through {@link KeeperHost}.
 */
import type { Logger } from 'pino';
import type { ReplStatus } from '../../dht2-core/protocol/index.js';
import type { MemLog, ReplCore } from './core.js';
import type { OpTable } from './dedup.js';
import type { EntryPayload, ReplLog } from './log.js';
import { decideTruncation, type Retention, type SegmentView } from './truncate.js';

/** How often the truncation decision runs. */
export const TRUNCATE_EVERY_MS = 1000;
/** How often the primary's heal loop polls the members (§10.13 "In the background": 10 s). */
export const HEAL_EVERY_MS = 10_000;

export interface KeeperHost {
  readonly mem: MemLog<EntryPayload>;
  readonly rlog: ReplLog;
  readonly ops: OpTable;
  readonly log: Logger;
  core(): ReplCore<EntryPayload>;
  /** The member takes part (state ok, not closed) and is not being rebuilt: its log may be truncated. */
  active(): boolean;
  /** Writes the applied mark now; answers the index it covers (truncation never passes it). */
  markApplied(): Promise<number>;
  /** A member's `rstatus`, undefined when it does not answer. */
  status(member: string): Promise<ReplStatus | undefined>;
  /** Asks a member to rebuild itself by full copy (`rrebuild`). */
  rebuild(member: string): Promise<{ started: boolean }>;
}

export class LogKeeper {
  private timer: NodeJS.Timeout | undefined;
  private healTimer: NodeJS.Timeout | undefined;
  private busy = false;
  private healing = false;
  /** Copy index of each member being rebuilt, as the last poll of this term saw it. */
  private readonly pins = new Map<string, number>();
  /** The term whose polls `pins` come from; the retention waits for one whole poll round of the current term. */
  private pinsTerm = -1;
  private stopped = false;
  /** Members that needed a full copy at the last poll round (acted on at the second in a row). */
  private needing = new Set<string>();
  /** What the last truncation did (rstatus and the logs). */
  truncations = 0;

  constructor(private readonly h: KeeperHost, readonly retention: Retention, private readonly healEveryMs = HEAL_EVERY_MS) {}

  start(): void {
    this.timer = setInterval(() => void this.truncate(), TRUNCATE_EVERY_MS);
    this.healTimer = setInterval(() => void this.heal(), this.healEveryMs);
    this.timer.unref();
    this.healTimer.unref();
  }

  stop(): void {
    this.stopped = true;
    clearInterval(this.timer);
    clearInterval(this.healTimer);
  }

  /**
   * How far the retention may truncate on this member: on the primary, up to the lowest copy index
   * of the members being rebuilt (Infinity: none), once a poll round of its term has told it which
   * are; on a follower not at all (-Infinity): it follows the primary's announcement (truncate.ts).
   */
  pin(): number {
    const c = this.h.core();
    if (c.role !== 'primary' || this.pinsTerm !== c.term) return -Infinity;
    return Math.min(Infinity, ...this.pins.values());
  }

  /** One truncation decision, carried out. */
  async truncate(now = Date.now()): Promise<void> {
    if (this.busy || this.stopped || !this.h.active()) return;
    this.busy = true;
    try {
      const segs = this.h.rlog.segmentInfo();
      if (segs.length < 2) return;
      // The mark first: an entry truncated is applied, and a restart must not need to apply it again.
      const applied = await this.h.markApplied();
      const c = this.h.core();
      const mem = this.h.mem;
      const views: SegmentView[] = segs.filter((s) => s.first > mem.baseIndex).map((s) => ({ ...s, newestAt: this.newestAt(s.first, s.last) }));
      const d = decideTruncation({ segments: views, applied, lowWater: c.lowestMatch, pin: this.pin(), now }, this.retention);
      if (d.upTo === 0 || this.stopped || !this.h.active() || this.h.core() !== c || d.upTo > mem.lastIndex) return;
      // The mirror first, with the opIds (synchronously, so no FOP sees the one without the other):
      // the core stops offering these entries before their files go.
      const gone: Array<{ opId: string; index: number; term: number; at: number }> = [];
      for (const e of mem.entries(mem.baseIndex + 1, d.upTo)) {
        if (e.kind === 'op' && e.payload.opId !== undefined) gone.push({ opId: e.payload.opId, index: e.index, term: e.term, at: e.payload.at });
      }
      mem.truncateHead(d.upTo);
      this.h.ops.truncated(gone);
      const first = await this.h.rlog.truncateHead(d.upTo);
      this.truncations++;
      this.h.log.info({ upTo: d.upTo, segments: d.segments, reason: d.reason, firstIndex: first, lastIndex: mem.lastIndex }, 'log head truncated');
    } catch (e) {
      this.h.log.error({ err: e }, 'log head truncation failed');
    } finally {
      this.busy = false;
    }
  }

  /** The `at` of the newest entry from `first` to `last` in the mirror (a no-op carries none: the op before it). */
  private newestAt(first: number, last: number): number {
    const mem = this.h.mem;
    for (let i = Math.min(last, mem.lastIndex); i >= first && i > mem.baseIndex; i--) {
      const e = mem.entries(i, i)[0];
      if (e?.kind === 'op') return e.payload.at;
    }
    return 0;
  }

  /** The primary's heal loop: learn the rebuilds (pins), start those a member needs. */
  async heal(): Promise<void> {
    const c = this.h.core();
    if (this.healing || this.stopped || c.role !== 'primary' || !c.serving || !this.h.active()) return;
    this.healing = true;
    try {
      const term = c.term;
      const peers = c.peers(performance.now());
      const answers = await Promise.all(peers.map((p) => this.h.status(p.id)));
      const now = this.h.core();
      if (now.role !== 'primary' || now.term !== term || this.stopped) return;
      if (this.pinsTerm !== term) this.pins.clear();
      peers.forEach((p, k) => {
        const a = answers[k];
        // A member that does not answer keeps the pin last seen: its rebuild resumes when it is back.
        if (!a) return;
        if (a.rebuild) this.pins.set(p.id, a.rebuild.fromIndex);
        else this.pins.delete(p.id);
      });
      this.pinsTerm = term;
      // Fresh needsCopy flags (the poll took a while). A member is rebuilt once it needed a full
      // copy in two rounds in a row: never on a flag seen once (and heal info shows it meanwhile).
      const before = this.needing;
      this.needing = new Set();
      for (const p of now.peers(performance.now())) {
        const a = answers[peers.findIndex((q) => q.id === p.id)];
        if (!p.needsCopy || !a || a.rebuild || a.role === 'primary' || a.state === 'corrupt' || a.primary !== undefined && a.primary !== now.id) continue;
        this.needing.add(p.id);
        if (!before.has(p.id)) continue;
        this.h.log.warn({ member: p.id, matchIndex: p.matchIndex, firstIndex: this.h.mem.baseIndex + 1 }, 'member needs entries the log no longer holds: rebuilding it by full copy');
        this.h.rebuild(p.id).catch((e: unknown) => this.h.log.warn({ err: e, member: p.id }, 'rrebuild not started'));
      }
    } finally {
      this.healing = false;
    }
  }
}
