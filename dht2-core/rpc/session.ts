/**
 * One HTTP/2 session per brick (node:http2), shared by every call and reconnected on demand.
 *
 * Why not undici's H2CClient: its HTTP/2 dispatcher refuses to run a request with a streamed
 * body, or any non-idempotent request, while another request is in flight on the session
 * (undici lib/dispatcher/client-h2.js `busy()`), so a gateway's uploads to one brick would
 * run one at a time. Here every FOP is its own stream on one multiplexed connection
 * (RFC 9113 §5), with large flow-control windows and backpressure through stream pipelines.
 *
 * Deadlines are idle timeouts on the stream (no frame for `timeoutMs`), so a long transfer that
 * keeps moving is never cut. The socket is unref'd while no call is in flight, so an idle
 * client does not keep a process alive.
 */
import http2, { type ClientHttp2Session, type ClientHttp2Stream, type IncomingHttpHeaders } from 'node:http2';
import { finished, type Readable } from 'node:stream';
import { bodyHash, Dht2Error, err, H2_WINDOW, T_BODY_MAC } from '../protocol/index.js';

export interface SessionOptions {
  url: string;
  connectTimeoutMs: number;
  tls?: { ca?: string | Buffer; rejectUnauthorized?: boolean };
  /** Detect a frozen brick by HTTP/2 PING (see {@link Liveness}); off when omitted. */
  liveness?: Liveness;
}

/**
 * Liveness by HTTP/2 PING (RFC 9113 §6.7), ARCHITECTURE.md §10.8: a brick stopped with SIGSTOP, or
 * a host that vanished without a FIN, keeps its connection open, and the stream idle deadline
 * (30 s) is far beyond the "writes resume within 5 s" of a replica set. When a call has had no
 * reply for `quietMs`, the session is PINGed; when the PING is not answered within
 * `pingTimeoutMs`, the session is declared dead and every call on it fails with EHOSTDOWN. The
 * PING is answered by the brick's event loop, not by the FOP, so a slow FOP on a live brick is
 * not cut, and neither is a long body that keeps moving (the probe only runs before a reply).
 */
export interface Liveness {
  quietMs: number;
  pingTimeoutMs: number;
}

export interface H2Reply {
  status: number;
  headers: IncomingHttpHeaders;
  /** The response body; the caller must consume or destroy it. */
  stream: ClientHttp2Stream;
  /** The request headers as built and sent on this stream (the epoch the request was signed for). */
  sent: Record<string, string>;
}

/**
 * What the brick said on `GET /-/health` when this connection opened: the boot epoch (and
 * brick id) that requests on this connection are signed for. A brick that restarts has a new
 * epoch and a new connection, so a request is never signed for a boot other than the one of
 * the connection it goes on.
 */
export interface BrickHello {
  epoch: string;
  brickId: string;
}

export interface H2Request {
  /** The headers, or a function that builds them for the hello of the connection the request goes on. */
  headers: Record<string, string> | ((hello: BrickHello) => Record<string, string>);
  body?: string | Readable;
  /**
   * For a streamed body: the MAC to send in the `x-dht2-body-mac` trailer once the body has
   * ended (wire.ts bodyMac), made from the built headers (it is keyed by the request's signature)
   * and the body's SHA-256. A body that fails or is cut never gets its trailer: the stream is
   * reset instead, and the brick commits nothing.
   */
  mac?: {
    of: (headers: Record<string, string>, bodySha256: Buffer) => string;
    /**
     * The body's SHA-256 as the caller took it, asked for on 'wantTrailers' (after the body
     * ended); when absent the session hashes every chunk it pipes.
     */
    bodySha256?: () => Buffer;
  };
  /**
   * Whether the reply is the brick's refusal of a request signed for another of its boots:
   * the brick's current epoch if so (checked by the caller, who holds the secret), and the
   * connection's next requests are then signed for it. Without it no reply changes the epoch.
   */
  staleEpoch?: (reply: IncomingHttpHeaders, sent: Record<string, string>) => string | undefined;
  timeoutMs: number;
  signal?: AbortSignal;
}

const REFUSED = new WeakSet<Error>();

