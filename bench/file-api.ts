/**
 * The `fs` scenario (issue 4): the REST file API (`/fs/`, HTTP Basic) next to the S3 API on the
 * same gateway and to the local filesystem, in the same run. The gateway runs as its own
 * process over 2 MDS + 3 DS bricks with sync on (bench/servers.ts).
 *
 *  - small files (sizes().fsSmallCount x 4 KiB in one directory, c=8): create (PUT), stat
 *    (`?stat=1`; S3: HEAD), list (3 full walks with attributes, `?detail=1&limit=1000` by
 *    cursor; S3: ListObjectsV2; local: readdir + lstat of each entry; entries/s), delete;
 *  - large files (sizes().fsLargeCount x sizes().largeBytes, c=1): write (PUT) and read (GET),
 *    MB/s.
 * Local: bench/local-files.ts (writes fsync the file and the directory, as the bricks do).
 * Ratio: against the local filesystem; the file API row's note gives its ratio to the S3 row.
 */
import { join } from 'node:path';
import { runFsLoad, FsClient, type FsPhase } from './fs-load.js';
import { LOCAL, runLocalFiles } from './local-files.js';
import { measuringHooks, rowOf, withRatio, type Measured } from './measure.js';
import type { Row } from './report.js';
import { formatSize, type S3Phase } from './s3-load.js';
import { runMeasured, warmUp } from './s3-small.js';
import { Workspace, type System } from './servers.js';
import { sizes } from './sizes.js';
import { progress } from './util.js';

const KiB = 1024;
const SMALL_CONCURRENCY = 8;
const LIST_WALKS = 3;
const TOP = '/fsbench';

/** The S3 phase that does what a file-API phase does. */
const S3_OF: Record<FsPhase, S3Phase> = { put: 'put', get: 'get', stat: 'head', list: 'list', delete: 'delete' };

interface Job {
  label: string;
  size: number;
  count: number;
  concurrency: number;
  phases: FsPhase[];
  large: boolean;
}

function phaseLabel(p: FsPhase, large: boolean): string {
  switch (p) {
    case 'put': return large ? 'write (PUT)' : 'create (PUT)';
    case 'get': return 'read (GET)';
    case 'stat': return 'stat (S3: HEAD)';
    case 'list': return `list walk with attributes (${LIST_WALKS} walks; entries/s)`;
    case 'delete': return 'delete';
  }
}

/** A row whose value is entries/s for list phases (a page holds up to 1000 entries), as rowOf gives otherwise. */
function fsRow(scenario: string, sys: System, m: Measured, phase: FsPhase, large: boolean): Row {
  const row = rowOf(scenario, sys, m, large);
  if (phase === 'list' && m.result.listed) row.value = m.result.listed.keysPerSec;
  return row;
}

/** The `fs` scenario: see the file comment. */
export async function fsScenario(): Promise<Row[]> {
  const sz = sizes();
  const jobs: Job[] = [
    { label: `4 KiB x ${sz.fsSmallCount}`, size: 4 * KiB, count: sz.fsSmallCount, concurrency: SMALL_CONCURRENCY, phases: ['put', 'stat', 'list', 'delete'], large: false },
    { label: `${formatSize(sz.largeBytes)} x ${sz.fsLargeCount}`, size: sz.largeBytes, count: sz.fsLargeCount, concurrency: 1, phases: ['put', 'get'], large: true },
  ];
  const ws = await Workspace.create('fs');
  progress(`fs: temp dir ${ws.root}; ${jobs.map((j) => `${j.label} at c=${j.concurrency}`).join(', ')}`);
  try {
    const gw = await ws.gateway(await ws.cluster('dht2', true));
    const fsSys: System = { ...gw, name: 'file API /fs/' };
    const s3Sys: System = { ...gw, name: 'S3 API' };
    const admin = new FsClient(gw.endpoint, gw.accessKey, gw.secretKey, 1);
    try {
      await warmUp(gw);
      await runFsLoad({ endpoint: gw.endpoint, accessKey: gw.accessKey, secretKey: gw.secretKey, dir: `${TOP}/warmup`, size: 4 * KiB,
        count: 100, concurrency: SMALL_CONCURRENCY, phases: ['put', 'get', 'stat', 'list', 'delete'], listWalks: 1 });
      const rows: Row[] = [];
      for (const job of jobs) {
        const tag = job.large ? 'large' : 'small';
        progress(`fs: file API, ${job.label} at c=${job.concurrency}`);
        const fsM = new Map<FsPhase, Measured<FsPhase>>();
        await runFsLoad({
          endpoint: gw.endpoint, accessKey: gw.accessKey, secretKey: gw.secretKey, dir: `${TOP}/${tag}`, size: job.size, count: job.count,
          concurrency: job.concurrency, phases: job.phases, listWalks: LIST_WALKS, progress: true, hooks: measuringHooks(fsSys, fsM),
        });
        await admin.removeTree(`${TOP}/${tag}`);
        await ws.checkAlive();
        progress(`fs: S3 API, ${job.label} at c=${job.concurrency}`);
        const s3M = await runMeasured(s3Sys, {
          size: job.size, count: job.count, concurrency: job.concurrency, phases: job.phases.map((p) => S3_OF[p]),
          bucket: `fs-s3-${tag}`, dirs: 0, listWalks: LIST_WALKS,
        });
        await ws.checkAlive();
        progress(`fs: local fs, ${job.label} at c=${job.concurrency}`);
        const localM = new Map<FsPhase, Measured<FsPhase>>();
        await runLocalFiles({ dir: join(ws.root, `local-${tag}`), size: job.size, count: job.count, concurrency: job.concurrency, phases: job.phases, listWalks: LIST_WALKS },
          measuringHooks(LOCAL, localM), (p) => p);
        for (const phase of job.phases) {
          const inFlight = phase === 'list' ? Math.min(job.concurrency, LIST_WALKS) : job.concurrency;
          const scenario = `${job.label}: ${phaseLabel(phase, job.large)} (c=${inFlight})`;
          const f = fsM.get(phase);
          const s = s3M.get(S3_OF[phase]);
          const l = localM.get(phase);
          if (!f || !s || !l) continue;
          const base = fsRow(scenario, { ...LOCAL, name: 'local fs +fsync' }, l, phase, job.large);
          const fr = withRatio(fsRow(scenario, fsSys, f, phase, job.large), base);
          const sr = withRatio(fsRow(scenario, s3Sys, s, phase, job.large), base);
          if (sr.value > 0) fr.note = `${(fr.value / sr.value).toFixed(2)}x S3 API`;
          rows.push(fr, sr, base);
        }
      }
      return rows;
    } finally {
      await admin.removeTree(TOP).catch(() => undefined);
      await admin.close();
    }
  } finally {
    await ws.close();
  }
}
