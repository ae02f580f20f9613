/**
 * The rebuild record `repl/rebuild` (docs/ON-DISK-FORMAT.md §6.5): while it exists the brick is a
 * learner being rebuilt by full copy (ARCHITECTURE.md §10.13), across restarts. JSON, written
 * whole (tmp, fsync, rename, fsync `repl/`); unlinked, then `repl/` fsynced, when the rebuild ends.
 */
import { rm } from 'node:fs/promises';
import { join } from 'node:path';
import { err } from '../../dht2-core/protocol/index.js';
import { fsyncPath } from '../posix2/fsutil.js';
import { replDir } from './paths.js';
import { readWhole, writeWhole } from './state-file.js';

export interface RebuildRecord {
  /** The member copied from (the primary when the rebuild started); '' until chosen (a rebuild a --no-sync brick starts on itself after a reboot, ON-DISK-FORMAT.md §6.5). */
  source: string;
  /** The source's applied index when the copy started (0: not asked yet); the log tail is applied from the next one. */
  fromIndex: number;
  /** The term of the entry at `fromIndex` on the source: the base the log is reset onto (ON-DISK-FORMAT.md §6.1 "The base"). */
  fromTerm?: number;
  /**
   * The log was emptied onto (fromIndex, fromTerm) (`ReplLog.resetTo`), so that the entries after
   * the copy's index can be appended whatever the primary truncated before it (ARCHITECTURE.md
   * §10.13 "As built (truncation)"). Unset: a restart resets it (again).
   */
  logReset?: boolean;
  /** `copy`: objects are being copied; `replay`: the copy is done, the log tail is being applied up to `replayTo`. */
  phase: 'copy' | 'replay';
  /** The last GFID of the source handled by the copy: a restart resumes after it. */
  cursor?: string;
  /** The source's applied index when the copy ended: up to it, a `diverged` refusal means "the copy holds a later state". */
  replayTo?: number;
  copiedObjects: number;
  copiedBytes: number;
  skippedObjects: number;
  removedObjects: number;
  totalObjects: number;
  totalBytes: number;
  startedAt: number;
}

export function rebuildPath(dir: string): string {
  return join(replDir(dir), 'rebuild');
}

export function readRebuild(dir: string): Promise<RebuildRecord | undefined> {
  return readWhole(rebuildPath(dir), (b, p) => {
    try {
      const r = JSON.parse(b.toString('utf8')) as RebuildRecord;
      if (typeof r.source !== 'string' || !Number.isSafeInteger(r.fromIndex)) throw new Error('fields missing');
      return r;
    } catch (e) {
      throw err('EIO', `corrupt rebuild record at ${p}: ${(e as Error).message}`);
    }
  });
}

export async function writeRebuild(dir: string, r: RebuildRecord): Promise<void> {
  await writeWhole(dir, 'rebuild', rebuildPath(dir), Buffer.from(JSON.stringify(r)), true);
}

export async function removeRebuild(dir: string): Promise<void> {
  await rm(rebuildPath(dir), { force: true });
  await fsyncPath(replDir(dir));
}

/**
 * `repl/copied-ops` (ON-DISK-FORMAT.md §6.5): the opIds a full copy's source had applied up to the
 * copy's index (`rops`), kept across restarts because this member's log does not hold their
 * entries: a resend within the duplicate window is EALREADY (ARCHITECTURE.md §10.13 "As built (op
 * ids)"). JSON `{fromIndex, items: [[opId, index, at], …]}`, written whole by each rebuild before
 * its record says `replay`; read at start.
 */
export interface CopiedOps {
  fromIndex: number;
  items: Array<{ opId: string; index: number; at: number }>;
}

export function copiedOpsPath(dir: string): string {
  return join(replDir(dir), 'copied-ops');
}

export function readCopiedOps(dir: string): Promise<CopiedOps | undefined> {
  return readWhole(copiedOpsPath(dir), (b, p) => {
    try {
      const j = JSON.parse(b.toString('utf8')) as { fromIndex: number; items: Array<[string, number, number]> };
      if (!Number.isSafeInteger(j.fromIndex) || !Array.isArray(j.items)) throw new Error('fields missing');
      return { fromIndex: j.fromIndex, items: j.items.map(([opId, index, at]) => ({ opId, index, at })) };
    } catch (e) {
      throw err('EIO', `corrupt copied opIds at ${p}: ${(e as Error).message}`);
    }
  });
}

export async function writeCopiedOps(dir: string, c: CopiedOps): Promise<void> {
  const j = { fromIndex: c.fromIndex, items: c.items.map((x) => [x.opId, x.index, x.at]) };
  await writeWhole(dir, 'ops', copiedOpsPath(dir), Buffer.from(JSON.stringify(j)), true);
}
