#!/usr/bin/env node
/** The `dht2` command: one entry point for every process of a DHT2 Gateway cluster. */
import { Command, InvalidArgumentError, Option } from 'commander';
import { pino } from 'pino';
import { loadClusterSecret, runBrick } from '../brick/main.js';
import { SEGMENT_BYTES } from '../brick/repl/log.js';
import { HEAL_EVERY_MS } from '../brick/repl/log-keeper.js';
import { DEFAULT_RETENTION } from '../brick/repl/truncate.js';
import { ORPHAN_GRACE_MS, watchSupervisorPipe } from '../brick/supervisor-pipe.js';
import { readFile } from 'node:fs/promises';
import { dirname, isAbsolute, resolve as resolvePath } from 'node:path';
import {
  BrickClient, checkClusterSecret, Dht2Error, installLayout, parseVolumeFile, replicaOf, replicaProblem, resolveSecret, Volume,
  writeVolumeFile,
} from '../dht2-core/index.js';
import { registerBenchCommand } from './bench-command.js';
import { wholeNumber } from './cli-args.js';
import { DEFAULT_HTTP_LIMITS, type HttpLimits } from '../server/http-limits.js';

/**
 * A brick's calls to the peers of its replica set (brick/repl/peer.ts): a frozen peer is given up
 * within a PING window, well inside the election timeout of 1000-2000 ms (ARCHITECTURE.md §10.3).
 */
const PEER_LIVENESS = { quietMs: 300, pingTimeoutMs: 700 };
const PEER_TIMEOUT_MS = 5000;

/** Documented defaults for local use only (README); the printed banner says so. */
const DEFAULT_ACCESS_KEY = 'dht2admin';
const DEFAULT_SECRET_KEY = 'dht2admin-secret';

function port(v: string): number {
  const n = Number(v);
  if (!Number.isInteger(n) || n < 0 || n > 65535) throw new InvalidArgumentError('must be a port number 0-65535');
  return n;
}

function seconds(v: string): number {
  const n = Number(v);
  if (!Number.isFinite(n) || n <= 0) throw new InvalidArgumentError('must be a number of seconds > 0');
  return n;
}

function byteCount(v: string): number {
  const n = Number(v);
  if (!Number.isSafeInteger(n) || n < 0) throw new InvalidArgumentError('must be a number of bytes >= 0');
  return n;
}

interface HttpLimitFlags { headersTimeout: number; idleTimeout: number; keepAliveTimeout: number; maxConnections: number; refusedBodyLimit: number }

/** The gateway's HTTP limits (server/http-limits.ts) as flags, with their DHT2_* variables as defaults. */
function addHttpLimitOptions(c: Command): Command {
  const d = DEFAULT_HTTP_LIMITS;
  // Option.env: the variable's value goes through the same parser as the flag (refused alike).
  const opt = (flags: string, help: string, env: string, parse: (v: string) => number, def: number): Option =>
    new Option(flags, help).env(env).argParser(parse).default(def);
  return c
    .addOption(opt('--headers-timeout <seconds>', 'a request head must arrive within this', 'DHT2_HEADERS_TIMEOUT', seconds, d.headersTimeoutMs / 1000))
    .addOption(opt('--idle-timeout <seconds>', 'close a connection where no byte moved for this long while the client owed one (never a total request time limit)', 'DHT2_IDLE_TIMEOUT', seconds, d.idleTimeoutMs / 1000))
    .addOption(opt('--keep-alive-timeout <seconds>', 'close an idle connection between requests after this', 'DHT2_KEEP_ALIVE_TIMEOUT', seconds, d.keepAliveTimeoutMs / 1000))
    .addOption(opt('--max-connections <n>', 'close connections beyond this many as soon as they are accepted', 'DHT2_MAX_CONNECTIONS', wholeNumber(1), d.maxConnections))
    .addOption(opt('--refused-body-limit <bytes>', 'read at most this much of a refused request\'s body, then close the connection', 'DHT2_REFUSED_BODY_LIMIT', byteCount, d.refusedBodyBytes));
}

