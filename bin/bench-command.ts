/**
 * `dht2 bench`: the S3 load generator (bench/s3-load.ts) as a CLI command against any S3
 * endpoint. It lives with the other commands in bin/, which imports bench/ and never the reverse.
 * This module is cheap to import (commander only): the load generator, undici, aws4 and
 * cli-progress are loaded when the command runs, so other `dht2` commands do not pay for them.
 *
 *   dht2 bench --endpoint http://127.0.0.1:9000 --size 4KiB --count 5000 --concurrency 32
 *   dht2 bench --size 64MiB --count 16 --concurrency 4 --phases put,get,delete --json
 *
 * Exit status: 0 when every request succeeded, 1 when some failed (the table says which), 2 on
 * bad flags.
 */
import { InvalidArgumentError, Option, type Command } from 'commander';
import type { S3Phase } from '../bench/s3-load.js';
import { wholeNumber } from './cli-args.js';

const PHASE_NAMES: readonly S3Phase[] = ['put', 'get', 'head', 'list', 'list-delimiter', 'delete'];

const UNITS: Record<string, number> = {
  '': 1, b: 1,
  k: 1024, kib: 1024, kb: 1000,
  m: 1024 ** 2, mib: 1024 ** 2, mb: 1000 ** 2,
  g: 1024 ** 3, gib: 1024 ** 3, gb: 1000 ** 3,
};

/** `4KiB`, `64MiB`, `1GiB`, `4KB` (10^3), `4k` (binary), `4096` → bytes. */
export function parseSize(v: string): number {
  const m = /^\s*(\d+(?:\.\d+)?)\s*([a-z]*)\s*$/i.exec(v);
  const unit = m ? UNITS[m[2]!.toLowerCase()] : undefined;
  if (!m || unit === undefined) throw new InvalidArgumentError('expected a size such as 4096, 4KiB, 64MiB or 1GiB');
  const n = Math.round(Number(m[1]) * unit);
  if (!Number.isSafeInteger(n)) throw new InvalidArgumentError('size out of range');
  return n;
}

/** `30s`, `2m`, `500ms`, `1h`, or a plain number of seconds → milliseconds. */
export function parseDuration(v: string): number {
  const m = /^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h)?\s*$/i.exec(v);
  if (!m) throw new InvalidArgumentError('expected a duration such as 30s, 2m or 500ms');
  const mult = { ms: 1, s: 1000, m: 60_000, h: 3_600_000 }[(m[2] ?? 's').toLowerCase() as 'ms' | 's' | 'm' | 'h'];
  const ms = Number(m[1]) * mult;
  if (!(ms > 0)) throw new InvalidArgumentError('duration must be above 0');
  return ms;
}

const positiveInt = wholeNumber(1);
const nonNegativeInt = wholeNumber(0);

/** `put,get,head` → phases (`all` for every one), in the order given by PHASE_NAMES when run. */
export function parsePhases(v: string): S3Phase[] {
  const list = v.split(',').map((s) => s.trim().toLowerCase()).filter(Boolean);
  if (list.length === 1 && list[0] === 'all') return [...PHASE_NAMES];
  const bad = list.filter((p) => !(PHASE_NAMES as readonly string[]).includes(p));
  if (bad.length || list.length === 0) throw new InvalidArgumentError(`phases are ${PHASE_NAMES.join(', ')} (comma-separated) or all; got ${v}`);
  return [...new Set(list)] as S3Phase[];
}

interface BenchFlags {
  endpoint: string;
  accessKey?: string;
  secretKey?: string;
  region: string;
  bucket: string;
  keep?: boolean;
  size: number;
  count: number;
  concurrency: number;
  duration?: number;
  phases: S3Phase[];
  prefix?: string;
  dirs: number;
  listMaxKeys: number;
  listWalks?: number;
  progress: boolean;
  json?: boolean;
}

