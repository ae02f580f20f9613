/**
 * A fault-injection layer for tests (GlusterFS keeps fault injection as a translator too):
 * runs hooks after chosen FOPs complete and can "kill the gateway" — every later FOP through
 * any layer sharing the same switch fails with ENOTCONN, as if the process had died between
 * two steps of a composite FOP.
 */
import type { Readable } from 'node:stream';
import { err } from '../../dht2-core/protocol/errors.js';
import type { ControlFop, DownloadFop, FopName, FopReq, FopRes, UploadFop } from '../../dht2-core/protocol/fops.js';
import type { BrickFops, CallContext, Download } from '../../dht2-core/protocol/layer.js';

export class KillSwitch {
  dead = false;
  /**
   * Runs before each FOP is passed down; throwing fails the FOP unapplied (a brick that is
   * down). The layer's role says which kind of brick it fronts.
   */
  before: ((fop: FopName, role: 'mds' | 'ds') => void) | undefined;
  /**
   * Runs after each completed FOP; the scenario decides when to die or to kill a brick.
   * Throwing loses the reply: the FOP was applied, the caller sees the error.
   */
  after: ((fop: FopName, req: unknown) => Promise<void> | void) | undefined;
}

export class HookFops implements BrickFops {
  constructor(private readonly child: BrickFops, private readonly sw: KillSwitch, private readonly role: 'mds' | 'ds' = 'mds') {}

  private check(fop: FopName): void {
    if (this.sw.dead) throw err('ENOTCONN', `gateway died before ${fop}`);
    this.sw.before?.(fop, this.role);
  }

  async call<F extends ControlFop>(fop: F, req: FopReq<F>, ctx?: CallContext): Promise<FopRes<F>> {
    this.check(fop);
    const r = await this.child.call(fop, req, ctx);
    await this.sw.after?.(fop, req);
    return r;
  }

  async upload<F extends UploadFop>(fop: F, req: FopReq<F>, body: Readable, ctx?: CallContext): Promise<FopRes<F>> {
    this.check(fop);
    const r = await this.child.upload(fop, req, body, ctx);
    await this.sw.after?.(fop, req);
    return r;
  }

  async download<F extends DownloadFop>(fop: F, req: FopReq<F>, ctx?: CallContext): Promise<Download<FopRes<F>>> {
    this.check(fop);
    return this.child.download(fop, req, ctx);
  }

  close(): Promise<void> {
    return this.child.close();
  }
}
