/**
 * The gateway's HTTP application: operational endpoints under /-/, the REST file API under
 * /fs/, and the S3 API (path-style) for everything else. Neither /-/ nor /fs/ can be a bucket:
 * bucket names have 3 characters or more. Requests to /-/ and /fs/ are validated against
 * openapi.yaml (served at /-/openapi.yaml); S3 requests are not. Every request is logged once
 * (pino) with its request id, which also travels to the bricks, and counted in the metrics.
 */
import { randomPooled, type Volume } from '../dht2-core/index.js';
import { STATUS_CODES, type IncomingMessage, type ServerResponse } from 'node:http';
import express, { type Express } from 'express';
import type { Logger } from 'pino';
import type { CredentialStore } from './auth/index.js';
import { FILE_OPERATIONS, fileApiHandler } from './files/routes.js';
import { openApiDocument, openApiValidator } from './files/validation.js';
import type { GatewayMetrics } from './ops/metrics.js';
import { OPS_ROUTES, opsHandler } from './ops/routes.js';
import { SetMonitor } from './ops/sets.js';
import { finalResponder } from './error-pages.js';
import { normalizeRequest, requestTarget } from './request-target.js';
import { s3Handler } from './s3/handler.js';
import { S3_OPERATIONS } from './s3/router.js';
import { DEFAULT_HTTP_LIMITS } from './http-limits.js';
import { discardBody, setRefusedBodyLimit } from './refused-body.js';

export interface AppOptions {
  volume: Volume;
  credentials: CredentialStore;
  /** The root access key (admin endpoints). */
  rootAccessKey: string;
  region: string;
  /** Virtual-host style requests under this domain (`<bucket>.<domain>`). */
  domain?: string;
  logger: Logger;
  metrics: GatewayMetrics;
  /** At most this many bytes of a refused request's remaining body are read (server/refused-body.ts). */
  refusedBodyBytes?: number;
  /** The rest of a refused request's body must arrive within this (ms): the headers timeout. */
  refusedBodyMs?: number;
  /** The replica sets' status; one that is not polled (asked on each /-/ready) when omitted. */
  sets?: SetMonitor;
}

/** Express's `app.handle` (not in its types): runs the router, then `done` (finalhandler when none is given). */
type ExpressHandle = (req: IncomingMessage, res: ServerResponse, done?: (err?: unknown) => void) => void;

/** Operation names the handlers set for logs and metrics. */
const opOf = new WeakMap<ServerResponse, string>();

/**
 * The only values the metrics' `op` label takes: the S3 router's operations, the file API's and
 * the /-/ table's operationIds, and 'unknown' (a path no route has, a request refused before it
 * was routed). A label from the request itself (its path) would let anyone grow the label set,
 * and the memory and /-/metrics with it, without bound (issue 14).
 */
export const OP_LABELS: ReadonlySet<string> = new Set<string>([
  ...S3_OPERATIONS,
  ...Object.values(FILE_OPERATIONS).flatMap((m) => Object.values(m)),
  ...Object.values(OPS_ROUTES).map((r) => r.get),
  'unknown',
]);

/** The `status` label: a status code Node knows (or 499, the client went first), else 'other'. */
function statusLabel(status: number): string {
  return status === 499 || (Number.isInteger(status) && STATUS_CODES[status] !== undefined) ? String(status) : 'other';
}

export function tagOperation(res: ServerResponse, op: string): void {
  opOf.set(res, op);
}

export function createApp(o: AppOptions): Express {
  const app = express();
  app.disable('x-powered-by');
  app.set('etag', false);
  // Every request goes through here before Express's router sees it, and ends in
  // server/error-pages.ts, never in Express's finalhandler (an HTML page, with the stack trace
  // outside production): an error that escapes a route and a request no route answered are
  // told in the API's own format (issue 14).
  const final = finalResponder(o.logger);
  const handle = (app as unknown as { handle: ExpressHandle }).handle.bind(app);
  (app as unknown as { handle: ExpressHandle }).handle = (req, res, done) => {
    // One normalized request target decides the API, the access and the route
    // (server/request-target.ts); normalized first, so the router never sees an absolute-form
    // target (`GET http://host/...`, which it fails to parse and answers with its own 404).
    normalizeRequest(req);
    // Never let a browser take object bytes (or an error) for another type than the one sent:
    // every response of every API says so (issue 14; https://fetch.spec.whatwg.org/#x-content-type-options-header).
    res.setHeader('x-content-type-options', 'nosniff');
    handle(req, res, done ?? ((err?: unknown) => final(req, res, err)));
  };
  // A body nobody read by the time the answer is complete is read only up to a bound: Node would
  // otherwise read it all to keep the connection (server/refused-body.ts). Prepended, so that it
  // runs before Node's own end-of-response handling.
  const bodyBound = o.refusedBodyBytes ?? DEFAULT_HTTP_LIMITS.refusedBodyBytes;
  const bodyDeadline = o.refusedBodyMs ?? DEFAULT_HTTP_LIMITS.headersTimeoutMs;
  app.use((req, res, next) => {
    setRefusedBodyLimit(req, bodyBound, bodyDeadline);
    res.prependListener('finish', () => discardBody(req, res));
    next();
  });

  // One log line and one set of metrics per request.
  app.use((req, res, next) => {
    const t0 = process.hrtime.bigint();
    const api = requestTarget(req).api;
    const len = Number(req.headers['content-length'] ?? 0);
    if (len > 0) o.metrics.bytesIn.inc({ api }, len);
    let out = 0;
    const write = res.write.bind(res) as (...a: unknown[]) => boolean;
    res.write = ((chunk: unknown, ...rest: unknown[]) => {
      if (chunk && typeof (chunk as { length?: unknown }).length === 'number') out += (chunk as { length: number }).length;
      return write(chunk, ...rest);
    }) as typeof res.write;
    res.on('close', () => {
      const seconds = Number(process.hrtime.bigint() - t0) / 1e9;
      const tagged = opOf.get(res);
      const op = tagged !== undefined && OP_LABELS.has(tagged) ? tagged : 'unknown';
      const status = res.writableFinished ? res.statusCode : 499;
      o.metrics.requests.inc({ api, op, status: statusLabel(status) });
      o.metrics.latency.observe({ api, op }, seconds);
      o.metrics.bytesOut.inc({ api }, out);
      if (api !== 'ops' || status >= 500) {
        o.logger.info({ reqId: res.getHeader('x-amz-request-id'), method: req.method, url: req.url, api, op, status, ms: Math.round(seconds * 1000) }, 'request');
      }
    });
    if (!res.hasHeader('x-amz-request-id')) res.setHeader('x-amz-request-id', randomPooled(8).toString('hex').toUpperCase());
    next();
  });

  // Requests to /-/ and /fs/ are checked against openapi.yaml (server/files/validation.ts), after
  // authentication: the /-/ table says which routes need the root key, /fs/ authenticates itself.
  const validate = openApiValidator();
  app.use(opsHandler({
    volume: o.volume, metrics: o.metrics, credentials: o.credentials, rootAccessKey: o.rootAccessKey,
    spec: openApiDocument(), validate, tag: tagOperation, sets: o.sets ?? new SetMonitor(o.volume, o.metrics, o.logger),
  }));
  const files = fileApiHandler({ volume: o.volume, credentials: o.credentials, validate, log: o.logger, tag: tagOperation });
  app.use((req, res, next) => {
    if (requestTarget(req).api === 'fs') files(req, res);
    else next();
  });
  app.use(s3Handler({ volume: o.volume, credentials: o.credentials, region: o.region, domain: o.domain, log: o.logger, tag: tagOperation }));
  return app;
}