export function refusal(e: Dht2Error): Dht2Error {
  REFUSED.add(e);
  return e;
}

/**
 * True for a call refused before processing (a stale-epoch 403, or a stream reset with
 * REFUSED_STREAM / ENHANCE_YOUR_CALM). RFC 9113 §8.7 says a REFUSED_STREAM was not processed,
 * but the reset is not authenticated: on h2c a man in the middle can inject it after the brick
 * ran the FOP, so the client sends only idempotent FOPs again on its account (brick-client.ts).
 */
export function wasRefused(e: unknown): boolean {
  return e instanceof Error && REFUSED.has(e);
}

const UNRESPONSIVE = new WeakSet<Error>();

/**
 * True for a call failed because its brick did not answer a liveness PING (frozen or cut off):
 * sending it again to the same brick would only wait once more, so the caller does not.
 */
export function wasUnresponsive(e: unknown): boolean {
  return e instanceof Error && UNRESPONSIVE.has(e);
}

export class BrickSession {
  private session: ClientHttp2Session | undefined;
  private connecting: Promise<ClientHttp2Session> | undefined;
  private active = 0;
  private closed = false;
  private readonly hellos = new WeakMap<ClientHttp2Session, BrickHello>();
  /** The PING in flight on a session, shared by every quiet call on it. */
  private readonly probes = new WeakMap<ClientHttp2Session, Promise<void>>();
  /** Sessions destroyed for an unanswered PING: their calls fail as unresponsive. */
  private readonly unresponsive = new WeakSet<ClientHttp2Session>();

  constructor(private readonly o: SessionOptions) {}

  private connect(): Promise<ClientHttp2Session> {
    // A session whose socket is gone is not reused, even before Node marks the session closed:
    // socketOnClose closes its streams first (lib/internal/http2/core.js), and a stream opened on
    // it from inside that would be closed in the same loop, again and again.
    if (this.session && !this.session.closed && !this.session.destroyed && this.session.socket?.destroyed !== true) {
      return Promise.resolve(this.session);
    }
    if (this.connecting) return this.connecting;
    if (this.closed) return Promise.reject(err('ENOTCONN', `client for ${this.o.url} is closed`));
    this.connecting = new Promise<ClientHttp2Session>((resolve, reject) => {
      const s = http2.connect(this.o.url, {
        settings: { initialWindowSize: H2_WINDOW, enablePush: false },
        maxSessionMemory: 64,
        ...(this.o.tls ?? {}),
      });
      const timer = setTimeout(() => {
        s.destroy();
        reject(err('EHOSTDOWN', `brick ${this.o.url}: connect timed out`));
      }, this.o.connectTimeoutMs);
      s.once('connect', () => {
        // Node emits 'connect' on a session already destroyed (its setupHandle: "the on('connect')
        // handlers ... check for session.destroyed"); the timer above has rejected it then, and
        // setLocalWindowSize would throw ERR_HTTP2_INVALID_SESSION out of this listener and end
        // the process: a brick whose peer link came back up at its connect timeout died so
        // (test/server/netns-partition.test.ts).
        if (s.destroyed) return;
        s.setLocalWindowSize(H2_WINDOW);
        // Nothing goes on a connection before its hello: the signature of every request names
        // the epoch of the brick boot at the other end (docs/PROTOCOL.md §3).
        this.hello(s).then((hello) => {
          clearTimeout(timer);
          if (s.closed || s.destroyed) { reject(err('EHOSTDOWN', `brick ${this.o.url}: connection closed during its hello`)); return; }
          this.hellos.set(s, hello);
          this.session = s;
          this.idle();
          resolve(s);
        }, (e: unknown) => {
          clearTimeout(timer);
          s.destroy();
          reject(e);
        });
      });
      // on, not once: a session can emit 'error' more than once (while connecting, then when the
      // connection breaks), and an 'error' without a listener would end the gateway's process.
      s.on('error', (e: NodeJS.ErrnoException) => {
        clearTimeout(timer);
        if (this.session === s) this.session = undefined;
        reject(err('EHOSTDOWN', `brick ${this.o.url} unreachable (${e.code ?? e.message})`, { cause: e }));
      });
      s.once('close', () => { if (this.session === s) this.session = undefined; });
      s.once('goaway', () => { if (this.session === s) this.session = undefined; });
    }).finally(() => { this.connecting = undefined; });
    return this.connecting;
  }

