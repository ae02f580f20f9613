/**
 * A man in the middle between a brick client and a brick, as an attacker on the network would
 * be: an HTTP/2 server that records every request it passes on (headers, body, trailers) and
 * can change a request body or drop its trailers on the way. Bodies are small in these tests,
 * so each request is read whole before it is forwarded.
 */
import http2, { type ClientHttp2Session, type IncomingHttpHeaders, type OutgoingHttpHeaders } from 'node:http2';
import type { AddressInfo } from 'node:net';

export interface CapturedRequest {
  headers: Record<string, string>;
  body: Buffer;
  /** Trailing headers the client sent, if any. */
  trailers: Record<string, string> | undefined;
}

export interface H2Mitm {
  url: string;
  /** Every FOP request passed on (not `/-/health`), oldest first. */
  captured: CapturedRequest[];
  /** Changes request bodies on the way (default: none). */
  tamper: ((body: Buffer, headers: Record<string, string>) => Buffer) | undefined;
  /** Drops the request trailers on the way. */
  dropTrailers: boolean;
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
    retarget(url) { upstreamUrl = url; upstream?.destroy(); upstream = undefined; },
    async close() {
      upstream?.destroy();
      for (const s of sessions) s.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
  server.on('stream', (down, headers) => {
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
      const send = trailers !== undefined && !mitm.dropTrailers ? trailers : undefined;
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
      up.on('error', () => { if (!down.destroyed) down.close(http2.constants.NGHTTP2_INTERNAL_ERROR); });
      up.on('response', (rh) => {
        const out: OutgoingHttpHeaders = {};
        for (const [k, v] of Object.entries(rh)) if (!k.startsWith(':') || k === ':status') out[k] = v;
        if (!down.destroyed) down.respond(out);
        up.pipe(down);
      });
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
