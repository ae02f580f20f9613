/**
 * The conflict keys of the replication module (ARCHITECTURE.md §10.5): which GFIDs and names a
 * mutating FOP holds, shared or exclusive, from its planning until the primary has applied it.
 */
import type { FopReq } from '../../dht2-core/protocol/index.js';
import { dsKeys } from '../posix2/ds.js';
import { isMdsMutating, type MutatingFop } from '../posix2/fop-out.js';
import type { KeyMode } from '../posix2/locks.js';

/** What the keys read of the store: the entry a name points to. */
export interface EntryReader {
  entryOf(parent: string, name: string): Promise<{ gfid: string } | undefined>;
}

/**
 * The conflict keys of a FOP (ARCHITECTURE.md §10.5). GFID keys are the GFID; a name's key is
 * `parent/name`. An MDS FOP that names an entry also takes X on the GFID the entry points to,
 * read before the keys are taken: the caller reads the keys again once it holds them and starts
 * over when they changed (someone changed the entry in between). Renames also take X `rename`:
 * only they move directories, and two at once could each plan against the other's old place.
 */
export async function conflictKeys(store: EntryReader, fop: MutatingFop | 'pending' | 'pendingDone', req: unknown): Promise<Map<string, KeyMode>> {
  const k = new Map<string, KeyMode>();
  const x = (key: string): void => { k.set(key, 'X'); };
  const s = (key: string): void => { if (!k.has(key)) k.set(key, 'S'); };
  if (fop === 'pending' || fop === 'pendingDone') {
    // The object's key, as its DS FOPs (§10.7: under the object's conflict key).
    x((req as { gfid: string }).gfid);
    return k;
  }
  if (!isMdsMutating(fop)) {
    for (const g of dsKeys(fop, req as never)) x(g);
    return k;
  }
  const pointed = async (parent: string, name: string): Promise<void> => {
    x(`${parent}/${name}`);
    const e = await store.entryOf(parent, name).catch(() => undefined);
    if (e) x(e.gfid);
  };
  const r = req as Record<string, unknown> & { parent: string; name: string; gfid: string };
  switch (fop) {
    case 'create': case 'namelink': case 'link':
      s(r.parent); x(r.gfid); await pointed(r.parent, r.name); break;
    case 'nameswap': {
      const q = req as FopReq<'nameswap'>;
      s(q.parent); x(q.from); x(q.to); await pointed(q.parent, q.name); break;
    }
    case 'namedel': case 'unlink': case 'rmdir':
      s(r.parent); await pointed(r.parent, r.name); break;
    case 'rename': {
      const q = req as FopReq<'rename'>;
      x('rename'); s(q.parent); s(q.newParent);
      await pointed(q.parent, q.name);
      await pointed(q.newParent, q.newName);
      break;
    }
    default:
      // Inode FOPs: setattr, icreate, iunlink, ilink, imark, objset, setxattr, removexattr.
      x(r.gfid);
  }
  return k;
}
