/**
 * The links from one member of a replica set to the others (ARCHITECTURE.md §10.2): the core's
 * outgoing `rvote` and `rappend` as peer FOPs over the brick protocol, their answers turned back
 * into the core's reply messages, and `rblob` downloads of entry bodies.
 *
 * The client is injected (`PeerConnector`): the brick imports dht2-core only through its protocol
 * door (.dependency-cruiser.cjs), so the process that starts the brick (bin/dht2.ts) passes a
 * factory of `BrickClient`s, each signed `x-dht2-from` this brick and with HTTP/2 PING liveness,
 * so a frozen peer fails its calls within about a second and a half instead of the idle deadline.
 *
 * Messages may be lost (the core retries from its heartbeats, §10.3): a call that fails is
 * dropped, and at most `MAX_IN_FLIGHT` calls wait on one peer, later ones are dropped too, so a
 * frozen peer does not pile up requests.
 */
import type { Readable } from 'node:stream';
import type { BrickFops } from '../../dht2-core/protocol/index.js';
import type { Message } from './core.js';
import type { EntryPayload, StagedBlob } from './log.js';

/** Makes the client of one peer: `from` is this brick's id (`x-dht2-from`). */
export type PeerConnector = (o: { url: string; brickId: string; from: string }) => BrickFops;

const MAX_IN_FLIGHT = 16;
/**
 * An `rappend` is a control FOP, whose body a brick reads up to MAX_CONTROL_BODY (1 MiB): the
 * batch the core gives is cut to the entries that fit in this much JSON (at least one). The reply
 * then acknowledges the entries sent, and the core sends the rest from there.
 */
const MAX_BATCH_JSON = 900 * 1024;

export interface PeerEvents {
  /** A peer's answer, as the core's message. */
  reply(from: string, msg: Message<EntryPayload>): void;
  /** A call failed (logged at debug: the core does not care which). */
  callFailed(e: unknown): void;
}

export class PeerLinks {
  private readonly clients = new Map<string, BrickFops>();
  private readonly inFlight = new Map<string, number>();
  private closed = false;

  constructor(self: string, urls: Record<string, string>, connect: PeerConnector, private readonly ev: PeerEvents) {
    for (const [id, url] of Object.entries(urls)) {
      this.clients.set(id, connect({ url, brickId: id, from: self }));
      this.inFlight.set(id, 0);
    }
  }

  send(to: string, msg: Message<EntryPayload>): void {
    const c = this.clients.get(to);
    if (!c || this.closed) return;
    const n = this.inFlight.get(to)!;
    if (n >= MAX_IN_FLIGHT) return;
    this.inFlight.set(to, n + 1);
    void this.call(c, to, msg)
      .catch((e: unknown) => this.ev.callFailed(e))
      .finally(() => this.inFlight.set(to, this.inFlight.get(to)! - 1));
  }

  private async call(c: BrickFops, to: string, msg: Message<EntryPayload>): Promise<void> {
    if (msg.type === 'rvote') {
      const r = await c.call('rvote', { term: msg.term, pre: msg.pre, lastTerm: msg.lastTerm, lastIndex: msg.lastIndex });
      if (!this.closed) this.ev.reply(to, { type: 'rvote-reply', term: r.term, pre: msg.pre, granted: r.granted });
      return;
    }
    if (msg.type === 'rappend') {
      const entries = [];
      let bytes = 0;
      for (const e of msg.entries) {
        const w = e.kind === 'noop'
          ? { term: e.term, index: e.index, kind: 'noop' as const }
          : { term: e.term, index: e.index, kind: 'op' as const, payload: e.payload };
        bytes += Buffer.byteLength(JSON.stringify(w));
        if (entries.length > 0 && bytes > MAX_BATCH_JSON) break;
        entries.push(w);
      }
      const r = await c.call('rappend', {
        term: msg.term, prevIndex: msg.prevIndex, prevTerm: msg.prevTerm, commit: msg.commit, lowestMatch: msg.lowestMatch, entries,
      });
      // Over HTTP the answer pairs with its request: the round is the request's (core.ts).
      if (!this.closed) this.ev.reply(to, { type: 'rappend-reply', term: r.term, ok: r.ok, lastIndex: r.lastIndex, round: msg.round });
    }
  }

  /** Downloads the body of entry (index, term) from `from` and stages it with `stage`. */
  async fetchBlob(from: string, index: number, term: number, stage: (body: Readable) => Promise<StagedBlob>): Promise<StagedBlob> {
    const c = this.clients.get(from);
    if (!c) throw new Error(`no link to ${from}`);
    const d = await c.download('rblob', { index, term });
    return stage(d.body);
  }

  /** The client of one peer (the full copy of a rebuild reads its source through it, §10.13). */
  client(id: string): BrickFops {
    const c = this.clients.get(id);
    if (!c) throw new Error(`no link to ${id}`);
    return c;
  }

  async close(): Promise<void> {
    this.closed = true;
    await Promise.all([...this.clients.values()].map((c) => c.close().catch(() => undefined)));
  }
}
