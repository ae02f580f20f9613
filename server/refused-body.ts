/**
 * The body of a request answered without reading it all (refused: 401/403 before the body, a
 * 400, NoSuchBucket on a PUT, 413; or any answer that did not need it). Reading it to its end
 * keeps the connection usable for the next request (aws-cli and the SDKs retry on the same
 * connection), but reading it without bound lets anyone, without credentials, make the gateway
 * swallow gigabytes (issue 14). So: a body whose remaining length is known to be within the
 * bound is read whole and thrown away, and the connection stays; any other (larger, or chunked)
 * is answered with `Connection: close` (RFC 9112 §9.6), at most `limit` more bytes of it are
 * read, and the connection is closed once the answer has been flushed.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';

const discarding = new WeakSet<IncomingMessage>();

/** The bound the app was configured with (server/app.ts sets it per request). */
const limits = new WeakMap<IncomingMessage, number>();
/** How long the rest of a refused body may take to arrive (server/app.ts sets it per request). */
const deadlines = new WeakMap<IncomingMessage, number>();

/** The default time a refused body's rest may take: the headers timeout's default (server/http-limits.ts). */
export const REFUSED_BODY_DEADLINE_MS = 20_000;

export function setRefusedBodyLimit(req: IncomingMessage, limit: number, deadlineMs = REFUSED_BODY_DEADLINE_MS): void {
  limits.set(req, limit);
  deadlines.set(req, deadlineMs);
}

/** The declared length of the body, when there is one (no Transfer-Encoding). */
function declaredLength(req: IncomingMessage): number | undefined {
  if (req.headers['transfer-encoding'] !== undefined) return undefined;
  const cl = req.headers['content-length'];
  if (cl === undefined) return 0;
  const n = Number(cl);
  return Number.isSafeInteger(n) && n >= 0 ? n : undefined;
}

/**
 * Takes over what is left of `req`'s body for `res`'s answer: call it before the answer is
 * written (so `Connection: close` can still be set), or after (then a body over the bound closes
 * the connection without that header). Idempotent.
 */
export function discardBody(req: IncomingMessage, res: ServerResponse, limit = limits.get(req) ?? 64 * 1024): void {
  if (discarding.has(req) || req.complete || req.destroyed) return;
  discarding.add(req);
  // Whoever was reading (a verifier, busboy, multer's own unbounded drain) reads no more.
  req.unpipe();
  req.removeAllListeners('readable');
  const length = declaredLength(req);
  const whole = length !== undefined && length <= limit;
  const socket = req.socket;
  let closing = false;
  if (!whole && !res.headersSent) {
    res.setHeader('connection', 'close');
    closing = true;
  }
  let read = 0;
  const onData = (chunk: Buffer): void => {
    read += chunk.length;
    if (read <= limit || whole) return;
    // Past the bound: read nothing more; the connection closes once the answer is out (Node
    // closes it itself after a `Connection: close` answer).
    req.off('data', onData);
    req.pause();
    if (closing) return;
    if (res.writableFinished) socket.destroySoon();
    else res.once('finish', () => socket.destroySoon());
  };
  req.on('data', onData);
  // A bound on the time too: else a client that was refused (no credentials needed) could send
  // its ≤ 64 KiB one byte a minute, each byte re-arming the idle timer, and hold the connection
  // for weeks; a thousand such would fill the connection cap. The body of a refused request gets
  // as long as a request head does (the headers timeout); then the connection goes.
  const timer = setTimeout(() => socket.destroy(), deadlines.get(req) ?? REFUSED_BODY_DEADLINE_MS);
  timer.unref();
  const done = (): void => clearTimeout(timer);
  req.once('end', done);
  req.once('close', done);
  req.resume();
}