  /** `GET /-/health` on a new connection: the epoch and brick id requests on it are signed for. */
  private hello(s: ClientHttp2Session): Promise<BrickHello> {
    return new Promise<BrickHello>((resolve, reject) => {
      let req: ClientHttp2Stream;
      try {
        req = s.request({ ':method': 'GET', ':path': '/-/health' }, { endStream: true });
      } catch (e) {
        reject(err('EHOSTDOWN', `brick ${this.o.url}: hello failed (${(e as Error).message})`, { cause: e }));
        return;
      }
      let status = 0;
      let text = '';
      req.setEncoding('utf8');
      req.on('response', (h) => { status = Number(h[':status']); });
      req.on('data', (c: string) => { if (text.length < 64 * 1024) text += c; });
      req.on('error', (e: Error) => reject(err('EHOSTDOWN', `brick ${this.o.url}: hello failed (${e.message})`, { cause: e })));
      // Closed without its end (the connect timeout destroyed the session, a reset): settled here,
      // or nothing would ever settle it. (After 'end', this reject does nothing.)
      req.on('close', () => reject(err('EHOSTDOWN', `brick ${this.o.url}: hello cut short (code ${req.rstCode ?? '?'})`)));
      req.on('end', () => {
        if (status !== 200) { reject(err('EHOSTDOWN', `brick ${this.o.url}: /-/health answered ${status}`)); return; }
        let h: { epoch?: unknown; brickId?: unknown };
        try {
          h = JSON.parse(text) as typeof h;
        } catch {
          reject(err('EPROTO', `brick ${this.o.url}: /-/health is not JSON`));
          return;
        }
        if (typeof h.epoch !== 'string' || !/^[0-9a-f]{32}$/.test(h.epoch) || typeof h.brickId !== 'string') {
          reject(err('EPROTO', `brick ${this.o.url} names no boot epoch on /-/health: it speaks an older protocol`));
          return;
        }
        resolve({ epoch: h.epoch, brickId: h.brickId });
      });
    });
  }

  /**
   * PINGs `s` unless a PING is in flight already; destroys it when no answer comes within the
   * liveness window, which fails every stream on it (each call's 'close' handler: EHOSTDOWN).
   */
  private probe(s: ClientHttp2Session, l: Liveness): void {
    if (this.probes.has(s) || s.closed || s.destroyed) return;
    const p = new Promise<void>((resolve) => {
      const timer = setTimeout(() => {
        if (this.session === s) this.session = undefined;
        this.unresponsive.add(s);
        s.destroy();
        resolve();
      }, l.pingTimeoutMs);
      try {
        s.ping((e) => { clearTimeout(timer); if (e && !s.destroyed) s.destroy(); resolve(); });
      } catch {
        clearTimeout(timer);
        resolve();
      }
    });
    this.probes.set(s, p);
    void p.then(() => this.probes.delete(s));
  }

  /** Keeps the process alive only while calls are in flight. */
  private idle(): void {
    const sock = this.session?.socket;
    if (!sock) return;
    if (this.active > 0) sock.ref();
    else sock.unref();
  }

