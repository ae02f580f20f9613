/**
 * A pass-through layer that reports every FOP's duration and outcome to an observer (the
 * gateway turns that into Prometheus metrics per brick). Like a GlusterFS io-stats translator.
 */
import type { Readable } from 'node:stream';
import {
  Dht2Error, type BrickFops, type CallContext, type ControlFop, type Download, type DownloadFop, type FopName, type FopReq,
  type FopRes, type UploadFop,
} from '../protocol/index.js';

/** Called once per FOP: seconds until the reply (headers, for data FOPs), and the errno on failure. */
export type FopObserver = (fop: FopName, seconds: number, errno?: string) => void;

export class ObservedFops implements BrickFops {
  constructor(private readonly child: BrickFops, private readonly observe: FopObserver) {}

  private async timed<T>(fop: FopName, run: () => Promise<T>): Promise<T> {
    const t0 = process.hrtime.bigint();
    try {
      const r = await run();
      this.observe(fop, Number(process.hrtime.bigint() - t0) / 1e9);
      return r;
    } catch (e) {
      this.observe(fop, Number(process.hrtime.bigint() - t0) / 1e9, e instanceof Dht2Error ? e.errno : 'EIO');
      throw e;
    }
  }

  call<F extends ControlFop>(fop: F, req: FopReq<F>, ctx?: CallContext): Promise<FopRes<F>> {
    return this.timed(fop, () => this.child.call(fop, req, ctx));
  }

  upload<F extends UploadFop>(fop: F, req: FopReq<F>, body: Readable, ctx?: CallContext): Promise<FopRes<F>> {
    return this.timed(fop, () => this.child.upload(fop, req, body, ctx));
  }

  download<F extends DownloadFop>(fop: F, req: FopReq<F>, ctx?: CallContext): Promise<Download<FopRes<F>>> {
    return this.timed(fop, () => this.child.download(fop, req, ctx));
  }

  close(): Promise<void> {
    return this.child.close();
  }
}