function httpLimits(o: HttpLimitFlags): HttpLimits {
  return {
    headersTimeoutMs: Math.round(o.headersTimeout * 1000), idleTimeoutMs: Math.round(o.idleTimeout * 1000),
    keepAliveTimeoutMs: Math.round(o.keepAliveTimeout * 1000), maxConnections: o.maxConnections, refusedBodyBytes: o.refusedBodyLimit,
  };
}

const program = new Command();
program.name('dht2').description('DHT2 Gateway: S3 and file API over a DHT2 volume of HTTP/2 bricks').version('0.1.0');

program
  .command('brick')
  .description('serve one brick directory over HTTP/2 (formats a new directory on first start)')
  .requiredOption('--dir <path>', 'brick directory', process.env.DHT2_BRICK_DIR)
  .addOption(new Option('--role <role>', 'mds (names and inodes) or ds (data)').choices(['mds', 'ds']).makeOptionMandatory())
  .option('--port <n>', 'port to listen on (0: any free port)', port, 0)
  .option('--host <addr>', 'address to listen on', '127.0.0.1')
  .option('--volume-id <id>', 'volume this brick belongs to (checked on every start)')
  .option('--brick-id <id>', 'id of this brick (default: random on format)')
  .option('--secret-file <path>', 'file holding the cluster secret (default: $DHT2_CLUSTER_SECRET)')
  .option('--no-sync', 'do not fsync before replying (faster; acknowledged writes may be lost on power loss)')
  .option('--tls-cert <path>', 'serve h2 over TLS with this certificate (PEM)')
  .option('--tls-key <path>', 'private key for --tls-cert (PEM)')
  .option('--log-level <level>', 'pino log level', process.env.DHT2_LOG_LEVEL ?? 'info')
  .option('--supervisor-fd <fd>', 'stop when this inherited pipe closes: the process that started the brick is gone (set by dht2 local)', inheritedFd)
  // Log retention of a member of a replicated set (ARCHITECTURE.md §10.13 "Truncation").
  .addOption(new Option('--repl-retain-ms <ms>', 'truncate log entries older than this even if a member lacks them (it then needs a full copy)').env('DHT2_REPL_RETAIN_MS').argParser(byteCount).default(DEFAULT_RETENTION.retainMs))
  .addOption(new Option('--repl-min-retain-ms <ms>', 'never truncate log entries younger than this (the duplicate window)').env('DHT2_REPL_MIN_RETAIN_MS').argParser(byteCount).default(DEFAULT_RETENTION.minRetainMs))
  .addOption(new Option('--repl-retain-bytes <bytes>', 'truncate the oldest log segments beyond this many bytes of log and blobs even if a member lacks them').env('DHT2_REPL_RETAIN_BYTES').argParser(byteCount).default(DEFAULT_RETENTION.retainBytes))
  .addOption(new Option('--repl-segment-bytes <bytes>', 'close a log segment at this size (truncation removes whole segments)').env('DHT2_REPL_SEGMENT_BYTES').argParser(wholeNumber(1)).default(SEGMENT_BYTES))
  .addOption(new Option('--repl-heal-every-ms <ms>', 'period of the primary\'s heal loop (rebuild pins, members needing a full copy)').env('DHT2_REPL_HEAL_EVERY_MS').argParser(wholeNumber(100)).default(HEAL_EVERY_MS))
  .action(async (o: {
    dir: string; role: 'mds' | 'ds'; port: number; host: string; volumeId?: string; brickId?: string;
    secretFile?: string; sync: boolean; tlsCert?: string; tlsKey?: string; logLevel: string; supervisorFd?: number;
    replRetainMs: number; replMinRetainMs: number; replRetainBytes: number; replSegmentBytes: number; replHealEveryMs: number;
  }) => {
    const logger = pino({ name: 'dht2-brick', level: o.logLevel });
    const started = runBrick({
      dir: o.dir, role: o.role, port: o.port, host: o.host, volumeId: o.volumeId, brickId: o.brickId,
      secret: loadClusterSecret(o.secretFile), sync: o.sync, tlsCert: o.tlsCert, tlsKey: o.tlsKey, logger,
      peerClient: (p) => new BrickClient({ ...p, secret: loadClusterSecret(o.secretFile), timeoutMs: PEER_TIMEOUT_MS, liveness: PEER_LIVENESS }),
      repl: {
        retention: { retainMs: o.replRetainMs, minRetainMs: o.replMinRetainMs, retainBytes: o.replRetainBytes },
        segmentBytes: o.replSegmentBytes, healEveryMs: o.replHealEveryMs,
      },
    });
    let stopping = false;
    /** Closes the brick (server, store, lock) and exits; after `graceMs`, exits whatever the close is doing. */
    const stop = (reason: string, graceMs?: number): void => {
      if (stopping) return;
      stopping = true;
      logger.info({ reason }, 'brick stopping');
      if (graceMs !== undefined) {
        setTimeout(() => { logger.error({ graceMs }, 'brick did not close in time; exiting'); process.exit(1); }, graceMs);
      }
      started.then((b) => b.close()).then(() => process.exit(0), (e: unknown) => { logger.error({ err: e }, 'close failed'); process.exit(1); });
    };
    // Watched from the start: a supervisor that dies while the store opens (an index rebuild can
    // take a while) must not leave the brick behind either.
    if (o.supervisorFd !== undefined) watchSupervisorPipe(o.supervisorFd, () => stop('supervisor gone', ORPHAN_GRACE_MS));
    await started;
    process.once('SIGTERM', () => stop('SIGTERM'));
    process.once('SIGINT', () => stop('SIGINT'));
  });

