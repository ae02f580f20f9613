/**
 * A pass-through layer that reports every FOP's duration and outcome to an observer (the
 * gateway turns that into Prometheus metrics per brick). Like a GlusterFS io-stats translator.
 */
import { Dht2Error, PassThroughFops, type BrickFops, type FopName } from '../protocol/index.js';

/** Called once per FOP: seconds until the reply (headers, for data FOPs), and the errno on failure. */
export type FopObserver = (fop: FopName, seconds: number, errno?: string) => void;

export class ObservedFops extends PassThroughFops {
  constructor(protected override readonly child: BrickFops, private readonly observe: FopObserver) {
    super();
  }

  protected override async around<T>(fop: FopName, _req: unknown, run: () => Promise<T>): Promise<T> {
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
}
