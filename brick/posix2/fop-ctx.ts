/**
 * The per-FOP context of the store (ARCHITECTURE.md §10.6): what a FOP's stored effects may
 * depend on besides its request. `at` is the time the FOP happens, in ms: every time the store
 * writes (an inode's four times, a directory's mtime/ctime, a ctime on nlink or attribute
 * changes, a data object's mtime) is taken from it, never from the clock, so two stores given
 * the same FOPs and the same `at` values end with the same bytes. A set of one reads the clock
 * once when the FOP arrives ({@link arrivalCtx}); a replicated set takes `at` from the log
 * entry (§10.4).
 */
import type { Readable } from 'node:stream';
import type { Download, FopOfRole, FopReq, FopRes } from '../../dht2-core/protocol/index.js';

export interface FopCtx {
  /** When the FOP happens, whole ms since the epoch. */
  readonly at: number;
}

/** The context of a FOP that arrives now, on a brick that decides alone (a set of one). */
export function arrivalCtx(): FopCtx {
  return { at: Date.now() };
}

/**
 * One method per FOP of `role`, as dht2-core's RoleHandlers, but the mutating FOPs take the
 * FOP's context too (reads may ignore it: a method with fewer parameters fits).
 */
export type StoreHandlers<R extends 'mds' | 'ds'> =
  & { [F in FopOfRole<R, 'control'>]: (req: FopReq<F>, ctx: FopCtx) => Promise<FopRes<F>> }
  & { [F in FopOfRole<R, 'upload'>]: (req: FopReq<F>, body: Readable, ctx: FopCtx) => Promise<FopRes<F>> }
  & { [F in FopOfRole<R, 'download'>]: (req: FopReq<F>) => Promise<Download<FopRes<F>>> };
