/**
 * Run-time validation of /fs/ and /-/ requests against openapi.yaml (express-openapi-validator,
 * OpenAPI 3.1): path, method, query parameters (names, types, enums), headers and the request's
 * content type. Bodies are never read here: a file body is a stream the handler consumes, so
 * there is no body parser and no file uploader (multer) in front of the handlers. S3 requests
 * never come here (server/app.ts routes only /fs and /-/ to it).
 *
 * Two adjustments make the library see what the spec means:
 * - `/fs/{path}` is one parameter that spans segments (`docs/2026/notes.txt`), which OpenAPI
 *   path templates cannot say. The validator is shown the URL with the slashes of the path
 *   percent-encoded (`/fs/docs%2F2026%2Fnotes.txt`), so `{path}` matches the whole of it, and
 *   the root in either spelling (`/fs`, `/fs/`, `/fs//`) as `/fs`.
 * - The query parameters of a presigned URL (`X-Amz-*`, and SigV2's `AWSAccessKeyId`,
 *   `Expires`, `Signature`) belong to the signature, which the gateway checked before: they are
 *   left out of the view the validator gets, as the spec describes them in `securitySchemes`.
 *
 * The request itself is unchanged for the handler (its URL is restored after validation).
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import type { NextFunction, Request, Response } from 'express';
import { middleware as openApiMiddleware } from 'express-openapi-validator';
import { HttpError } from './http.js';
import { percentDecode, splitTarget } from '../request-target.js';

/** openapi.yaml at the root of the repository (and of the image: /app/openapi.yaml). */
export const OPENAPI_PATH = fileURLToPath(new URL('../../../openapi.yaml', import.meta.url));

/** The spec's bytes, for `GET /-/openapi.yaml`. */
export function openApiDocument(): Buffer {
  return readFileSync(OPENAPI_PATH);
}

/** Query parameters that belong to a presigned URL's signature, not to the operation. */
const isSignatureParam = (name: string) => /^x-amz-/i.test(name) || name === 'AWSAccessKeyId' || name === 'Expires' || name === 'Signature';

/** The URL the validator is shown: path slashes of `/fs/{path}` encoded, signature parameters left out. */
export function validatorUrl(url: string): string {
  const { rawPath, rawQuery: query } = splitTarget(url);
  let path = rawPath;
  if (path === '/fs' || path.startsWith('/fs/')) {
    const rest = path.slice('/fs/'.length);
    path = /^\/*$/.test(rest) ? '/fs' : `/fs/${rest.replaceAll('/', '%2F')}`;
  }
  const kept = query.split('&').filter((p) => {
    const name = p.split('=', 1)[0]!;
    return p !== '' && !isSignatureParam(percentDecode(name) ?? name);
  });
  return kept.length > 0 ? `${path}?${kept.join('&')}` : path;
}

type Middleware = (req: Request, res: Response, next: NextFunction) => unknown;

/** What the library throws (its HttpError): a status, a message, the failing items, an Allow header for 405. */
interface LibraryError {
  status?: number;
  message?: string;
  errors?: Array<{ path?: string; message?: string }>;
  headers?: { Allow?: string };
}

/** The library's error as the file API's: 405 stays 405, 404 is ENOENT, any other failure 400 EINVAL. */
function toFailure(e: unknown, method: string): HttpError | undefined {
  const le = e as LibraryError;
  if (typeof le?.status !== 'number') return undefined;
  if (le.status === 405) return new HttpError(405, 'EINVAL', `${method} is not supported here`, le.headers?.Allow);
  if (le.status === 404) return new HttpError(404, 'ENOENT', 'no such operation (see /-/openapi.yaml)');
  const items = (le.errors ?? []).map((i) => {
    const m = /^\/?(query|headers|params)\/(.+)$/.exec(i.path ?? '');
    const msg = i.message ?? 'is invalid';
    if (!m || msg.includes(`'${m[2]}'`)) return msg;
    return `${{ query: 'query parameter', headers: 'header', params: 'path' }[m[1] as 'query']} ${m[1] === 'params' ? '' : `${m[2]} `}${msg}`;
  });
  const message = items.length > 0 ? items.join('; ') : (le.message ?? 'invalid request');
  return new HttpError(400, 'EINVAL', `invalid request: ${message}`);
}

/**
 * A validator of requests against openapi.yaml: resolves when the request conforms, rejects
 * with a HttpError when it does not. `req` must be an express request (the library
 * reads `req.app`, `req.path`, `req.query`).
 */
export function openApiValidator(): (req: IncomingMessage, res: ServerResponse) => Promise<void> {
  const chain = openApiMiddleware({
    apiSpec: OPENAPI_PATH,
    validateApiSpec: true,
    validateRequests: { allowUnknownQueryParameters: false },
    validateResponses: false,
    // The gateway authenticates every request itself, before validation (Basic, SigV4, SigV2).
    validateSecurity: false,
    // Never read a body: file data and forms are streams for the handlers.
    fileUploader: false,
    // Match the URL as rewritten by validatorUrl (not req.originalUrl).
    useRequestUrl: true,
  }) as unknown as Middleware[];
  return (req, res) => {
    const r = req as Request;
    const original = { url: r.url, originalUrl: r.originalUrl, method: r.method };
    r.url = r.originalUrl = validatorUrl(r.url);
    // HEAD of an operational endpoint is its GET without the body (RFC 9110 §9.3.2; load
    // balancers probe health with HEAD): checked as the GET the spec describes.
    if (r.method === 'HEAD' && original.url.startsWith('/-/')) r.method = 'GET';
    const restore = (): void => { Object.assign(r, original); };
    return new Promise<void>((resolve, reject) => {
      let i = 0;
      const next = (err?: unknown): void => {
        if (err !== undefined && err !== null) { reject(err); return; }
        const mw = chain[i++];
        if (!mw) { resolve(); return; }
        try {
          const pending = mw(r, res as Response, next);
          if (pending instanceof Promise) pending.catch(reject);
        } catch (e) {
          reject(e);
        }
      };
      next();
    }).then(restore, (e: unknown) => {
      restore();
      throw toFailure(e, req.method ?? 'GET') ?? e;
    });
  };
}
