/**
 * Puts the replication module (node.ts) in front of a brick's store once the brick is a member of
 * a replicated set (ARCHITECTURE.md §10.2): at start when its layout says so, or when a
 * `layoutset` makes it one (the volume's bricks are started first, then given their layout,
 * which names their URLs). Before that, and on a replica-1 brick, the store serves alone.
 *
 * The set's members and their URLs are taken from the layout when the module starts; a later
 * layout that changes them (not a membership change, which the store refuses, but a new URL)
 * takes effect at the brick's next start.
 */
import type { Readable } from 'node:stream';
import type { Logger } from 'pino';
import { toDht2Error, type ControlFop, type Download, type DownloadFop, type UploadFop } from '../../dht2-core/protocol/index.js';
import type { PosixStore } from '../posix2/store.js';
import type { FopMeta, FopRouter } from '../server.js';
import { ReplNode, type PeerConnector, type ReplNodeOptions } from './node.js';

/** The replication module's tunables a brick is started with (brick flags, bin/dht2.ts). */
export type ReplTuning = Pick<ReplNodeOptions, 'retention' | 'segmentBytes' | 'healEveryMs'>;

export class ReplHost implements FopRouter {
  private node: ReplNode | undefined;
  private starting: Promise<ReplNode | undefined> | undefined;

  constructor(
    private readonly store: PosixStore, private readonly connect: PeerConnector | undefined, private readonly logger: Logger,
    private readonly tuning: ReplTuning = {},
  ) {}

  /** Starts the module when the store is a member of a replicated set and it is not running yet. */
  async ensure(): Promise<ReplNode | undefined> {
    if (this.node || !this.store.replicated) return this.node;
    if (!this.connect) {
      this.logger.error('member of a replicated set started without a peer connector; it serves nothing');
      return undefined;
    }
    const connect = this.connect;
    this.starting ??= (async () => {
      const p = this.store.placement!;
      const n = await ReplNode.start({
        store: this.store, dir: this.store.dir, self: this.store.identity.brickId, layout: p.layout, setId: p.set.id,
        members: p.set.members, connect, logger: this.logger, ...this.tuning,
      });
      this.node = n;
      return n;
    })().finally(() => { this.starting = undefined; });
    return this.starting;
  }

  /** The running module, if any. */
  get running(): ReplNode | undefined {
    return this.node;
  }

  async call(fop: ControlFop, req: unknown, meta: FopMeta): Promise<unknown> {
    const n = this.node ?? await this.ensure();
    if (n) return n.call(fop, req, meta);
    const res = await this.store.call(fop as never, req as never);
    if (fop === 'layoutset') {
      try {
        await this.ensure();
      } catch (e) {
        this.logger.error({ err: e }, 'replication module did not start');
        throw toDht2Error(e, fop);
      }
    }
    return res;
  }

  async upload(fop: UploadFop, req: unknown, body: Readable, meta: FopMeta): Promise<unknown> {
    const n = this.node ?? await this.ensure();
    return n ? n.upload(fop, req, body, meta) : this.store.upload(fop as never, req as never, body);
  }

  async download(fop: DownloadFop, req: unknown, meta: FopMeta): Promise<Download<unknown>> {
    const n = this.node ?? await this.ensure();
    return n ? n.download(fop, req, meta) : this.store.download(fop as never, req as never);
  }

  async close(): Promise<void> {
    await this.starting?.catch(() => undefined);
    await this.node?.close();
  }
}
