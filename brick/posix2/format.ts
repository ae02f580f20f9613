/**
 * The brick directory's identity and housekeeping (docs/ON-DISK-FORMAT.md):
 *
 *   <dir>/.dht2/identity.json   volume id, brick id, role, format version
 *   <dir>/.dht2/lock            pid of the brick process serving the directory
 *   <dir>/.dht2/tmp/            temp files and inodes before they are renamed into place
 *   <dir>/.dht2/names.sqlite    MDS only: the sorted name index (see name-index.ts)
 *   <dir>/<xx>/<yy>/<gfid>      handles
 */
import { mkdir, open, readFile, readdir, rename, rm, writeFile } from 'node:fs/promises';
import { randomUUID } from 'node:crypto';
import { setTimeout as delay } from 'node:timers/promises';
import { join } from 'node:path';
import { err } from '../../dht2-core/protocol/index.js';
import { codeOf, fsyncPath } from './fsutil.js';

/**
 * Version of the on-disk format this code writes and reads. 2: inode metadata is the binary
 * `user.dht2` (handles.ts); a format-1 brick (JSON `user.dht2.inode`) is migrated at open
 * (migrate.ts).
 */
export const FORMAT_VERSION = 2;

/**
 * The format of a member of a replicated set (ON-DISK-FORMAT.md §6.0): format 2 plus the set's
 * layout and `repl/` state. Reached only by installing a replicated layout (layout-store.ts);
 * new bricks are formatted at FORMAT_VERSION.
 */
export const REPLICATED_FORMAT = 3;

export type BrickRole = 'mds' | 'ds';

export interface BrickIdentity {
  format: number;
  volumeId: string;
  brickId: string;
  role: BrickRole;
  createdAt: string;
  /** Format 3 only: the replica set this brick is a member of. */
  set?: string;
}

export function metaDir(dir: string): string {
  return join(dir, '.dht2');
}

export function tmpDir(dir: string): string {
  return join(dir, '.dht2', 'tmp');
}

export interface OpenOptions {
  dir: string;
  role: BrickRole;
  /** Required to match an existing brick; a new brick takes it (or a fresh random id). */
  volumeId?: string;
  /** Id of a new brick (random when omitted); must match an existing one when given. */
  brickId?: string;
}

const VOLUME_ID_RE = /^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$/;

/**
 * Formats a new brick directory or checks an existing one. Refuses, with a message that says
 * what is wrong, a directory of another volume or role, a newer format, or a non-empty
 * directory that is not a brick.
 */
export async function formatOrCheck(opts: OpenOptions): Promise<BrickIdentity> {
  const { dir, role } = opts;
  if (opts.volumeId !== undefined && !VOLUME_ID_RE.test(opts.volumeId)) {
    throw err('EINVAL', `volume id ${JSON.stringify(opts.volumeId)} must be 1-128 of [A-Za-z0-9._-]`);
  }
  await mkdir(dir, { recursive: true });
  const idPath = join(metaDir(dir), 'identity.json');
  let text: string | undefined;
  try {
    text = await readFile(idPath, 'utf8');
  } catch (e) {
    if (codeOf(e) !== 'ENOENT') throw e;
  }
  if (text !== undefined) {
    let id: BrickIdentity;
    try {
      id = JSON.parse(text) as BrickIdentity;
    } catch {
      throw err('EINVAL', `${idPath} is not valid JSON; refusing to serve ${dir}`);
    }
    if (typeof id.format !== 'number' || id.format > REPLICATED_FORMAT) {
      throw err('EINVAL', `${dir} has on-disk format ${String(id.format)}, newer than ${REPLICATED_FORMAT} this brick understands; upgrade DHT2 Gateway`);
    }
    if (opts.volumeId !== undefined && id.volumeId !== opts.volumeId) {
      throw err('EINVAL', `${dir} belongs to volume ${id.volumeId}, not ${opts.volumeId}; refusing to serve it`);
    }
    if (id.role !== role) {
      throw err('EINVAL', `${dir} is a ${id.role} brick, not ${role}; refusing to serve it`);
    }
    if (opts.brickId !== undefined && id.brickId !== opts.brickId) {
      throw err('EINVAL', `${dir} is brick ${id.brickId}, not ${opts.brickId}`);
    }
    await mkdir(tmpDir(dir), { recursive: true, mode: 0o700 });
    return id;
  }
  await refuseForeign(dir);
  const others = (await readdir(dir)).filter((n) => n !== '.dht2' && n !== 'lost+found');
  if (others.length > 0) {
    // Handles but no identity: a brick whose identity file was lost. Never format over its data.
    throw err('EINVAL', `${dir} holds brick data but no ${idPath}; refusing to format it (restore the identity file)`);
  }
  const id: BrickIdentity = {
    format: FORMAT_VERSION,
    volumeId: opts.volumeId ?? randomUUID(),
    brickId: opts.brickId ?? randomUUID(),
    role,
    createdAt: new Date().toISOString(),
  };
  await mkdir(tmpDir(dir), { recursive: true, mode: 0o700 });
  await writeIdentity(dir, id);
  await fsyncPath(dir);
  return id;
}