  /** Sends one request; resolves when the response headers arrive. */
  async request(r: H2Request): Promise<H2Reply> {
    const session = await this.connect();
    if (r.signal?.aborted) throw err('ECANCELED', `call to ${this.o.url} cancelled`);
    this.active++;
    this.idle();
    let stream: ClientHttp2Stream;
    let headers: Record<string, string>;
    const mac = typeof r.body === 'object' ? r.mac : undefined;
    try {
      headers = typeof r.headers === 'function' ? r.headers(this.hellos.get(session)!) : r.headers;
      stream = session.request({ ':method': 'POST', ...headers }, { endStream: r.body === undefined, waitForTrailers: mac !== undefined });
    } catch (e) {
      this.done();
      throw err('ENOTCONN', `brick ${this.o.url}: ${(e as Error).message}`, { cause: e });
    }
    stream.once('close', () => this.done());
    return new Promise<H2Reply>((resolve, reject) => {
      let settled = false;
      const body = typeof r.body === 'object' ? r.body : undefined;
      // Stops feeding the stream. Node closes every stream of a session whose socket closed
      // (lib/internal/http2/core.js socketOnClose: stream.close(NGHTTP2_CANCEL), which ends the
      // writable side and submits RST_STREAM through the dead socket); a source still piped in
      // would keep writing into it.
      const unpipe = (): void => { body?.unpipe(stream); };
      // Resets the stream, unless its connection is gone: then Node is closing it already, and a
      // destroy() from here would submit one more RST_STREAM for the dead socket (issue 13: a
      // gateway on Node 20 spun in socketOnClose → Http2Stream.close → submitRstStream with
      // uploads piped in, reported as nodejs/node#52952).
      const reset = (e?: Dht2Error): void => {
        unpipe();
        if (!stream.destroyed && !session.destroyed && session.socket?.destroyed !== true) stream.destroy(e);
      };
      // The call failed: the stream is reset, and a source not yet sent whole learns why (what
      // stream.pipeline did, but with the error that counts: an upload cut by a lost brick
      // fails with ENOTCONN, not as a body that ended early).
      const fail = (e: Dht2Error): void => {
        if (settled) return;
        settled = true;
        // destroy, not close(): close() first ends the writable side, which waits behind
        // data held up by flow control, so the reset might never be sent.
        reset();
        if (body && !body.destroyed && !body.readableEnded) body.destroy(e);
        reject(e);
      };
      // Before the reply the promise fails; after it the body stream does, with the same error.
      const failOrDestroy = (e: Dht2Error): void => {
        if (!settled) fail(e);
        else reset(e);
      };
      stream.setTimeout(r.timeoutMs, () => failOrDestroy(err('ETIMEDOUT', `brick ${this.o.url}: no progress for ${r.timeoutMs} ms`)));
      const l = this.o.liveness;
      const quiet = l ? setTimeout(() => { if (!settled) this.probe(session, l); }, l.quietMs) : undefined;
      if (quiet) {
        quiet.unref();
        stream.once('response', () => clearTimeout(quiet));
        stream.once('close', () => clearTimeout(quiet));
      }
      const onAbort = (): void => failOrDestroy(err('ECANCELED', `call to ${this.o.url} cancelled`));
      r.signal?.addEventListener('abort', onAbort, { once: true });
      // Emitted synchronously while Node closes the stream, before it ends the writable side.
      stream.once('aborted', unpipe);
      // Refused by the brick before a reply: never processed, so the caller may send it again.
      const refused = (): boolean => {
        if (settled || (stream.rstCode !== http2.constants.NGHTTP2_ENHANCE_YOUR_CALM && stream.rstCode !== http2.constants.NGHTTP2_REFUSED_STREAM)) return false;
        this.retire(session);
        return true;
      };
      stream.once('close', () => {
        r.signal?.removeEventListener('abort', onAbort);
        if (refused()) fail(refusal(err('ENOTCONN', `brick ${this.o.url} refused the stream (code ${stream.rstCode})`)));
        // Closed without a response: the connection went away (brick killed, GOAWAY, reset), or
        // was given up for an unanswered PING.
        // (Checked first: building an error with its stack on every normal close cost ~4 % CPU.)
        if (!settled && this.unresponsive.has(session)) {
          const e = err('EHOSTDOWN', `brick ${this.o.url} did not answer a PING within ${this.o.liveness?.pingTimeoutMs ?? 0} ms (frozen or cut off)`);
          UNRESPONSIVE.add(e);
          fail(e);
        }
        if (!settled) {
          // Not cancelled here, not a timeout, not refused: something is wrong with this
          // connection (a brick restarting, a reset, a session whose flow-control or memory
          // account is off). The next calls go to a new connection instead of trying this one
          // again and again; it closes once its other streams are done. (A full-suite CI run
          // saw every read fail with 503 after bursts of cancelled transfers, issue 14.)
          this.retire(session);
          fail(err('ENOTCONN', `brick ${this.o.url}: stream closed before a reply (code ${stream.rstCode ?? '?'})`));
        }
      });
      stream.once('error', (e: NodeJS.ErrnoException) => {
        if (this.unresponsive.has(session)) return; // failed on 'close', as unresponsive
        const failure = err('ENOTCONN', `brick ${this.o.url}: ${e.message}`, { cause: e });
        if (refused()) { fail(refusal(failure)); return; }
        // As a close before a reply (below): the next calls take a new connection.
        if (!settled) this.retire(session);
        fail(failure);
      });
      stream.once('response', (reply) => {
        // The brick refused a request signed for another of its boots and named its own: this
        // connection outlived a restart behind it (a proxy between), so its next requests are
        // signed for the new boot (brick/server.ts). Only a refusal the caller authenticated
        // (r.staleEpoch): on h2c anyone between could name an epoch. The caller decides about
        // this request.
        const epoch = r.staleEpoch?.(reply, headers);
        if (epoch !== undefined) {
          const hello = this.hellos.get(session);
          if (hello) this.hellos.set(session, { ...hello, epoch });
        }
        if (settled) return;
        settled = true;
        resolve({ status: Number(reply[':status']), headers: reply, stream, sent: headers });
      });
      if (typeof r.body === 'string') stream.end(r.body);
      else if (body) {
        // A failing source (a body that failed its checksum, a client gone, also before this
        // call began) fails the call with that cause. pipe(), not stream.pipeline: pipeline
        // destroys the source with "premature close" as soon as the stream is aborted, before
        // the stream's own close or error, so a lost brick was reported as a cut-off body
        // (400 IncompleteBody instead of 503).
        finished(body, { writable: false }, (e) => {
          if (e) fail(err('ECANCELED', `upload to ${this.o.url} aborted: ${e.message}`, { cause: e }));
        });
        if (mac) {
          // A listener beside the pipe sees exactly the chunks the pipe writes, in order, and
          // leaves the pipe (and its unpipe on abort, above) as it is. 'wantTrailers' comes only
          // after the body ended and its last DATA frame was queued: never for a failed body.
          const m = mac;
          let digest = m.bodySha256;
          if (!digest) {
            const h = bodyHash();
            body.on('data', (c: Buffer) => h.update(c));
            digest = () => h.digest();
          }
          const sha256 = digest;
          stream.once('wantTrailers', () => {
            try {
              stream.sendTrailers({ [T_BODY_MAC]: m.of(headers, sha256()) });
            } catch (e) {
              failOrDestroy(err('ENOTCONN', `brick ${this.o.url}: ${(e as Error).message}`, { cause: e }));
            }
          });
        }
        body.pipe(stream);
      }
    });
  }

