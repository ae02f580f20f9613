#!/usr/bin/env node
/**
 * The long fault load run, for hunting (docs/CRASH-SAFETY.md): `node dist/bench/fault-load-cli.js
 * --seed 7 --duration 600`. Prints a summary and exits 1 when a criterion of issue 13 is not met.
 * The data folder, the log of `dht2 local` and the ledger stay in the work folder (removed only
 * with --clean and a run without problems).
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Command, InvalidArgumentError } from 'commander';
import { runFaultLoad } from './fault-load.js';
import { formatReport, reportProblems } from './fault-report.js';

function whole(min: number) {
  return (v: string): number => {
    const n = Number(v);
    if (!Number.isInteger(n) || n < min) throw new InvalidArgumentError(`must be a whole number >= ${min}`);
    return n;
  };
}

function share(v: string): number {
  const n = Number(v);
  if (!(n >= 0 && n <= 0.5)) throw new InvalidArgumentError('must be between 0 and 0.5');
  return n;
}

const program = new Command()
  .name('fault-load')
  .description('mixed S3 load on `dht2 local` with kill -9 and SIGSTOP faults; every key read back against a ledger (issue 13)')
  .option('--seed <n>', 'seed of the load and of the faults', whole(0), Math.floor(Math.random() * 1e6))
  .option('--duration <s>', 'seconds of load', whole(5), 60)
  .option('--concurrency <n>', 'workers, one request in flight each', whole(1), 16)
  .option('--faults <n>', 'faults over the run (default: 8 per minute)', whole(0))
  .option('--request-timeout <s>', 'a request with no reply after this long is hung', whole(1), 15)
  .option('--keys-per-worker <n>', 'keys each worker writes', whole(1), 16)
  .option('--multipart-share <x>', 'share of operations that are multipart uploads (5 MiB + a small part)', share, 0.01)
  .option('--work-dir <path>', 'where the data, the log and the ledger go (default: a new temp folder)')
  .option('--clean', 'remove the work folder afterwards when no problem was found')
  .option('--json', 'print the whole report as JSON');

const o = program.parse().opts<{
  seed: number; duration: number; concurrency: number; faults?: number; requestTimeout: number; keysPerWorker: number;
  multipartShare: number; workDir?: string; clean?: boolean; json?: boolean;
}>();
const workDir = o.workDir ?? await mkdtemp(join(tmpdir(), 'dht2-fault-load-'));
const report = await runFaultLoad({
  seed: o.seed, durationMs: o.duration * 1000, concurrency: o.concurrency, faults: o.faults ?? Math.max(1, Math.round((8 * o.duration) / 60)),
  workDir, requestTimeoutMs: o.requestTimeout * 1000, keysPerWorker: o.keysPerWorker, multipartShare: o.multipartShare,
  log: (line) => process.stderr.write(`${line}\n`),
});
process.stdout.write((o.json ? JSON.stringify(report, null, 2) : formatReport(report)) + '\n');
const failed = Object.values(reportProblems(report)).flat().length > 0;
if (o.clean && !failed) await rm(workDir, { recursive: true, force: true });
process.exitCode = failed ? 1 : 0;
