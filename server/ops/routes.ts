/**
 * The operational endpoints under /-/ (openapi.yaml, tag `operations`): one table says which
 * paths exist, the operationId of each and the credentials each needs, and one handler decides
 * access and dispatches from it, on the path server/request-target.ts normalized. Matching is
 * exact and case-sensitive: `/-/ADMIN/volume` or `/-/admin/volume/` is no route (404), never a
 * way around the root check (issue 14).
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Volume } from '../../dht2-core/index.js';
import type { CredentialStore } from '../auth/index.js';
import { HttpError, sendBytes, sendJson } from '../files/http.js';
import { requestTarget } from '../request-target.js';
import { discardBody } from '../refused-body.js';
import { adminVolume, isRootRequest } from './admin.js';
import type { GatewayMetrics } from './metrics.js';
import type { SetMonitor } from './sets.js';

/** Who may call an operation: anyone, or only the root access key (Basic or an S3 signature). */
export type OpsAccess = 'public' | 'root';

/** Every /-/ operation: its GET's operationId in openapi.yaml and the credentials it needs. */
export const OPS_ROUTES = {
  '/-/health': { get: 'health', access: 'public' },
  '/-/ready': { get: 'ready', access: 'public' },
  '/-/metrics': { get: 'metrics', access: 'public' },
  '/-/openapi.yaml': { get: 'openapi', access: 'public' },
  '/-/admin/volume': { get: 'adminVolume', access: 'root' },
} as const satisfies Record<string, { get: string; access: OpsAccess }>;

export type OpsPath = keyof typeof OPS_ROUTES;

export interface OpsOptions {
  volume: Volume;
  metrics: GatewayMetrics;
  credentials: CredentialStore;
  rootAccessKey: string;
  /** openapi.yaml's bytes. */
  spec: Buffer;
  /** Checks the request against openapi.yaml (methods, query); rejects with a HttpError. */
  validate: (req: IncomingMessage, res: ServerResponse) => Promise<void>;
  /** Records the operation of a request (its operationId), for logs and metrics. */
  tag?: (res: ServerResponse, op: string) => void;
  /** The replica sets' status (a replicated volume's). */
  sets: SetMonitor;
}

const isOpsPath = (p: string): p is OpsPath => Object.hasOwn(OPS_ROUTES, p);

/**
 * Handles every request whose normalized path is under /-/ (the others go to `next`): 404 for a
 * path not in OPS_ROUTES, 401 without the credentials the route needs, then validation against
 * openapi.yaml (405 for another method), then the operation. Errors are JSON
 * `{error, message, path}`.
 */
export function opsHandler(o: OpsOptions): (req: IncomingMessage, res: ServerResponse, next: (e?: unknown) => void) => void {
  const handlers: Record<OpsPath, (res: ServerResponse) => Promise<void> | void> = {
    // The gateway process is up; a replicated volume's degraded sets are named (ARCHITECTURE.md
    // §10.8): a member down, lagging, diverged. Still 200: the volume serves.
    '/-/health': async (res) => {
      if (o.volume.replica === 1) { sendJson(res, 200, { status: 'ok' }); return; }
      const sets = await o.sets.current(2000);
      const degraded = sets.filter((s) => s.degraded.length > 0).map((s) => ({ set: s.id, reasons: s.degraded }));
      sendJson(res, 200, { status: degraded.length === 0 ? 'ok' : 'degraded', degraded });
    },
    // Ready while every brick answers with the right identity; on a replicated volume, while
    // every set has a primary (so a majority) that answered within the last 2 s (§10.8).
    '/-/ready': async (res) => {
      const bricks = await o.volume.brickHealth();
      const brickList = bricks.map((b) => ({ id: b.id, role: b.role, url: b.url, up: b.up, ...(b.problem ? { problem: b.problem } : {}) }));
      if (o.volume.replica === 1) {
        const missing = bricks.filter((b) => !b.up || b.problem);
        sendJson(res, missing.length === 0 ? 200 : 503, { status: missing.length === 0 ? 'ready' : 'unavailable', bricks: brickList });
        return;
      }
      const sets = await o.sets.current(2000);
      const wrong = bricks.filter((b) => b.up && b.problem);
      const ready = wrong.length === 0 && sets.every((s) => s.available);
      sendJson(res, ready ? 200 : 503, {
        status: ready ? 'ready' : 'unavailable',
        bricks: brickList,
        sets: sets.map((s) => ({ id: s.id, role: s.role, available: s.available, ...(s.primary ? { primary: s.primary, term: s.term } : {}), degraded: s.degraded })),
      });
    },
    '/-/metrics': async (res) => sendBytes(res, 200, o.metrics.registry.contentType, await o.metrics.registry.metrics()),
    '/-/openapi.yaml': (res) => sendBytes(res, 200, 'application/yaml', o.spec),
    '/-/admin/volume': async (res) => sendJson(res, 200, await adminVolume(o.volume)),
  };
  return (req, res, next) => {
    const t = requestTarget(req);
    if (t.api !== 'ops') { next(); return; }
    const path = t.path;
    const serve = async (): Promise<void> => {
      if (!isOpsPath(path)) throw new HttpError(404, 'ENOENT', 'no such operation (see /-/openapi.yaml)');
      const route = OPS_ROUTES[path];
      o.tag?.(res, route.get);
      // Authentication comes first, on the raw target the signature covers.
      if (route.access === 'root' && !isRootRequest(req, t, o.credentials, o.rootAccessKey)) {
        throw new HttpError(401, 'EACCES', 'the root credentials are required');
      }
      await o.validate(req, res);
      await handlers[path](res);
    };
    serve().catch((e: unknown) => {
      if (!(e instanceof HttpError)) { next(e); return; }
      discardBody(req, res);
      if (e.status === 401) res.setHeader('www-authenticate', 'Basic realm="dht2 admin"');
      if (e.allow) res.setHeader('allow', e.allow);
      sendJson(res, e.status, { error: e.code, message: e.message, path });
    });
  };
}
