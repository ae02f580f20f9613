/**
 * Benchmark runner: `npm run bench -- [scenario…]` (`node dist/bench/run.js brick`). Runs the
 * named scenarios in order (all registered ones when none is named), prints one table on
 * stdout and writes the rows to .bench/results-<timestamp>.json. No assertions: numbers only.
 */
import { cpus, loadavg } from 'node:os';
import { fileURLToPath } from 'node:url';
import { benchScale, progress } from './util.js';
import { formatTable, writeResultsJson, type SuiteRows } from './report.js';
import { SCENARIOS, scenarioNames } from './scenarios.js';

/** The package root (this file is dist/bench/run.js once compiled). */
const PACKAGE_ROOT = fileURLToPath(new URL('../../', import.meta.url));

const LEGEND = [
  'vs base: the row\'s result divided by its baseline\'s (same unit): brick and core rows, the local filesystem in the same sync mode;',
  '  s3 rows, s3rver (single process, local disk, no fsync) in the same run.',
  '  ops/s and MB/s (10^6 bytes/s): higher is better, so below 1x the measured system is slower;',
  '  ms: lower is better, so above 1x the measured system is slower.',
  'c=N: requests the benchmark keeps in flight (the client may queue them).',
  'peak RSS: highest VmRSS sampled every 100 ms. brick rows: the brick serving the row (MDS for names, DS for data);',
  '  core rows: the highest of the five bricks (2 MDS + 3 DS); s3 rows: the gateway process (dht2 rows) or the s3rver process',
  '  (the bricks\' peaks are in the JSON details).',
  'RPCs/op (core): brick FOPs counted by CountingFops over all brick clients during the phase, divided by its operations.',
  'brick readdir rows are medians of 5 runs after one warm-up walk; the local baseline must read and sort the whole directory for any page.',
  'core readdir rows: entries/s of a full walk with plus (attributes), median of 3; local: readdir withFileTypes + stat of each entry.',
  's3 rows: dht2 gateway = its own process over 2 MDS + 3 DS bricks with sync on (fsync before every reply), path-style SigV4,',
  '  UNSIGNED-PAYLOAD, undici keep-alive pool with one connection per request in flight; p50/p99: request sent to last byte received;',
  '  CPU ms/op: CPU time of the server processes (gateway + bricks, or s3rver) per request; [N errors]: failed requests, not in the result.',
];

async function main(argv: string[]): Promise<number> {
  if (argv.includes('-h') || argv.includes('--help')) {
    process.stdout.write(`usage: npm run bench -- [scenario…]\nscenarios: ${scenarioNames().join(', ')}\nenv: BENCH_SCALE=<factor> multiplies the work (default 1)\n`);
    return 0;
  }
  const known = scenarioNames();
  const unknown = argv.filter((a) => !Object.hasOwn(SCENARIOS, a));
  if (unknown.length > 0) {
    process.stderr.write(`bench: unknown scenario${unknown.length > 1 ? 's' : ''} ${unknown.join(', ')}; known: ${known.join(', ')}\n`);
    return 2;
  }
  const names = argv.length > 0 ? [...new Set(argv)] : known;
  const scale = benchScale();
  const startedAt = new Date();
  const loadBefore = loadavg();
  if (loadBefore[0]! > cpus().length / 2) {
    progress(`note: load average is ${loadBefore[0]!.toFixed(2)} on ${cpus().length} CPUs; other work on this machine will show in the numbers`);
  }
  const suites: SuiteRows[] = [];
  for (const name of names) {
    const t0 = Date.now();
    progress(`scenario ${name} starting (BENCH_SCALE=${scale})`);
    const rows = await SCENARIOS[name]!();
    suites.push({ suite: name, rows });
    progress(`scenario ${name} done in ${((Date.now() - t0) / 1000).toFixed(1)} s`);
  }
  const loadAfter = loadavg();
  const load = `load average (1/5/15 min) before ${loadBefore.map((l) => l.toFixed(2)).join('/')}, after ${loadAfter.map((l) => l.toFixed(2)).join('/')} on ${cpus().length} CPUs`;
  process.stdout.write(`\n${formatTable(suites)}\n\n${LEGEND.join('\n')}\n${load}\n`);
  const path = await writeResultsJson(`${PACKAGE_ROOT}.bench`, suites, startedAt, {
    scenarios: names, benchScale: scale, loadAvgBefore: loadBefore, loadAvgAfter: loadAfter,
  });
  process.stdout.write(`\nresults written to ${path}\n`);
  return 0;
}

main(process.argv.slice(2)).then(
  (code) => { process.exitCode = code; },
  (e: unknown) => {
    process.stderr.write(`bench failed: ${e instanceof Error ? e.stack ?? e.message : String(e)}\n`);
    process.exitCode = 1;
  },
);
