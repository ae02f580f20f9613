/**
 * The REST file API under /fs/ (docs/FILE-API.md, openapi.yaml): the volume as a file tree for
 * curl, on the same namespace as S3 (bucket `b`, key `k` is /fs/b/k). HTTP Basic with an S3
 * access key and secret, or SigV4. This is the first slice: read, stat, list, write (atomic
 * replace), mkdir, delete.
 */
import { createHash } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { pipeline } from 'node:stream/promises';
import { Dht2Error } from '../../dht2-core/errors.js';
import type { Attrs } from '../../dht2-core/protocol/fops.js';
import type { Volume } from '../../dht2-core/volume.js';
import { authenticate, payloadVerifier, type AuthResult, type CredentialStore } from '../auth/index.js';
import { constantTimeEqual } from '../auth/common.js';
import { parseRange } from '../s3/object.js';
import { fileError } from './errors.js';

export interface FileApiOptions {
  volume: Volume;
  credentials: CredentialStore;
}

class HttpError extends Error {
  constructor(readonly status: number, readonly code: string, message: string) { super(message); }
}

/** Basic credentials `access-key:secret`, or any S3 signature; returns the access key. */
function authorize(req: IncomingMessage, rawPath: string, rawQuery: string, creds: CredentialStore): Pick<AuthResult, 'accessKeyId' | 'payload'> {
  const h = req.headers.authorization;
  if (typeof h === 'string' && h.startsWith('Basic ')) {
    const dec = Buffer.from(h.slice(6), 'base64').toString('utf8');
    const i = dec.indexOf(':');
    const id = i < 0 ? dec : dec.slice(0, i);
    const secret = creds.secretFor(id);
    if (secret === undefined || i < 0 || !constantTimeEqual(secret, dec.slice(i + 1))) throw new HttpError(401, 'EACCES', 'wrong access key or secret');
    return { accessKeyId: id, payload: { kind: 'unsigned' } };
  }
  if (h === undefined && !/X-Amz-Signature=|Signature=/.test(rawQuery)) throw new HttpError(401, 'EACCES', 'credentials required (curl -u ACCESS_KEY:SECRET)');
  try {
    return authenticate({ method: req.method ?? 'GET', rawPath, rawQuery, headers: req.headers }, creds);
  } catch (e) {
    throw new HttpError(403, 'EACCES', (e as Error).message);
  }
}

function etagOf(a: Attrs): string {
  return `"${createHash('md5').update(`${a.gfid}:${a.size}:${a.mtimeMs}`).digest('hex')}"`;
}

function statJson(a: Attrs): Record<string, unknown> {
  const o: Record<string, unknown> = {
    type: a.type, size: a.type === 'file' ? a.size : 0, mode: `0${a.mode.toString(8)}`, uid: a.uid, gid: a.gid, nlink: a.nlink,
    mtime: new Date(a.mtimeMs).toISOString(), atime: new Date(a.atimeMs).toISOString(), ctime: new Date(a.ctimeMs).toISOString(),
    btime: new Date(a.btimeMs).toISOString(), gfid: a.gfid,
  };
  if (a.target !== undefined) o.target = a.target;
  return o;
}

function sendJson(res: ServerResponse, status: number, body: unknown): void {
  const s = JSON.stringify(body);
  res.statusCode = status;
  res.setHeader('content-type', 'application/json');
  res.setHeader('content-length', Buffer.byteLength(s));
  res.end(s);
}

const flag = (q: URLSearchParams, k: string) => q.has(k) && q.get(k) !== '0' && q.get(k) !== 'false';

