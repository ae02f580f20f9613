/**
 * The brick RPC client: the FOP interface over one multiplexed HTTP/2 session per brick
 * (rpc/session.ts). Every call is signed with the cluster secret and has an idle deadline;
 * idempotent FOPs (FOPS[f].idempotent) with a replayable body are retried once on a
 * connection failure or a refused stream, the others never (RFC 9113 §8.7: a request on a broken
 * connection may or may not have been processed, and a refused stream's reset is not
 * authenticated on h2c). Any FOP with a replayable body is sent again after the brick's
 * authenticated refusal of a request signed for another of its boots (staleEpoch below). A brick that cannot be reached gives EHOSTDOWN, a
 * connection lost mid-call ENOTCONN, a call without progress ETIMEDOUT.
 */
import { randomUUID } from 'node:crypto';
import http2, { type IncomingHttpHeaders } from 'node:http2';
import type { Readable } from 'node:stream';
import {
  authorization, bodyMac, decodeArgsHeader, encodeArgsHeader, err, fopPath, FOPS, H_ARGS, H_DATE, H_EPOCH, H_EPOCH_MAC, H_NONCE,
  H_FROM, H_LAYOUT, H_OP, H_REQUEST_ID, H_RESULT, H_TIMEOUT, H_VERSION, isErrno, newNonce, newOpId, PROTOCOL_VERSION, sameMac, sha256Hex, signatureOf,
  staleEpochMac, type BrickFops, type CallContext, type ControlFop, type Download, type DownloadFop, type FopName, type FopReq,
  type FopRes, type UploadFop,
} from '../protocol/index.js';
import { BrickSession, refusal, wasRefused, wasUnresponsive, type BrickHello, type H2Reply, type H2Request, type Liveness } from './session.js';

export interface BrickClientOptions {
  /** `http://host:port` (h2c) or `https://host:port` (h2 over TLS). */
  url: string;
  secret: string;
  /** Deadline of a call without progress, ms (default 30 s). */
  timeoutMs?: number;
  /** TLS options (ca, rejectUnauthorized) for https bricks. */
  tls?: { ca?: string | Buffer; rejectUnauthorized?: boolean };
  /** The brick's id (from the volume file); taken from the brick's /-/health on each connection when omitted. */
  brickId?: string;
  /** The layout epoch FOPs are placed with (`x-dht2-layout`, ARCHITECTURE.md §10.9); none when omitted. */
  layoutEpoch?: number;
  /** This sender's brick id when a brick calls a peer of its set (`x-dht2-from`, §10.2). */
  from?: string;
  /**
   * Detect a frozen or cut-off brick by HTTP/2 PING (session.ts Liveness) instead of waiting for
   * the idle deadline: for members of replica sets, where another member takes over (§10.8).
   */
  liveness?: Liveness;
}

export interface BrickHealth {
  status: string;
  role: string;
  volumeId: string;
  brickId: string;
  format: number;
  protocol: number;
  /** This boot of the brick (docs/PROTOCOL.md §3): new at every start. */
  epoch: string;
}

export class BrickClient implements BrickFops {
  private readonly session: BrickSession;
  private readonly timeoutMs: number;

  constructor(private readonly opts: BrickClientOptions) {
    const u = new URL(opts.url);
    if (u.protocol !== 'http:' && u.protocol !== 'https:') throw err('EINVAL', `brick URL must be http: or https:, not ${u.protocol}`);
    this.timeoutMs = opts.timeoutMs ?? 30_000;
    // With liveness on, a connection's hello gets the PING's window too: a frozen brick accepts
    // TCP connections (the kernel does) but never answers.
    const connectTimeoutMs = Math.min(this.timeoutMs, 5000, opts.liveness ? opts.liveness.quietMs + opts.liveness.pingTimeoutMs : Infinity);
    this.session = new BrickSession({ url: u.origin, connectTimeoutMs, tls: opts.tls, liveness: opts.liveness });
  }

  get url(): string {
    return this.opts.url;
  }

