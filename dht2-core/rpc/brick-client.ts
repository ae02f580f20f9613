/**
 * The brick RPC client: the FOP interface over HTTP/2 with undici (H2CClient for h2c, Client
 * with allowH2 for TLS), one multiplexed session per brick with large flow-control windows.
 * Every call is signed with the cluster secret and has a deadline; idempotent FOPs (FOPS[f].idempotent)
 * are retried once on a connection failure, the others never (RFC 9113 §8.7: only a refused
 * stream is known not to have been processed). A brick that cannot be reached gives EHOSTDOWN,
 * a connection lost mid-call ENOTCONN, a missed deadline ETIMEDOUT.
 */
import { Readable } from 'node:stream';
import { randomUUID } from 'node:crypto';
import { Client, H2CClient, type Dispatcher } from 'undici';
import { Dht2Error, err, isErrno } from '../errors.js';
import {
  FOPS, type ControlFop, type DownloadFop, type FopName, type FopReq, type FopRes, type UploadFop,
} from '../protocol/fops.js';
import type { BrickFops, CallContext, Download } from '../protocol/layer.js';
import {
  H2_WINDOW, H_ARGS, H_DATE, H_NONCE, H_REQUEST_ID, H_RESULT, H_TIMEOUT, H_VERSION, authorization,
  decodeArgsHeader, encodeArgsHeader, fopPath, newNonce, sha256Hex,
} from '../protocol/wire.js';
import { PROTOCOL_VERSION } from '../protocol/fops.js';

export interface BrickClientOptions {
  /** `http://host:port` (h2c) or `https://host:port` (h2 over TLS). */
  url: string;
  secret: string;
  /** Default deadline per call, ms (data calls: between chunks). */
  timeoutMs?: number;
  /** Extra TLS options (ca, rejectUnauthorized) for https bricks. */
  tls?: { ca?: string | Buffer; rejectUnauthorized?: boolean };
}

type Hdrs = Record<string, string>;

export class BrickClient implements BrickFops {
  private readonly dispatcher: Dispatcher;
  private readonly timeoutMs: number;

  constructor(private readonly opts: BrickClientOptions) {
    this.timeoutMs = opts.timeoutMs ?? 30_000;
    const common = {
      initialWindowSize: H2_WINDOW,
      connectionWindowSize: H2_WINDOW,
      maxConcurrentStreams: 1000,
      headersTimeout: this.timeoutMs,
      bodyTimeout: this.timeoutMs,
      connect: { timeout: Math.min(this.timeoutMs, 5000) },
    };
    const u = new URL(opts.url);
    if (u.protocol === 'http:') {
      this.dispatcher = new H2CClient(u.origin, common);
    } else if (u.protocol === 'https:') {
      this.dispatcher = new Client(u.origin, { ...common, allowH2: true, connect: { ...common.connect, ...opts.tls } });
    } else {
      throw err('EINVAL', `brick URL must be http: or https:, not ${u.protocol}`);
    }
  }

  get url(): string {
    return this.opts.url;
  }

  private headers(fop: FopName, payloadHash: string, ctx: CallContext | undefined, timeoutMs: number): Hdrs {
    const date = String(Date.now());
    const nonce = newNonce();
    const requestId = ctx?.requestId ?? randomUUID();
    const path = fopPath(fop);
    return {
      authorization: authorization(this.opts.secret, { method: 'POST', path, date, nonce, requestId, payloadHash }),
      [H_VERSION]: String(PROTOCOL_VERSION),
      [H_DATE]: date,
      [H_NONCE]: nonce,
      [H_REQUEST_ID]: requestId,
      [H_TIMEOUT]: String(timeoutMs),
    };
  }

  private async send(
    fop: FopName, build: () => { headers: Hdrs; body?: string | Readable }, ctx: CallContext | undefined,
  ): Promise<Dispatcher.ResponseData> {
    const timeoutMs = ctx?.timeoutMs ?? this.timeoutMs;
    const attempts = FOPS[fop].idempotent ? 2 : 1;
    for (let attempt = 1; ; attempt++) {
      const { headers, body } = build();
      const signal = ctx?.signal ? AbortSignal.any([ctx.signal, AbortSignal.timeout(timeoutMs)]) : AbortSignal.timeout(timeoutMs);
      try {
        return await this.dispatcher.request({
          path: fopPath(fop), method: 'POST', headers, body: body ?? null, signal,
          headersTimeout: timeoutMs, bodyTimeout: timeoutMs,
        });
      } catch (e) {
        const de = this.transportError(fop, e, ctx);
        const replayable = body === undefined || typeof body === 'string';
        if (attempt < attempts && replayable && (de.errno === 'ENOTCONN' || de.errno === 'EHOSTDOWN')) continue;
        throw de;
      }
    }
  }