/** Handles one request under /fs/; `rawUrl` starts with /fs. */
export function fileApiHandler(o: FileApiOptions): (req: IncomingMessage, res: ServerResponse) => void {
  return (req, res) => {
    const raw = req.url ?? '/fs';
    const qi = raw.indexOf('?');
    const rawPath = qi < 0 ? raw : raw.slice(0, qi);
    const rawQuery = qi < 0 ? '' : raw.slice(qi + 1);
    let path = '/';
    handle().catch((e: unknown) => {
      if (!req.complete) req.resume();
      if (res.headersSent) { res.destroy(); return; }
      if (e instanceof HttpError) {
        if (e.status === 401) res.setHeader('www-authenticate', 'Basic realm="dht2"');
        sendJson(res, e.status, { error: e.code, message: e.message, path });
        return;
      }
      const fe = fileError(e, path);
      sendJson(res, fe.status, fe.body);
    });

    async function handle(): Promise<void> {
      try {
        path = decodeURIComponent(rawPath.slice('/fs'.length)) || '/';
      } catch {
        throw new HttpError(400, 'EINVAL', 'the path is not valid percent-encoding');
      }
      const auth = authorize(req, rawPath, rawQuery, o.credentials);
      const q = new URLSearchParams(rawQuery);
      const v = o.volume;
      switch (req.method) {
        case 'GET': case 'HEAD': {
          const a = await v.stat(path);
          if (a.type === 'dir' || flag(q, 'stat')) {
            if (flag(q, 'stat') || req.method === 'HEAD') {
              if (req.method === 'HEAD') { res.statusCode = 200; res.setHeader('x-dht2-type', a.type); res.end(); return; }
              return sendJson(res, 200, { path, ...statJson(a) });
            }
            const limit = Math.min(10000, Math.max(1, Number(q.get('limit') ?? 1000) || 1000));
            const page = await v.readdir(path, { after: q.get('cursor') ?? undefined, limit, plus: flag(q, 'detail') });
            return sendJson(res, 200, {
              path,
              entries: page.entries.map((e) => (e.attrs ? { name: e.name, ...statJson(e.attrs) } : { name: e.name, type: e.type })),
              ...(page.eof ? {} : { cursor: page.entries.at(-1)?.name }),
            });
          }
          const etag = etagOf(a);
          res.setHeader('etag', etag);
          res.setHeader('last-modified', new Date(a.mtimeMs).toUTCString());
          res.setHeader('accept-ranges', 'bytes');
          res.setHeader('content-type', 'application/octet-stream');
          res.setHeader('x-dht2-type', a.type);
          const inm = req.headers['if-none-match'];
          if (inm !== undefined && inm.split(',').map((s) => s.trim()).includes(etag)) { res.statusCode = 304; res.end(); return; }
          const ims = req.headers['if-modified-since'];
          if (inm === undefined && ims && Math.floor(a.mtimeMs / 1000) <= Math.floor(Date.parse(ims) / 1000)) { res.statusCode = 304; res.end(); return; }
          const range = parseRange(req.headers.range, a.size);
          if (range === 'unsatisfiable') {
            res.setHeader('content-range', `bytes */${a.size}`);
            throw new HttpError(416, 'EINVAL', 'range not satisfiable');
          }
          res.statusCode = range ? 206 : 200;
          if (range) res.setHeader('content-range', `bytes ${range.start}-${range.end}/${a.size}`);
          res.setHeader('content-length', range ? range.end - range.start + 1 : a.size);
          if (req.method === 'HEAD' || a.size === 0) { res.end(); return; }
          const body = await v.readAt(a, range ? { offset: range.start, length: range.end - range.start + 1 } : {});
          await pipeline(body, res).catch(() => res.destroy());
          return;
        }
        case 'PUT': {
          if (flag(q, 'mkdir')) {
            req.resume();
            const a = await v.mkdir(path, { parents: flag(q, 'parents') });
            return sendJson(res, 201, { path, ...statJson(a) });
          }
          const idx = path.lastIndexOf('/');
          const parentPath = path.slice(0, idx) || '/';
          const name = path.slice(idx + 1);
          if (!name) throw new HttpError(400, 'EINVAL', 'PUT needs a file path, not a directory');
          const parent = flag(q, 'parents') ? await v.mkdir(parentPath, { parents: true }) : await v.stat(parentPath);
          if (parent.type !== 'dir') throw new Dht2Error('ENOTDIR', `${parentPath} is not a directory`, { path: parentPath });
          const verifier = payloadVerifier(auth.payload, req.headers).stream;
          pipeline(req, verifier).catch((e: unknown) => verifier.destroy(e as Error));
          const createOnly = flag(q, 'create-only') || req.headers['if-none-match'] === '*';
          const a = await v.writeFileAt(parent.gfid, name, verifier, { createOnly });
          return sendJson(res, 201, { path, ...statJson(a) });
        }
        case 'DELETE': {
          req.resume();
          const a = await v.stat(path);
          if (a.type === 'dir') {
            if (flag(q, 'recursive')) await removeTree(v, path);
            else await v.rmdir(path);
          } else {
            await v.unlink(path);
          }
          res.statusCode = 204;
          res.end();
          return;
        }
        default:
          req.resume();
          throw new HttpError(405, 'EINVAL', `${req.method} is not supported here`);
      }
    }
  };
}

/** rm -r: children first, page by page. */
async function removeTree(v: Volume, path: string): Promise<void> {
  for (;;) {
    const page = await v.readdir(path, { limit: 1000 });
    for (const e of page.entries) {
      const p = `${path === '/' ? '' : path}/${e.name}`;
      if (e.type === 'dir') await removeTree(v, p);
      else await v.unlink(p).catch((err: unknown) => { if (!(err instanceof Dht2Error && err.errno === 'ENOENT')) throw err; });
    }
    if (page.eof) break;
  }
  if (path !== '/') await v.rmdir(path);
}
