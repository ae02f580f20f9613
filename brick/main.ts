/** The brick process: opens the store on its directory and serves it over HTTP/2 until told to stop. */
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { pino, type Logger } from 'pino';
import { checkClusterSecret, err, MAKE_A_SECRET } from '../dht2-core/protocol/index.js';
import { metaDir, type BrickRole } from './posix2/format.js';
import { PosixStore } from './posix2/store.js';
import { ReplHost, type ReplTuning } from './repl/host.js';
import type { PeerConnector } from './repl/node.js';
import { startBrickServer, type RunningBrickServer } from './server.js';

export interface BrickOptions {
  dir: string;
  role: BrickRole;
  port: number;
  host?: string;
  volumeId?: string;
  brickId?: string;
  secret: string;
  /** fsync before every reply (default true). */
  sync?: boolean;
  tlsCert?: string;
  tlsKey?: string;
  logger?: Logger;
  /**
   * Makes the client of a peer of this brick's replica set (brick/repl/peer.ts): given by the
   * process that starts the brick, which may import dht2-core's RPC client (the brick may not).
   * Without it a member of a replicated set serves nothing.
   */
  peerClient?: PeerConnector;
  /** Log retention and segment size of the replication module (ARCHITECTURE.md §10.13). */
  repl?: ReplTuning;
}

export interface RunningBrick {
  store: PosixStore;
  /** The replication module, running on a member of a replicated set. */
  repl: ReplHost;
  server: RunningBrickServer;
  close(): Promise<void>;
}

/** Reads the cluster secret from a file (first line) or the environment; runBrick checks it. */
export function loadClusterSecret(file: string | undefined, env: NodeJS.ProcessEnv = process.env): string {
  const secret = file !== undefined ? readFileSync(file, 'utf8').split('\n')[0]!.trim() : env.DHT2_CLUSTER_SECRET;
  if (!secret) throw err('EINVAL', `no cluster secret: set DHT2_CLUSTER_SECRET or pass --secret-file; ${MAKE_A_SECRET}`);
  return secret;
}

export async function runBrick(o: BrickOptions): Promise<RunningBrick> {
  const logger = o.logger ?? pino({ name: 'dht2-brick' });
  // A directory without an identity is about to be formatted: a new volume, held to the new
  // volume's rule (cluster-secret.ts); checked before anything is written to it.
  const formatted = existsSync(join(metaDir(o.dir), 'identity.json'));
  const secretCheck = checkClusterSecret(o.secret, { newVolume: !formatted });
  if (secretCheck.warning !== undefined) logger.warn({ dir: o.dir }, secretCheck.warning);
  if ((o.tlsCert === undefined) !== (o.tlsKey === undefined)) throw err('EINVAL', 'TLS needs both a certificate and a key');
  const store = await PosixStore.open({ dir: o.dir, role: o.role, volumeId: o.volumeId, brickId: o.brickId, sync: o.sync });
  let server: RunningBrickServer;
  const repl = new ReplHost(store, o.peerClient, logger, o.repl);
  try {
    await repl.ensure();
    server = await startBrickServer({
      store, router: () => repl, identity: () => store.identity, layoutEpoch: () => store.layoutEpoch, secret: o.secret, port: o.port, host: o.host, logger,
      tls: o.tlsCert !== undefined && o.tlsKey !== undefined ? { cert: readFileSync(o.tlsCert), key: readFileSync(o.tlsKey) } : undefined,
    });
  } catch (e) {
    await repl.close();
    await store.close();
    throw e;
  }
  logger.info({
    url: server.url, port: server.port, dir: o.dir, role: store.identity.role, volumeId: store.identity.volumeId,
    brickId: store.identity.brickId, sync: o.sync ?? true, cleanedTmp: store.cleanedTmp, migratedInodes: store.migrated,
  }, 'brick listening');
  return {
    store,
    repl,
    server,
    async close() {
      await server.close();
      await repl.close();
      await store.close();
    },
  };
}