function inheritedFd(v: string): number {
  const n = Number(v);
  // 0-2 are stdio: a supervisor pipe is always an extra descriptor.
  if (!Number.isInteger(n) || n < 3) throw new InvalidArgumentError('must be a file descriptor number >= 3');
  return n;
}

addHttpLimitOptions(program
  .command('local'))
  .description('run a whole volume on this machine (2 MDS + 3 DS bricks by default), data in one folder')
  .option('--data-dir <path>', 'data folder', process.env.DHT2_DATA_DIR ?? './data')
  .option('--mds <n>', 'number of MDS sets (bricks with replica 1)', (v) => count(v), 2)
  .option('--ds <n>', 'number of DS sets (bricks with replica 1)', (v) => count(v), 3)
  .option('--replica <n>', 'bricks per set: 1, or 3 to survive one brick lost (fixed when the data folder is made)', replicaCount)
  .option('--brick-port-base <n>', 'first brick port', port, Number(process.env.DHT2_BRICK_PORT_BASE ?? 9101))
  .option('--port <n>', 'gateway port', port, Number(process.env.DHT2_PORT ?? 9000))
  .option('--access-key <id>', 'root access key', process.env.DHT2_ACCESS_KEY ?? DEFAULT_ACCESS_KEY)
  .option('--secret-key <secret>', 'root secret key (prefer $DHT2_SECRET_KEY)', process.env.DHT2_SECRET_KEY ?? DEFAULT_SECRET_KEY)
  .option('--region <name>', 'region reported to clients', process.env.DHT2_REGION ?? 'us-east-1')
  .option('--host <addr>', 'address every process listens on', '127.0.0.1')
  .option('--no-sync', 'bricks reply before fsync (faster, not power-loss safe)')
  .option('--log-level <level>', 'pino log level', process.env.DHT2_LOG_LEVEL ?? 'info')
  .action(async (o: {
    dataDir: string; mds: number; ds: number; replica?: number; brickPortBase: number; host: string; sync: boolean; logLevel: string;
    port: number; accessKey: string; secretKey: string; region: string;
  } & HttpLimitFlags) => {
    const logger = pino({ name: 'dht2-local', level: o.logLevel });
    const { runLocalCluster } = await import('../brick/local-cluster.js');
    const { runGateway } = await import('../server/main.js');
    const cluster = await runLocalCluster({
      dataDir: o.dataDir, mdsCount: o.mds, dsCount: o.ds, replica: o.replica, brickPortBase: o.brickPortBase, host: o.host, sync: o.sync, logger,
    });
    let gw: Awaited<ReturnType<typeof runGateway>>;
    try {
      gw = await runGateway({
        volfile: cluster.volfile, port: o.port, host: o.host, region: o.region, accessKey: o.accessKey, secretKey: o.secretKey,
        limits: httpLimits(o), logger: logger.child({ name: 'dht2-gateway' }),
      });
    } catch (e) {
      await cluster.stop();
      const why = listenProblem(e) ?? (e instanceof Error ? e.message : String(e));
      throw new Dht2Error('EIO', `the local cluster did not start: the gateway ${why} (every brick it started was stopped)`, { cause: e });
    }
    process.stdout.write([
      '',
      `DHT2 Gateway is ready: ${gw.url}  (data in ${cluster.volfile.replace(/\/volume\.json$/, '')})`,
      `  access key: ${o.accessKey}`,
      `  secret key: ${o.secretKey === DEFAULT_SECRET_KEY ? `${o.secretKey}   (the default: set DHT2_SECRET_KEY for anything but local use)` : '(from DHT2_SECRET_KEY)'}`,
      '',
      '  export AWS_ACCESS_KEY_ID=' + o.accessKey + ' AWS_SECRET_ACCESS_KEY=<secret key> AWS_DEFAULT_REGION=' + o.region,
      `  aws --endpoint-url ${gw.url} s3 mb s3://demo`,
      `  aws --endpoint-url ${gw.url} s3 cp ./README.md s3://demo/README.md`,
      `  aws --endpoint-url ${gw.url} s3 ls s3://demo/`,
      '',
    ].join('\n') + '\n');
    const stop = (sig: string): void => {
      logger.info({ signal: sig }, 'stopping the local cluster');
      gw.close().then(() => cluster.stop()).then(() => process.exit(0), () => process.exit(1));
    };
    process.once('SIGTERM', () => stop('SIGTERM'));
    process.once('SIGINT', () => stop('SIGINT'));
  });