  /**
   * Signed headers of one request, for the connection it goes on: the brick id configured (the
   * volume file's), else the one the brick named in that connection's hello, and that hello's
   * boot epoch.
   */
  private headers(fop: FopName, payloadHash: string, ctx: CallContext | undefined): (hello: BrickHello) => Record<string, string> {
    // One operation id per FOP, the same on every attempt of it (ARCHITECTURE.md §10.4).
    const opId = ctx?.opId ?? newOpId();
    const layoutEpoch = this.opts.layoutEpoch === undefined ? '' : String(this.opts.layoutEpoch);
    const from = this.opts.from ?? '';
    return (hello) => {
      const date = String(Date.now());
      const nonce = newNonce();
      const requestId = ctx?.requestId ?? randomUUID();
      const path = fopPath(fop);
      const brickId = this.opts.brickId ?? hello.brickId;
      const signed = { method: 'POST', path, brickId, epoch: hello.epoch, date, nonce, requestId, opId, layoutEpoch, from, payloadHash };
      return {
        ':path': path,
        authorization: authorization(this.opts.secret, signed),
        [H_OP]: opId,
        ...(layoutEpoch ? { [H_LAYOUT]: layoutEpoch } : {}),
        ...(from ? { [H_FROM]: from } : {}),
        [H_VERSION]: String(PROTOCOL_VERSION),
        [H_EPOCH]: hello.epoch,
        [H_DATE]: date,
        [H_NONCE]: nonce,
        [H_REQUEST_ID]: requestId,
        [H_TIMEOUT]: String(ctx?.timeoutMs ?? this.timeoutMs),
      };
    };
  }

  /**
   * The brick's current epoch when `reply` is its refusal of a request signed for another of its
   * boots, else undefined. Such a refusal is proof that the request did not run (the brick runs
   * only what is signed for its own boot) only when the epoch it names differs from the one the
   * request was signed with, and it is believed only with the brick's MAC over this request's
   * signature and that epoch (wire.ts staleEpochMac): on h2c anyone between could swap the reply
   * of a FOP the brick ran for a 403 naming the brick's epoch (public on /-/health), and a resend
   * would run a non-idempotent FOP twice (issue 14).
   */
  private staleEpoch(reply: IncomingHttpHeaders, sent: Record<string, string>): string | undefined {
    const epoch = reply[H_EPOCH];
    const mac = reply[H_EPOCH_MAC];
    if (Number(reply[':status']) !== 403 || typeof epoch !== 'string' || typeof mac !== 'string') return undefined;
    if (!/^[0-9a-f]{32}$/.test(epoch) || epoch === sent[H_EPOCH]) return undefined;
    const signature = signatureOf(sent.authorization ?? '');
    if (signature === undefined || !sameMac(staleEpochMac(this.opts.secret, signature, epoch), mac)) return undefined;
    return epoch;
  }

  private async send(fop: FopName, req: Pick<H2Request, 'headers' | 'body' | 'mac'>, ctx?: CallContext): Promise<H2Reply> {
    const idempotent = FOPS[fop].idempotent;
    const attempts = idempotent ? 2 : 1;
    const replayable = req.body === undefined || typeof req.body === 'string';
    const staleEpoch = (reply: IncomingHttpHeaders, sent: Record<string, string>): string | undefined => this.staleEpoch(reply, sent);
    for (let attempt = 1; ; attempt++) {
      try {
        // Signed afresh on every attempt (new date and nonce, and the epoch of its connection).
        const r = await this.session.request({ ...req, staleEpoch, timeoutMs: ctx?.timeoutMs ?? this.timeoutMs, signal: ctx?.signal });
        // Any other reply, a 403 naming the epoch the request was signed for or without the
        // brick's MAC included, is the FOP's answer (a refusal of that kind is EACCES): never
        // a reason to send it again.
        if (this.staleEpoch(r.headers, r.sent) === undefined) return r;
        // Refused unprocessed, as signed for an earlier boot of the brick (the session learned
        // the new one): sent again when the body can be, else the caller may send it again.
        // The reply is read away (a stream closes only once its reply has ended). An upload's
        // brick answered on the headers, maybe before its body was sent whole: the body is
        // unpiped and the stream reset, or it would stay open, holding its window and a stream
        // slot, until the body ends or the idle deadline (issue 14).
        r.stream.resume();
        if (typeof req.body === 'object') {
          req.body.unpipe(r.stream);
          if (!r.stream.destroyed) r.stream.close(http2.constants.NGHTTP2_CANCEL);
        }
        if (attempt === 1 && replayable) continue;
        throw refusal(err('ENOTCONN', `${fop} on ${this.opts.url}: the brick restarted behind this connection; not applied, send it again`));
      } catch (e) {
        const errno = (e as { errno?: string }).errno;
        if (attempt < attempts && replayable && (errno === 'ENOTCONN' || errno === 'EHOSTDOWN') && !wasUnresponsive(e)) continue;
        // A stream reset as refused (REFUSED_STREAM, ENHANCE_YOUR_CALM) was not processed per
        // RFC 9113 §8.7, but the reset is not authenticated: someone between can inject it after
        // the brick ran the FOP. So only an idempotent FOP is sent again on its account.
        if (attempt === 1 && replayable && idempotent && wasRefused(e)) continue;
        throw e;
      }
    }
  }

  private async readAll(r: H2Reply): Promise<string> {
    const chunks: Buffer[] = [];
    for await (const c of r.stream) chunks.push(c as Buffer);
    return Buffer.concat(chunks).toString('utf8');
  }

