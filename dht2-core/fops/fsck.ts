/**
 * fsck: finds what a crash between the steps of a composite FOP can leave (docs/ARCHITECTURE.md
 * "Crash story") and, on request, removes it.
 *  - dangling names: an entry whose inode is not on the MDS its GFID names (never made by our
 *    FOP orders; reported, and removed on repair);
 *  - orphan inodes: inodes no name refers to (mkdir/create/unlink/rmdir cut short);
 *  - orphan data: data objects with no file inode (a PUT cut before its name, an unlink cut
 *    before its data);
 *  - nlink mismatches: a link or cross-MDS rename cut between its steps (the count is set to
 *    the names found, so both names stay valid);
 *  - dying directories that still have a name (a remote rmdir cut short; the mark is cleared);
 *  - missing data: a named file whose size is above 0 but whose data object is on no DS (no FOP
 *    order makes one; a lost disk or a past defect can). Reads of it fail with EIO; repair
 *    removes its names and its inode, since the bytes are gone and an empty file under the old
 *    name and ETag would be a silent lie;
 *  - the object a directory carries (dirobj.ts) counts as a name of its file inode; a carried
 *    GFID with no inode is reported as dangling with an empty name (unhooked on repair).
 * Only objects older than `graceMs` count as orphans, so FOPs in flight are not mistaken for
 * garbage. Runs against live bricks through the `scan` and `readdir` FOPs.
 */
import { isErr, ROOT_GFID, type BrickFops, type CallContext, type FopRes } from '../protocol/index.js';
import type { VolumeCore } from './core.js';

export interface FsckOptions {
  /** Remove what was found (default: report only). */
  repair?: boolean;
  /** Age below which an unnamed inode or data object is assumed in flight (default 10 min). */
  graceMs?: number;
}

export interface FsckReport {
  inodes: number;
  directories: number;
  names: number;
  dataObjects: number;
  dangling: Array<{ parent: string; name: string; gfid: string }>;
  orphanInodes: Array<{ gfid: string; type: string }>;
  orphanData: string[];
  nlinkMismatch: Array<{ gfid: string; nlink: number; names: number }>;
  dyingNamed: string[];
  missingData: Array<{ gfid: string; size: number }>;
  repaired: boolean;
}

type ScanItem = FopRes<'scan'>['items'][number];

async function scanAll(b: BrickFops, ctx?: CallContext): Promise<ScanItem[]> {
  const out: ScanItem[] = [];
  let after: string | undefined;
  for (;;) {
    const page = await b.call('scan', { after, limit: 5000 }, ctx);
    out.push(...page.items);
    if (page.eof || page.items.length === 0) return out;
    after = page.items.at(-1)!.gfid;
  }
}

