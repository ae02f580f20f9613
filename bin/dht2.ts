#!/usr/bin/env node
/** The `dht2` command: one entry point for every process of a DHT2 Gateway cluster. */
import { Command, InvalidArgumentError, Option } from 'commander';
import { pino } from 'pino';
import { loadClusterSecret, runBrick } from '../brick/main.js';
import { Dht2Error } from '../dht2-core/errors.js';
import { runLocalCluster } from './local-cluster.js';

function port(v: string): number {
  const n = Number(v);
  if (!Number.isInteger(n) || n < 0 || n > 65535) throw new InvalidArgumentError('must be a port number 0-65535');
  return n;
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
  .action(async (o: {
    dir: string; role: 'mds' | 'ds'; port: number; host: string; volumeId?: string; brickId?: string;
    secretFile?: string; sync: boolean; tlsCert?: string; tlsKey?: string; logLevel: string;
  }) => {
    const logger = pino({ name: 'dht2-brick', level: o.logLevel });
    const brick = await runBrick({
      dir: o.dir, role: o.role, port: o.port, host: o.host, volumeId: o.volumeId, brickId: o.brickId,
      secret: loadClusterSecret(o.secretFile), sync: o.sync, tlsCert: o.tlsCert, tlsKey: o.tlsKey, logger,
    });
    const stop = (sig: string): void => {
      logger.info({ signal: sig }, 'brick stopping');
      brick.close().then(() => process.exit(0), (e: unknown) => { logger.error({ err: e }, 'close failed'); process.exit(1); });
    };
    process.once('SIGTERM', () => stop('SIGTERM'));
    process.once('SIGINT', () => stop('SIGINT'));
  });

program
  .command('local')
  .description('run a whole volume on this machine (2 MDS + 3 DS bricks by default), data in one folder')
  .option('--data-dir <path>', 'data folder', process.env.DHT2_DATA_DIR ?? './data')
  .option('--mds <n>', 'number of MDS bricks', (v) => count(v), 2)
  .option('--ds <n>', 'number of DS bricks', (v) => count(v), 3)
  .option('--brick-port-base <n>', 'first brick port', port, Number(process.env.DHT2_BRICK_PORT_BASE ?? 9101))
  .option('--host <addr>', 'address every process listens on', '127.0.0.1')
  .option('--no-sync', 'bricks reply before fsync (faster, not power-loss safe)')
  .option('--log-level <level>', 'pino log level', process.env.DHT2_LOG_LEVEL ?? 'info')
  .action(async (o: { dataDir: string; mds: number; ds: number; brickPortBase: number; host: string; sync: boolean; logLevel: string }) => {
    const logger = pino({ name: 'dht2-local', level: o.logLevel });
    const cluster = await runLocalCluster({
      dataDir: o.dataDir, mdsCount: o.mds, dsCount: o.ds, brickPortBase: o.brickPortBase, host: o.host, sync: o.sync, logger,
    });
    const stop = (sig: string): void => {
      logger.info({ signal: sig }, 'stopping the local cluster');
      cluster.stop().then(() => process.exit(0), () => process.exit(1));
    };
    process.once('SIGTERM', () => stop('SIGTERM'));
    process.once('SIGINT', () => stop('SIGINT'));
  });

function count(v: string): number {
  const n = Number(v);
  if (!Number.isInteger(n) || n < 1 || n > 64) throw new InvalidArgumentError('must be 1-64');
  return n;
}

program.parseAsync(process.argv).catch((e: unknown) => {
  const msg = e instanceof Dht2Error ? e.message : e instanceof Error ? e.stack ?? e.message : String(e);
  process.stderr.write(`dht2: ${msg}\n`);
  process.exit(1);
});
