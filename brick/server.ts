/**
 * The brick's HTTP/2 server (node:http2): h2c by default, TLS when a certificate is given.
 * It authenticates every FOP, validates its arguments against the shared FOP table, runs it
 * on the store and answers JSON or a data stream (docs/PROTOCOL.md). Data moves with
 * backpressure through stream pipelines; nothing buffers a whole object.
 */
import http2, { type Http2Server, type Http2Session, type IncomingHttpHeaders, type ServerHttp2Stream } from 'node:http2';
import type { AddressInfo } from 'node:net';
import { Transform, type Readable, type TransformCallback } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type { Logger } from 'pino';
import {
  bodyHash, bodyMac, decodeArgsHeader, encodeArgsHeader, err, FOPS, H2_WINDOW, H_ARGS, H_DATE, H_EPOCH, H_EPOCH_MAC, H_NONCE,
  BRICK_ID_RE, H_FROM, H_LAYOUT, H_OP, H_REQUEST_ID, H_RESULT, H_VERSION, isFopName, LAYOUT_EPOCH_RE, OP_ID_RE, MAX_ARGS_HEADER, MAX_CONTROL_BODY, parseFopArgs, PROTOCOL_VERSION, readSmall,
  sameMac, sha256Hex, signatureOf, staleEpochMac, statusOfErrno, T_BODY_MAC, toDht2Error, type BrickFops, type ControlFop,
  type Download, type DownloadFop, type UploadFop, type WireError,
} from '../dht2-core/protocol/index.js';
import { RequestAuthenticator } from './auth.js';
import type { BrickIdentity } from './posix2/format.js';

/** What a request says about itself beyond its FOP and arguments (protocol 3, ARCHITECTURE.md §10.2). */
export interface FopMeta {
  /** `x-dht2-op`: the FOP's operation id, the same on every resend of it ('' when absent). */
  opId: string;
  /** `x-dht2-from`: the sending brick on a peer FOP ('' from a gateway). */
  from: string;
}

/**
 * Serves the FOPs of a member of a replicated set (brick/repl/node.ts) in place of the store:
 * it needs the request's operation id and sender, which BrickFops does not carry.
 */
export interface FopRouter {
  call(fop: ControlFop, req: unknown, meta: FopMeta): Promise<unknown>;
  upload(fop: UploadFop, req: unknown, body: Readable, meta: FopMeta): Promise<unknown>;
  download(fop: DownloadFop, req: unknown, meta: FopMeta): Promise<Download<unknown>>;
}

export interface BrickServerOptions {
  store: BrickFops;
  /** The replication module of a replicated member, once it runs; the store serves when none. */
  router?: () => FopRouter | undefined;
  /** The brick's identity as it is now (installing a replicated layout makes it format 3). */
  identity: () => BrickIdentity;
  /** The epoch of the layout the brick holds, 0 for none (the `x-dht2-layout` check); no check when omitted. */
  layoutEpoch?: () => number;
  secret: string;
  port: number;
  host?: string;
  tls?: { cert: string | Buffer; key: string | Buffer };
  logger: Logger;
}

export interface RunningBrickServer {
  port: number;
  url: string;
  /** Stops accepting, lets streams in flight finish for up to `graceMs`, then closes sessions. */
  close(graceMs?: number): Promise<void>;
}

/** FOPs not placed by a layout: no `x-dht2-layout` check (see checkLayoutEpoch). */
const UNPLACED: ReadonlySet<string> = new Set(['layoutset', 'layoutget', 'rstatus', 'digest', 'rvote', 'rappend', 'rblob', 'rcopy', 'rpending', 'rops', 'rrebuild']);

class HttpError extends Error {
  constructor(readonly status: number, readonly body: WireError, readonly headers: Record<string, string> = {}) {
    super(body.message);
  }
}

