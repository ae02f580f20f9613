/**
 * Benchmark runner: `npm run bench -- [scenario…] [--chart]` (`node dist/bench/run.js …`). Runs
 * the named scenarios in order (all registered ones when none is named), prints one table on
 * stdout with the peak RSS of every server process per scenario, and writes the results to
 * .bench/results-<timestamp>.json (with --chart also an SVG chart next to it). No assertions:
 * numbers only. A scenario that fails is reported and the others still run (exit status 1).
 */
import { writeFile } from 'node:fs/promises';
import { cpus, loadavg } from 'node:os';
import { fileURLToPath } from 'node:url';
import { renderChart } from './chart.js';
import { ProcessWatch } from './proc-watch.js';
import { formatProcessTable, formatTable, writeResultsJson, type SuiteRows } from './report.js';
import { ALIASES, SCENARIOS, resolveScenarios, scenarioNames } from './scenarios.js';
import { sizes } from './sizes.js';
import { benchScale, progress } from './util.js';

/** The package root (this file is dist/bench/run.js once compiled). */
const PACKAGE_ROOT = fileURLToPath(new URL('../../', import.meta.url));

const USAGE = `usage: npm run bench -- [scenario…] [--chart]
scenarios: ${scenarioNames().join(', ')} (all when none is named); ${Object.entries(ALIASES).map(([a, l]) => `${a} = ${l.join(' + ')}`).join('; ')}
--chart: also write an SVG chart of the results next to the JSON file
env: BENCH_FULL=1 issue 6's sizes (about an hour here; the default fits 15 minutes),
     BENCH_SCALE=<factor> multiplies the counts of every scenario (default 1)
`;

const LEGEND = [
  'vs base: the row\'s result divided by its baseline\'s (same unit), measured in the same run:',
  '  brick, core: the local filesystem in the same sync mode; small: s3rver (single process, local disk, no fsync);',
  '  large: the local file (fs streams + fsync: the disk limit); the note adds the gateway\'s ratio to s3rver and to bare HTTP/1.1',
  '  (http-sink: the transport limit); list: the local filesystem holding the same tree (readdir + sort + lstat);',
  '  fs: the local filesystem (+fsync, as the bricks); the note adds the file API\'s ratio to the S3 API on the same gateway;',
  '  replica: replica 1 (1 MDS + 1 DS brick) is the base of replica 3 (1 MDS set + 1 DS set of 3 bricks each), same run;',
  '  the note gives the CPU ms/op of each process (* = the set\'s primary) and whether r3/r1 meets issue 16\'s target;',
  '  r1 and r3 run 3 rounds interleaved (BENCH_REPLICA_ROUNDS), each on new processes: the rows shown are the round whose r3/r1',
  '  is the median, and the note lists every round\'s ratio.',
  '  ops/s and MB/s (10^6 bytes/s): higher is better, so below 1x the measured system is slower;',
  '  ms: lower is better, so above 1x the measured system is slower.',
  'c=N: requests the benchmark keeps in flight (the client may queue them).',
  'peak RSS: highest VmRSS sampled every 100 ms during the row. brick rows: the brick serving the row (MDS for names, DS for data);',
  '  core rows: the highest of the five bricks (2 MDS + 3 DS); HTTP rows: the gateway process (dht2 rows), s3rver or the sink',
  '  (the bricks\' peaks are in the JSON details). The table after the results gives every process\'s VmHWM over its scenario.',
  'RPCs/op (core): brick FOPs counted by CountingFops over all brick clients during the phase, divided by its operations.',
  'brick readdir rows are medians of 5 runs after one warm-up walk; the local baseline must read and sort the whole directory for any page.',
  'core readdir rows: entries/s of a full walk with plus (attributes), median of 3; local: readdir withFileTypes + stat of each entry.',
  'HTTP rows: dht2 gateway = its own process over 2 MDS + 3 DS bricks with sync on (fsync before every reply), path-style SigV4,',
  '  UNSIGNED-PAYLOAD (file API: HTTP Basic), undici keep-alive pool with one connection per request in flight; p50/p99: request',
  '  sent to last byte received; CPU ms/op: CPU time of the server processes (gateway + bricks, or s3rver) per request;',
  '  [N errors]: failed requests, not in the result.',
];

interface Flags {
  names: string[];
  chart: boolean;
  help: boolean;
  bad: string[];
}

function parseArgs(argv: readonly string[]): Flags {
  const f: Flags = { names: [], chart: false, help: false, bad: [] };
  for (const a of argv) {
    if (a === '--chart') f.chart = true;
    else if (a === '-h' || a === '--help') f.help = true;
    else if (a.startsWith('-')) f.bad.push(a);
    else f.names.push(a);
  }
  return f;
}

