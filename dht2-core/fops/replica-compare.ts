/**
 * The comparison of the members of one replica set that `dht2 fsck` runs per set
 * (docs/ARCHITECTURE.md §10.12): every member's `digest` pages are read in GFID order, in step
 * (a merge of sorted streams, so memory is a page per member however many handles there are),
 * and each GFID whose state is not the same on every member is reported: present on some and
 * absent on others, or with different hashes. A member's state of a handle is its digest item
 * (kind, hash, size) or "absent"; the members are grouped by state, and a group holding more than
 * half of the members is named the majority (with two members, or a three-way split, there is
 * none).
 *
 * Works over any BrickFops: in-process PosixStores in the tests, BrickClients in fsck. A member
 * whose `digest` fails makes the whole comparison fail (the caller reports the set as not
 * checked). Members are read while FOPs may run, so a difference can be one in flight; fsck
 * checks it again once the lagging member has applied the commit index (§10.12).
 */
import { err, type CallContext, type DigestItem } from '../protocol/index.js';
import type { ReplicaMember } from '../layers/replica-set.js';

export type { ReplicaMember };

/** The members that see one handle the same way: `item` undefined means they do not have it. */
export interface ReplicaState {
  members: string[];
  item?: Omit<DigestItem, 'gfid'>;
}

export interface ReplicaDiff {
  gfid: string;
  /** `missing`: absent on some members; `differs`: present on all, with different hashes or kinds. */
  what: 'missing' | 'differs';
  /** The states, largest group first (ties in member order). */
  states: ReplicaState[];
  /** The members of the group holding more than half of all members, when there is one. */
  majority?: string[];
}

export interface ReplicaMemberCounts {
  id: string;
  /** Handles this member holds. */
  handles: number;
  /** Handles other members hold and this one lacks. */
  missing: number;
  /** Handles this member holds that some other member lacks. */
  extra: number;
  /** Handles this member holds whose state is not the majority's (or, with no majority, not everyone's). */
  differs: number;
}

export interface ReplicaReport {
  members: ReplicaMemberCounts[];
  /** Distinct GFIDs seen on any member. */
  handles: number;
  /** GFIDs identical on every member. */
  same: number;
  /** GFIDs absent on some member. */
  missing: number;
  /** GFIDs present on every member with different states. */
  differs: number;
  /** The differences, in GFID order, at most `maxDiffs` (the counts cover all of them). */
  diffs: ReplicaDiff[];
  /** True when more differences were found than `diffs` holds. */
  truncated: boolean;
}

export interface CompareOptions {
  /** `digest` page size (default 1000). */
  pageSize?: number;
  /** Differences kept in the report (default 1000); the counts go on. */
  maxDiffs?: number;
}

/** One member's digest stream: a page in hand and where the next one starts. */
class Cursor {
  private page: DigestItem[] = [];
  private at = 0;
  private eof = false;
  private after: string | undefined;

  constructor(readonly m: ReplicaMember, private readonly limit: number, private readonly ctx?: CallContext) {}

  /** The next item, fetching pages as needed; undefined at the end. */
  async head(): Promise<DigestItem | undefined> {
    while (this.at === this.page.length && !this.eof) {
      const p = await this.m.fops.call('digest', { after: this.after, limit: this.limit }, this.ctx);
      for (const it of p.items) {
        // The merge below needs strict GFID order; a brick that breaks it would make the report lie.
        if (this.after !== undefined && !(it.gfid > this.after)) throw err('EIO', `${this.m.id}: digest out of GFID order at ${it.gfid}`);
        this.after = it.gfid;
      }
      this.page = p.items;
      this.at = 0;
      this.eof = p.eof || p.items.length === 0;
    }
    return this.page[this.at];
  }

  next(): void {
    this.at++;
  }
}

function stateKey(it: DigestItem | undefined): string {
  return it ? `${it.kind}:${it.size ?? ''}:${it.hash}` : '';
}