/** A replica count the design supports (ARCHITECTURE.md §10.12: 1, 3, 5 or 7; 2 is refused with the reason). */
function replicaCount(v: string): number {
  const n = Number(v);
  const problem = replicaProblem(n);
  if (problem) throw new InvalidArgumentError(problem);
  return n;
}

function count(v: string): number {
  const n = Number(v);
  if (!Number.isInteger(n) || n < 1 || n > 64) throw new InvalidArgumentError('must be 1-64');
  return n;
}

addHttpLimitOptions(program
  .command('gateway'))
  .description('serve the S3 API for a volume')
  .option('--volfile <path>', 'volume file', process.env.DHT2_VOLFILE ?? './data/volume.json')
  .option('--port <n>', 'port', port, Number(process.env.DHT2_PORT ?? 9000))
  .option('--host <addr>', 'address to listen on', process.env.DHT2_HOST ?? '127.0.0.1')
  .option('--region <name>', 'region reported to clients', process.env.DHT2_REGION ?? 'us-east-1')
  .option('--access-key <id>', 'root access key', process.env.DHT2_ACCESS_KEY ?? DEFAULT_ACCESS_KEY)
  .option('--secret-key <secret>', 'root secret key (prefer $DHT2_SECRET_KEY)', process.env.DHT2_SECRET_KEY ?? DEFAULT_SECRET_KEY)
  .option('--credentials-file <path>', 'more keys: {"keys":[{"accessKeyId","secretAccessKey"}]}', process.env.DHT2_CREDENTIALS_FILE)
  .option('--domain <name>', 'also accept virtual-host style requests to <bucket>.<name>', process.env.DHT2_DOMAIN)
  .option('--upload-expiry-hours <n>', 'remove multipart uploads older than this', (v) => Number(v), Number(process.env.DHT2_UPLOAD_EXPIRY_HOURS ?? 168))
  .option('--log-level <level>', 'pino log level', process.env.DHT2_LOG_LEVEL ?? 'info')
  .action(async (o: { volfile: string; port: number; host: string; region: string; accessKey: string; secretKey: string; credentialsFile?: string; domain?: string; uploadExpiryHours: number; logLevel: string } & HttpLimitFlags) => {
    const logger = pino({ name: 'dht2-gateway', level: o.logLevel });
    // Loaded on demand: a brick process never loads the gateway's code.
    const { runGateway } = await import('../server/main.js');
    const gw = await runGateway({ ...o, uploadExpiryMs: o.uploadExpiryHours * 3600_000, limits: httpLimits(o), logger });
    const stop = (sig: string): void => {
      logger.info({ signal: sig }, 'gateway stopping');
      gw.close().then(() => process.exit(0), () => process.exit(1));
    };
    process.once('SIGTERM', () => stop('SIGTERM'));
    process.once('SIGINT', () => stop('SIGINT'));
  });