export async function startBrickServer(opts: BrickServerOptions): Promise<RunningBrickServer> {
  const auth = new RequestAuthenticator(opts.secret);
  const log = opts.logger;
  const settings = { initialWindowSize: H2_WINDOW, maxConcurrentStreams: 1000 };
  const server: Http2Server = opts.tls
    ? http2.createSecureServer({ cert: opts.tls.cert, key: opts.tls.key, settings, maxSessionMemory: 64 })
    : http2.createServer({ settings, maxSessionMemory: 64 });
  const sessions = new Set<Http2Session>();
  server.on('session', (s) => {
    sessions.add(s);
    s.on('close', () => sessions.delete(s));
    // Connection-level window too; the default 64 KiB caps big streams (PERFORMANCE-NOTES.md).
    s.on('connect', () => s.setLocalWindowSize(H2_WINDOW));
    if (!s.connecting) s.setLocalWindowSize(H2_WINDOW);
  });
  server.on('stream', (stream, headers) => {
    handle(stream, headers).catch((e: unknown) => {
      log.error({ err: e }, 'brick stream handler failed');
      if (!stream.destroyed) stream.destroy();
    });
  });

  async function handle(stream: ServerHttp2Stream, headers: IncomingHttpHeaders): Promise<void> {
    const method = String(headers[':method']);
    const path = String(headers[':path']);
    if (path === '/-/health' && (method === 'GET' || method === 'HEAD')) {
      const id = opts.identity();
      // The epoch is no secret: it only names this boot, so that requests signed for another fail.
      const body = { status: 'ok', role: id.role, volumeId: id.volumeId, brickId: id.brickId, format: id.format, protocol: PROTOCOL_VERSION, epoch: auth.epoch };
      if (method === 'HEAD') {
        stream.respond({ ':status': 200, 'content-type': 'application/json' }, { endStream: true });
        return;
      }
      return replyJson(stream, 200, body);
    }
    const requestId = String(headers[H_REQUEST_ID] ?? '');
    try {
      await serveFop(stream, headers, method, path, requestId);
    } catch (e) {
      if (e instanceof HttpError) {
        replyJson(stream, e.status, e.body, e.headers);
      } else {
        const de = toDht2Error(e);
        if (de.errno === 'EIO') log.error({ err: e, path, requestId }, 'FOP failed with EIO');
        const body: WireError = { errno: de.errno, message: de.message };
        if (de.gfid) body.gfid = de.gfid;
        if (de.primary !== undefined) body.primary = de.primary;
        if (de.term !== undefined) body.term = de.term;
        replyJson(stream, statusOfErrno(de.errno), body);
      }
      stopReading(stream);
    }
  }

  /**
   * The epoch check of ARCHITECTURE.md §10.9: a FOP placed with a layout newer than the one this
   * brick holds waits (EAGAIN) — a brick that holds none (a wiped member restarted, before
   * `heal start --full` gives it the layout again) must never serve a replicated volume's FOPs
   * from its empty store; one placed with an older layout is ESTALE. Gateways of replica-1
   * volumes send no epoch. The layout's own FOPs and the peer FOPs are not placed.
   */
  function checkLayoutEpoch(fop: string, sent: string): void {
    if (sent === '' || !opts.layoutEpoch || UNPLACED.has(fop)) return;
    const held = opts.layoutEpoch();
    const want = Number(sent);
    if (held < want) {
      throw err('EAGAIN', held === 0
        ? `this brick holds no layout; the FOP was placed with epoch ${want} (dht2 heal start --full installs it)`
        : `this brick holds layout epoch ${held}; the FOP was placed with epoch ${want}`);
    }
    if (held > want) throw err('ESTALE', `this brick holds layout epoch ${held}; the FOP was placed with epoch ${want}: fetch the layout again`);
  }

  async function serveFop(stream: ServerHttp2Stream, headers: IncomingHttpHeaders, method: string, path: string, requestId: string): Promise<void> {
    const m = /^\/v(\d+)\/([a-zA-Z]+)$/.exec(path); // FOP names are camelCase (pendingDone)
    if (!m) throw new HttpError(404, { errno: 'ENOTSUP', message: `no such route ${path.slice(0, 100)}` });
    if (Number(m[1]) !== PROTOCOL_VERSION) {
      throw new HttpError(400, { errno: 'EPROTO', message: `protocol v${m[1]} not supported; this brick speaks v${PROTOCOL_VERSION}` });
    }
    const fop = m[2]!;
    if (!isFopName(fop)) throw new HttpError(404, { errno: 'ENOTSUP', message: `unknown FOP ${fop}` });
    if (method !== 'POST') throw new HttpError(405, { errno: 'EINVAL', message: 'FOPs are POST' });
    const def = FOPS[fop];
    if (headers[H_VERSION] !== undefined && headers[H_VERSION] !== String(PROTOCOL_VERSION)) {
      stream.resume();
      throw new HttpError(400, { errno: 'EPROTO', message: `protocol ${String(headers[H_VERSION])} not supported; this brick speaks ${PROTOCOL_VERSION}` });
    }
    const authHeader = headers.authorization;
    if (!authHeader) {
      stream.resume();
      throw new HttpError(401, { errno: 'EACCES', message: 'missing authorization' });
    }

    // Authenticate before parsing anything the caller sent.
    let payload: Buffer | string;
    if (def.kind === 'control') {
      payload = await readBody(stream, MAX_CONTROL_BODY);
    } else {
      const h = headers[H_ARGS];
      if (typeof h !== 'string' || h.length > MAX_ARGS_HEADER) {
        stream.resume();
        throw new HttpError(400, { errno: 'EINVAL', message: `${H_ARGS} header missing or too large` });
      }
      payload = h;
    }
    // Protocol 3's headers (ARCHITECTURE.md §10.2): signed, each empty when absent, and refused
    // when malformed rather than signed over whatever they hold.
    const opId = optionalHeader(stream, headers, H_OP, OP_ID_RE);
    const layoutEpoch = optionalHeader(stream, headers, H_LAYOUT, LAYOUT_EPOCH_RE);
    const from = optionalHeader(stream, headers, H_FROM, BRICK_ID_RE);
    const verdict = auth.check(authHeader, {
      method, path, brickId: opts.identity().brickId, epoch: String(headers[H_EPOCH] ?? ''), date: String(headers[H_DATE] ?? ''),
      nonce: String(headers[H_NONCE] ?? ''), requestId, opId, layoutEpoch, from, payloadHash: sha256Hex(payload),
    });
    if (!verdict.ok) {
      stream.resume();
      log.warn({ path, reason: verdict.reason }, 'brick request refused');
      // A request for another boot learns this one's epoch (no secret, /-/health tells it too):
      // a client whose connection outlived a restart of the brick behind it (a proxy between
      // them) signs its next requests for this boot.
      // The refusal carries a MAC over this request's signature and the epoch (wire.ts
      // staleEpochMac): the client believes no unauthenticated refusal, as anyone between could
      // forge one for a FOP that ran, to have it sent again (issue 14).
      throw new HttpError(verdict.status, { errno: 'EACCES', message: verdict.reason }, verdict.staleEpoch
        ? { [H_EPOCH]: auth.epoch, [H_EPOCH_MAC]: staleEpochMac(opts.secret, signatureOf(authHeader) ?? '', auth.epoch) }
        : {});
    }
    const argsJson = typeof payload === 'string' ? safe(() => decodeArgsHeader(payload)) : parseJson(payload.toString('utf8'));
    const args = parseFopArgs(fop, argsJson);
    if (log.isLevelEnabled('debug')) log.debug({ fop, requestId, opId }, 'fop');

    checkLayoutEpoch(fop, layoutEpoch);
    const router = opts.router?.();
    const meta: FopMeta = { opId, from };
    switch (def.kind) {
      case 'control': {
        const res = router ? await router.call(fop as ControlFop, args, meta) : await opts.store.call(fop as never, args as never);
        return replyJson(stream, 200, res);
      }
      case 'upload': {
        // The store may await (mkdir, open) before it pipes the stream; a reset in that window
        // must not be an unhandled 'error' that kills the brick. The pipeline sees it anyway.
        stream.on('error', (e: Error) => log.debug({ err: e, fop, requestId }, 'upload stream failed'));
        const body = checkBodyMac(stream, signatureOf(authHeader) ?? '', (reason) => log.warn({ fop, requestId, reason }, 'upload body refused'));
        const res = router ? await router.upload(fop as UploadFop, args, body, meta) : await opts.store.upload(fop as never, args as never, body);
        return replyJson(stream, 200, res);
      }
      case 'download': {
        const { res, body } = router ? await router.download(fop as DownloadFop, args, meta) : await opts.store.download(fop as never, args as never);
        if (stream.destroyed) { body.destroy(); return; }
        stream.respond({ ':status': 200, 'content-type': 'application/octet-stream', [H_RESULT]: encodeArgsHeader(res) });
        await pipeline(body, stream).catch((e: unknown) => {
          log.warn({ err: e, fop, requestId }, 'download interrupted');
        });
        return;
      }
    }
  }

  /**
   * The upload body as the store reads it: the same bytes, but the stream fails instead of
   * ending unless the request's trailer carries the MAC of exactly these bytes (wire.ts
   * bodyMac: over the SHA-256 of what came in, taken here as it streams). The store commits nothing (no rename, no in-place write) before its body ends,
   * so a body changed on the way, or cut and ended early, never becomes visible.
   */
  function checkBodyMac(stream: ServerHttp2Stream, requestSignature: string, refused: (reason: string) => void): Transform {
    const hash = bodyHash();
    let trailer: string | undefined;
    // node:http2 emits 'trailers' before it ends the stream, so before the flush below.
    stream.once('trailers', (t: IncomingHttpHeaders) => {
      const v = t[T_BODY_MAC];
      trailer = typeof v === 'string' ? v : '';
    });
    const checked = new Transform({
      transform(chunk: Buffer, _enc: BufferEncoding, cb: TransformCallback) {
        hash.update(chunk);
        cb(null, chunk);
      },
      flush(cb: TransformCallback) {
        const reason = trailer === undefined ? 'data body without its MAC trailer'
          : !sameMac(bodyMac(opts.secret, requestSignature, hash.digest()), trailer) ? 'data body MAC does not match' : undefined;
        if (reason === undefined) { cb(); return; }
        refused(reason);
        cb(err('EACCES', reason));
      },
    });
    pipeline(stream, checked).catch((e: unknown) => { if (!checked.destroyed) checked.destroy(e as Error); });
    return checked;
  }

  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(opts.port, opts.host ?? '127.0.0.1', () => { server.off('error', reject); resolve(); });
  });
  const port = (server.address() as AddressInfo).port;
  const host = opts.host ?? '127.0.0.1';
  const url = `${opts.tls ? 'https' : 'http'}://${host.includes(':') ? `[${host}]` : host}:${port}`;
  return {
    port,
    url,
    async close(graceMs = 5000) {
      const closed = new Promise<void>((resolve) => server.close(() => resolve()));
      for (const s of sessions) s.close();
      const timer = setTimeout(() => { for (const s of sessions) s.destroy(); }, graceMs);
      await closed;
      clearTimeout(timer);
    },
  };
}