const fmtSeconds = (s: number): string => (s >= 60 ? `${Math.floor(s / 60)} min ${(s % 60).toFixed(0)} s` : `${s.toFixed(1)} s`);

async function main(argv: string[]): Promise<number> {
  const flags = parseArgs(argv);
  if (flags.help) {
    process.stdout.write(USAGE);
    return 0;
  }
  if (flags.bad.length) {
    process.stderr.write(`bench: unknown option ${flags.bad.join(', ')}\n${USAGE}`);
    return 2;
  }
  const { run: names, unknown } = resolveScenarios(flags.names);
  if (unknown.length > 0) {
    process.stderr.write(`bench: unknown scenario${unknown.length > 1 ? 's' : ''} ${unknown.join(', ')}; known: ${scenarioNames().join(', ')}\n`);
    return 2;
  }
  const scale = benchScale();
  const sz = sizes();
  const startedAt = new Date();
  const loadBefore = loadavg();
  if (loadBefore[0]! > cpus().length / 2) {
    progress(`note: load average is ${loadBefore[0]!.toFixed(2)} on ${cpus().length} CPUs; other work on this machine will show in the numbers`);
  }
  progress(`sizes: ${sz.profile} profile${sz.profile === 'default' ? ' (BENCH_FULL=1 for issue 6\'s sizes)' : ''}, BENCH_SCALE=${scale}`);
  const watch = new ProcessWatch().start();
  const suites: SuiteRows[] = [];
  const failures: string[] = [];
  for (const name of names) {
    const t0 = Date.now();
    progress(`scenario ${name} starting`);
    watch.reset();
    let rows: SuiteRows['rows'] = [];
    try {
      rows = await SCENARIOS[name]!();
    } catch (e) {
      failures.push(`${name}: ${e instanceof Error ? e.stack ?? e.message : String(e)}`);
      progress(`scenario ${name} FAILED: ${e instanceof Error ? e.message : String(e)}`);
    }
    const seconds = (Date.now() - t0) / 1000;
    suites.push({ suite: name, rows, seconds, processes: watch.peaks() });
    progress(`scenario ${name} done in ${fmtSeconds(seconds)}`);
  }
  watch.stop();
  const wallSeconds = (Date.now() - startedAt.getTime()) / 1000;
  const loadAfter = loadavg();
  const load = `load average (1/5/15 min) before ${loadBefore.map((l) => l.toFixed(2)).join('/')}, after ${loadAfter.map((l) => l.toFixed(2)).join('/')} on ${cpus().length} CPUs`;
  const times = suites.map((s) => `${s.suite} ${fmtSeconds(s.seconds ?? 0)}`).join(', ');
  const rss = suites.flatMap((s) => s.rows.flatMap((r) => {
    const m = /(FLAG: )?\S+ RSS \+[^;]*/.exec(r.note ?? '');
    return m ? [`  ${s.suite} / ${r.scenario} / ${r.system}: ${m[0]}`] : [];
  }));
  process.stdout.write([
    '',
    formatTable(suites),
    '',
    formatProcessTable(suites),
    ...(rss.length ? ['', 'RSS rise of the server during the upload (peak sampled every 100 ms minus RSS at the start):', ...rss] : []),
    '',
    ...LEGEND,
    load,
    `sizes: ${sz.profile} profile, BENCH_SCALE=${scale}; wall time ${fmtSeconds(wallSeconds)} (${times})`,
    ...(failures.length ? ['', 'FAILED scenarios:', ...failures] : []),
    '',
  ].join('\n'));
  const path = await writeResultsJson(`${PACKAGE_ROOT}.bench`, suites, startedAt, {
    scenarios: names, benchScale: scale, sizes: sz, wallSeconds, loadAvgBefore: loadBefore, loadAvgAfter: loadAfter,
    ...(failures.length ? { failures } : {}),
  });
  process.stdout.write(`results written to ${path}\n`);
  if (flags.chart) {
    const svg = path.replace(/\.json$/, '.svg');
    await writeFile(svg, renderChart(suites, `npm run bench, ${startedAt.toISOString()} (${sz.profile} sizes, ${cpus().length} CPUs, ${load.replace(/^load average \(1\/5\/15 min\) /, 'load ')})`));
    process.stdout.write(`chart written to ${svg}\n`);
  }
  return failures.length ? 1 : 0;
}

main(process.argv.slice(2)).then(
  (code) => { process.exitCode = code; },
  (e: unknown) => {
    process.stderr.write(`bench failed: ${e instanceof Error ? e.stack ?? e.message : String(e)}\n`);
    process.exitCode = 1;
  },
);
