/**
 * A man in the middle between a brick client and a brick, as an attacker on the network would
 * be: an HTTP/2 server that records every request it passes on (headers, body, trailers) and
 * can change a request body or drop its trailers on the way, or replace the brick's reply. Bodies
 * are small in these tests, so each request is read whole before it is forwarded (unless
 * `streaming` is set).
 */
import http2, { type ClientHttp2Session, type IncomingHttpHeaders, type OutgoingHttpHeaders } from 'node:http2';
import type { AddressInfo } from 'node:net';

export interface CapturedRequest {
  headers: Record<string, string>;
  body: Buffer;
  /** Trailing headers the client sent, if any. */
  trailers: Record<string, string> | undefined;
}

export interface ForgedReply {
  /** Reset the client's stream with this HTTP/2 error code instead of answering. */
  reset?: number;
  status?: number;
  headers?: Record<string, string>;
  body?: string;
}

export interface H2Mitm {
  url: string;
  /** Every FOP request passed on (not `/-/health`), oldest first. */
  captured: CapturedRequest[];
  /** Changes request bodies on the way (default: none). */
  tamper: ((body: Buffer, headers: Record<string, string>) => Buffer) | undefined;
  /** Drops the request trailers on the way. */
  dropTrailers: boolean;
  /** Replaces the request trailers on the way (given the body as it goes on and the request headers). */
  retrail: ((trailers: Record<string, string>, body: Buffer, headers: Record<string, string>) => Record<string, string>) | undefined;
  /**
   * Replaces the brick's reply to a request: called with the request's headers once the brick
   * has answered it (so whatever it ran, it ran), and what it returns is sent to the client in
   * place of the brick's reply (undefined: the brick's reply goes through).
   */
  forgeReply: ((headers: Record<string, string>) => ForgedReply | undefined) | undefined;
  /**
   * Passes requests on as they come (headers at once, then the body as it arrives) instead of
   * reading each whole first; bodies are then not recorded, nor tampered with.
   */
  streaming: boolean;
  /** Points the proxy at another brick URL (after a restart on another port). */
  retarget(url: string): void;
  close(): Promise<void>;
}

/** Request headers worth replaying: the pseudo-headers a client sets itself are left out. */
function plain(h: IncomingHttpHeaders): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(h)) {
    if (k === ':method' || k === ':scheme' || k === ':authority' || v === undefined) continue;
    out[k] = Array.isArray(v) ? v.join(', ') : String(v);
  }
  return out;
}

