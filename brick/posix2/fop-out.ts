/**
 * What `plan` decides and `apply` carries out (ARCHITECTURE.md §10.6): the `out` of every
 * mutating FOP, the values a log entry holds besides its request and its `at` (§10.4). `apply`
 * takes no decision: every value that depends on the state at planning time (an append's offset,
 * a link count after, a replaced name's GFID and its inode's fate) is here.
 */
import { err, type InodeFate, type InodeType } from '../../dht2-core/protocol/index.js';

/** A body an upload FOP carries, stored before it is planned (a log blob, §10.4, or tmp/). */
export interface Blob {
  path: string;
  /**
   * The set of one's fast path: apply may move the blob itself into place (dput: rename(2) of
   * it over the handle, today's single write), after which it is gone and cannot be applied
   * again. A kept blob (a replicated set's) is copied.
   */
  consume?: boolean;
  /** The blob is already durable with the FOP's time set (consume only). */
  synced?: boolean;
}

/** A removed or replaced inode: its fate, and its link count after when it keeps other names. */
export interface Dropped extends InodeFate {
  /** `linked` only: nlink after (an absolute value, so a re-apply sets it again, not once more). */
  nlink?: number;
}

export interface DsOuts {
  dcreate: { size: 0 };
  dtruncate: { size: number };
  dunlink: Record<string, never>;
  dconcat: { size: number };
  dcopy: { size: number };
  dput: { size: number };
  /** The offset resolved (an append: the size at planning) and the size after. */
  dwrite: { offset: number; size: number };
}

/** `noop`: the FOP finds its change made already (a retry after a lost reply) and answers as such. */
export interface MdsOuts {
  /** The size after (a `sizeAtLeast` resolved), when the FOP sets one. */
  setattr: { size?: number };
  icreate: Record<string, never>;
  create: { noop?: true; replaced?: Dropped };
  namelink: { noop?: true; replaced?: Dropped };
  nameswap: { noop?: true };
  /** The entry removed. */
  namedel: { gfid: string; type: InodeType };
  unlink: Dropped;
  rmdir: { gfid: string };
  iunlink: Dropped;
  ilink: { nlink: number };
  link: { nlink: number; type: InodeType };
  rename: { gfid: string; type: InodeType; noop?: true; replaced?: Dropped };
  imark: Record<string, never>;
  /** `prev`: the object the directory carried before. */
  objset: { noop?: true; prev?: string };
  setxattr: Record<string, never>;
  removexattr: Record<string, never>;
}

export type MdsMutating = keyof MdsOuts;
export type MdsOut<F extends MdsMutating> = MdsOuts[F];

export const MDS_MUTATING: readonly MdsMutating[] = [
  'setattr', 'icreate', 'create', 'namelink', 'nameswap', 'namedel', 'unlink', 'rmdir', 'iunlink', 'ilink', 'link',
  'rename', 'imark', 'objset', 'setxattr', 'removexattr',
];

export function isMdsMutating(fop: string): fop is MdsMutating {
  return (MDS_MUTATING as readonly string[]).includes(fop);
}

/** Every FOP that changes a store: what PosixStore.plan/apply take. */
export type MutatingFop = MdsMutating | DsMutating;
export type FopOut<F extends MutatingFop> = F extends MdsMutating ? MdsOuts[F] : F extends DsMutating ? DsOuts[F] : never;

/** The reply's part of a Dropped: the InodeFate the protocol answers. */
export function fateOf(d: Dropped): InodeFate {
  return { gfid: d.gfid, type: d.type, inode: d.inode };
}

export type DsMutating = keyof DsOuts;
export type DsOut<F extends DsMutating> = DsOuts[F];

export const DS_MUTATING: readonly DsMutating[] = ['dcreate', 'dtruncate', 'dunlink', 'dconcat', 'dcopy', 'dput', 'dwrite'];

export function isDsMutating(fop: string): fop is DsMutating {
  return (DS_MUTATING as readonly string[]).includes(fop);
}

/**
 * This replica's state is not the state the primary planned against (ARCHITECTURE.md §10.5):
 * apply stops, the member reports `diverged` and is rebuilt (§10.13); it never resolves the
 * difference itself.
 */
export function diverged(what: string, gfid?: string): Error {
  return err('EIO', `diverged: ${what}`, gfid === undefined ? {} : { gfid });
}

/** True for the error of {@link diverged}. */
export function isDiverged(e: unknown): boolean {
  return typeof e === 'object' && e !== null && (e as { errno?: unknown }).errno === 'EIO'
    && String((e as { detail?: unknown }).detail ?? '').startsWith('diverged: ');
}
