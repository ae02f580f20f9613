/**
 * A pass-through layer that counts FOPs by name. Stacks over any BrickFops (a client or an
 * in-process store), like a GlusterFS debug translator; tests use it to count round trips.
 */
import { PassThroughFops, type BrickFops, type FopName } from '../protocol/index.js';

export class CountingFops extends PassThroughFops {
  readonly counts = new Map<FopName, number>();

  constructor(protected override readonly child: BrickFops) {
    super();
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

  protected override around<T>(fop: FopName, _req: unknown, run: () => Promise<T>): Promise<T> {
    this.counts.set(fop, (this.counts.get(fop) ?? 0) + 1);
    return run();
  }
}