export async function startH2Mitm(target: string): Promise<H2Mitm> {
  let upstreamUrl = target;
  let upstream: ClientHttp2Session | undefined;
  const connect = (): ClientHttp2Session => {
    if (!upstream || upstream.closed || upstream.destroyed) {
      upstream = http2.connect(upstreamUrl);
      upstream.on('error', () => undefined);
    }
    return upstream;
  };
  const server = http2.createServer();
  const sessions = new Set<http2.Http2Session>();
  server.on('session', (s) => { sessions.add(s); s.on('close', () => sessions.delete(s)); });
  const mitm: H2Mitm = {
    url: '',
    captured: [],
    tamper: undefined,
    dropTrailers: false,
    retrail: undefined,
    forgeReply: undefined,
    streaming: false,
    retarget(url) { upstreamUrl = url; upstream?.destroy(); upstream = undefined; },
    async close() {
      upstream?.destroy();
      for (const s of sessions) s.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
  /** Sends the brick's reply (or a forged one) back to the client. */
  const answer = (down: http2.ServerHttp2Stream, up: http2.ClientHttp2Stream, h: Record<string, string>): void => {
    up.on('error', () => { if (!down.destroyed) down.close(http2.constants.NGHTTP2_INTERNAL_ERROR); });
    up.on('response', (rh) => {
      const forged = mitm.forgeReply?.(h);
      if (forged) {
        up.resume();
        if (forged.reset !== undefined) { if (!down.destroyed) down.close(forged.reset); return; }
        if (!down.destroyed) {
          down.respond({ ':status': forged.status ?? 200, 'content-type': 'application/json', ...(forged.headers ?? {}) });
          down.end(forged.body ?? '');
        }
        return;
      }
      const out: OutgoingHttpHeaders = {};
      for (const [k, v] of Object.entries(rh)) if (!k.startsWith(':') || k === ':status') out[k] = v;
      if (!down.destroyed) down.respond(out);
      up.pipe(down);
    });
  };
  server.on('stream', (down, headers) => {
    if (mitm.streaming) {
      const h = plain(headers);
      const method = String(headers[':method']);
      let trailers: Record<string, string> | undefined;
      down.on('trailers', (t: IncomingHttpHeaders) => { trailers = plain(t); });
      down.on('error', () => undefined);
      let up: http2.ClientHttp2Stream;
      try {
        up = connect().request({ ...h, ':method': method }, { endStream: down.readableEnded, waitForTrailers: !down.readableEnded });
      } catch {
        down.destroy();
        return;
      }
      if (h[':path'] !== '/-/health') mitm.captured.push({ headers: h, body: Buffer.alloc(0), trailers: undefined });
      // Empty trailers: node:http2 ends the stream with an empty DATA frame instead.
      up.on('wantTrailers', () => up.sendTrailers(trailers ?? {}));
      // A client's reset is passed on to the brick, and a brick's reset with an error to the
      // client; a brick's RST_STREAM NO_ERROR after its reply (stop sending, RFC 9113 §8.1) is
      // not, so that a client is tested on closing a stream it no longer needs by itself.
      up.on('close', () => { if (!down.destroyed && up.rstCode) down.close(up.rstCode); });
      down.on('close', () => { if (!up.destroyed) up.close(down.rstCode || http2.constants.NGHTTP2_CANCEL); });
      down.pipe(up);
      answer(down, up, h);
      return;
    }
    const chunks: Buffer[] = [];
    let trailers: Record<string, string> | undefined;
    down.on('trailers', (t: IncomingHttpHeaders) => { trailers = plain(t); });
    down.on('data', (c: Buffer) => chunks.push(c));
    down.on('error', () => undefined);
    // A client that resets its request: the brick must see the same, so nothing is forwarded.
    down.on('aborted', () => undefined);
    down.on('end', () => {
      const h = plain(headers);
      let body: Buffer = Buffer.concat(chunks);
      if (h[':path'] !== '/-/health') mitm.captured.push({ headers: h, body, trailers });
      if (mitm.tamper && body.length > 0) body = mitm.tamper(body, h);
      const kept = trailers !== undefined && !mitm.dropTrailers ? trailers : undefined;
      const send = kept && mitm.retrail ? mitm.retrail(kept, body, h) : kept;
      const method = String(headers[':method']);
      const hasBody = method !== 'GET' && method !== 'HEAD';
      let up: http2.ClientHttp2Stream;
      try {
        up = connect().request({ ...h, ':method': method }, { endStream: !hasBody, waitForTrailers: send !== undefined });
      } catch {
        down.destroy();
        return;
      }
      if (send) up.on('wantTrailers', () => up.sendTrailers(send));
      answer(down, up, h);
      if (hasBody) up.end(body);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', () => resolve()));
  mitm.url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return mitm;
}

export interface RawH2Reply {
  status: number;
  body: string;
}

/** Sends one request as captured, trailers included, on a connection of its own. */
export async function replay(url: string, req: CapturedRequest, body: Buffer = req.body): Promise<RawH2Reply> {
  const session = http2.connect(url);
  try {
    return await new Promise<RawH2Reply>((resolve, reject) => {
      session.on('error', reject);
      const trailers = req.trailers;
      const s = session.request({ ':method': 'POST', ...req.headers }, { waitForTrailers: trailers !== undefined });
      if (trailers) s.on('wantTrailers', () => s.sendTrailers(trailers));
      let status = 0;
      const chunks: Buffer[] = [];
      s.on('response', (h) => { status = Number(h[':status']); });
      s.on('data', (c: Buffer) => chunks.push(c));
      s.on('end', () => resolve({ status, body: Buffer.concat(chunks).toString('utf8') }));
      s.on('error', reject);
      s.end(body);
    });
  } finally {
    session.close();
  }
}
