/**
 * The brick FOP interface every layer implements: the on-disk store in the brick, the HTTP/2
 * RPC client in dht2-core, and any wrapper (metrics, fault injection, retries) between them.
 * A layer can therefore be tested over an in-process lower layer, as GlusterFS translators are.
 */
import type { Readable } from 'node:stream';
import type { ControlFop, DownloadFop, FopName, FopOfRole, FopReq, FopRes, UploadFop } from './fops.js';

/** Per-call context: request id for logs, cancellation, deadline. */
export interface CallContext {
  /** Request id of the gateway request this FOP serves; logged by the brick. */
  requestId?: string;
  /** Aborts the call (client disconnect). */
  signal?: AbortSignal;
  /** Deadline of the call without progress (idle timeout of its stream), in milliseconds. */
  timeoutMs?: number;
  /**
   * The FOP's operation id (wire.ts H_OP): set by a layer that may send one FOP more than once
   * (ReplicaSetFops, ARCHITECTURE.md §10.8), so every resend carries the same id. Drawn by the
   * RPC client when absent.
   */
  opId?: string;
  /**
   * An upload's body SHA-256 as the caller computed it, asked for once the body has ended: a body
   * sent to every member of a set (a fresh dput, layers/fresh-fanout.ts) is hashed once, not once
   * per brick (PROTOCOL.md §3.1). The RPC client hashes the body itself when absent.
   */
  bodySha256?: () => Buffer;
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

/** One method per control FOP in `K`, named after it, taking its request and answering its reply. */
export type ControlHandlers<K extends ControlFop> = { [F in K]: (req: FopReq<F>) => Promise<FopRes<F>> };

/**
 * One method per FOP the table gives to `role`, named after it and typed from it: what a store
 * that serves that role (brick/posix2's MdsStore, DsStore) implements, so the compiler finds a
 * FOP added to the table but not to the store, or a handler whose request or reply drifted.
 */
export type RoleHandlers<R extends 'mds' | 'ds'> =
  & ControlHandlers<FopOfRole<R, 'control'>>
  & { [F in FopOfRole<R, 'upload'>]: (req: FopReq<F>, body: Readable) => Promise<FopRes<F>> }
  & { [F in FopOfRole<R, 'download'>]: (req: FopReq<F>) => Promise<Download<FopRes<F>>> };

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
