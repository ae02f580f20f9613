/** A real gateway over a real volume (brick processes), for S3 and file API tests. */
import { execFile, type ChildProcess } from 'node:child_process';
import { promisify } from 'node:util';
import { S3Client } from '@aws-sdk/client-s3';
import { pino, type Logger } from 'pino';
import { startNodeChild, waitReady } from '../../brick/node-child.js';
import { DHT2_BIN } from '../../brick/spawn.js';
import { runGateway, type RunningGateway } from '../../server/main.js';
import type { HttpLimits } from '../../server/http-limits.js';
import { startCluster, type TestCluster } from './cluster.js';

export const ACCESS_KEY = 'test-access-key';
export const SECRET_KEY = 'test-secret-key-0123456789';

export interface TestGateway {
  cluster: TestCluster;
  gw: RunningGateway;
  url: string;
  /** Runs the installed aws-cli against the gateway; resolves with stdout. */
  aws(...args: string[]): Promise<string>;
  stop(): Promise<void>;
}

const run = promisify(execFile);

/** An AWS SDK v3 client for a test gateway: path style, the test credentials, us-east-1. */
export function sdkClient(url: string): S3Client {
  return new S3Client({ endpoint: url, region: 'us-east-1', forcePathStyle: true, credentials: { accessKeyId: ACCESS_KEY, secretAccessKey: SECRET_KEY } });
}

/** A gateway over `volfile` in this process, with the test credentials. */
export function runTestGateway(volfile: string, o: { domain?: string; limits?: Partial<HttpLimits>; logger?: Logger } = {}): Promise<RunningGateway> {
  return runGateway({
    volfile, port: 0, host: '127.0.0.1', region: 'us-east-1',
    accessKey: ACCESS_KEY, secretKey: SECRET_KEY, domain: o.domain, limits: o.limits, logger: o.logger ?? pino({ level: process.env.DHT2_TEST_LOG ?? 'silent' }),
  });
}

/** A logger at `level` whose records are kept in `lines` (for a test's assertion messages). */
export function keptLogger(lines: string[], level = 'warn'): Logger {
  return pino({ level }, { write: (s: string) => { lines.push(s.trimEnd()); if (lines.length > 200) lines.shift(); } });
}

export async function startGateway(o: { domain?: string; limits?: Partial<HttpLimits>; logger?: Logger } = {}): Promise<TestGateway> {
  const cluster = await startCluster();
  const gw = await runTestGateway(cluster.volfile, o);
  return {
    cluster, gw, url: gw.url,
    async aws(...args) {
      const { stdout } = await run('aws', ['--endpoint-url', gw.url, ...args], {
        env: {
          ...process.env, AWS_ACCESS_KEY_ID: ACCESS_KEY, AWS_SECRET_ACCESS_KEY: SECRET_KEY, AWS_DEFAULT_REGION: 'us-east-1',
          AWS_CONFIG_FILE: '/dev/null', AWS_SHARED_CREDENTIALS_FILE: '/dev/null', AWS_EC2_METADATA_DISABLED: 'true',
        },
        maxBuffer: 64 * 1024 * 1024,
      });
      return stdout;
    },
    async stop() {
      await gw.close(1000);
      await cluster.stop();
    },
  };
}

/** A gateway started by {@link spawnGateway}. */
export interface GatewayProcess {
  url: string;
  pid: number;
  child: ChildProcess;
  /** The last lines the gateway printed (for assertion messages). */
  tail(): string;
  /** SIGKILL and wait: a gateway that spins would never honour SIGTERM. */
  kill(): Promise<void>;
}

/**
 * A gateway as its own process (`dht2 gateway`), for tests that must survive the gateway
 * hanging (a livelock would freeze an in-process gateway and mocha with it) or that measure
 * its CPU from /proc.
 */
export async function spawnGateway(volfile: string, o: { args?: string[]; env?: Record<string, string> } = {}): Promise<GatewayProcess> {
  let url: string | undefined;
  // Log level info: the url is read from the 'gateway listening' record.
  const child = startNodeChild([DHT2_BIN, 'gateway', '--volfile', volfile, '--port', '0', '--host', '127.0.0.1',
    '--access-key', ACCESS_KEY, '--log-level', 'info', ...(o.args ?? [])], {
    env: { DHT2_SECRET_KEY: SECRET_KEY, ...o.env },
    onLine: (line) => {
      if (url !== undefined) return;
      try {
        const rec = JSON.parse(line) as { msg?: string; url?: string };
        if (rec.msg === 'gateway listening' && rec.url) url = rec.url;
      } catch {
        /* not a log record */
      }
    },
  });
  // As long as a loaded CI machine may need, but never forever (mocha's timeout would say less).
  await waitReady('gateway', child, async () => url !== undefined, 180_000);
  return { url: url!, pid: child.pid, child: child.proc, tail: child.tail, kill: child.kill };
}