/** Adds `bench` (the S3 load generator) to a commander program (the `dht2` CLI). */
export function registerBenchCommand(program: Command): Command {
  return program
    .command('bench')
    .description('S3 load generator: PUT, GET, HEAD, LIST and DELETE objects against any S3 endpoint and report ops/s, MB/s and latency')
    .option('--endpoint <url>', 'S3 endpoint (path-style requests)', process.env.AWS_ENDPOINT_URL_S3 ?? process.env.AWS_ENDPOINT_URL ?? 'http://127.0.0.1:9000')
    .option('--access-key <id>', 'access key (default: $AWS_ACCESS_KEY_ID)')
    .option('--secret-key <secret>', 'secret key (default: $AWS_SECRET_ACCESS_KEY)')
    .option('--region <name>', 'region to sign for', process.env.AWS_REGION ?? process.env.AWS_DEFAULT_REGION ?? 'us-east-1')
    .option('--bucket <name>', 'bucket (created if absent, removed afterwards if this run created it)', 'dht2-bench')
    .option('--keep', 'keep the bucket and the objects afterwards')
    .option('--size <bytes>', 'object size: 4096, 4KiB, 64MiB, 1GiB, 4KB (10^3)…', parseSize, 4096)
    .option('--count <n>', 'objects to PUT (and GET, HEAD, DELETE)', positiveInt, 1000)
    .option('--concurrency <n>', 'requests in flight (one connection each)', positiveInt, 8)
    .option('--duration <time>', 'cap on each phase, e.g. 30s or 2m (no new request starts after it)', parseDuration)
    .addOption(new Option('--phases <list>', `comma-separated, run in this order: ${PHASE_NAMES.join(',')}`)
      .argParser(parsePhases).default([...PHASE_NAMES], 'all'))
    .option('--prefix <prefix>', 'key prefix (default: dht2-bench-<random>/); without a put phase, the objects must exist under it')
    .option('--dirs <n>', 'spread keys over n "directories" <prefix>d0/ … (0: flat keys)', nonNegativeInt, 10)
    .option('--list-max-keys <n>', 'max-keys of each LIST page', positiveInt, 1000)
    .option('--list-walks <n>', 'full listings per LIST phase (default: max(5, concurrency))', positiveInt)
    .option('--no-progress', 'no progress bar (it is drawn only when stderr is a terminal, and never with --json)')
    .option('--json', 'print the results as JSON on stdout')
    .action(async (f: BenchFlags) => {
      const accessKey = f.accessKey ?? process.env.AWS_ACCESS_KEY_ID;
      const secretKey = f.secretKey ?? process.env.AWS_SECRET_ACCESS_KEY;
      if (!accessKey || !secretKey) {
        process.stderr.write('dht2 bench: give --access-key and --secret-key, or set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY\n');
        process.exitCode = 2;
        return;
      }
      const { runS3Bench, formatS3Results, formatSize } = await import('../bench/s3-load.js');
      const ac = new AbortController();
      const onSigint = (): void => {
        if (ac.signal.aborted) process.exit(130);
        process.stderr.write('\ndht2 bench: stopping (cleaning up; Ctrl-C again to quit at once)\n');
        ac.abort();
      };
      process.on('SIGINT', onSigint);
      const log = f.json ? (): void => undefined : (m: string): void => { process.stderr.write(`dht2 bench: ${m}\n`); };
      log(`${f.endpoint}: ${formatSize(f.size)} x ${f.count} at concurrency ${f.concurrency}, phases ${f.phases.join(',')}`);
      try {
        const result = await runS3Bench({
          endpoint: f.endpoint, accessKey, secretKey, region: f.region, bucket: f.bucket, keep: f.keep ?? false,
          size: f.size, count: f.count, concurrency: f.concurrency, phases: f.phases, dirs: f.dirs, listMaxKeys: f.listMaxKeys,
          progress: f.progress && !f.json, log, signal: ac.signal,
          ...(f.duration !== undefined ? { durationMs: f.duration } : {}),
          ...(f.prefix !== undefined ? { prefix: f.prefix } : {}),
          ...(f.listWalks !== undefined ? { listWalks: f.listWalks } : {}),
        });
        process.stdout.write(f.json ? `${JSON.stringify(result, null, 2)}\n` : `${formatS3Results(result)}\n`);
        if (result.phases.some((p) => p.errors > 0) || ac.signal.aborted) process.exitCode = 1;
      } catch (e) {
        process.stderr.write(`dht2 bench: ${e instanceof Error ? e.message : String(e)}\n`);
        process.exitCode = 1;
      } finally {
        process.off('SIGINT', onSigint);
      }
    });
}
