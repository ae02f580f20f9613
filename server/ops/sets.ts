/**
 * The gateway's view of a replicated volume's sets (ARCHITECTURE.md §10.8): every second it asks
 * each member for `rstatus` (Volume.setStatus), which keeps the picture `/-/ready`, `/-/health`
 * and `/-/metrics` show. A volume without replicas is not polled: its sets are its bricks, and
 * `/-/ready` asks them directly as before.
 */
import type { Logger } from 'pino';
import type { SetStatus, Volume } from '../../dht2-core/index.js';
import type { GatewayMetrics } from './metrics.js';

export class SetMonitor {
  private last: { at: number; sets: SetStatus[] } | undefined;
  private inflight: Promise<SetStatus[]> | undefined;
  private timer: NodeJS.Timeout | undefined;
  private readonly failoversSeen = new Map<string, number>();

  constructor(private readonly volume: Volume, private readonly metrics: GatewayMetrics, private readonly logger: Logger) {}

  /** Polls every `intervalMs` (only for a replicated volume). */
  start(intervalMs = 1000): void {
    if (this.volume.replica === 1 || this.timer) return;
    const poll = (): void => { this.refresh().catch((e: unknown) => this.logger.warn({ err: e }, 'set status poll failed')); };
    poll();
    this.timer = setInterval(poll, intervalMs);
    this.timer.unref();
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
  }

  /** The sets as last seen, if seen within `maxAgeMs`; else asked now. */
  async current(maxAgeMs: number): Promise<SetStatus[]> {
    if (this.last && performance.now() - this.last.at <= maxAgeMs) return this.last.sets;
    return this.refresh();
  }

  private refresh(): Promise<SetStatus[]> {
    this.inflight ??= this.volume.setStatus().then((sets) => {
      const before = new Map((this.last?.sets ?? []).map((s) => [s.id, s]));
      this.last = { at: performance.now(), sets };
      for (const s of sets) {
        const was = before.get(s.id);
        if (was && was.available !== s.available) {
          this.logger[s.available ? 'info' : 'warn']({ set: s.id, primary: s.primary, term: s.term, degraded: s.degraded }, s.available ? 'replica set has a primary again' : 'replica set has no primary');
        }
        this.metrics.setSeen(s, s.failovers - (this.failoversSeen.get(s.id) ?? 0));
        this.failoversSeen.set(s.id, s.failovers);
      }
      return sets;
    }).finally(() => { this.inflight = undefined; });
    return this.inflight;
  }
}
