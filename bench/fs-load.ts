/**
 * A load generator for the REST file API (`/fs/`, docs/FILE-API.md): `count` files of `size`
 * bytes in one directory, at a fixed concurrency, over an undici Pool of keep-alive HTTP/1.1
 * connections with HTTP Basic credentials (an S3 key and secret), phase by phase:
 *
 *  - put:    PUT /fs/<dir>/<name> with the bytes (streamed from one buffer), 201 expected;
 *  - get:    GET /fs/<dir>/<name>, drained and counted;
 *  - stat:   GET /fs/<dir>/<name>?stat=1 (JSON attributes);
 *  - list:   `walks` full listings of the directory, GET /fs/<dir>/?detail=1&limit=1000 and then
 *            each `cursor` (op = page; entries/s in `listed`);
 *  - delete: DELETE /fs/<dir>/<name>, 204 expected.
 *
 * The directory is made first (PUT ?mkdir=1&parents=1); the caller removes the tree.
 */
import { randomBytes } from 'node:crypto';
import { performance } from 'node:perf_hooks';
import { Readable } from 'node:stream';
import { Pool, type Dispatcher } from './undici.js';
import { PhaseRun, Progress, workers, type PhaseResult } from './load-phase.js';
import type { PhaseHooks } from './measure.js';
import { byteChunks, drain } from './util.js';

export type FsPhase = 'put' | 'get' | 'stat' | 'list' | 'delete';
const ORDER: FsPhase[] = ['put', 'get', 'stat', 'list', 'delete'];
const MiB = 1024 * 1024;
const LIST_LIMIT = 1000;

export interface FsLoadOptions {
  /** The gateway, e.g. http://127.0.0.1:9000. */
  endpoint: string;
  accessKey: string;
  secretKey: string;
  /** Volume path of the directory, e.g. `/fsbench/small` (its first component is a bucket). */
  dir: string;
  size: number;
  count: number;
  concurrency: number;
  phases: readonly FsPhase[];
  /** Full walks of a list phase (default 3). */
  listWalks?: number;
  progress?: boolean;
  hooks?: PhaseHooks<FsPhase>;
}

/** `/fs` + the path, each component percent-encoded. */
function fsPath(path: string, query = ''): string {
  return `/fs${path.split('/').map(encodeURIComponent).join('/')}${query ? `?${query}` : ''}`;
}

async function expect(what: string, res: Dispatcher.ResponseData, ...status: number[]): Promise<void> {
  if (status.includes(res.statusCode)) return;
  const text = await res.body.text().catch(() => '');
  throw new Error(`${what}: HTTP ${res.statusCode} ${text.slice(0, 200)}`);
}

/** A file-API client over one undici Pool. */
export class FsClient {
  private readonly pool: Pool;
  private readonly auth: string;

  constructor(endpoint: string, accessKey: string, secretKey: string, connections: number) {
    this.pool = new Pool(new URL(endpoint).origin, {
      connections: Math.max(1, connections) + 2, pipelining: 1, keepAliveTimeout: 60_000, headersTimeout: 300_000, bodyTimeout: 300_000,
    });
    this.auth = `Basic ${Buffer.from(`${accessKey}:${secretKey}`).toString('base64')}`;
  }

  request(method: Dispatcher.HttpMethod, path: string, query = '', body?: Buffer | Readable, headers: Record<string, string> = {}): Promise<Dispatcher.ResponseData> {
    return this.pool.request({ method, path: fsPath(path, query), headers: { authorization: this.auth, ...headers }, body: body ?? null, reset: false });
  }

  /** mkdir -p. */
  async mkdirs(path: string): Promise<void> {
    const res = await this.request('PUT', path, 'mkdir=1&parents=1');
    await expect(`mkdir ${path}`, res, 201, 200);
    await res.body.dump();
  }

  /** rm -r (a missing path is fine). */
  async removeTree(path: string): Promise<void> {
    const res = await this.request('DELETE', path, 'recursive=1');
    await expect(`rm -r ${path}`, res, 204, 404);
    await res.body.dump();
  }