export async function fsck(v: VolumeCore, o: FsckOptions = {}, ctx?: CallContext): Promise<FsckReport> {
  const grace = o.graceMs ?? 10 * 60_000;
  const now = Date.now();
  const inodes = new Map<string, ScanItem>();
  for (const m of v.mdsBricks) for (const it of await scanAll(m, ctx)) inodes.set(it.gfid, it);
  const refs = new Map<string, number>();
  /** Where each file inode is named or carried (name '' = carried by directory `parent`). */
  const namedAt = new Map<string, Array<{ parent: string; name: string }>>();
  const nameOf = (gfid: string, parent: string, name: string): void => {
    refs.set(gfid, (refs.get(gfid) ?? 0) + 1);
    const at = namedAt.get(gfid);
    if (at) at.push({ parent, name });
    else namedAt.set(gfid, [{ parent, name }]);
  };
  const dangling: FsckReport['dangling'] = [];
  let names = 0;
  let directories = 0;
  for (const it of inodes.values()) {
    if (it.type !== 'dir') continue;
    directories++;
    let after: string | undefined;
    for (;;) {
      const page = await v.mds(it.gfid).call('readdir', { gfid: it.gfid, after, limit: 5000 }, ctx);
      for (const e of page.entries) {
        names++;
        nameOf(e.gfid, it.gfid, e.name);
        if (!inodes.has(e.gfid)) dangling.push({ parent: it.gfid, name: e.name, gfid: e.gfid });
      }
      if (page.eof || page.entries.length === 0) break;
      after = page.entries.at(-1)!.name;
    }
  }
  // The object a named directory carries counts as one more name of its file inode; an orphan
  // directory's object does not (it is repaired away with the directory).
  for (const it of inodes.values()) {
    if (it.type === 'dir' && it.obj !== undefined && (refs.has(it.gfid) || it.gfid === ROOT_GFID)) {
      nameOf(it.obj, it.gfid, '');
      if (!inodes.has(it.obj)) dangling.push({ parent: it.gfid, name: '', gfid: it.obj });
    }
  }
  // A grace of 0 takes everything, also what bears a time at or after `now`: times come from the
  // primaries' clocks (raised to their log's last entry, ARCHITECTURE.md §10.4) and a wall clock
  // may step back, so "older than 0 ms" missed, once in CI, an orphan the next fsck then found.
  const old = (t: number): boolean => grace <= 0 || now - t > grace;
  const orphanInodes = [...inodes.values()]
    .filter((it) => it.gfid !== ROOT_GFID && !refs.has(it.gfid) && old(it.btimeMs))
    .map((it) => ({ gfid: it.gfid, type: it.type }));
  const nlinkMismatch = [...inodes.values()]
    .filter((it) => it.type !== 'dir' && refs.has(it.gfid) && refs.get(it.gfid) !== it.nlink)
    .map((it) => ({ gfid: it.gfid, nlink: it.nlink, names: refs.get(it.gfid)! }));
  const dyingNamed = [...inodes.values()].filter((it) => it.dying && refs.has(it.gfid)).map((it) => it.gfid);
  let dataObjects = 0;
  const orphanData: string[] = [];
  const stored = new Set<string>();
  for (const d of v.dsBricks) {
    for (const it of await scanAll(d, ctx)) {
      dataObjects++;
      stored.add(it.gfid);
      const ino = inodes.get(it.gfid);
      if ((!ino || ino.type !== 'file') && old(it.btimeMs)) orphanData.push(it.gfid);
    }
  }
  const missingData = [...inodes.values()]
    .filter((it) => it.type === 'file' && it.size > 0 && refs.has(it.gfid) && !stored.has(it.gfid))
    .map((it) => ({ gfid: it.gfid, size: it.size }));
  const report: FsckReport = {
    inodes: inodes.size, directories, names, dataObjects, dangling, orphanInodes, orphanData, nlinkMismatch, dyingNamed, missingData, repaired: false,
  };
  if (!o.repair) return report;

  for (const d of dangling) {
    if (d.name === '') await v.mds(d.parent).call('objset', { gfid: d.parent, obj: null, expect: d.gfid }, ctx).catch(ignoreGone);
    else await v.mds(d.parent).call('namedel', { parent: d.parent, name: d.name, gfid: d.gfid }, ctx).catch(ignoreGone);
  }
  // Missing data: every name and carrier lets go (each conditional on the GFID, so a name
  // rewritten since the scan is kept), then the inode goes like an orphan's.
  for (const m of missingData) {
    // Looked at again first: a write since the scan (data made, the inode replaced) settles it.
    if (!(await stillMissing(v, m.gfid, ctx))) continue;
    for (const at of namedAt.get(m.gfid) ?? []) {
      if (at.name === '') await v.mds(at.parent).call('objset', { gfid: at.parent, obj: null, expect: m.gfid }, ctx).catch(ignoreGone);
      else await v.mds(at.parent).call('namedel', { parent: at.parent, name: at.name, gfid: m.gfid }, ctx).catch(ignoreGone);
    }
    await dropInode(v, m.gfid, ctx);
  }
  for (const g of dyingNamed) await v.mds(g).call('imark', { gfid: g, dying: false }, ctx).catch(ignoreGone);
  for (const oi of orphanInodes) {
    // An orphan directory lets go of its object first (iunlink refuses one that carries an
    // object); the object itself is an orphan too unless a name or another directory holds it.
    const carried = inodes.get(oi.gfid)?.obj;
    if (oi.type === 'dir' && carried !== undefined) {
      await v.mds(oi.gfid).call('objset', { gfid: oi.gfid, obj: null, expect: carried }, ctx).catch(ignoreGone);
    }
    await dropInode(v, oi.gfid, ctx);
    if (oi.type === 'file') await v.dropData(oi.gfid, ctx);
  }
  for (const g of orphanData) await v.dropData(g, ctx);
  // Two names for one inode (a cross-MDS rename or link cut short): keep both names and make
  // the count true, so neither unlink can free data another name still shows.
  for (const m of nlinkMismatch) {
    await v.mds(m.gfid).call('setattr', { gfid: m.gfid, set: { nlink: m.names } }, ctx).catch(ignoreGone);
  }
  report.repaired = true;
  return report;
}

/** True when inode `gfid` still has a size above 0 and still no data object. */
async function stillMissing(v: VolumeCore, gfid: string, ctx?: CallContext): Promise<boolean> {
  const a = await v.getattr(gfid, ctx).catch((e: unknown) => { if (isErr(e, 'ENOENT')) return undefined; throw e; });
  if (!a || a.size === 0) return false;
  return v.ds(gfid).call('dstat', { gfid }, ctx).then(() => false, (e: unknown) => { if (isErr(e, 'ENOENT')) return true; throw e; });
}

/** Removes an unnamed inode: iunlink drops one link, and one with nlink > 1 (a cut-short link) needs several. */
async function dropInode(v: VolumeCore, gfid: string, ctx?: CallContext): Promise<void> {
  for (let i = 0; i < 1000; i++) {
    const f = await v.mds(gfid).call('iunlink', { gfid }, ctx).catch((e: unknown) => {
      if (isErr(e, 'ENOENT', 'ENOTEMPTY')) return undefined;
      throw e;
    });
    if (!f || f.inode === 'deleted') return;
  }
}

function ignoreGone(e: unknown): void {
  if (!isErr(e, 'ENOENT', 'ESTALE')) throw e;
}
