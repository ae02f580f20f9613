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
import type { Socket } from 'node:net';

/** How long, and for how many more bytes, a closing connection keeps reading after its answer. */
export const LINGER_MS = 2000;
export const LINGER_BYTES = 1024 * 1024;

const lingering = new WeakSet<Socket>();

/**
 * A lingering close (RFC 9112 §9.6): the answer is out, so end our side (the client reads the
 * answer, then the end) and keep reading and dropping what the client still sends, for at most
 * LINGER_MS and LINGER_BYTES, so that no reset overtakes the answer; then destroy.
 */
function lingerClose(req: IncomingMessage, socket: Socket): void {
  if (lingering.has(socket) || socket.destroyed) return;
  lingering.add(socket);
  const timer = setTimeout(() => socket.destroy(), LINGER_MS);
  timer.unref();
  socket.once('close', () => clearTimeout(timer));
  let extra = 0;
  req.removeAllListeners('data');
  req.on('data', (c: Buffer) => {
    extra += c.length;
    if (extra > LINGER_BYTES) socket.destroy();
  });
  req.resume();
  socket.end();
}

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
    // Past the bound: read nothing more until the answer is out; then the connection closes,
    // lingering (below).
    req.off('data', onData);
    req.pause();
    if (res.writableFinished) lingerClose(req, socket);
    else res.once('finish', () => lingerClose(req, socket));
  };
  // Node ends a `Connection: close` answer with socket.destroySoon(): at once, while the client
  // may still be sending. Bytes that then arrive at a closed socket make the kernel answer with a
  // reset, which can reach the client before it has read our answer: it sees EPIPE or a reset
  // instead of the 4xx/503 it should act on (RFC 9112 §9.6 asks for a lingering close).
  if (closing) (socket as Socket & { destroySoon: () => void }).destroySoon = () => lingerClose(req, socket);
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
