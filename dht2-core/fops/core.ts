/**
 * The state every composite FOP works on: the layout and one FOP layer per brick, plus the
 * steps they share (lookup following EREMOTE, path resolution, finishing a removed inode).
 * No caching: every path is resolved against the MDSs, so two gateways on one volume never
 * read stale names (issue 3, "No stale reads").
 */
import {
  checkName, Dht2Error, err, isErr, ROOT_GFID, type Attrs, type BrickFops, type CallContext, type InodeFate,
} from '../protocol/index.js';
import type { Layout } from '../layout.js';

export class VolumeCore {
  constructor(
    readonly layout: Layout,
    readonly mdsBricks: readonly BrickFops[],
    readonly dsBricks: readonly BrickFops[],
  ) {}

  /** The MDS that holds the inode with this GFID. */
  mds(gfid: string): BrickFops {
    return this.mdsBricks[this.layout.mdsOf(gfid)]!;
  }

  /** The DS that holds the data of the file with this GFID. */
  ds(gfid: string): BrickFops {
    return this.dsBricks[this.layout.dsOf(gfid)]!;
  }

  sameMds(a: string, b: string): boolean {
    return this.layout.mdsOf(a) === this.layout.mdsOf(b);
  }

  async getattr(gfid: string, ctx?: CallContext, want?: string[]): Promise<Attrs> {
    return this.mds(gfid).call('getattr', want ? { gfid, want } : { gfid }, ctx);
  }

  /** Named lookup on the parent's MDS; an EREMOTE answer is followed to the inode's MDS. */
  async lookupAt(parent: string, name: string, ctx?: CallContext, want?: string[]): Promise<Attrs> {
    try {
      return await this.mds(parent).call('lookup', want ? { parent, name, want } : { parent, name }, ctx);
    } catch (e) {
      if (!isErr(e, 'EREMOTE') || !e.gfid) throw e;
      try {
        return await this.getattr(e.gfid, ctx, want);
      } catch (e2) {
        // A name whose inode is nowhere: report it as absent (fsck lists it as dangling).
        if (isErr(e2, 'ENOENT')) throw err('ENOENT', `${name}: inode ${e.gfid} not found`, { gfid: e.gfid });
        throw e2;
      }
    }
  }

  /** Attributes of the object at `path` (symlinks are not followed). */
  async resolve(path: string, ctx?: CallContext, want?: string[]): Promise<Attrs> {
    const parts = splitPath(path);
    if (parts.length === 0) return this.getattr(ROOT_GFID, ctx, want);
    // The root is always a directory: the walk starts at its GFID without asking for it.
    const last = parts.pop()!;
    const dir = await this.walk(parts, ctx);
    return this.lookupAt(dir.gfid, last, ctx, want);
  }

  /**
   * Walks directory names from the root. Each step is one `entry` round trip to the parent's
   * MDS, which names the child's GFID and type even when its inode lives elsewhere, so walking
   * through a directory never needs a second hop to the directory's own MDS.
   */
  private async walk(parts: readonly string[], ctx?: CallContext, from?: KnownDir): Promise<{ gfid: string; type: 'dir' }> {
    const start = startOf(parts, from);
    let cur = start.gfid;
    for (const name of start.rest) {
      const e = await this.mds(cur).call('entry', { parent: cur, name }, ctx);
      if (e.type !== 'dir') throw err('ENOTDIR', `${name} is not a directory`);
      cur = e.gfid;
    }
    return { gfid: cur, type: 'dir' };
  }

  /**
   * The directory at `path`, by name entries alone (ENOTDIR when a name on the way is not one);
   * from `from` when it lies on the way, else from the root.
   */
  resolveDir(path: string, ctx?: CallContext, from?: KnownDir): Promise<{ gfid: string; type: 'dir' }> {
    return this.walk(splitPath(path), ctx, from);
  }

  /** The parent directory of `path` and the last name; EINVAL for the root itself. */
  async resolveParent(path: string, ctx?: CallContext): Promise<{ parent: Pick<Attrs, 'gfid' | 'type'>; name: string }> {
    const parts = splitPath(path);
    const name = parts.pop();
    if (name === undefined) throw err('EINVAL', 'the root has no parent');
    return { parent: await this.walk(parts, ctx), name };
  }

  /**
   * Completes a removed name's inode: a remote inode loses one link on its own MDS, and a file
   * whose last link went loses its data object on its DS (ENOENT there: data never written).
   * Best effort, never throwing: it runs after the step that removed the name has committed, so
   * the operation has happened whatever becomes of this; what it cannot finish (a DS or MDS
   * down) is an orphan inode or data object that fsck removes (docs/ARCHITECTURE.md §5).
   */
  async finishFate(f: InodeFate | undefined, ctx?: CallContext): Promise<void> {
    if (!f) return;
    try {
      let fate = f.inode;
      if (fate === 'remote') fate = (await this.mds(f.gfid).call('iunlink', { gfid: f.gfid }, ctx)).inode;
      if (fate === 'deleted' && f.type === 'file') await this.dropData(f.gfid, ctx);
    } catch {
      // left to fsck (see above)
    }
  }

