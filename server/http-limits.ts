/**
 * How long the gateway's HTTP server waits for a client, and for how many (issue 14: the server
 * was created with `requestTimeout: 0` and nothing else, so half-sent headers held a socket
 * forever, "slowloris").
 *
 *  - headers timeout: the whole request head must arrive within this time from its first byte
 *    (or from the connection's opening); else 408 and the connection is closed. Node checks it
 *    only every `connectionsCheckingInterval`, so that interval is set to a fraction of it.
 *  - idle (inactivity) timeout: a connection on which no byte moves either way for this long,
 *    while the client owes the next step (more of the body, reading the response, the next
 *    request), is destroyed. A transfer that keeps moving bytes is never cut, however long it
 *    takes; and while the gateway itself is working (the body has arrived, the answer is not
 *    written yet: a CopyObject of a large object, a recursive delete) the client is not at fault.
 *  - keep-alive timeout: an idle connection between requests is closed after this.
 *  - connection cap: connections beyond it are closed as soon as they are accepted.
 *  - refused body bound: see server/refused-body.ts; the rest of a refused body must also arrive
 *    within the headers timeout.
 *
 * There is deliberately no total request timeout (`requestTimeout` stays 0): it would cut a slow
 * multi-GiB PUT that is making progress.
 */
import type { IncomingMessage, Server, ServerResponse } from 'node:http';
import type { Socket } from 'node:net';

export interface HttpLimits {
  /** The request head (line and headers) must arrive within this (ms). */
  headersTimeoutMs: number;
  /** A connection where no byte moves while the client owes one is closed after this (ms). */
  idleTimeoutMs: number;
  /** An idle connection between requests is closed after this (ms). */
  keepAliveTimeoutMs: number;
  /** Connections beyond this many are closed on accept. */
  maxConnections: number;
  /** At most this many bytes of a refused request's remaining body are read (then the connection is closed). */
  refusedBodyBytes: number;
}

export const DEFAULT_HTTP_LIMITS: HttpLimits = {
  headersTimeoutMs: 20_000,
  idleTimeoutMs: 120_000,
  // Longer than the 60 s idle timeout of common load balancers (AWS ALB's default), so that the
  // balancer, not the gateway, closes an idle pooled connection: no request races the close.
  keepAliveTimeoutMs: 65_000,
  maxConnections: 1024,
  refusedBodyBytes: 64 * 1024,
};

/** Refuses limits that would switch a protection off or make no sense. */
export function checkHttpLimits(l: HttpLimits): HttpLimits {
  const positive = (name: keyof HttpLimits, min: number): void => {
    const v = l[name];
    if (!Number.isFinite(v) || v < min) throw new RangeError(`${name} must be a number >= ${min}, not ${v}`);
  };
  positive('headersTimeoutMs', 1);
  positive('idleTimeoutMs', 1);
  positive('keepAliveTimeoutMs', 1);
  positive('maxConnections', 1);
  positive('refusedBodyBytes', 0);
  return l;
}

/** The options for `http.createServer` that carry the limits. */
export function serverOptions(l: HttpLimits): { keepAliveTimeout: number; requestTimeout: number; headersTimeout: number; connectionsCheckingInterval: number } {
  return {
    keepAliveTimeout: l.keepAliveTimeoutMs,
    requestTimeout: 0,
    headersTimeout: l.headersTimeoutMs,
    // Node checks the headers timeout only at this interval (default 30 s): a 20 s timeout would
    // be honoured after up to 50 s, a 1 s one after up to 31 s.
    connectionsCheckingInterval: Math.max(10, Math.min(1000, Math.floor(l.headersTimeoutMs / 2))),
  };
}

/** The request a connection is serving now, if any. */
const current = new WeakMap<Socket, { req: IncomingMessage; res: ServerResponse }>();

/**
 * True when the gateway, not the client, owes the next byte of this exchange: the response is
 * not finished nor held up by a client that does not read it, and the request body has either
 * arrived whole or has bytes the gateway has not consumed yet (it is busy with the bricks).
 */
function gatewayOwes(socket: Socket): boolean {
  const ex = current.get(socket);
  if (!ex) return false; // between requests: the keep-alive timeout, the client's turn
  const { req, res } = ex;
  if (res.writableFinished || res.destroyed) return false; // answered: the next request is the client's
  if (res.writableNeedDrain || socket.writableLength > 0) return false; // the client does not read
  return req.complete || req.readableLength > 0;
}

/** Applies the limits to a server made with {@link serverOptions}: the inactivity timeout and the cap. */
export function applyHttpLimits(server: Server, l: HttpLimits, onDrop?: () => void): void {
  server.maxConnections = l.maxConnections;
  if (onDrop) server.on('drop', onDrop);
  // Node arms socket.setTimeout(server.timeout) on each connection and re-arms it on every byte
  // read or written; with a 'timeout' listener, closing is ours to decide.
  server.timeout = l.idleTimeoutMs;
  // The exchange in progress on each connection (replaced by the next; gone with the socket).
  const track = (req: IncomingMessage, res: ServerResponse): void => { current.set(req.socket, { req, res }); };
  server.prependListener('request', track);
  // server/main.ts serves a request with an unknown expectation too: the same exchange.
  server.prependListener('checkExpectation', track);
  server.on('timeout', (socket: Socket) => {
    if (gatewayOwes(socket)) socket.setTimeout(l.idleTimeoutMs); // not the client's fault: wait again
    else socket.destroy();
  });
}