/** Write-to-temp then rename: a crash leaves either the old identity (or none) or the whole new one. */
export async function writeIdentity(dir: string, id: BrickIdentity): Promise<void> {
  const tmp = join(tmpDir(dir), 'identity.json');
  await writeFile(tmp, JSON.stringify(id, null, 2) + '\n', { mode: 0o600 });
  await fsyncPath(tmp);
  await rename(tmp, join(metaDir(dir), 'identity.json'));
  await fsyncPath(metaDir(dir));
}

/** Refuses a directory that holds anything but a brick (lost+found aside): never format over data. */
export async function refuseForeign(dir: string): Promise<void> {
  let names: string[];
  try {
    names = await readdir(dir);
  } catch (e) {
    if (codeOf(e) === 'ENOENT') return;
    throw e;
  }
  if (names.includes('.dht2')) return;
  if (names.some((n) => n !== 'lost+found')) {
    throw err('EINVAL', `${dir} is not empty and is not a DHT2 brick; refusing to format it`);
  }
}

/**
 * How long opening a brick waits for a live owner to let go of its directory. A brick whose
 * supervisor was just killed closes within ORPHAN_GRACE_MS (supervisor-pipe.ts); a restart
 * started at once waits for it instead of failing (issue 13).
 */
export const LOCK_WAIT_MS = 5000;

/** The kernel's id of this boot (ON-DISK-FORMAT.md §2.2, §6.5); undefined where there is none. */
export const BOOT_ID_PATH = '/proc/sys/kernel/random/boot_id';

async function readBootId(): Promise<string | undefined> {
  return (await readFile(BOOT_ID_PATH, 'utf8').catch(() => '')).trim() || undefined;
}

/** The lock file's lines (§2.2): the pid, the boot id, and `rebooted` while that is carried. */
function parseLock(text: string): { pid: number; bootId?: string; rebooted: boolean } {
  const lines = text.split('\n').map((l) => l.trim());
  return { pid: Number(lines[0]), ...(lines[1] ? { bootId: lines[1] } : {}), rebooted: lines.includes('rebooted') };
}

/** A brick directory held by this process (`lockBrickDir`). */
export interface BrickLock {
  /** Gives the directory back (the lock file is removed). */
  release(): Promise<void>;
  /**
   * The stale lock found at open was left by another boot of the machine (its boot id differs),
   * or carried this mark from such a lock: the store's unsynced writes may be lost (§6.5).
   */
  readonly rebooted: boolean;
  /** Rewrites the lock without the `rebooted` mark, once whoever acts on it has recorded that it does. */
  clearRebooted(): Promise<void>;
}

