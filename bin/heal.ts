/**
 * `dht2 heal info`: what still needs heal in each replica set (ARCHITECTURE.md §10.12, §10.13),
 * from every member's `rstatus`: the primary and its term, and each member's role, indexes and
 * how far it is behind the primary's commit index. Catch-up by log replay is automatic; this
 * only reports it. Exit code 0 when nothing needs heal.
 */
import { SingleBar } from 'cli-progress';
import { compareReplicas, formatReplicaReport, isErr, rebuildPercent, Volume, type SetStatus } from '../dht2-core/index.js';

/**
 * What a set still needs, per member; empty when the set is whole and caught up: every member
 * has applied `upTo` (default: its primary's commit index now).
 */
export function healNeeds(s: SetStatus, upTo?: number): string[] {
  if (!s.replicated) return [];
  const needs: string[] = [];
  if (!s.available) needs.push('no primary');
  const commit = upTo ?? s.members.find((m) => m.id === s.primary)?.commitIndex;
  for (const m of s.members) {
    if (!m.up) needs.push(`${m.id}: down`);
    else if (m.state !== 'ok') needs.push(`${m.id}: ${m.state ?? 'unknown'} (needs a full copy: dht2 heal start --full)`);
    else if (m.rebuild) needs.push(`${m.id}: being rebuilt by full copy from ${m.rebuild.source}, ${rebuildPercent(m.rebuild)} % (${m.rebuild.phase})`);
    else if (m.needsCopy) needs.push(`${m.id}: needs a full copy, its primary's log no longer holds the entries it lacks (the primary's heal loop starts it; or dht2 heal start --full)`);
    else if (commit !== undefined && m.appliedIndex !== undefined && m.appliedIndex < commit) needs.push(`${m.id}: ${commit - m.appliedIndex} entries behind (log replay)`);
  }
  // Fresh objects a member lacks (ARCHITECTURE.md §10.7): healed by the member once it is up
  // and caught up, then their records go.
  for (const [id, n] of Object.entries(s.pending ?? {})) if (n > 0) needs.push(`${id}: ${n} pending fresh cop${n === 1 ? 'y' : 'ies'}`);
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
        const where = m.up ? `${m.role ?? '?'}, ${m.firstIndex !== undefined && m.firstIndex > 1 ? `first ${m.firstIndex}, ` : ''}last ${m.lastIndex ?? '-'}, commit ${m.commitIndex ?? '-'}, applied ${m.appliedIndex ?? '-'}, ${m.state ?? '?'}`
          + (m.rebuild ? `, rebuilding ${rebuildPercent(m.rebuild)} % (${m.rebuild.copiedObjects + m.rebuild.skippedObjects}/${m.rebuild.totalObjects} objects)` : '')
          : `DOWN (${m.problem ?? 'no answer'})`;
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

export interface HealStartOptions {
  set?: string;
  member?: string;
  full?: boolean;
  /** Give up waiting after this long (default 10 minutes). */
  timeoutMs?: number;
  /** Draw a progress bar (default: when `out` is a TTY); otherwise plain lines. */
  bar?: boolean;
}

function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

function mib(n: number): string {
  return `${(n / 1048576).toFixed(1)} MiB`;
}

/**
 * `dht2 heal start` (ARCHITECTURE.md §10.12, §10.13). Catch-up by log replay runs by itself on
 * every primary (there is nothing to wake: the primary sends a lagging member what it lacks at
 * every heartbeat), so without `--full` this waits until heal info has nothing left, or says what
 * remains. With `--full` it rebuilds members by full copy: the one named, or every member that
 * needs it (diverged; corrupt: its log failed its checks at open; wiped: opened without vote file
 * and log; or lacking entries its primary truncated), after installing the volume's layout on them again (a wiped brick has none).
 * Resolves with the number of sets that still need heal.
 */
export async function runHealStart(volfile: string, o: HealStartOptions, out: NodeJS.WritableStream & { isTTY?: boolean } = process.stdout): Promise<number> {
  const v = await Volume.open(volfile, { checkBricks: false, timeoutMs: 3000 });
  const deadline = Date.now() + (o.timeoutMs ?? 600_000);
  const say = (line: string): void => { out.write(line + '\n'); };
  try {
    if (v.replica === 1) {
      say('the volume has no replicas: nothing to heal');
      return 0;
    }
    const chosen = (sets: SetStatus[]): SetStatus[] => sets.filter((s) => s.replicated && (o.set === undefined || s.id === o.set));
    let sets = chosen(await v.setStatus());
    if (o.set !== undefined && sets.length === 0) throw new Error(`no replicated set ${o.set} in this volume`);
    if (o.member !== undefined && !sets.some((s) => s.members.some((m) => m.id === o.member))) throw new Error(`no member ${o.member} in the sets chosen`);
    if (o.full) {
      // A wiped brick starts without its layout, so it runs no replication: give it the layout
      // again (a repeat is accepted by the others), then let it hear its primary.
      const members = sets.flatMap((s) => s.members.map((m) => m.id)).filter((id) => o.member === undefined || id === o.member);
      for (const id of members) await v.reinstallLayout(id).catch((e: unknown) => say(`${id}: layout not installed: ${(e as Error).message}`));
      await sleep(1000);
      sets = chosen(await v.setStatus());
      const targets = o.member !== undefined ? [o.member]
        : sets.flatMap((s) => s.members.filter((m) => m.up && (m.state === 'diverged' || m.state === 'corrupt' || m.wiped === true || m.rebuild !== undefined || m.needsCopy === true) && m.id !== s.primary).map((m) => m.id));
      if (targets.length === 0) say('no member needs a full copy');
      for (const id of targets) await rebuildOne(v, id, deadline, o.bar ?? out.isTTY === true, say);
    }
    // Log replay: wait for every member to apply the commit index its primary had when the wait
    // began (under writes the current one moves on, and a member one entry behind it is not
    // behind: it is applying).
    sets = chosen(await v.setStatus());
    const targets = new Map(sets.map((st) => [st.id, st.members.find((m) => m.id === st.primary)?.commitIndex]));
    for (;;) {
      const needs = sets.flatMap((st) => healNeeds(st, targets.get(st.id)).map((n) => `${st.id}: ${n}`));
      if (needs.length === 0) {
        say('every set is whole and caught up');
        return 0;
      }
      if (Date.now() > deadline) {
        for (const n of needs) say(`still needs heal: ${n}`);
        return sets.filter((st) => healNeeds(st, targets.get(st.id)).length > 0).length;
      }
      await sleep(250);
      sets = chosen(await v.setStatus());
      for (const st of sets) if (targets.get(st.id) === undefined) targets.set(st.id, st.members.find((m) => m.id === st.primary)?.commitIndex);
    }
  } finally {
    await v.close();
  }
}

/** Starts the rebuild of one member and follows it until it votes again, with a progress bar or lines. */
async function rebuildOne(v: Volume, id: string, deadline: number, drawBar: boolean, say: (l: string) => void): Promise<void> {
  for (;;) {
    try {
      const r = await v.memberCall(id, 'rrebuild', {});
      say(r.started ? `${id}: rebuild by full copy started` : `${id}: a rebuild is already under way`);
      break;
    } catch (e) {
      // Not up yet, or no primary known to it yet (it has not heard one since its start).
      if (Date.now() > deadline || !isErr(e, 'EAGAIN', 'ENOTCONN', 'EHOSTDOWN', 'ENOTSUP', 'EIO')) throw new Error(`${id}: ${(e as Error).message}`, { cause: e });
      await sleep(250);
    }
  }
  const started = Date.now();
  let bar: SingleBar | undefined;
  let lastLine = 0;
  try {
    for (;;) {
      const st = await v.memberCall(id, 'rstatus', {}).catch(() => undefined);
      const r = st?.rebuild;
      if (st && !r && st.state === 'ok' && st.role !== 'learner') {
        bar?.stop();
        bar = undefined;
        say(`${id}: rebuilt in ${((Date.now() - started) / 1000).toFixed(1)} s; it votes again`);
        return;
      }
      if (r) {
        const done = r.copiedObjects + r.skippedObjects;
        const secs = Math.max(0.001, (Date.now() - started) / 1000);
        const rate = r.copiedBytes / secs;
        if (drawBar) {
          bar ??= new SingleBar({
            format: `${id} |{bar}| {percentage} % | {value}/{total} objects | {bytes} of {totalBytes} | {rate}/s | ETA {eta_formatted} | {phase}`,
            hideCursor: true,
          });
          if (!lastLine) { bar.start(Math.max(1, r.totalObjects), done); lastLine = 1; }
          bar.setTotal(Math.max(1, r.totalObjects));
          bar.update(r.phase === 'replay' ? Math.max(1, r.totalObjects) : done, { bytes: mib(r.copiedBytes), totalBytes: mib(r.totalBytes), rate: mib(rate), phase: r.phase });
        } else if (Date.now() - lastLine >= 1000) {
          lastLine = Date.now();
          const left = r.phase === 'copy' && rate > 0 && r.totalBytes > r.copiedBytes ? `${Math.ceil((r.totalBytes - r.copiedBytes) / rate)} s left` : '';
          const tail = r.phase === 'replay' ? `, log tail: applied ${st!.appliedIndex} of commit ${st!.commitIndex} (last ${st!.lastIndex})` : '';
          say(`${id}: ${r.phase} ${rebuildPercent(r)} %: ${done}/${r.totalObjects} objects (${r.copiedObjects} copied, ${r.skippedObjects} equal, ${r.removedObjects} removed), ${mib(r.copiedBytes)} of ${mib(r.totalBytes)}, ${mib(rate)}/s ${left}`.trimEnd() + tail);
        }
      }
      if (Date.now() > deadline) throw new Error(`${id}: the rebuild did not end in time`);
      await sleep(200);
    }
  } finally {
    bar?.stop();
  }
}

/**
 * The replica part of `dht2 fsck` (ARCHITECTURE.md §10.12): each set's members compared by
 * digest (`compareReplicas`) once they have applied their primary's commit index (waited for at
 * most `waitMs`; a member still behind is reported as log replay), and what heal would do. A
 * member outside the majority of a differing handle, and not the primary, would be rebuilt by
 * full copy. Answers the members to rebuild and the number of problems found.
 */
export async function replicaCheck(v: Volume, say: (l: string) => void, waitMs = 5000): Promise<{ problems: number; rebuild: string[] }> {
  const rebuild: string[] = [];
  let problems = 0;
  if (v.replica === 1) return { problems, rebuild };
  const end = Date.now() + waitMs;
  let sets = await v.setStatus();
  for (;;) {
    const behind = sets.some((s) => s.replicated && healNeeds(s).some((n) => n.includes('entries behind')));
    if (!behind || Date.now() > end) break;
    await sleep(200);
    sets = await v.setStatus();
  }
  for (const s of sets) {
    if (!s.replicated) continue;
    const up = s.members.filter((m) => m.up).map((m) => m.id);
    const r = await compareReplicas(up.map((id) => ({ id, fops: v.memberFops(id) })), { maxDiffs: 50 });
    for (const l of formatReplicaReport(s.id, r)) say(l);
    const needs = healNeeds(s);
    for (const n of needs) say(`  heal would: ${n}`);
    problems += needs.length + r.missing + r.differs;
    const outside = new Set<string>();
    for (const d of r.diffs) {
      if (!d.majority) {
        say(`  ${d.gfid}: no majority; a full copy from the primary ${s.primary ?? '(none)'} would settle it`);
        continue;
      }
      for (const id of up) if (!d.majority.includes(id)) outside.add(id);
    }
    for (const id of outside) {
      if (id === s.primary) {
        say(`  heal would: ${id} is the primary and differs from the others; stop it so another is elected, then rebuild it`);
      } else {
        say(`  heal would: rebuild ${id} by full copy (dht2 heal start --full --member ${id})`);
        rebuild.push(id);
      }
    }
  }
  return { problems, rebuild };
}
