/**
 * Prometheus metrics of the gateway (prom-client), served at /-/metrics: requests by API,
 * operation and status (label values only from fixed sets, server/app.ts OP_LABELS: never
 * from the request, issue 14); latency histograms; bytes in and out; brick RPC latency and errors per
 * brick and FOP (fed by dht2-core's ObservedFops layer); HTTP/2 streams open toward each brick
 * (0 at rest: one that stays up is a leaked stream); connections dropped at the cap; the
 * process's default metrics.
 */
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import { rebuildPercent, type FopObserver, type SetStatus } from '../../dht2-core/index.js';

const LATENCY_BUCKETS = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30];

export class GatewayMetrics {
  readonly registry = new Registry();
  readonly requests = new Counter({ name: 'dht2_http_requests_total', help: 'HTTP requests by API, operation and status', labelNames: ['api', 'op', 'status'] as const, registers: [this.registry] });
  readonly latency = new Histogram({ name: 'dht2_http_request_duration_seconds', help: 'HTTP request latency until the response ends', labelNames: ['api', 'op'] as const, buckets: LATENCY_BUCKETS, registers: [this.registry] });
  readonly bytesIn = new Counter({ name: 'dht2_http_request_bytes_total', help: 'Request body bytes (Content-Length)', labelNames: ['api'] as const, registers: [this.registry] });
  readonly bytesOut = new Counter({ name: 'dht2_http_response_bytes_total', help: 'Response bytes written', labelNames: ['api'] as const, registers: [this.registry] });
  readonly connectionsDropped = new Counter({ name: 'dht2_http_connections_dropped_total', help: 'Connections closed on accept: the connection cap (--max-connections) was reached', registers: [this.registry] });
  readonly rpcLatency = new Histogram({ name: 'dht2_brick_rpc_duration_seconds', help: 'Brick FOP latency until the reply', labelNames: ['brick', 'role', 'fop'] as const, buckets: LATENCY_BUCKETS, registers: [this.registry] });
  readonly rpcErrors = new Counter({ name: 'dht2_brick_rpc_errors_total', help: 'Brick FOPs that failed, by errno', labelNames: ['brick', 'role', 'fop', 'errno'] as const, registers: [this.registry] });
  private brickStreamSource: (() => Array<{ role: string; id: string; open: number }>) | undefined;
  readonly brickStreams = new Gauge({
    name: 'dht2_brick_streams_open', help: 'HTTP/2 streams open toward each brick (0 when idle)', labelNames: ['brick', 'role'] as const, registers: [this.registry],
    collect: () => {
      if (!this.brickStreamSource) return;
      for (const b of this.brickStreamSource()) this.brickStreams.set({ brick: b.id, role: b.role }, b.open);
    },
  });

  // Replica sets (ARCHITECTURE.md §10.12), from the gateway's rstatus polls (ops/sets.ts). Label
  // values are set and brick ids of the volume file: a fixed set.
  readonly setPrimary = new Gauge({ name: 'dht2_set_primary', help: '1 for the member that is its set\'s primary with a valid lease, else 0', labelNames: ['set', 'brick'] as const, registers: [this.registry] });
  readonly setTerm = new Gauge({ name: 'dht2_set_term', help: 'Term of the set\'s primary', labelNames: ['set'] as const, registers: [this.registry] });
  readonly setMembersUp = new Gauge({ name: 'dht2_set_members_up', help: 'Members of the set that answered rstatus', labelNames: ['set'] as const, registers: [this.registry] });
  readonly setAvailable = new Gauge({ name: 'dht2_set_available', help: '1 while the set has a primary (a majority of its members), else 0', labelNames: ['set'] as const, registers: [this.registry] });
  readonly setFailovers = new Counter({ name: 'dht2_set_failovers_total', help: 'Changes of primary this gateway followed', labelNames: ['set'] as const, registers: [this.registry] });
  readonly healRebuildProgress = new Gauge({ name: 'dht2_heal_rebuild_progress', help: 'A rebuild by full copy of the member, 0 to 1 (1 once the copy is done and the log tail is applied; 0 without a rebuild)', labelNames: ['set', 'brick'] as const, registers: [this.registry] });
  readonly healCopyBytes = new Counter({ name: 'dht2_heal_copy_bytes_total', help: 'Bytes copied by rebuilds of the set\'s members, as this gateway\'s polls saw them', labelNames: ['set'] as const, registers: [this.registry] });
  /** The copied bytes last seen per member, so the counter grows by what each poll adds. */
  private readonly copiedSeen = new Map<string, number>();
  readonly healEntriesBehind = new Gauge({ name: 'dht2_heal_entries_behind', help: 'Entries a member has still to apply, against its primary\'s commit index', labelNames: ['set', 'brick'] as const, registers: [this.registry] });

  constructor() {
    collectDefaultMetrics({ register: this.registry, prefix: 'dht2_gateway_' });
  }

  /** Records one poll of a set; `newFailovers` since the last poll. */
  setSeen(s: SetStatus, newFailovers: number): void {
    if (!s.replicated) return;
    for (const m of s.members) {
      this.setPrimary.set({ set: s.id, brick: m.id }, s.available && s.primary === m.id ? 1 : 0);
      const commit = s.members.find((x) => x.id === s.primary)?.commitIndex;
      if (commit !== undefined && m.appliedIndex !== undefined) this.healEntriesBehind.set({ set: s.id, brick: m.id }, Math.max(0, commit - m.appliedIndex));
      if (m.up) {
        this.healRebuildProgress.set({ set: s.id, brick: m.id }, m.rebuild ? rebuildPercent(m.rebuild) / 100 : 0);
        const copied = m.rebuild?.copiedBytes ?? 0;
        const seen = this.copiedSeen.get(m.id) ?? 0;
        // A smaller number is a new rebuild: all of it is new.
        const added = copied >= seen ? copied - seen : copied;
        if (added > 0) this.healCopyBytes.inc({ set: s.id }, added);
        this.copiedSeen.set(m.id, copied);
      }
    }
    if (s.term !== undefined) this.setTerm.set({ set: s.id }, s.term);
    this.setMembersUp.set({ set: s.id }, s.members.filter((m) => m.up).length);
    this.setAvailable.set({ set: s.id }, s.available ? 1 : 0);
    if (newFailovers > 0) this.setFailovers.inc({ set: s.id }, newFailovers);
  }

  /** Reports the open brick streams of `source` (Volume.brickStreams) when the metrics are read. */
  watchBrickStreams(source: () => Array<{ role: string; id: string; open: number }>): void {
    this.brickStreamSource = source;
  }

  /** The observer for one brick's ObservedFops layer. */
  brickObserver(brick: string, role: string): FopObserver {
    return (fop, seconds, errno) => {
      this.rpcLatency.observe({ brick, role, fop }, seconds);
      // ENOENT/EEXIST and friends are answers, not faults; count transport and I/O failures.
      if (errno && ['EHOSTDOWN', 'ENOTCONN', 'ETIMEDOUT', 'EIO', 'EPROTO', 'EACCES'].includes(errno)) {
        this.rpcErrors.inc({ brick, role, fop, errno });
      }
    };
  }
}