  close(): Promise<void> {
    return this.pool.close();
  }
}

/** Runs the phases; see the file comment. */
export async function runFsLoad(o: FsLoadOptions): Promise<Array<PhaseResult<FsPhase>>> {
  const c = new FsClient(o.endpoint, o.accessKey, o.secretKey, o.concurrency);
  const chunk = randomBytes(Math.max(1, Math.min(o.size, MiB)));
  const name = (i: number): string => `${o.dir}/f${String(i).padStart(7, '0')}`;
  const results: Array<PhaseResult<FsPhase>> = [];
  try {
    await c.mkdirs(o.dir);
    for (const phase of ORDER.filter((p) => o.phases.includes(p))) {
      await o.hooks?.beforePhase(phase);
      const walks = o.listWalks ?? 3;
      const progress = new Progress(o.progress ?? false, `fs ${phase}`, phase === 'list' ? walks * Math.ceil(o.count / LIST_LIMIT) : o.count);
      const run = new PhaseRun(phase, undefined, undefined, progress);
      let extra: Partial<PhaseResult<FsPhase>> = {};
      try {
        if (phase === 'list') {
          let entries = 0;
          let w = 0;
          await workers(Math.min(o.concurrency, walks), run, () => (w < walks ? w++ : undefined), async () => {
            let cursor: string | undefined;
            let seen = 0;
            do {
              const ok = await run.op(async () => {
                const res = await c.request('GET', `${o.dir}/`, `detail=1&limit=${LIST_LIMIT}${cursor === undefined ? '' : `&cursor=${encodeURIComponent(cursor)}`}`);
                await expect(`list ${o.dir}/`, res, 200);
                const page = (await res.body.json()) as { entries: unknown[]; cursor?: string };
                seen += page.entries.length;
                cursor = page.cursor;
                return 0;
              });
              if (!ok) return;
            } while (cursor !== undefined);
            if (seen !== o.count) run.fail(`list ${o.dir}/: ${seen} entries, expected ${o.count}`);
            entries += seen;
          });
          const seconds = (performance.now() - run.t0) / 1000;
          extra = { listed: { keys: entries, prefixes: 0, keysPerSec: seconds > 0 ? entries / seconds : 0 } };
        } else {
          let i = 0;
          await workers(o.concurrency, run, () => (i < o.count ? i++ : undefined), async (n) => {
            await run.op(() => one(phase, name(n)));
          });
        }
      } finally {
        progress.stop();
      }
      const r = run.result(extra);
      results.push(r);
      o.hooks?.afterPhase(phase, r);
    }
  } finally {
    await c.close();
  }
  return results;

  async function one(phase: Exclude<FsPhase, 'list'>, path: string): Promise<number> {
    switch (phase) {
      case 'put': {
        const body = o.size <= chunk.length ? chunk.subarray(0, o.size)
          : Readable.from(byteChunks(o.size, chunk), { objectMode: false, highWaterMark: chunk.length });
        const res = await c.request('PUT', path, '', body, { 'content-length': String(o.size), 'content-type': 'application/octet-stream' });
        await expect(`PUT ${path}`, res, 201, 200);
        await res.body.dump();
        return o.size;
      }
      case 'get': {
        const res = await c.request('GET', path);
        await expect(`GET ${path}`, res, 200);
        const got = await drain(res.body);
        if (got !== o.size) throw new Error(`GET ${path}: ${got} bytes, expected ${o.size}`);
        return got;
      }
      case 'stat': {
        const res = await c.request('GET', path, 'stat=1');
        await expect(`stat ${path}`, res, 200);
        const a = (await res.body.json()) as { size?: number };
        if (a.size !== o.size) throw new Error(`stat ${path}: size ${String(a.size)}, expected ${o.size}`);
        return 0;
      }
      case 'delete': {
        const res = await c.request('DELETE', path);
        await expect(`DELETE ${path}`, res, 204);
        await res.body.dump();
        return 0;
      }
    }
  }
}
