/**
 * A TCP proxy that can be cut like a network link: while `cut`, it forwards nothing in either
 * direction, on the connections it holds and on new ones, which it accepts and then ignores, as
 * a link that drops every packet (no reset, no refusal: the HTTP/2 client learns of it only by
 * its PING liveness or its deadlines). Healing closes the connections held through the cut (their
 * state is unknown) and forwards new ones again.
 */
import { createServer, connect, type Socket } from 'node:net';
import type { AddressInfo } from 'node:net';

export interface CutProxy {
  url: string;
  /** Drop everything (true) or forward (false). */
  setCut(cut: boolean): void;
  close(): Promise<void>;
}

export async function startCutProxy(target: string): Promise<CutProxy> {
  const t = new URL(target);
  let cut = false;
  const pairs = new Set<{ down: Socket; up?: Socket }>();
  const server = createServer((down) => {
    const pair: { down: Socket; up?: Socket } = { down };
    pairs.add(pair);
    down.on('error', () => undefined);
    down.on('close', () => { pairs.delete(pair); pair.up?.destroy(); });
    if (cut) { down.pause(); return; }
    const up = connect(Number(t.port), t.hostname);
    pair.up = up;
    up.on('error', () => down.destroy());
    up.on('close', () => down.destroy());
    down.pipe(up);
    up.pipe(down);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as AddressInfo).port;
  return {
    url: `http://127.0.0.1:${port}`,
    setCut(v: boolean) {
      if (v === cut) return;
      cut = v;
      for (const p of pairs) {
        if (v) {
          p.down.unpipe();
          p.up?.unpipe();
          p.down.pause();
          p.up?.pause();
        } else {
          p.down.destroy();
          p.up?.destroy();
        }
      }
    },
    async close() {
      for (const p of pairs) { p.down.destroy(); p.up?.destroy(); }
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
