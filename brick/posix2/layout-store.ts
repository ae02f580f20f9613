/**
 * The layout a brick keeps (docs/ON-DISK-FORMAT.md §6.0, §6.3; ARCHITECTURE.md §10.9):
 * `.dht2/layout.json`, the versioned layout of the volume plus its digest. From it a brick learns
 * its replica set and its peers. A brick of a replica-1 volume keeps none unless one is
 * installed; a brick whose set has 3 or more members becomes on-disk format 3, which older
 * binaries refuse rather than serve without the set's log.
 *
 * Crash story (ON-DISK-FORMAT.md §6.6): `layout.json` is written whole (tmp, fsync, rename, fsync
 * `.dht2`), so a crash leaves the old layout or the new one. The upgrade to format 3 writes the
 * layout, then the `repl/` folders, then the identity, so a crash before the identity leaves a
 * format-2 brick with a replicated layout, which {@link openLayout} finishes at the next open.
 */
import { readFile, rename, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { err, layoutDigest, parseLayoutDoc, type LayoutDoc } from '../../dht2-core/protocol/index.js';
import { metaDir, REPLICATED_FORMAT, tmpDir, writeIdentity, type BrickIdentity } from './format.js';
import { codeOf, fsyncPath, mkdirDurable } from './fsutil.js';

export interface StoredLayout {
  layout: LayoutDoc;
  /** layoutDigest(layout), ON-DISK-FORMAT.md §6.3. */
  digest: string;
}

/** This brick's set in `layout`: the one set of its role that names it. */
export interface BrickSet {
  id: string;
  members: readonly string[];
}

export function layoutPath(dir: string): string {
  return join(metaDir(dir), 'layout.json');
}

/** The replication folders of a member of a replicated set (ON-DISK-FORMAT.md §6.0). */
export function replDir(dir: string): string {
  return join(metaDir(dir), 'repl');
}

/** The set of `layout` this brick belongs to; EINVAL when it is in none of its role. */
export function setOfBrick(layout: LayoutDoc, id: BrickIdentity): BrickSet {
  if (layout.volumeId !== id.volumeId) {
    throw err('EINVAL', `the layout is of volume ${layout.volumeId}, this brick of ${id.volumeId}`);
  }
  // parseLayoutDoc guarantees a brick is a member of at most one set.
  const s = layout.sets.find((x) => x.members.includes(id.brickId));
  if (!s) throw err('EINVAL', `the layout (epoch ${layout.epoch}) names no set with brick ${id.brickId}`);
  if (s.role !== id.role) throw err('EINVAL', `the layout puts ${id.role} brick ${id.brickId} in ${s.role} set ${s.id}`);
  return { id: s.id, members: s.members };
}

/** Whether a set of this size is replicated (has a log and a primary): 3 or more members. */
export function isReplicated(set: BrickSet): boolean {
  return set.members.length >= 3;
}

/** Reads and checks `layout.json`; undefined when there is none. EIO when it is damaged. */
export async function readLayout(dir: string): Promise<StoredLayout | undefined> {
  let text: string;
  try {
    text = await readFile(layoutPath(dir), 'utf8');
  } catch (e) {
    if (codeOf(e) === 'ENOENT') return undefined;
    throw e;
  }
  let doc: { digest?: unknown } & Record<string, unknown>;
  try {
    doc = JSON.parse(text) as typeof doc;
  } catch {
    throw err('EIO', `${layoutPath(dir)} is not valid JSON; refusing to serve`);
  }
  const { digest, ...rest } = doc;
  let layout: LayoutDoc;
  try {
    layout = parseLayoutDoc(rest, layoutPath(dir));
  } catch (e) {
    throw err('EIO', `${(e as Error).message}; refusing to serve`);
  }
  if (digest !== layoutDigest(layout)) throw err('EIO', `${layoutPath(dir)} does not match its digest; refusing to serve`);
  return { layout, digest };
}

async function writeLayout(dir: string, s: StoredLayout): Promise<void> {
  const tmp = join(tmpDir(dir), `layout.${process.pid}.${Date.now()}`);
  await writeFile(tmp, JSON.stringify({ ...s.layout, digest: s.digest }, null, 2) + '\n', { mode: 0o600 });
  await fsyncPath(tmp);
  await rename(tmp, layoutPath(dir));
  await fsyncPath(metaDir(dir));
}

/**
 * Makes the brick a member of a replicated set on disk: the `repl/` folders (always fsynced:
 * the log's durability does not depend on `--no-sync`, ON-DISK-FORMAT.md §6.1), then the
 * identity at format 3 with its set. Idempotent.
 */
async function becomeReplicated(dir: string, id: BrickIdentity, set: BrickSet): Promise<BrickIdentity> {
  for (const sub of ['log', 'blobs']) await mkdirDurable(join(replDir(dir), sub), true);
  if (id.format === REPLICATED_FORMAT && id.set === set.id) return id;
  const next: BrickIdentity = { ...id, format: REPLICATED_FORMAT, set: set.id };
  await writeIdentity(dir, next);
  return next;
}

/**
 * At open: the stored layout, checked against the identity, and the upgrade to format 3
 * finished when a crash interrupted it. A format-3 brick without a valid layout is refused (EIO):
 * serving it would mean serving a replicated set's state without knowing the set.
 */
export async function openLayout(dir: string, id: BrickIdentity): Promise<{ identity: BrickIdentity; stored?: StoredLayout; set?: BrickSet }> {
  const stored = await readLayout(dir);
  if (!stored) {
    if (id.format === REPLICATED_FORMAT) throw err('EIO', `${dir} is a member of replica set ${String(id.set)} but has no ${layoutPath(dir)}; refusing to serve`);
    return { identity: id };
  }
  const set = setOfBrick(stored.layout, id);
  if (id.format === REPLICATED_FORMAT && id.set !== set.id) {
    throw err('EIO', `${dir} is a member of set ${String(id.set)}, but its layout puts it in ${set.id}; refusing to serve`);
  }
  const identity = isReplicated(set) ? await becomeReplicated(dir, id, set) : id;
  return { identity, stored, set };
}

/**
 * `layoutset` (ARCHITECTURE.md §10.9): accepts a layout of a higher epoch than the stored one,
 * or the same epoch with the same digest (a repeat, answered as it was); anything else is
 * EINVAL naming both epochs. A brick never leaves a replicated set this way: a layout that
 * would (a set that shrank below 3, another set) is refused, as membership changes are later
 * work (§10.14).
 */
export async function installLayout(
  dir: string, id: BrickIdentity, current: StoredLayout | undefined, doc: LayoutDoc,
): Promise<{ identity: BrickIdentity; stored: StoredLayout; set: BrickSet }> {
  const layout = parseLayoutDoc(doc);
  const digest = layoutDigest(layout);
  const set = setOfBrick(layout, id);
  if (current) {
    if (layout.epoch < current.layout.epoch || (layout.epoch === current.layout.epoch && digest !== current.digest)) {
      throw err('EINVAL', `layout epoch ${layout.epoch} refused: this brick holds epoch ${current.layout.epoch}` +
        (layout.epoch === current.layout.epoch ? ' with another content' : ''));
    }
  }
  if (id.format === REPLICATED_FORMAT && (!isReplicated(set) || set.id !== id.set)) {
    throw err('EINVAL', `brick ${id.brickId} is a member of replica set ${String(id.set)}; moving it to ${set.id} (${set.members.length} members) is a membership change, not supported yet`);
  }
  const stored = { layout, digest };
  if (!current || current.digest !== digest) await writeLayout(dir, stored);
  const identity = isReplicated(set) ? await becomeReplicated(dir, id, set) : id;
  return { identity, stored, set };
}