const volume = program.command('volume').description('volume files');
volume
  .command('create')
  .description('write a volume file for a set of bricks (checked against each brick that answers)')
  .requiredOption('--name <name>', 'volume name')
  .requiredOption('--volume-id <id>', 'volume id the bricks were started with')
  .requiredOption('--mds <id=url...>', 'MDS bricks, e.g. mds0=http://10.0.0.1:9101')
  .requiredOption('--ds <id=url...>', 'DS bricks, e.g. ds0=http://10.0.0.2:9103')
  .option('--replica <n>', 'bricks per set: 1, or 3 (the bricks of each role are grouped into sets mds-0, mds-1, ..., ds-0, ... in the order given)', replicaCount, 1)
  .option('--secret-file <path>', 'where the cluster secret is (default: read $DHT2_CLUSTER_SECRET)')
  .option('--tls-ca <path>', 'PEM CA for https bricks')
  .option('-o, --out <path>', 'volume file to write', 'volume.json')
  .option('--no-check', 'do not contact the bricks')
  .option('--allow-short-secret', 'the bricks already exist and use a secret of 16-31 bytes: accept it with a warning (rotate it: docs/VOLUME-FILE.md)')
  .action(async (o: {
    name: string; volumeId: string; mds: string[]; ds: string[]; replica: number; secretFile?: string; tlsCa?: string; out: string;
    check: boolean; allowShortSecret?: boolean;
  }) => {
    const refs = (list: string[], role: string) => list.map((s) => {
      const i = s.indexOf('=');
      if (i <= 0) throw new InvalidArgumentError(`--${role} ${s}: expected id=url`);
      return { id: s.slice(0, i), url: s.slice(i + 1) };
    });
    // Sets of `replica` bricks in the order given (ARCHITECTURE.md §10.12).
    const sets = (list: string[], role: string) => {
      const bricks = refs(list, role);
      if (bricks.length % o.replica !== 0) {
        throw new InvalidArgumentError(`--${role}: ${bricks.length} bricks do not make sets of ${o.replica}; give a multiple of ${o.replica}`);
      }
      return Array.from({ length: bricks.length / o.replica }, (_, i) => ({ id: `${role}-${i}`, bricks: bricks.slice(i * o.replica, (i + 1) * o.replica) }));
    };
    const common = {
      name: o.name, volumeId: o.volumeId, buckets: 65536,
      secret: o.secretFile ? { file: o.secretFile } : { env: 'DHT2_CLUSTER_SECRET' }, ...(o.tlsCa ? { tlsCa: o.tlsCa } : {}),
    };
    const vf = parseVolumeFile(o.replica === 1
      ? { format: 1, ...common, mds: refs(o.mds, 'mds'), ds: refs(o.ds, 'ds') }
      : { format: 2, ...common, replica: o.replica, mds: sets(o.mds, 'mds'), ds: sets(o.ds, 'ds') }, 'volume');
    // A volume file written here is a new volume unless told otherwise: its secret is held to
    // the new volume's rule before anything is written (cluster-secret.ts).
    const { warning } = checkClusterSecret(await resolveSecret(vf, o.out), { newVolume: o.allowShortSecret !== true });
    if (warning !== undefined) process.stderr.write(`dht2: warning: ${warning}\n`);
    await writeVolumeFile(o.out, vf);
    if (o.check) {
      // A replicated volume's bricks learn their sets from its layout (ARCHITECTURE.md §10.9).
      const secret = await resolveSecret(vf, o.out);
      const ca = vf.tlsCa ? await readFile(isAbsolute(vf.tlsCa) ? vf.tlsCa : resolvePath(dirname(o.out), vf.tlsCa)) : undefined;
      const { unreachable } = await installLayout(vf, secret, ca ? { tls: { ca } } : {});
      if (unreachable.length > 0) {
        process.stderr.write(`dht2: warning: bricks ${unreachable.join(', ')} did not answer; their sets have a majority. They get the layout from \`dht2 heal start --full\` or the next volume create.\n`);
      }
      const v = await Volume.open(o.out);
      await v.close();
    }
    const what = replicaOf(vf) === 1 ? `${vf.mds.length} MDS, ${vf.ds.length} DS` : `replica ${replicaOf(vf)}, ${vf.mds.length} MDS sets, ${vf.ds.length} DS sets`;
    process.stdout.write(`wrote ${o.out}: volume ${vf.name} (${vf.volumeId}), ${what}\n`);
  });

