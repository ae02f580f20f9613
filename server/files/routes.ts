/**
 * The REST file API under /fs/ (docs/FILE-API.md, openapi.yaml): the volume as a file tree for
 * curl, on the same namespace as S3 (bucket `b`, key `k` is /fs/b/k). HTTP Basic with an S3
 * access key and secret, or SigV4. This file dispatches by method and query: read, stat,
 * list, write (atomic replace), mkdir, delete here; PATCH (offset, append, truncate), the POST
 * ?op= operations, xattrs and statfs in ops.ts; the multipart upload in upload.ts.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { pipeline } from 'node:stream/promises';
import { pipeWhole } from '../whole-body.js';
import type { Logger } from 'pino';
import { Dht2Error, isErr, type Volume } from '../../dht2-core/index.js';
import { authenticate, payloadVerifier, type AuthResult, type CredentialStore } from '../auth/index.js';
import { isBasicAuth, verifyBasicAuth } from '../auth/basic.js';
import { META_XATTR, etagOf, evaluateConditions, isReservedPath, parseRange, refuseReservedWrite } from '../objects/index.js';
import { percentDecode, requestTarget } from '../request-target.js';
import { discardBody } from '../refused-body.js';
import { fileError } from './errors.js';
import { objectHeaders, objectMetaOf, withObjectMeta } from './object-meta.js';
import { HttpError, flag, isMultipart, parseQuery, sendBytes, sendJson, statJson } from './http.js';
import { listing } from './list.js';
import { listXattrs, patch, patchMode, postOp, statfsJson, xattrEncoding, xattrFlag, xattrName, xattrValue } from './ops.js';
import { DEFAULT_UPLOAD_LIMITS, receiveUpload, type UploadLimits } from './upload.js';

export interface FileApiOptions {
  volume: Volume;
  credentials: CredentialStore;
  /** Where unexpected errors (answered 500) are logged with their cause. */
  log?: Pick<Logger, 'error'>;
  /** Limits of a multipart upload (POST with multipart/form-data); DEFAULT_UPLOAD_LIMITS otherwise. */
  uploadLimits?: Partial<UploadLimits>;
  /**
   * Checks an authenticated request before it is served (server/app.ts: against openapi.yaml);
   * rejects with an error that has `status`, `code` and `message` to refuse it.
   */
  validate?: (req: IncomingMessage, res: ServerResponse) => Promise<void>;
  /** Records the operation of a request (its operationId in FILE_OPERATIONS, or 'unknown'), for logs and metrics. */
  tag?: (res: ServerResponse, op: string) => void;
}

/**
 * The operations this API serves, by path template and method, with the operationId openapi.yaml
 * gives each: the dispatcher answers `405` to any other method (test/server/files/routes.test.ts
 * checks that this table and the spec's paths are the same).
 */
export const FILE_OPERATIONS = {
  '/fs': { get: 'getRoot', head: 'headRoot', put: 'putRoot', post: 'postRoot', delete: 'deleteRoot' },
  '/fs/{path}': { get: 'getPath', head: 'headPath', put: 'putPath', patch: 'patchPath', post: 'postPath', delete: 'deletePath' },
} as const satisfies Record<string, Partial<Record<'get' | 'head' | 'put' | 'patch' | 'post' | 'delete', string>>>;

/** The path template of a volume path: the root (`/`, `//`, …) or any other. */
export const templateOf = (path: string): keyof typeof FILE_OPERATIONS => (path.replace(/\/+/g, '') === '' ? '/fs' : '/fs/{path}');

