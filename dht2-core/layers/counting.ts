/**
 * A pass-through layer that counts FOPs by name. Stacks over any BrickFops (a client or an
 * in-process store), like a GlusterFS debug translator; tests use it to count round trips.
 */
import type { Readable } from 'node:stream';
import type {
  BrickFops, CallContext, ControlFop, Download, DownloadFop, FopName, FopReq, FopRes, UploadFop,
} from '../protocol/index.js';

export class CountingFops implements BrickFops {
  readonly counts = new Map<FopName, number>();

  constructor(private readonly child: BrickFops) {}

  private count(fop: FopName): void {
    this.counts.set(fop, (this.counts.get(fop) ?? 0) + 1);
  }

  /** Total FOPs since the last reset. */
  get total(): number {
    let n = 0;
    for (const v of this.counts.values()) n += v;
    return n;
  }

  reset(): void {
    this.counts.clear();
  }

  call<F extends ControlFop>(fop: F, req: FopReq<F>, ctx?: CallContext): Promise<FopRes<F>> {
    this.count(fop);
    return this.child.call(fop, req, ctx);
  }

  upload<F extends UploadFop>(fop: F, req: FopReq<F>, body: Readable, ctx?: CallContext): Promise<FopRes<F>> {
    this.count(fop);
    return this.child.upload(fop, req, body, ctx);
  }

  download<F extends DownloadFop>(fop: F, req: FopReq<F>, ctx?: CallContext): Promise<Download<FopRes<F>>> {
    this.count(fop);
    return this.child.download(fop, req, ctx);
  }

  close(): Promise<void> {
    return this.child.close();
  }
}