const heal = program.command('heal').description('replica sets: what still needs heal (ARCHITECTURE.md §10.13)');
heal
  .command('info')
  .description('per replica set: its primary, each member\'s indexes and how far behind it is (exit code: sets that need heal)')
  .option('--volfile <path>', 'volume file', process.env.DHT2_VOLFILE ?? './data/volume.json')
  .option('--json', 'print JSON')
  .action(async (o: { volfile: string; json?: boolean }) => {
    const { runHealInfo } = await import('./heal.js');
    process.exitCode = Math.min(await runHealInfo(o.volfile, o.json === true), 100);
  });
heal
  .command('start')
  .description('heal now: wait for log replay to finish; with --full, rebuild members by full copy (a wiped or diverged brick), with progress')
  .option('--volfile <path>', 'volume file', process.env.DHT2_VOLFILE ?? './data/volume.json')
  .option('--set <id>', 'only this replica set')
  .option('--member <id>', 'only this member (with --full: rebuild it)')
  .option('--full', 'rebuild by full copy plus log tail (ARCHITECTURE.md §10.13)')
  .option('--timeout <seconds>', 'give up waiting after this long', '600')
  .action(async (o: { volfile: string; set?: string; member?: string; full?: boolean; timeout: string }) => {
    const { runHealStart } = await import('./heal.js');
    process.exitCode = Math.min(await runHealStart(o.volfile, {
      ...(o.set !== undefined ? { set: o.set } : {}), ...(o.member !== undefined ? { member: o.member } : {}),
      full: o.full === true, timeoutMs: Number(o.timeout) * 1000,
    }), 100);
  });

program
  .command('status')
  .description('the bricks of a volume: reachable, identity, capacity (exit code: bricks down)')
  .option('--volfile <path>', 'volume file', process.env.DHT2_VOLFILE ?? './data/volume.json')
  .option('--json', 'print JSON')
  .action(async (o: { volfile: string; json?: boolean }) => {
    const { runStatus } = await import('./status.js');
    process.exitCode = Math.min(await runStatus(o.volfile, o.json ?? false), 100);
  });