/** Basic credentials `access-key:secret`, or any S3 signature; returns the access key. */
function authorize(req: IncomingMessage, rawPath: string, rawQuery: string, creds: CredentialStore): Pick<AuthResult, 'accessKeyId' | 'payload'> {
  const h = req.headers.authorization;
  if (isBasicAuth(h)) {
    const id = verifyBasicAuth(h, creds);
    if (id === undefined) throw new HttpError(401, 'EACCES', 'wrong access key or secret');
    return { accessKeyId: id, payload: { kind: 'unsigned' } };
  }
  if (h === undefined && !/X-Amz-Signature=|Signature=/.test(rawQuery)) throw new HttpError(401, 'EACCES', 'credentials required (curl -u ACCESS_KEY:SECRET)');
  try {
    // `curl --aws-sigv4 aws:amz:REGION:s3` as curl 7.x sends it: no x-amz-content-sha256, the
    // query string signed as written (server/auth/sigv4.ts LenientV4).
    return authenticate({ method: req.method ?? 'GET', rawPath, rawQuery, headers: req.headers }, creds, undefined, { optionalContentSha256: true, queryAsWritten: true });
  } catch (e) {
    throw new HttpError(403, 'EACCES', (e as Error).message);
  }
}

/** Handles one request under /fs/; `rawUrl` starts with /fs. */
export function fileApiHandler(o: FileApiOptions): (req: IncomingMessage, res: ServerResponse) => void {
  const uploadLimits: UploadLimits = { ...DEFAULT_UPLOAD_LIMITS, ...o.uploadLimits };
  return (req, res) => {
    // Signatures cover the target as sent; the path acted on is the normalized one, the same
    // that routed the request here (server/request-target.ts).
    const { rawPath, rawQuery, path: normalized } = requestTarget(req);
    let path = '/';
    handle().catch((e: unknown) => {
      discardBody(req, res); // not left piped into a stage nobody reads; read up to a bound (server/refused-body.ts)
      if (res.headersSent) { res.destroy(); return; }
      if (e instanceof HttpError) {
        if (e.status === 401) res.setHeader('www-authenticate', 'Basic realm="dht2"');
        if (e.allow) res.setHeader('allow', e.allow);
        sendJson(res, e.status, { error: e.code, message: e.message, path });
        return;
      }
      const fe = fileError(e, path);
      if (fe.status >= 500 && fe.status !== 503) o.log?.error({ err: e, method: req.method, path }, 'file API request failed');
      sendJson(res, fe.status, fe.body);
    });

    async function handle(): Promise<void> {
      const decoded = percentDecode(normalized.slice('/fs'.length));
      if (decoded === undefined) throw new HttpError(400, 'EINVAL', 'the path is not valid percent-encoding');
      path = decoded || '/';
      const methods: Partial<Record<string, string>> = FILE_OPERATIONS[templateOf(path)];
      o.tag?.(res, methods[(req.method ?? '').toLowerCase()] ?? 'unknown');
      const auth = authorize(req, rawPath, rawQuery, o.credentials);
      refuseReserved(path, req.method ?? 'GET');
      if (!methods[(req.method ?? '').toLowerCase()]) {
        const allow = Object.keys(methods).map((m) => m.toUpperCase()).join(', ');
        throw new HttpError(405, 'EINVAL', `${req.method} is not supported here`, allow);
      }
      if (o.validate) await o.validate(req, res);
      const q = parseQuery(rawQuery);
      const v = o.volume;
      /** The request body after the signature checks (SigV4 payload hash, aws-chunked). */
      const body = () => {
        const verifier = payloadVerifier(auth.payload, req.headers).stream;
        pipeline(req, verifier).catch((e: unknown) => verifier.destroy(e as Error));
        return verifier;
      };
      switch (req.method) {
        case 'GET': case 'HEAD': {
          if (req.method === 'GET') {
            if (flag(q, 'statfs')) {
              await v.stat(path);
              return sendJson(res, 200, statfsJson(await v.statfs()));
            }
            if (q.has('xattr')) {
              const name = xattrName(q);
              const enc = xattrEncoding(q);
              const value = await v.getxattr(path, name);
              if (enc === 'base64') return sendBytes(res, 200, 'text/plain', value.toString('base64'));
              return sendBytes(res, 200, 'application/octet-stream', value);
            }
            if (flag(q, 'xattrs')) return sendJson(res, 200, await listXattrs(v, path, flag(q, 'values')));
          }
          const a = await v.stat(path, undefined, [META_XATTR]);
          const meta = objectMetaOf(a);
          if (a.type !== 'file' || flag(q, 'stat')) {
            if (req.method === 'HEAD') { res.statusCode = 200; res.setHeader('x-dht2-type', a.type); res.end(); return; }
            if (a.type !== 'dir' || flag(q, 'stat')) return sendJson(res, 200, { path, ...statJson(a, await v.carriedObject(a)) });
            const limit = Math.min(10000, Math.max(1, Number(q.get('limit') ?? 1000) || 1000));
            return sendJson(res, 200, await listing(v, path, a.gfid, { limit, cursor: q.get('cursor') || undefined, detail: flag(q, 'detail'), recursive: flag(q, 'recursive') }));
          }
          // The same ETag S3 gives the object (its stored MD5, else from identity, size and mtime).
          const etag = etagOf(a, meta);
          // The same evaluation as S3's GET (server/objects/conditions.ts, RFC 9110 §13.2.2).
          // The file's own headers go on 200, 206 and 304 only: a JSON error (412, 416) must not
          // carry its stored Content-Encoding or Content-Disposition.
          const pre = evaluateConditions({
            ifMatch: req.headers['if-match'], ifNoneMatch: req.headers['if-none-match'],
            ifModifiedSince: req.headers['if-modified-since'], ifUnmodifiedSince: req.headers['if-unmodified-since'],
          }, etag, a.mtimeMs);
          if (pre === 'failed') throw new HttpError(412, 'ESTALE', 'precondition failed: the file is not the one If-Match or If-Unmodified-Since names');
          const range = pre === 'not-modified' ? undefined : parseRange(req.headers.range, a.size);
          if (range === 'unsatisfiable') {
            res.setHeader('content-range', `bytes */${a.size}`);
            throw new HttpError(416, 'EINVAL', 'range not satisfiable');
          }
          res.setHeader('etag', etag);
          res.setHeader('last-modified', new Date(a.mtimeMs).toUTCString());
          res.setHeader('accept-ranges', 'bytes');
          for (const [k, val] of Object.entries(objectHeaders(meta))) res.setHeader(k, val);
          res.setHeader('x-dht2-type', a.type);
          if (pre === 'not-modified') { res.statusCode = 304; res.end(); return; }
          res.statusCode = range ? 206 : 200;
          if (range) res.setHeader('content-range', `bytes ${range.start}-${range.end}/${a.size}`);
          res.setHeader('content-length', range ? range.end - range.start + 1 : a.size);
          if (req.method === 'HEAD' || a.size === 0) { res.end(); return; }
          // Replaced or removed since the stat above (a racing write): 503, the client reads again.
          // The brick stream is closed on every path: the call is cancelled when the client goes
          // before the reply, the stream destroyed when it goes during it (issue 14).
          const gone = new AbortController();
          res.once('close', () => { if (!res.writableFinished) gone.abort(); });
          const data = await v.readAt(a, range ? { offset: range.start, length: range.end - range.start + 1 } : {}, { signal: gone.signal }).catch((e: unknown) => {
            throw isErr(e, 'ESTALE') ? new Dht2Error('EAGAIN', `${path} changed while being read; read it again`) : e;
          });
          res.once('close', () => data.destroy());
          await pipeWhole(data, res);
          return;
        }
        case 'PUT': {
          if (q.has('xattr')) {
            const name = xattrName(q);
            const enc = xattrEncoding(q);
            const how = xattrFlag(q);
            await v.setxattr(path, name, await xattrValue(body(), enc), how);
            res.statusCode = 204;
            res.end();
            return;
          }
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
          const ifNoneMatch = req.headers['if-none-match'] === '*';
          const createOnly = flag(q, 'create-only') || ifNoneMatch;
          const m = withObjectMeta(body(), req.headers);
          const a = await v.writeFileAt(parent.gfid, name, m.body, { createOnly, xattrs: m.xattrs }).catch((e: unknown) => {
            // A failed precondition header is 412 (RFC 9110 §13.1.2); the create-only flag stays 409.
            if (ifNoneMatch && !flag(q, 'create-only') && isErr(e, 'EEXIST')) {
              throw new HttpError(412, 'EEXIST', `${path}: exists (If-None-Match: *)`);
            }
            throw e;
          });
          return sendJson(res, 201, { path, ...statJson(a) });
        }
        case 'PATCH': {
          const mode = patchMode(q);
          if (mode.kind === 'truncate') req.resume();
          const a = await patch(v, path, mode, body);
          return sendJson(res, 200, { path, ...statJson(a) });
        }
        case 'POST': {
          const op = q.get('op');
          if (op !== null) {
            req.resume();
            const r = await postOp(v, path, op, q);
            return sendJson(res, r.status, { path: r.path, ...statJson(r.attrs) });
          }
          if (!isMultipart(req)) throw new HttpError(400, 'EINVAL', 'POST needs ?op= or a multipart/form-data body (curl -F file=@PATH)');
          const dir = flag(q, 'parents') ? await v.mkdir(path, { parents: true }) : await v.stat(path);
          if (dir.type !== 'dir') throw new Dht2Error('ENOTDIR', `${path} is not a directory`, { path });
          const files = await receiveUpload(v, req, res, { path, gfid: dir.gfid }, {
            createOnly: flag(q, 'create-only'), limits: uploadLimits, body: auth.payload.kind === 'unsigned' ? undefined : body(),
          });
          if (files.length === 0) throw new HttpError(400, 'EINVAL', 'the form has no file (curl -F file=@PATH)');
          return sendJson(res, 201, { path, files: files.map((f) => ({ path: f.path, ...statJson(f.attrs) })) });
        }
        case 'DELETE': {
          req.resume();
          if (q.has('xattr')) {
            await v.removexattr(path, xattrName(q));
            res.statusCode = 204;
            res.end();
            return;
          }
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
          throw new Error(`${req.method} is in FILE_OPERATIONS but not dispatched`);
      }
    }
  };
}

/**
 * The reserved top-level names (server/objects/names.ts RESERVED_NAMES, `/.dht2`) are not there for
 * this API: reading them is 404 ENOENT, as for any name that does not exist, and every other
 * method (writes, mkdir, deletes, the POST operations) is 403 EPERM.
 */
function refuseReserved(path: string, method: string): void {
  if (isReservedPath(path) && (method === 'GET' || method === 'HEAD')) throw new Dht2Error('ENOENT', `${path}: no such file or directory`, { path });
  refuseReservedWrite(path);
}

/**
 * rm -r: children first, page by page; at the root, the reserved names stay. One walk with a
 * cursor (issue 14: re-reading from the start spun forever over names that could not be
 * removed); the first failure ends it.
 */
async function removeTree(v: Volume, path: string): Promise<void> {
  let after: string | undefined;
  for (;;) {
    const page = await v.readdir(path, { after, limit: 1000 });
    for (const e of page.entries) {
      const p = `${path === '/' ? '' : path}/${e.name}`;
      if (isReservedPath(p)) continue;
      if (e.type === 'dir') await removeTree(v, p);
      else await v.unlink(p).catch((err: unknown) => { if (!isErr(err, 'ENOENT')) throw err; });
    }
    if (page.eof || page.entries.length === 0) break;
    after = page.entries.at(-1)!.name;
  }
  if (path === '/') return;
  await v.rmdir(path).catch(async (e: unknown) => {
    // Empty but carrying an S3 object at its own name (key `a` beside `a/b`): that goes too.
    if (!isErr(e, 'ENOTEMPTY') || !(await v.dropCarriedObject(path))) throw e;
    await v.rmdir(path);
  });
}