  async dropData(gfid: string, ctx?: CallContext): Promise<void> {
    try {
      await this.ds(gfid).call('dunlink', { gfid }, ctx);
    } catch (e) {
      if (!isErr(e, 'ENOENT')) throw e;
    }
  }
}

/**
 * A directory the caller resolved in this same operation (an S3 request's bucket): walks to
 * paths below it start there instead of at the root, one round trip per level fewer.
 */
export interface KnownDir {
  path: string;
  gfid: string;
}

/** Where a walk of `parts` starts: at `from` when its path is a prefix of them, else at the root. */
export function startOf(parts: readonly string[], from?: KnownDir): { gfid: string; rest: readonly string[] } {
  if (!from) return { gfid: ROOT_GFID, rest: parts };
  const base = splitPath(from.path);
  if (base.length > parts.length || base.some((n, i) => parts[i] !== n)) return { gfid: ROOT_GFID, rest: parts };
  return { gfid: from.gfid, rest: parts.slice(base.length) };
}

/** Splits a volume path into checked names; empty segments (`//`, leading or trailing `/`) are ignored. */
export function splitPath(path: string): string[] {
  if (typeof path !== 'string') throw err('EINVAL', 'path must be a string');
  const parts = path.split('/').filter((p) => p !== '');
  for (const p of parts) checkName(p);
  return parts;
}

/** Runs `fn`, adding `path` to any Dht2Error that has none. */
export async function atPath<T>(path: string, fn: () => Promise<T>): Promise<T> {
  try {
    return await fn();
  } catch (e) {
    if (e instanceof Dht2Error && e.path === undefined) {
      throw new Dht2Error(e.errno, `${path}: ${e.detail}`, { path, gfid: e.gfid, cause: e });
    }
    throw e;
  }
}

/**
 * Errnos by which a brick refuses a step before changing anything: what the step checks first
 * (the name exists or not, the GFID it expects, the types, the arguments), or no connection was
 * ever made (EHOSTDOWN). Any other failure may come after the step's commit point: the brick
 * renames an entry into place and then fails to update the directory's times (ENOSPC, EDQUOT,
 * EROFS, EIO), or the reply is lost (ENOTCONN, a reply cut short or unreadable: RFC 9113 §8.7),
 * or the request is still queued on the brick (ETIMEDOUT, ECANCELED stop the waiting, not it).
 */
const REFUSED: ReadonlySet<string> = new Set([
  'EEXIST', 'ENOENT', 'ESTALE', 'EISDIR', 'ENOTDIR', 'ENOTEMPTY', 'EINVAL', 'ENAMETOOLONG', 'EREMOTE', 'EACCES', 'EPERM',
  'ELOOP', 'EXDEV', 'EMLINK', 'ENOTSUP', 'EHOSTDOWN',
]);

/** Failures after which the step may still land later: no answer came from the brick. */
const IN_FLIGHT: ReadonlySet<string> = new Set(['ENOTCONN', 'ETIMEDOUT', 'ECANCELED', 'EPROTO']);

/** True when a failed FOP may nevertheless have been applied (see REFUSED). */
export function outcomeUnknown(e: unknown): boolean {
  return !(e instanceof Dht2Error) || !REFUSED.has(e.errno);
}

const unsettled = new WeakSet<object>();

/**
 * True for the failure of a commit step ({@link commitStep}) that may have committed: what the
 * composite FOP made before it (a data object, an inode) may now be named and must stay.
 */
export function isUnsettled(e: unknown): boolean {
  return typeof e === 'object' && e !== null && unsettled.has(e);
}

/**
 * Runs the commit step of a composite FOP: the one after which a name may point at what the
 * FOP made (an inode, a data object). Issue 13's rule: after a step that may have committed,
 * never undo; learn its fate and leave only orphans behind.
 *  - The brick refused it (REFUSED): `undo` runs (best effort) and the error is rethrown.
 *  - Otherwise the outcome is unknown, and `applied` looks (a lookup). When it finds the step
 *    applied, its answer is the step's result and the FOP succeeds. When it finds it not
 *    applied and the brick did answer (an ENOSPC, an EIO), nothing is in flight: `undo` runs and
 *    the error is rethrown. When no answer came (the step may still land: a request past its
 *    deadline is still queued on the brick) or looking fails too, the error is rethrown marked
 *    unsettled ({@link isUnsettled}) and nothing is undone, so what the step would name still
 *    exists if it lands. At worst that leaves orphans, which fsck removes once they are older
 *    than its grace period.
 */
export async function commitStep<T>(
  step: () => Promise<T>, o: { applied: () => Promise<NoInfer<T> | undefined>; undo?: () => Promise<unknown> },
): Promise<T> {
  try {
    return await step();
  } catch (e) {
    if (!outcomeUnknown(e)) {
      await o.undo?.().catch(() => undefined);
      throw e;
    }
    let looked: { r: T | undefined } | undefined;
    try {
      looked = { r: await o.applied() };
    } catch {
      looked = undefined;
    }
    if (looked?.r !== undefined) return looked.r;
    if (looked && e instanceof Dht2Error && !IN_FLIGHT.has(e.errno)) {
      await o.undo?.().catch(() => undefined);
      throw e;
    }
    if (typeof e === 'object' && e !== null) unsettled.add(e);
    throw e;
  }
}