program
  .command('fsck')
  .description('find (and with --repair remove) orphan inodes, orphan data, dangling names and names whose data is missing')
  .option('--volfile <path>', 'volume file', process.env.DHT2_VOLFILE ?? './data/volume.json')
  .option('--repair', 'remove what was found')
  .option('--grace <seconds>', 'ignore objects younger than this (FOPs in flight)', (v) => Number(v), 600)
  .option('--json', 'print the report as JSON')
  .action(async (o: { volfile: string; repair?: boolean; grace: number; json?: boolean }) => {
    const v = await Volume.open(o.volfile);
    try {
      const r = await v.fsck({ repair: o.repair, graceMs: o.grace * 1000 });
      // §10.12: on a replicated volume the members of each set are compared too; with --json
      // their report goes into the JSON (`replicas`), so stdout stays one JSON document.
      const { replicaCheck, runHealStart } = await import('./heal.js');
      const replicaLines: string[] = [];
      const c = v.replica > 1 ? await replicaCheck(v, (l) => { replicaLines.push(l); }) : undefined;
      if (o.json) {
        process.stdout.write(JSON.stringify(c ? { ...r, replicas: { ...c, report: replicaLines } } : r, null, 2) + '\n');
      } else {
        const lines = [
          `inodes ${r.inodes}, directories ${r.directories}, names ${r.names}, data objects ${r.dataObjects}`,
          `dangling names: ${r.dangling.length}`, ...r.dangling.map((d) => `  ${d.parent}/${d.name} -> ${d.gfid}`),
          `orphan inodes: ${r.orphanInodes.length}`, ...r.orphanInodes.map((x) => `  ${x.gfid} (${x.type})`),
          `orphan data objects: ${r.orphanData.length}`, ...r.orphanData.map((g) => `  ${g}`),
          `nlink mismatches: ${r.nlinkMismatch.length}`, ...r.nlinkMismatch.map((x) => `  ${x.gfid}: nlink ${x.nlink}, names ${x.names}`),
          `directories marked dying but named: ${r.dyingNamed.length}`,
          `named files whose data is missing: ${r.missingData.length}`, ...r.missingData.map((x) => `  ${x.gfid} (${x.size} bytes)`),
          r.repaired
            ? 'repaired: the orphans, dangling names, dying marks and names of missing data above were removed'
            : 'report only (use --repair to remove)',
        ];
        process.stdout.write([...lines, ...replicaLines].join('\n') + '\n');
      }
      if (c) {
        // With --repair, heal starts on what differs.
        if (o.repair) {
          // With --json the heal reports on stderr: stdout stays the one JSON document above.
          const healOut = o.json ? process.stderr : process.stdout;
          // A heal that fails fails the repair: the exit code says so, not only the output.
          const codes: number[] = [];
          for (const id of c.rebuild) codes.push(await runHealStart(o.volfile, { member: id, full: true }, healOut));
          if (c.rebuild.length === 0 && c.problems > 0) codes.push(await runHealStart(o.volfile, {}, healOut));
          if (codes.some((x) => x !== 0)) process.exitCode = 1;
        } else if (c.problems > 0) {
          process.exitCode = 1;
        }
      }
    } finally {
      await v.close();
    }
  });

registerBenchCommand(program);

/**
 * A port that is taken is an operator's mistake, not a bug: say which address, without a stack.
 * Node's listen errors carry `code`, `address` and `port` (net.Server 'error').
 */
function listenProblem(e: unknown): string | undefined {
  const x = e as { code?: unknown; syscall?: unknown; address?: unknown; port?: unknown };
  if (typeof x !== 'object' || x === null || x.syscall !== 'listen') return undefined;
  const where = `${typeof x.address === 'string' && x.address.includes(':') ? `[${x.address}]` : String(x.address)}:${String(x.port)}`;
  if (x.code === 'EADDRINUSE') return `cannot listen on ${where}: the address is already in use (another process holds it; choose another port)`;
  if (x.code === 'EADDRNOTAVAIL') return `cannot listen on ${where}: no interface of this machine has that address`;
  if (x.code === 'EACCES') return `cannot listen on ${where}: permission denied (ports below 1024 need privileges)`;
  return undefined;
}

program.parseAsync(process.argv).catch((e: unknown) => {
  const msg = listenProblem(e) ?? (e instanceof Dht2Error ? e.message : e instanceof Error ? e.stack ?? e.message : String(e));
  process.stderr.write(`dht2: ${msg}\n`);
  process.exit(1);
});