  private async json<T>(fop: FopName, r: H2Reply): Promise<T> {
    const text = await this.readAll(r).catch((e: unknown) => {
      throw err('ENOTCONN', `${fop} on ${this.opts.url}: reply cut short`, { cause: e });
    });
    let body: unknown;
    try {
      body = JSON.parse(text);
    } catch {
      throw err('EPROTO', `${fop} on ${this.opts.url}: reply is not JSON (HTTP ${r.status})`);
    }
    if (r.status === 200) return body as T;
    const b = (body ?? {}) as { errno?: unknown; message?: unknown; gfid?: unknown; primary?: unknown; term?: unknown };
    const errno = isErrno(b.errno) ? b.errno : r.status === 401 || r.status === 403 ? 'EACCES' : 'EIO';
    // The brick sends a Dht2Error's `message`, errno prefix included (its own refusals have none):
    // the prefix goes, so the rebuilt error's `detail` is the bare text and `message` has one prefix.
    const message = typeof b.message === 'string' ? b.message.replace(/^E[A-Z0-9]+: /, '') : `HTTP ${r.status}`;
    // The brick's message is about the FOP's arguments; which brick answered matters only for
    // transport errors (session.ts), not for an errno the brick chose. No stack: it would only
    // ever name this line, and capturing it for the expected answers (ENOENT of a HEAD on a
    // missing key, EREMOTE) was ~1.5 % of a gateway's CPU.
    const limit = Error.stackTraceLimit;
    Error.stackTraceLimit = 0;
    try {
      throw err(errno, message, {
        ...(typeof b.gfid === 'string' ? { gfid: b.gfid } : {}),
        ...(typeof b.primary === 'string' ? { primary: b.primary } : {}),
        ...(Number.isSafeInteger(b.term) ? { term: b.term as number } : {}),
      });
    } finally {
      Error.stackTraceLimit = limit;
    }
  }

  async call<F extends ControlFop>(fop: F, req: FopReq<F>, ctx?: CallContext): Promise<FopRes<F>> {
    const json = JSON.stringify(req);
    const hash = sha256Hex(json);
    const sign = this.headers(fop, hash, ctx);
    const r = await this.send(fop, { headers: (hello) => ({ ...sign(hello), 'content-type': 'application/json' }), body: json }, ctx);
    return this.json<FopRes<F>>(fop, r);
  }

  async upload<F extends UploadFop>(fop: F, req: FopReq<F>, body: Readable, ctx?: CallContext): Promise<FopRes<F>> {
    const args = encodeArgsHeader(req);
    const sign = this.headers(fop, sha256Hex(args), ctx);
    const r = await this.send(fop, {
      headers: (hello) => ({ ...sign(hello), [H_ARGS]: args, 'content-type': 'application/octet-stream' }),
      body,
      // The body's MAC, in a trailer, keyed by this request's signature (wire.ts bodyMac), over
      // the body's SHA-256: the caller's when it hashed the body once for several bricks.
      mac: {
        of: (headers, sha256) => bodyMac(this.opts.secret, signatureOf(headers.authorization!)!, sha256),
        ...(ctx?.bodySha256 ? { bodySha256: ctx.bodySha256 } : {}),
      },
    }, ctx);
    return this.json<FopRes<F>>(fop, r);
  }

  async download<F extends DownloadFop>(fop: F, req: FopReq<F>, ctx?: CallContext): Promise<Download<FopRes<F>>> {
    const args = encodeArgsHeader(req);
    const sign = this.headers(fop, sha256Hex(args), ctx);
    const r = await this.send(fop, { headers: (hello) => ({ ...sign(hello), [H_ARGS]: args }) }, ctx);
    if (r.status !== 200) return this.json(fop, r);
    const h = r.headers[H_RESULT];
    if (typeof h !== 'string') {
      r.stream.destroy();
      throw err('EPROTO', `${fop} on ${this.opts.url}: reply without ${H_RESULT}`);
    }
    return { res: decodeArgsHeader(h) as FopRes<F>, body: r.stream };
  }

  /** Streams open toward this brick (rpc/session.ts {@link BrickSession.openStreams}). */
  get openStreams(): number {
    return this.session.openStreams;
  }

  /** GET /-/health: the brick's identity, or EHOSTDOWN/ETIMEDOUT when it cannot be reached. */
  async health(timeoutMs = 2000): Promise<BrickHealth> {
    const r = await this.session.request({ headers: { ':method': 'GET', ':path': '/-/health' }, timeoutMs });
    const text = await this.readAll(r);
    if (r.status !== 200) throw err('EIO', `${this.opts.url}/-/health answered ${r.status}`);
    return JSON.parse(text) as BrickHealth;
  }

  async close(): Promise<void> {
    await this.session.close();
  }
}
