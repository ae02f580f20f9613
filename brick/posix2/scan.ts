/**
 * A read-only scan of an MDS brick's namespace: every name entry and whether the inode it names
 * is on this brick, and every inode no local name refers to. The crash tests use it to prove
 * "no name points to a missing inode"; fsck builds on it across bricks (names that are remote
 * here may be local on another MDS).
 */
import { lstat, opendir, readlink } from 'node:fs/promises';
import { join } from 'node:path';
import { ROOT_GFID } from '../../dht2-core/gfid.js';
import { handlePath, parseEntryTarget, readMeta } from './handles.js';
import { listHandles } from './mds.js';

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
