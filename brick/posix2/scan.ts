/**
 * A read-only scan of an MDS brick's namespace: every name entry and whether the inode it names
 * is on this brick, and every inode no local name refers to. The crash tests use it to prove
 * "no name points to a missing inode"; fsck builds on it across bricks (names that are remote
 * here may be local on another MDS).
 */
import { lstat, opendir, readdir, readlink, stat } from 'node:fs/promises';
import { ROOT_GFID, type FopRes } from '../../dht2-core/protocol/index.js';
import { join } from 'node:path';
import { handlePath, parseEntryTarget, readMeta } from './handles.js';
import { listHandles } from './mds-util.js';

export interface ScanResult {
  /** Inodes on this brick, by GFID, with their type and nlink. */
  inodes: Map<string, { type: string; nlink: number }>;
  /** Every name entry: parent GFID, name, target GFID, and whether that inode is local. */
  entries: Array<{ parent: string; name: string; gfid: string; local: boolean }>;
  /** Local inodes (other than the root) no local name refers to: orphans, or inodes named from another MDS. */
  unnamed: string[];
  /** Handles without inode metadata (should never exist: inodes are moved into place complete). */
  incomplete: string[];
}

export async function scanMds(dir: string): Promise<ScanResult> {
  const inodes = new Map<string, { type: string; nlink: number }>();
  const incomplete: string[] = [];
  const dirs: string[] = [];
  for (const [gfid, path] of await listHandles(dir)) {
    const m = await readMeta(path);
    if (!m) { incomplete.push(gfid); continue; }
    inodes.set(gfid, { type: m.type, nlink: m.nlink });
    if (m.type === 'dir' && (await lstat(path)).isDirectory()) dirs.push(gfid);
  }
  const entries: ScanResult['entries'] = [];
  const named = new Set<string>();
  for (const parent of dirs) {
    const d = await opendir(handlePath(dir, parent));
    for await (const ent of d) {
      const p = join(handlePath(dir, parent), ent.name);
      const { gfid } = parseEntryTarget(await readlink(p), p);
      named.add(gfid);
      entries.push({ parent, name: ent.name, gfid, local: inodes.has(gfid) });
    }
  }
  const unnamed = [...inodes.keys()].filter((g) => g !== ROOT_GFID && !named.has(g));
  return { inodes, entries, unnamed, incomplete };
}

/** Handles in GFID order, starting after `after`; reads one `<xx>/<yy>` folder at a time. */
export async function* handlesFrom(dir: string, after?: string): AsyncGenerator<[string, string]> {
  const hex2 = /^[0-9a-f]{2}$/;
  const a = after ? [after.slice(0, 2), after.slice(2, 4)] : undefined;
  const names = async (p: string) => (await readdirSafe(p)).sort();
  for (const xx of (await names(dir)).filter((n) => hex2.test(n))) {
    if (a && xx < a[0]!) continue;
    for (const yy of (await names(join(dir, xx))).filter((n) => hex2.test(n))) {
      if (a && xx === a[0] && yy < a[1]!) continue;
      for (const g of await names(join(dir, xx, yy))) {
        if (after && g <= after) continue;
        yield [g, join(dir, xx, yy, g)];
      }
    }
  }
}

async function readdirSafe(p: string): Promise<string[]> {
  try {
    return await readdir(p);
  } catch {
    return [];
  }
}

/** One page of the `scan` FOP: every handle of the brick in GFID order. */
export async function scanPage(dir: string, role: 'mds' | 'ds', after: string | undefined, limit: number): Promise<FopRes<'scan'>> {
  const items: FopRes<'scan'>['items'] = [];
  for await (const [gfid, path] of handlesFrom(dir, after)) {
    if (items.length === limit) return { items, eof: false };
    if (role === 'mds') {
      const m = await readMeta(path);
      if (!m) continue;
      const it: FopRes<'scan'>['items'][number] = { gfid, type: m.type, nlink: m.nlink, size: m.size, btimeMs: m.btimeMs };
      if (m.dying) it.dying = true;
      if (m.obj !== undefined) it.obj = m.obj;
      items.push(it);
    } else {
      const st = await stat(path).catch(() => undefined);
      if (st) items.push({ gfid, type: 'file', nlink: 1, size: st.size, btimeMs: st.birthtimeMs || st.ctimeMs });
    }
  }
  return { items, eof: true };
}
