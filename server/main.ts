/** The gateway process: opens the volume, serves the app over HTTP, stops gracefully. */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Logger } from 'pino';
import { SetMonitor } from './ops/sets.js';
import { ObservedFops, Volume } from '../dht2-core/index.js';
import { StaticCredentials, loadCredentialsFile, type CredentialStore } from './auth/index.js';
import { createApp } from './app.js';
import { clientErrorResponder } from './error-pages.js';
import { GatewayMetrics } from './ops/metrics.js';
import { ObjectLayer } from './objects/index.js';
import { DEFAULT_HTTP_LIMITS, applyHttpLimits, checkHttpLimits, serverOptions, type HttpLimits } from './http-limits.js';

export interface GatewayOptions {
  volfile: string;
  port: number;
  host: string;
  region: string;
  /** Root credentials. */
  accessKey: string;
  secretKey: string;
  /** More keys, as `{ "keys": [{ "accessKeyId", "secretAccessKey" }] }`. */
  credentialsFile?: string;
  /** Virtual-host style S3 requests under this domain (`<bucket>.<domain>`); path style always works. */
  domain?: string;
  /** Multipart uploads older than this are removed (abandoned); default 7 days. */
  uploadExpiryMs?: number;
  /** Timeouts, connection cap and refused-body bound (server/http-limits.ts); DEFAULT_HTTP_LIMITS otherwise. */
  limits?: Partial<HttpLimits>;
  logger: Logger;
}

export interface RunningGateway {
  url: string;
  port: number;
  volume: Volume;
  /** The HTTP server (tests look at its connections). */
  server: http.Server;
  /** Stops accepting, lets requests in flight finish for up to `graceMs`, closes brick sessions. */
  close(graceMs?: number): Promise<void>;
}

/** Root key plus the keys of a credentials file. */
export function gatewayCredentials(o: Pick<GatewayOptions, 'accessKey' | 'secretKey' | 'credentialsFile'>): CredentialStore {
  const root = new StaticCredentials(new Map([[o.accessKey, o.secretKey]]));
  if (!o.credentialsFile) return root;
  const more = loadCredentialsFile(o.credentialsFile);
  return { secretFor: (id) => root.secretFor(id) ?? more.secretFor(id) };
}

export async function runGateway(o: GatewayOptions): Promise<RunningGateway> {
  const credentials = gatewayCredentials(o);
  const metrics = new GatewayMetrics();
  const volume = await Volume.open(o.volfile, {
    wrap: (b, fops) => new ObservedFops(fops, metrics.brickObserver(b.id, b.role)),
  });
  if (volume.secretWarning !== undefined) o.logger.warn({ volfile: o.volfile }, volume.secretWarning);
  metrics.watchBrickStreams(() => volume.brickStreams());
  // A replicated volume's sets are polled once a second (ARCHITECTURE.md §10.8).
  const sets = new SetMonitor(volume, metrics, o.logger);
  sets.start();
  const limits = checkHttpLimits({ ...DEFAULT_HTTP_LIMITS, ...o.limits });
  const app = createApp({
    volume, credentials, rootAccessKey: o.accessKey, region: o.region, domain: o.domain, logger: o.logger, metrics,
    refusedBodyBytes: limits.refusedBodyBytes, refusedBodyMs: limits.headersTimeoutMs, sets,
  });
  const server = http.createServer(serverOptions(limits));
  applyHttpLimits(server, limits, () => metrics.connectionsDropped.inc());
  server.on('request', app);
  // An expectation other than 100-continue: RFC 9110 §10.1.1 lets a server ignore it, and Node's
  // own answer (a bare 417 that then dropped the keep-alive connection) was neither the API's
  // error format nor a connection the client could reuse. Serve the request as if it had none.
  server.on('checkExpectation', app);
  // What Node's parser refuses (headers too large, not HTTP) is answered in the API's error format too.
  server.on('clientError', clientErrorResponder(o.logger));
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(o.port, o.host, () => { server.off('error', reject); resolve(); });
  });
  const port = (server.address() as AddressInfo).port;
  const url = `http://${o.host.includes(':') ? `[${o.host}]` : o.host}:${port}`;
  o.logger.info({ url, volume: volume.file?.name, limits }, 'gateway listening');
  // Abandoned multipart uploads expire: swept at start and every hour.
  const expiry = o.uploadExpiryMs ?? 7 * 24 * 3600_000;
  const sweep = (): void => {
    new ObjectLayer(volume).uploads.expire(expiry, (uploadId, e) => o.logger.warn({ err: e, uploadId }, 'abandoned multipart upload could not be removed')).then((n) => { if (n > 0) o.logger.info({ removed: n }, 'expired abandoned multipart uploads'); },
      (e: unknown) => o.logger.warn({ err: e }, 'multipart expiry sweep failed'));
  };
  sweep();
  const timer = setInterval(sweep, Math.min(expiry, 3600_000));
  timer.unref();
  return {
    url, port, volume, server,
    async close(graceMs = 10_000) {
      clearInterval(timer);
      sets.stop();
      const closed = new Promise<void>((resolve) => server.close(() => resolve()));
      server.closeIdleConnections();
      const t = setTimeout(() => server.closeAllConnections(), graceMs);
      await closed;
      clearTimeout(t);
      await volume.close();
    },
  };
}
