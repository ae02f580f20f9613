/**
 * Taps on a body that streams through the gateway: what flows is measured without holding it
 * (DEVELOPERS.md: stream end to end, respect backpressure).
 */
import { createHash } from 'node:crypto';
import { Transform, finished, type Readable } from 'node:stream';

/**
 * A pass-through that computes the MD5 (the ETag) and the size of what flows. (Never count with
 * a 'data' listener: it would switch the stream to flowing mode and drop chunks nobody reads yet.)
 */
export function md5Tap(): { stream: Transform; digest(): string; size(): number } {
  const h = createHash('md5');
  let hex: string | undefined;
  let n = 0;
  const stream = new Transform({
    transform(chunk: Buffer, _enc, cb) { h.update(chunk); n += chunk.length; cb(null, chunk); },
  });
  return { stream, digest: () => (hex ??= h.digest('hex')), size: () => n };
}

/**
 * Pipes `src` through `t`, failing `t` when `src` fails or closes before its end (client gone,
 * bad signature). Not stream.pipeline: that makes an AbortController per call and aborts it when
 * done, and the DOMException the abort builds cost ~2 % of the gateway's CPU on small requests.
 * When `t` fails, `src` is only unpiped: the handler drains or drops the request body itself.
 */
export function through(src: Readable, t: Transform): Transform {
  finished(src, (e) => { if (e && !t.destroyed) t.destroy(e); });
  // Whoever reads `t` sees its error; one that nobody reads (a GET's empty body whose signature
  // check fails at its end) must not become an uncaught exception. pipeline() listened too.
  t.on('error', () => undefined);
  src.pipe(t);
  return t;
}
