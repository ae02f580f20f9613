/**
 * The brick FOP interface every layer implements: the on-disk store in the brick, the HTTP/2
 * RPC client in dht2-core, and any wrapper (metrics, fault injection, retries) between them.
 * A layer can therefore be tested over an in-process lower layer, as GlusterFS translators are.
 */
import type { Readable } from 'node:stream';
import type { ControlFop, DownloadFop, FopReq, FopRes, UploadFop } from './fops.js';

/** Per-call context: request id for logs, cancellation, deadline. */
export interface CallContext {
  /** Request id of the gateway request this FOP serves; logged by the brick. */
  requestId?: string;
  /** Aborts the call (client disconnect). */
  signal?: AbortSignal;
  /** Deadline of the call without progress (idle timeout of its stream), in milliseconds. */
  timeoutMs?: number;
}

/** A download: the reply's attributes plus the data stream; the caller must consume or destroy `body`. */
export interface Download<R> {
  res: R;
  body: Readable;
}

/** One brick's worth of FOPs, dispatched by name. */
export interface BrickFops {
  call<F extends ControlFop>(fop: F, req: FopReq<F>, ctx?: CallContext): Promise<FopRes<F>>;
  /** Streams `body` into the FOP; resolves once the brick has made it durable. */
  upload<F extends UploadFop>(fop: F, req: FopReq<F>, body: Readable, ctx?: CallContext): Promise<FopRes<F>>;
  download<F extends DownloadFop>(fop: F, req: FopReq<F>, ctx?: CallContext): Promise<Download<FopRes<F>>>;
  close(): Promise<void>;
}
