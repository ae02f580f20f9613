/**
 * The local-filesystem baseline of the HTTP scenarios (large, fs): the same files written,
 * read, stat'ed, listed and deleted in a directory of this machine's disk by this process,
 * in the same phase shape as the load generators (bench/load-phase.ts), so its rows line up
 * with theirs. Writes are durable as a brick makes them before it replies: fs streams of 1 MiB
 * (one write for small files), then fsync of the file and of the directory; a delete fsyncs
 * the directory. A list is a walk: readdir + lstat of every entry (what a listing with
 * attributes needs), reported as entries/s.
 */
import { randomBytes } from 'node:crypto';
import { createReadStream, createWriteStream } from 'node:fs';
import { lstat, mkdir, open, readdir, rm, unlink } from 'node:fs/promises';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { PhaseRun, Progress, workers, type PhaseResult } from './load-phase.js';
import type { PhaseHooks } from './measure.js';
import type { System } from './servers.js';
import { byteChunks, drain, fsyncPath, pool } from './util.js';

const MiB = 1024 * 1024;

/** This process writing and reading files, as a {@link System} for measure.ts: no server process to measure. */
export const LOCAL: System = { name: 'local file', tag: 'local', endpoint: '', accessKey: '', secretKey: '', mainPid: 0, pids: [], named: new Map() };
const STAT_CONCURRENCY = 16;

export type LocalPhase = 'put' | 'get' | 'stat' | 'list' | 'delete';
const ORDER: LocalPhase[] = ['put', 'get', 'stat', 'list', 'delete'];

export interface LocalFilesOptions {
  /** Directory to work in (made, and removed afterwards). */
  dir: string;
  size: number;
  count: number;
  concurrency: number;
  /** Run in the order put, get, stat, list, delete. */
  phases: readonly LocalPhase[];
  /** Full walks of a list phase (default 3). */
  listWalks?: number;
}

/** Runs the phases on the local filesystem; see the file comment. */
export async function runLocalFiles<P extends string>(o: LocalFilesOptions, hooks: PhaseHooks<P>, nameOf: (p: LocalPhase) => P): Promise<void> {
  const { dir, size, count } = o;
  await mkdir(dir, { recursive: true });
  const chunk = randomBytes(Math.max(1, Math.min(size, MiB)));
  const file = (i: number): string => join(dir, `o${String(i).padStart(7, '0')}`);
  try {
    for (const phase of ORDER.filter((p) => o.phases.includes(p))) {
      await hooks.beforePhase(nameOf(phase));
      const run = new PhaseRun(nameOf(phase), undefined, undefined, new Progress(false, phase, count));
      let extra: Partial<PhaseResult<P>> = {};
      if (phase === 'list') {
        const walks = o.listWalks ?? 3;
        let entries = 0;
        await workers(1, run, (() => { let w = 0; return () => (w < walks ? w++ : undefined); })(), async () => {
          await run.op(async () => {
            const names = await readdir(dir);
            await pool(names.length, STAT_CONCURRENCY, async (i) => { await lstat(join(dir, names[i]!)); });
            if (names.length !== count) throw new Error(`readdir of ${dir}: ${names.length} entries, expected ${count}`);
            entries += names.length;
            return 0;
          });
        });
        const seconds = (performance.now() - run.t0) / 1000;
        extra = { listed: { keys: entries, prefixes: 0, keysPerSec: seconds > 0 ? entries / seconds : 0 } } as Partial<PhaseResult<P>>;
      } else {
        let i = 0;
        await workers(o.concurrency, run, () => (i < count ? i++ : undefined), async (n) => {
          await run.op(() => one(phase, file(n)));
        });
      }
      hooks.afterPhase(nameOf(phase), run.result(extra));
    }
  } finally {
    await rm(dir, { recursive: true, force: true });
  }

  async function one(phase: Exclude<LocalPhase, 'list'>, path: string): Promise<number> {
    switch (phase) {
      case 'put':
        if (size <= chunk.length) {
          const fh = await open(path, 'w', 0o600);
          try {
            await fh.write(chunk.subarray(0, size));
            await fh.sync();
          } finally {
            await fh.close();
          }
        } else {
          await pipeline(Readable.from(byteChunks(size, chunk), { objectMode: false, highWaterMark: chunk.length }),
            createWriteStream(path, { flags: 'w', mode: 0o600 }));
          await fsyncPath(path);
        }
        await fsyncPath(dir);
        return size;
      case 'get': {
        const got = await drain(createReadStream(path, { highWaterMark: MiB }));
        if (got !== size) throw new Error(`read ${got} bytes of ${path}, expected ${size}`);
        return got;
      }
      case 'stat':
        if ((await lstat(path)).size !== size) throw new Error(`${path}: wrong size`);
        return 0;
      case 'delete':
        await unlink(path);
        await fsyncPath(dir);
        return 0;
    }
  }
}