  /**
   * The brick refused a new stream (REFUSED_STREAM, or ENHANCE_YOUR_CALM: Node's http2 server
   * refuses every new stream of a connection whose maxSessionMemory account is spent, and resets
   * with data in flight can leave it spent; seen after bursts of cancelled transfers, issue 14).
   * A refused stream was never processed (RFC 9113 §8.7), and the next calls go to a new
   * connection; this one closes once its streams are done.
   */
  private retire(s: ClientHttp2Session): void {
    if (this.session === s) this.session = undefined;
    if (!s.closed && !s.destroyed) s.close();
  }

  /**
   * Streams opened on this session and not yet closed: every call's, from its request until its
   * reply is read to the end or reset. A stream left open holds its share of the connection's
   * flow-control window (RFC 9113 §5.2) and a slot of the brick's stream limit, so a caller that
   * neither consumes nor destroys a reply body wedges every later call (issue 14).
   */
  get openStreams(): number {
    return this.active;
  }

  private done(): void {
    this.active--;
    this.idle();
  }

  async close(): Promise<void> {
    this.closed = true;
    const s = this.session;
    this.session = undefined;
    if (!s || s.closed) return;
    s.socket?.ref(); // an unref'd socket would let the process exit before the close completes
    await new Promise<void>((resolve) => s.close(() => resolve()));
  }
}