/**
 * Takes the brick directory for this process: refuses when another live process still serves
 * it after `waitMs`. The lock file holds this process's pid and the kernel's boot id; a stale
 * lock of another boot (the machine went down, not only the process) is reported as `rebooted`
 * and the mark is carried in the new lock, fsynced, until `clearRebooted` (ON-DISK-FORMAT.md
 * §2.2, §6.5: a replicated brick under `--no-sync` rebuilds itself then).
 */
export async function lockBrickDir(dir: string, waitMs = LOCK_WAIT_MS): Promise<BrickLock> {
  const path = join(metaDir(dir), 'lock');
  // A lock file with our own pid is stale unless this process holds it (in a container the
  // brick is often pid 1 on every start).
  if (heldHere.has(path)) throw err('EBUSY', `${dir} is already served by this process`);
  const boot = await readBootId();
  const deadline = Date.now() + waitMs;
  let rebooted = false;
  const text = (mark: boolean): string => `${process.pid}\n${boot ?? ''}\n${mark ? 'rebooted\n' : ''}`;
  for (let stale = 0; stale < 2;) {
    try {
      const fh = await open(path, 'wx');
      await fh.writeFile(text(rebooted));
      // Durable at once, whatever it says: a power cut while this process serves must leave this
      // boot's lock behind, or the next start would find no evidence of the reboot (§6.5); and
      // the mark must survive a crash (or another power cut) before it is acted on. Two fsyncs
      // per start.
      await fh.sync();
      await fh.close();
      await fsyncPath(metaDir(dir));
      heldHere.add(path);
      let marked = rebooted;
      return {
        rebooted,
        release: async () => {
          heldHere.delete(path);
          // A mark not acted on yet (the open failed, or the brick stopped first) stays: the
          // lock, left behind with this dead pid, carries it to the next start (§6.5).
          if (!marked) await rm(path, { force: true });
        },
        clearRebooted: async () => {
          await writeFile(path, text(false));
          await fsyncPath(path);
          marked = false;
        },
      };
    } catch (e) {
      if (codeOf(e) !== 'EEXIST') throw e;
      const found = parseLock(await readFile(path, 'utf8').catch(() => ''));
      if (found.pid > 0 && found.pid !== process.pid && await isAlive(found.pid)) {
        if (Date.now() >= deadline) throw err('EBUSY', `${dir} is already served by process ${found.pid}`);
        await delay(LOCK_POLL_MS);
        continue;
      }
      stale++;
      // A lock without a boot id (older binaries, no /proc) says nothing of a reboot.
      rebooted ||= found.rebooted || (found.bootId !== undefined && boot !== undefined && found.bootId !== boot);
      await rm(path, { force: true }); // stale lock of a dead process
    }
  }
  throw err('EBUSY', `cannot lock ${dir}`);
}

const LOCK_POLL_MS = 100;

const heldHere = new Set<string>();

/**
 * Whether `pid` is a running process. kill(pid, 0) also succeeds for a zombie, which has exited
 * but whose parent has not reaped it yet (an orphan under an init that reaps late): /proc says
 * Z or X then. Without a readable /proc, kill's answer stands.
 */
async function isAlive(pid: number): Promise<boolean> {
  try {
    process.kill(pid, 0);
  } catch (e) {
    if (codeOf(e) !== 'EPERM') return false;
  }
  const stat = await readFile(`/proc/${pid}/stat`, 'utf8').catch(() => undefined);
  if (stat === undefined) return true;
  // Field 2, the command name, is in parentheses and may itself hold ') ': the state follows the last ')'.
  const state = stat.slice(stat.lastIndexOf(')') + 2)[0];
  return state !== 'Z' && state !== 'X';
}

/** Everything in tmp/ is garbage of an interrupted operation (crash story): remove it. */
export async function cleanTmp(dir: string): Promise<number> {
  const t = tmpDir(dir);
  const names = await readdir(t);
  for (const n of names) await rm(join(t, n), { recursive: true, force: true });
  return names.length;
}