/** Compares the digests of the members of one replica set; see the file comment. */
export async function compareReplicas(members: ReplicaMember[], o: CompareOptions = {}, ctx?: CallContext): Promise<ReplicaReport> {
  if (members.length < 2) throw err('EINVAL', 'a comparison needs at least two members');
  if (new Set(members.map((m) => m.id)).size !== members.length) throw err('EINVAL', 'member ids must be distinct');
  const maxDiffs = o.maxDiffs ?? 1000;
  const cursors = members.map((m) => new Cursor(m, o.pageSize ?? 1000, ctx));
  const counts: ReplicaMemberCounts[] = members.map((m) => ({ id: m.id, handles: 0, missing: 0, extra: 0, differs: 0 }));
  const report: ReplicaReport = { members: counts, handles: 0, same: 0, missing: 0, differs: 0, diffs: [], truncated: false };

  for (;;) {
    // Pages are fetched member by member: a few at a time per set is all fsck needs.
    const heads: Array<DigestItem | undefined> = [];
    for (const c of cursors) heads.push(await c.head());
    let gfid: string | undefined;
    for (const h of heads) if (h && (gfid === undefined || h.gfid < gfid)) gfid = h.gfid;
    if (gfid === undefined) return report;

    const here = heads.map((h) => (h?.gfid === gfid ? h : undefined));
    here.forEach((h, i) => {
      if (h) { counts[i]!.handles++; cursors[i]!.next(); }
    });
    report.handles++;
    const keys = here.map(stateKey);
    if (keys.every((k) => k === keys[0])) { report.same++; continue; }

    const groups = new Map<string, ReplicaState>();
    here.forEach((h, i) => {
      const k = keys[i]!;
      let g = groups.get(k);
      if (!g) {
        g = { members: [] };
        if (h) g.item = { kind: h.kind, hash: h.hash, ...(h.size !== undefined ? { size: h.size } : {}) };
        groups.set(k, g);
      }
      g.members.push(members[i]!.id);
    });
    const states = [...groups.values()].sort((a, b) => b.members.length - a.members.length);
    const top = states[0]!;
    const majority = top.members.length * 2 > members.length ? top.members : undefined;
    const missing = here.some((h) => h === undefined);
    if (missing) report.missing++;
    else report.differs++;
    here.forEach((h, i) => {
      const c = counts[i]!;
      if (!h) { c.missing++; return; }
      if (missing) c.extra++;
      if (majority ? !majority.includes(c.id) : true) c.differs++;
    });
    if (report.diffs.length < maxDiffs) {
      report.diffs.push({ gfid, what: missing ? 'missing' : 'differs', states, ...(majority ? { majority } : {}) });
    } else {
      report.truncated = true;
    }
  }
}

/** The report as the lines fsck prints for one set: a summary, then one line per difference. */
export function formatReplicaReport(setId: string, r: ReplicaReport): string[] {
  const lines = [`${setId}: ${r.handles} handles, ${r.same} identical, ${r.missing} missing on some member, ${r.differs} differing`];
  for (const c of r.members) {
    if (c.missing || c.extra || c.differs) lines.push(`  ${c.id}: ${c.handles} handles, ${c.missing} missing, ${c.extra} extra, ${c.differs} differing`);
  }
  for (const d of r.diffs) {
    const states = d.states.map((s) => `${s.members.join(',')} ${s.item ? `${s.item.kind} ${s.item.hash}${s.item.size !== undefined ? ` ${s.item.size} B` : ''}` : 'absent'}`);
    lines.push(`  ${d.gfid}: ${d.what}: ${states.join(' | ')}${d.majority ? ` (majority: ${d.majority.join(',')})` : ' (no majority)'}`);
  }
  if (r.truncated) lines.push(`  … ${r.missing + r.differs - r.diffs.length} more differences not listed`);
  return lines;
}