/**
 * After an error reply, a request body not read to its end is not drained without bound (a
 * refused upload would otherwise be read for as long as the client sends, issue 14): what has
 * arrived is discarded, and once the reply is written the stream is closed with RST_STREAM
 * NO_ERROR, the way RFC 9113 §8.1 gives a server to ask a client to stop sending a request whose
 * complete response it has sent (Node submits it only after the reply's last frame: closeStream
 * in lib/internal/http2/core.js waits for 'finish' on NO_ERROR).
 */
function stopReading(stream: ServerHttp2Stream): void {
  if (stream.destroyed || stream.closed || stream.readableEnded) return;
  stream.resume();
  stream.close(http2.constants.NGHTTP2_NO_ERROR);
}

function replyJson(stream: ServerHttp2Stream, status: number, body: unknown, headers: Record<string, string> = {}): void {
  if (stream.destroyed || stream.closed) return;
  const data = Buffer.from(JSON.stringify(body));
  if (stream.headersSent) { stream.close(); return; }
  stream.respond({ ':status': status, 'content-type': 'application/json', 'content-length': data.length, ...headers });
  stream.end(data);
}

/** Reads a small body; past `max` bytes it answers 413 and drains the rest without keeping it. */
function readBody(stream: ServerHttp2Stream, max: number): Promise<Buffer> {
  return readSmall(stream, max, () => new HttpError(413, { errno: 'EMSGSIZE', message: `request body over ${max} bytes` }));
}

function parseJson(text: string): unknown {
  return safe(() => JSON.parse(text));
}

function safe<T>(fn: () => T): T {
  try {
    return fn();
  } catch {
    throw new HttpError(400, { errno: 'EINVAL', message: 'arguments are not valid JSON' });
  }
}

/** A protocol-3 header's value, '' when absent; 400 EINVAL when present and not of `re`'s form. */
function optionalHeader(stream: ServerHttp2Stream, headers: IncomingHttpHeaders, name: string, re: RegExp): string {
  const v = headers[name];
  if (v === undefined) return '';
  if (typeof v !== 'string' || !re.test(v)) {
    stream.resume();
    throw new HttpError(400, { errno: 'EINVAL', message: `malformed ${name} header` });
  }
  return v;
}
