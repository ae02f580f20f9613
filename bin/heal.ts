/**
 * `dht2 heal info`: what still needs heal in each replica set (ARCHITECTURE.md §10.12, §10.13),
 * from every member's `rstatus`: the primary and its term, and each member's role, indexes and
 * how far it is behind the primary's commit index. Catch-up by log replay is automatic; this
 * only reports it. Exit code 0 when nothing needs heal.
 */
import { Volume, type SetStatus } from '../dht2-core/index.js';

/** What a set still needs, per member; empty when the set is whole and caught up. */
export function healNeeds(s: SetStatus): string[] {
  if (!s.replicated) return [];
  const needs: string[] = [];
  if (!s.available) needs.push('no primary');
  const commit = s.members.find((m) => m.id === s.primary)?.commitIndex;
  for (const m of s.members) {
    if (!m.up) needs.push(`${m.id}: down`);
    else if (m.state !== 'ok') needs.push(`${m.id}: ${m.state ?? 'unknown'} (needs a full copy: dht2 heal start --full)`);
    else if (commit !== undefined && m.appliedIndex !== undefined && m.appliedIndex < commit) needs.push(`${m.id}: ${commit - m.appliedIndex} entries behind (log replay)`);
  }
  return needs;
}

/** Prints heal info; resolves with the number of sets that need heal (0: the exit code of a healthy volume). */
export async function runHealInfo(volfile: string, json: boolean, out: NodeJS.WritableStream = process.stdout): Promise<number> {
  const v = await Volume.open(volfile, { checkBricks: false, timeoutMs: 3000 });
  try {
    if (v.replica === 1) {
      out.write(json ? JSON.stringify({ replica: 1, sets: [] }) + '\n' : 'the volume has no replicas: nothing to heal\n');
      return 0;
    }
    const sets = await v.setStatus();
    const report = sets.map((s) => ({ ...s, needs: healNeeds(s) }));
    const bad = report.filter((s) => s.needs.length > 0).length;
    if (json) {
      out.write(JSON.stringify({ replica: v.replica, sets: report }, null, 2) + '\n');
      return bad;
    }
    for (const s of report) {
      out.write(`set ${s.id} (${s.role}): ${s.available ? `primary ${s.primary}, term ${s.term}` : 'NO PRIMARY'}\n`);
      for (const m of s.members) {
        const where = m.up ? `${m.role ?? '?'}, last ${m.lastIndex ?? '-'}, commit ${m.commitIndex ?? '-'}, applied ${m.appliedIndex ?? '-'}, ${m.state ?? '?'}` : `DOWN (${m.problem ?? 'no answer'})`;
        out.write(`  ${m.id}: ${where}\n`);
      }
      out.write(s.needs.length === 0 ? '  nothing to heal\n' : s.needs.map((n) => `  needs heal: ${n}\n`).join(''));
    }
    out.write(bad === 0 ? 'every set is whole and caught up\n' : `${bad} set(s) need heal\n`);
    return bad;
  } finally {
    await v.close();
  }
}
