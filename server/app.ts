/**
 * The gateway's HTTP application: operational endpoints under /-/ and the S3 API for
 * everything else (path-style). /-/ can never be a bucket: bucket names have 3 characters or
 * more, so neither can /fs/, the REST file API.
 */
import express, { type Express } from 'express';
import type { Logger } from 'pino';
import type { Volume } from '../dht2-core/volume.js';
import type { CredentialStore } from './auth/index.js';
import { s3Handler } from './s3/handler.js';
import { fileApiHandler } from './files/routes.js';

export interface AppOptions {
  volume: Volume;
  credentials: CredentialStore;
  region: string;
  logger: Logger;
}

export function createApp(o: AppOptions): Express {
  const app = express();
  app.disable('x-powered-by');
  app.set('etag', false);
  app.get('/-/health', (_req, res) => {
    res.json({ status: 'ok' });
  });
  app.get('/-/ready', (_req, res, next) => {
    o.volume.brickHealth().then((bricks) => {
      const missing = bricks.filter((b) => !b.up || b.problem);
      res.status(missing.length === 0 ? 200 : 503).json({
        status: missing.length === 0 ? 'ready' : 'unavailable',
        bricks: bricks.map((b) => ({ id: b.id, role: b.role, url: b.url, up: b.up, ...(b.problem ? { problem: b.problem } : {}) })),
      });
    }, next);
  });
  const files = fileApiHandler({ volume: o.volume, credentials: o.credentials });
  app.use((req, res, next) => {
    if (req.url === '/fs' || req.url.startsWith('/fs/') || req.url.startsWith('/fs?')) files(req, res);
    else next();
  });
  app.use(s3Handler({ volume: o.volume, credentials: o.credentials, region: o.region, log: o.logger }));
  return app;
}
