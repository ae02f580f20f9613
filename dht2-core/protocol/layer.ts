/**
 * The brick FOP interface every layer implements: the on-disk store in the brick, the HTTP/2
 * RPC client in dht2-core, and any wrapper (metrics, fault injection, retries) between them.
 * A layer can therefore be tested over an in-process lower layer, as GlusterFS translators are.
 */
import type { Readable } from 'node:stream';
import type { ControlFop, DownloadFop, FopName, FopReq, FopRes, UploadFop } from './fops.js';

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

/**
 * The default layer: forwards every FOP to the layer below, like GlusterFS's `default_<fop>`
 * (libglusterfs/src/defaults-tmpl.c). A layer extends it and overrides only what it changes:
 * `around` when it treats every FOP alike (counts, times or gates them), a FOP method when it
 * changes that kind of FOP only.
 */
export abstract class PassThroughFops implements BrickFops {
  /** The layer below. Abstract so that a layer may reach it through a getter (a brick restarted in a test). */
  protected abstract readonly child: BrickFops;

  /**
   * Every FOP goes down through here; `run` passes it on to `child`. `discard` releases a reply
   * that a layer drops instead of returning (a download's body, which would otherwise stay open).
   */
  protected around<T>(_fop: FopName, _req: unknown, run: () => Promise<T>, _discard?: (reply: T) => void): Promise<T> {
    return run();
  }

  call<F extends ControlFop>(fop: F, req: FopReq<F>, ctx?: CallContext): Promise<FopRes<F>> {
    return this.around(fop, req, () => this.child.call(fop, req, ctx));
  }

  upload<F extends UploadFop>(fop: F, req: FopReq<F>, body: Readable, ctx?: CallContext): Promise<FopRes<F>> {
    return this.around(fop, req, () => this.child.upload(fop, req, body, ctx));
  }

  download<F extends DownloadFop>(fop: F, req: FopReq<F>, ctx?: CallContext): Promise<Download<FopRes<F>>> {
    return this.around(fop, req, () => this.child.download(fop, req, ctx), (d) => d.body.destroy());
  }

  close(): Promise<void> {
    return this.child.close();
  }
}
