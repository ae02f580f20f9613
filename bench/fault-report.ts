/**
 * What a fault load run (bench/fault-load.ts) found, against the criteria of issue 13, in words
 * a person can act on: each finding with the first keys or requests that show it and their
 * ledger entries.
 */
import type { FsckReport } from '../dht2-core/index.js';
import { formatProblem } from './fault-ledger.js';
import type { FaultLoadReport, FaultRecord, RequestRecord } from './fault-load.js';

const MiB = 1024 * 1024;

/** One line: when, what, which pid, how long until ready again. */
export function formatFault(f: FaultRecord): string {
  const t = (ms: number) => `${(ms / 1000).toFixed(1)} s`;
  const ready = f.readyAt === undefined ? '' : `, ready again after ${t(f.readyAt - f.at)}`;
  return `${t(f.at)} ${f.kind} ${f.target}${f.pid ? ` (pid ${f.pid})` : ''}${ready}${f.note ? `; ${f.note}` : ''}${f.error ? `; FAILED: ${f.error}` : ''}`;
}

function formatRequest(r: RequestRecord): string {
  return `#${r.seq} ${r.kind} ${r.key} ${r.outcome}${r.status ? ` ${r.status}` : ''} ${(r.start / 1000).toFixed(2)}-${(r.end / 1000).toFixed(2)} s${r.error ? ` (${r.error})` : ''}`;
}

const SAMPLES = 5;

function firstFew<T>(what: string, items: readonly T[], fmt: (x: T) => string): string {
  const more = items.length > SAMPLES ? `\n  … and ${items.length - SAMPLES} more` : '';
  return `${items.length} ${what}:\n${items.slice(0, SAMPLES).map((x) => `  ${fmt(x).replaceAll('\n', '\n  ')}`).join('\n')}${more}`;
}

/** The report's findings against issue 13's criteria, one entry per criterion not met, with examples from the ledger. */
export function reportProblems(r: FaultLoadReport): Record<'comesBack' | 'noLoss' | 'noHang' | 'no5xx' | 'listing' | 'fsck', string[]> {
  const p = { comesBack: [] as string[], noLoss: [] as string[], noHang: [] as string[], no5xx: [] as string[], listing: [] as string[], fsck: [] as string[] };
  for (const f of r.faults) if (f.error) p.comesBack.push(`fault ${formatFault(f)}`);
  for (const d of r.unplannedDeaths) {
    p.comesBack.push(`brick ${d.brick} (pid ${d.pid}) exited (${d.exit}) at ${(d.at / 1000).toFixed(1)} s with no fault killing it: a crash, or a signal from outside the run`);
  }
  // A fault that failed says why the volume is down; a volume down after the load does not.
  if (r.down && p.comesBack.length === 0) p.comesBack.push(r.down);
  if (r.lost.length) p.noLoss.push(firstFew('acknowledged writes lost (read back, ledger)', r.lost, formatProblem));
  if (r.unexpected.length) p.noLoss.push(firstFew('keys holding bytes no write sent', r.unexpected, formatProblem));
  if (r.unreadable.length) p.noLoss.push(firstFew('keys unreadable once ready (read back, ledger)', r.unreadable, formatProblem));
  if (r.badReads.length) p.noLoss.push(firstFew('GETs during the load returned bytes no write explains', r.badReads, (b) => `GET #${b.seq} at ${(b.at / 1000).toFixed(2)} s ${formatProblem(b)}`));
  if (r.lostAfterRepair.length) p.noLoss.push(firstFew('keys that fsck --repair broke', r.lostAfterRepair, formatProblem));
  if (r.hung.length) p.noHang.push(firstFew(`requests hung (no reply within ${(r.options.requestTimeoutMs ?? 15_000) / 1000} s)`, r.hung, formatRequest));
  if (r.serverErrorsWhileReady.length) p.no5xx.push(firstFew('5xx replies while the volume was ready', r.serverErrorsWhileReady, formatRequest));
  const l = r.listing;
  if (l?.error) p.listing.push(`ListObjectsV2 failed: ${l.error}`);
  if (l?.notListed.length) p.listing.push(firstFew('keys read back but not listed', l.notListed, (k) => k));
  if (l?.listedAbsent.length) p.listing.push(firstFew('keys listed but absent on GET', l.listedAbsent, (k) => k));
  const f = r.fsck;
  if (f?.error) p.fsck.push(`fsck failed: ${f.error}`);
  if (f?.before?.dangling.length) p.fsck.push(firstFew('dangling names (a name whose inode is gone)', f.before.dangling, (d) => `${d.parent}/${d.name} -> ${d.gfid}`));
  const a = f?.after;
  if (a && (a.dangling.length || a.orphanInodes.length || a.orphanData.length || a.nlinkMismatch.length || a.dyingNamed.length)) {
    p.fsck.push(`fsck after --repair is not clean: ${fsckLine(a)}`);
  }
  return p;
}

function fsckLine(f: FsckReport): string {
  return `dangling ${f.dangling.length}, orphan inodes ${f.orphanInodes.length}, orphan data ${f.orphanData.length}, nlink mismatches ${f.nlinkMismatch.length}, dying named ${f.dyingNamed.length}`;
}

/** A human summary of a run, problems last. */
export function formatReport(r: FaultLoadReport): string {
  const o = r.options;
  const q = r.requests;
  const lines = [
    `fault load: seed ${o.seed}, c=${o.concurrency}, ${o.durationMs / 1000} s of load, ${o.faults} faults, ${r.seconds.toFixed(1)} s in all`,
    `requests: ${q.total} (acked ${q.acked}, rejected ${q.rejected}, refused ${q.refused}, cut ${q.cut}, hung ${q.hung}); writes acknowledged: ${r.ackedWrites} (${(r.ackedBytes / MiB).toFixed(1)} MiB)`,
    'faults:', ...r.faults.map((f) => `  ${formatFault(f)}`),
  ];
  for (const d of r.unplannedDeaths) lines.push(`  ${(d.at / 1000).toFixed(1)} s brick ${d.brick} (pid ${d.pid}) exited (${d.exit}) with no fault killing it`);
  if (r.down) lines.push(`volume down: ${r.down}`);
  else {
    lines.push(`read-back: ${r.keys} keys, ${r.present} present; lost acknowledged writes ${r.lost.length}, unexpected ${r.unexpected.length}, unreadable ${r.unreadable.length}; bad GETs during the load ${r.badReads.length}`);
    lines.push(`hung ${r.hung.length}; 5xx while ready ${r.serverErrorsWhileReady.length}; connection errors while ready ${r.connectionErrorsWhileReady.length}`);
    if (r.listing) lines.push(`listing: ${r.listing.listed} keys${r.listing.error ? `, failed: ${r.listing.error}` : `, ${r.listing.notListed.length} present but not listed, ${r.listing.listedAbsent.length} listed but absent`}`);
    const f = r.fsck;
    if (f) lines.push(`fsck: ${f.error ? `failed: ${f.error}` : `${f.before ? fsckLine(f.before) : ''}; after --repair: ${f.after ? fsckLine(f.after) : '?'}`}`);
  }
  lines.push(`bricks left running after dht2 local stopped: ${r.leftoverBricks.length ? r.leftoverBricks.join(', ') : 'none'}`);
  lines.push(`log: ${r.logFile}`, `ledger: ${r.ledgerFile}`);
  const problems = Object.values(reportProblems(r)).flat();
  lines.push(problems.length ? `PROBLEMS:\n${problems.join('\n')}` : 'no problems: every acknowledged write read back as acknowledged');
  return lines.join('\n');
}
