/**
 * The brick RPC client: the FOP interface over one multiplexed HTTP/2 session per brick
 * (rpc/session.ts). Every call is signed with the cluster secret and has an idle deadline;
 * idempotent FOPs (FOPS[f].idempotent) with a replayable body are retried once on a
 * connection failure, the others never (RFC 9113 §8.7: a request on a broken connection may
 * or may not have been processed). A brick that cannot be reached gives EHOSTDOWN, a
 * connection lost mid-call ENOTCONN, a call without progress ETIMEDOUT.
 */
import { randomUUID } from 'node:crypto';
import type { Readable } from 'node:stream';
import { err, isErrno } from '../errors.js';
import {
  FOPS, PROTOCOL_VERSION, type ControlFop, type DownloadFop, type FopName, type FopReq, type FopRes, type UploadFop,
} from '../protocol/fops.js';
import type { BrickFops, CallContext, Download } from '../protocol/layer.js';
import {
  H_ARGS, H_DATE, H_NONCE, H_REQUEST_ID, H_RESULT, H_TIMEOUT, H_VERSION, authorization,
  decodeArgsHeader, encodeArgsHeader, fopPath, newNonce, sha256Hex,
} from '../protocol/wire.js';
import { BrickSession, wasRefused, type H2Reply } from './session.js';

export interface BrickClientOptions {
  /** `http://host:port` (h2c) or `https://host:port` (h2 over TLS). */
  url: string;
  secret: string;
  /** Deadline of a call without progress, ms (default 30 s). */
  timeoutMs?: number;
  /** TLS options (ca, rejectUnauthorized) for https bricks. */
  tls?: { ca?: string | Buffer; rejectUnauthorized?: boolean };
  /** The brick's id (from the volume file); asked from the brick's /-/health when omitted. */
  brickId?: string;
}

export interface BrickHealth {
  status: string;
  role: string;
  volumeId: string;
  brickId: string;
  format: number;
  protocol: number;
}

export class BrickClient implements BrickFops {
  private readonly session: BrickSession;
  private readonly timeoutMs: number;
  private brickId: Promise<string> | undefined;

  constructor(private readonly opts: BrickClientOptions) {
    const u = new URL(opts.url);
    if (u.protocol !== 'http:' && u.protocol !== 'https:') throw err('EINVAL', `brick URL must be http: or https:, not ${u.protocol}`);
    this.timeoutMs = opts.timeoutMs ?? 30_000;
    if (opts.brickId !== undefined) this.brickId = Promise.resolve(opts.brickId);
    this.session = new BrickSession({ url: u.origin, connectTimeoutMs: Math.min(this.timeoutMs, 5000), tls: opts.tls });
  }

  get url(): string {
    return this.opts.url;
  }

  /** The id every request is signed for; learned once from the brick when not configured. */
  private id(): Promise<string> {
    this.brickId ??= this.health().then((h) => h.brickId, (e: unknown) => { this.brickId = undefined; throw e; });
    return this.brickId;
  }

  private headers(fop: FopName, brickId: string, payloadHash: string, ctx: CallContext | undefined): Record<string, string> {
    const date = String(Date.now());
    const nonce = newNonce();
    const requestId = ctx?.requestId ?? randomUUID();
    const path = fopPath(fop);
    return {
      ':path': path,
      authorization: authorization(this.opts.secret, { method: 'POST', path, brickId, date, nonce, requestId, payloadHash }),
      [H_VERSION]: String(PROTOCOL_VERSION),
      [H_DATE]: date,
      [H_NONCE]: nonce,
      [H_REQUEST_ID]: requestId,
      [H_TIMEOUT]: String(ctx?.timeoutMs ?? this.timeoutMs),
    };
  }

  private async send(fop: FopName, build: (brickId: string) => { headers: Record<string, string>; body?: string | Readable }, ctx?: CallContext): Promise<H2Reply> {
    const attempts = FOPS[fop].idempotent ? 2 : 1;
    const brickId = await this.id();
    for (let attempt = 1; ; attempt++) {
      const { headers, body } = build(brickId);
      try {
        return await this.session.request({ headers, body, timeoutMs: ctx?.timeoutMs ?? this.timeoutMs, signal: ctx?.signal });
      } catch (e) {
        const replayable = body === undefined || typeof body === 'string';
        const errno = (e as { errno?: string }).errno;
        if (attempt < attempts && replayable && (errno === 'ENOTCONN' || errno === 'EHOSTDOWN')) continue;
        if (attempt === 1 && replayable && wasRefused(e)) continue; // never processed (session.ts retire)
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
    const b = (body ?? {}) as { errno?: unknown; message?: unknown; gfid?: unknown };
    const errno = isErrno(b.errno) ? b.errno : r.status === 401 || r.status === 403 ? 'EACCES' : 'EIO';
    const message = typeof b.message === 'string' ? b.message.replace(/^E[A-Z0-9]+: /, '') : `HTTP ${r.status}`;
    // The brick's message is about the FOP's arguments; which brick answered matters only for
    // transport errors (session.ts), not for an errno the brick chose. No stack: it would only
    // ever name this line, and capturing it for the expected answers (ENOENT of a HEAD on a
    // missing key, EREMOTE) was ~1.5 % of a gateway's CPU.
    const limit = Error.stackTraceLimit;
    Error.stackTraceLimit = 0;
    try {
      throw err(errno, message, typeof b.gfid === 'string' ? { gfid: b.gfid } : {});
    } finally {
      Error.stackTraceLimit = limit;
    }
  }

  async call<F extends ControlFop>(fop: F, req: FopReq<F>, ctx?: CallContext): Promise<FopRes<F>> {
    const json = JSON.stringify(req);
    const hash = sha256Hex(json);
    const r = await this.send(fop, (id) => ({ headers: { ...this.headers(fop, id, hash, ctx), 'content-type': 'application/json' }, body: json }), ctx);
    return this.json<FopRes<F>>(fop, r);
  }

  async upload<F extends UploadFop>(fop: F, req: FopReq<F>, body: Readable, ctx?: CallContext): Promise<FopRes<F>> {
    const args = encodeArgsHeader(req);
    const r = await this.send(fop, (id) => ({
      headers: { ...this.headers(fop, id, sha256Hex(args), ctx), [H_ARGS]: args, 'content-type': 'application/octet-stream' },
      body,
    }), ctx);
    return this.json<FopRes<F>>(fop, r);
  }

  async download<F extends DownloadFop>(fop: F, req: FopReq<F>, ctx?: CallContext): Promise<Download<FopRes<F>>> {
    const args = encodeArgsHeader(req);
    const r = await this.send(fop, (id) => ({ headers: { ...this.headers(fop, id, sha256Hex(args), ctx), [H_ARGS]: args } }), ctx);
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
