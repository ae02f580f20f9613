/**
 * Small HTTP helpers of the REST file API: JSON replies, the stat JSON shape, the query string
 * and the parsers of the query parameters every route shares.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Attrs } from '../../dht2-core/index.js';
import { META_XATTR, decodeMeta } from '../objects/index.js';

/** A refusal of the API itself (not an errno of the volume): status, error code, message; `allow` for a 405. */
export class HttpError extends Error {
  constructor(readonly status: number, readonly code: string, message: string, readonly allow?: string) { super(message); }
}

export const bad = (message: string): HttpError => new HttpError(400, 'EINVAL', message);

/**
 * The stat JSON of the file API. A directory that carries an S3 object at its own name (key `a`
 * beside `a/b`, dht2-core fops/dirobj.ts) shows it as `object`: its GFID, and with `carried`
 * (the object's attributes) its size and mtime too.
 */
export function statJson(a: Attrs, carried?: Attrs): Record<string, unknown> {
  const o: Record<string, unknown> = {
    type: a.type, size: a.type === 'file' ? a.size : 0, mode: `0${a.mode.toString(8)}`, uid: a.uid, gid: a.gid, nlink: a.nlink,
    mtime: new Date(a.mtimeMs).toISOString(), atime: new Date(a.atimeMs).toISOString(), ctime: new Date(a.ctimeMs).toISOString(),
    btime: new Date(a.btimeMs).toISOString(), gfid: a.gfid,
  };
  if (a.target !== undefined) o.target = a.target;
  // What S3 shows of the file too (kept by S3 PUTs and by this API's PUT and uploads).
  const m = decodeMeta(a.xattrs?.[META_XATTR]);
  if (m) {
    o.contentType = m.contentType;
    if (m.meta) o.metadata = m.meta;
  }
  if (a.obj !== undefined) {
    o.object = carried?.gfid === a.obj
      ? { gfid: a.obj, size: carried.size, mtime: new Date(carried.mtimeMs).toISOString() }
      : { gfid: a.obj };
  }
  return o;
}

export function sendJson(res: ServerResponse, status: number, body: unknown): void {
  const s = JSON.stringify(body);
  res.statusCode = status;
  res.setHeader('content-type', 'application/json');
  res.setHeader('content-length', Buffer.byteLength(s));
  res.end(s);
}

export function sendBytes(res: ServerResponse, status: number, type: string, body: Buffer | string): void {
  res.statusCode = status;
  res.setHeader('content-type', type);
  res.setHeader('content-length', Buffer.byteLength(body));
  res.end(body);
}

/**
 * The query string, each name and value percent-decoded once. Unlike URLSearchParams, `+` is a
 * plus sign (curl sends names with `+` as they are), not a space.
 */
export function parseQuery(raw: string): URLSearchParams {
  const q = new URLSearchParams();
  for (const pair of raw.split('&')) {
    if (pair === '') continue;
    const i = pair.indexOf('=');
    try {
      q.append(decodeURIComponent(i < 0 ? pair : pair.slice(0, i)), i < 0 ? '' : decodeURIComponent(pair.slice(i + 1)));
    } catch {
      throw bad('the query string is not valid percent-encoding');
    }
  }
  return q;
}

/** A switch: on when present with any value except `0` and `false`. */
export const flag = (q: URLSearchParams, k: string): boolean => q.has(k) && q.get(k) !== '0' && q.get(k) !== 'false';

/** A required parameter. */
export function required(q: URLSearchParams, k: string, what: string): string {
  const v = q.get(k);
  if (v === null || v === '') throw bad(`${what} needs ?${k}=`);
  return v;
}

/** A byte count or offset: decimal digits, at most 2^53 - 1. */
export function byteCount(v: string, k: string): number {
  if (!/^\d{1,16}$/.test(v) || !Number.isSafeInteger(Number(v))) throw bad(`${k} must be a whole number of bytes, not ${JSON.stringify(v)}`);
  return Number(v);
}

/** Permission bits in octal (`640`, `0640`, `4755`). */
export function parseMode(v: string): number {
  const m = /^(?:0o?)?([0-7]{1,4})$/.exec(v);
  if (!m) throw bad(`mode must be octal permission bits such as 0644, not ${JSON.stringify(v)}`);
  return parseInt(m[1]!, 8);
}

/** A time: seconds since the epoch (fractions allowed), or an ISO 8601 / HTTP date. */
export function parseTime(v: string, k: string): number {
  if (/^-?\d+(\.\d+)?$/.test(v)) return Math.round(Number(v) * 1000);
  const t = Date.parse(v);
  if (Number.isNaN(t)) throw bad(`${k} must be seconds since the epoch or an ISO 8601 date, not ${JSON.stringify(v)}`);
  return t;
}

/** A volume path from a query parameter: leading `/` added, `//` and a trailing `/` kept as given. */
export function volumePath(v: string): string {
  return v.startsWith('/') ? v : `/${v}`;
}

/** Parent path and last name of a volume path (`/a/b/c` -> `/a/b`, `c`); empty name for the root. */
export function splitLast(path: string): { parentPath: string; name: string } {
  const trimmed = path.replace(/\/+$/, '');
  const idx = trimmed.lastIndexOf('/');
  return { parentPath: trimmed.slice(0, idx) || '/', name: trimmed.slice(idx + 1) };
}

export { readSmall } from '../../dht2-core/index.js';

export function isMultipart(req: IncomingMessage): boolean {
  return /^multipart\/form-data\s*(;|$)/i.test(req.headers['content-type'] ?? '');
}