  private transportError(fop: FopName, e: unknown, ctx: CallContext | undefined): Dht2Error {
    const code = (e as { code?: string } | null)?.code ?? '';
    const name = (e as { name?: string } | null)?.name ?? '';
    const where = `brick ${this.opts.url} ${fop}`;
    if (ctx?.signal?.aborted) return err('ECANCELED', `${where}: cancelled`, { cause: e });
    if (name === 'TimeoutError' || code === 'UND_ERR_HEADERS_TIMEOUT' || code === 'UND_ERR_BODY_TIMEOUT' || code === 'UND_ERR_CONNECT_TIMEOUT') {
      return err(code === 'UND_ERR_CONNECT_TIMEOUT' ? 'EHOSTDOWN' : 'ETIMEDOUT', `${where}: timed out`, { cause: e });
    }
    if (code === 'ECONNREFUSED' || code === 'EHOSTUNREACH' || code === 'ENETUNREACH' || code === 'ENOTFOUND' || code === 'EAI_AGAIN') {
      return err('EHOSTDOWN', `${where}: brick unreachable (${code})`, { cause: e });
    }
    return err('ENOTCONN', `${where}: ${(e as Error)?.message ?? String(e)}`, { cause: e });
  }

  private async fail(fop: FopName, res: Dispatcher.ResponseData): Promise<never> {
    const text = await res.body.text().catch(() => '');
    let body: { errno?: unknown; message?: unknown; gfid?: unknown } = {};
    try {
      body = JSON.parse(text) as typeof body;
    } catch {
      /* not JSON: fall through */
    }
    const errno = isErrno(body.errno) ? body.errno : res.statusCode === 401 || res.statusCode === 403 ? 'EACCES' : 'EIO';
    const message = typeof body.message === 'string' ? body.message : `HTTP ${res.statusCode}`;
    throw err(errno, `${fop} on ${this.opts.url}: ${message.replace(/^E[A-Z0-9]+: /, '')}`, typeof body.gfid === 'string' ? { gfid: body.gfid } : {});
  }

  async call<F extends ControlFop>(fop: F, req: FopReq<F>, ctx?: CallContext): Promise<FopRes<F>> {
    const json = JSON.stringify(req);
    const hash = sha256Hex(json);
    const res = await this.send(fop, () => ({
      headers: { ...this.headers(fop, hash, ctx, ctx?.timeoutMs ?? this.timeoutMs), 'content-type': 'application/json' },
      body: json,
    }), ctx);
    if (res.statusCode !== 200) return this.fail(fop, res);
    return (await res.body.json()) as FopRes<F>;
  }

  async upload<F extends UploadFop>(fop: F, req: FopReq<F>, body: Readable, ctx?: CallContext): Promise<FopRes<F>> {
    const args = encodeArgsHeader(req);
    const res = await this.send(fop, () => ({
      headers: { ...this.headers(fop, sha256Hex(args), ctx, ctx?.timeoutMs ?? this.timeoutMs), [H_ARGS]: args, 'content-type': 'application/octet-stream' },
      body,
    }), ctx);
    if (res.statusCode !== 200) return this.fail(fop, res);
    return (await res.body.json()) as FopRes<F>;
  }

  async download<F extends DownloadFop>(fop: F, req: FopReq<F>, ctx?: CallContext): Promise<Download<FopRes<F>>> {
    const args = encodeArgsHeader(req);
    const res = await this.send(fop, () => ({
      headers: { ...this.headers(fop, sha256Hex(args), ctx, ctx?.timeoutMs ?? this.timeoutMs), [H_ARGS]: args },
    }), ctx);
    if (res.statusCode !== 200) return this.fail(fop, res);
    const h = res.headers[H_RESULT];
    if (typeof h !== 'string') {
      res.body.destroy();
      throw err('EPROTO', `${fop} on ${this.opts.url}: reply without ${H_RESULT}`);
    }
    return { res: decodeArgsHeader(h) as FopRes<F>, body: res.body as unknown as Readable };
  }

  /** GET /-/health: the brick's identity, or a typed error when it cannot be reached. */
  async health(timeoutMs = 2000): Promise<{ status: string; role: string; volumeId: string; brickId: string; format: number; protocol: number }> {
    try {
      const res = await this.dispatcher.request({ path: '/-/health', method: 'GET', signal: AbortSignal.timeout(timeoutMs) });
      if (res.statusCode !== 200) { await res.body.dump(); throw err('EIO', `health answered ${res.statusCode}`); }
      return (await res.body.json()) as Awaited<ReturnType<BrickClient['health']>>;
    } catch (e) {
      if (e instanceof Dht2Error) throw e;
      throw this.transportError('statfs', e, undefined);
    }
  }

  async close(): Promise<void> {
    await this.dispatcher.close();
  }
}
