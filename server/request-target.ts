/**
 * The request target, normalized once for the whole gateway (issue 14): which API a request is
 * for (`/-/` operations, `/fs/` file API, S3) and, for the first two, the path their route
 * table matches. The access decision and the dispatch both read this one result, so no spelling
 * of a path (`/-/%61dmin/volume`, `//-/admin/volume`, `/fs/../-/admin/volume`, an absolute-form
 * `GET http://host/-/admin/volume`) can be routed one way and authorized another.
 *
 * Normalization (RFC 3986 §6.2.2, syntax-based):
 *  - the absolute form (`http://host/path`, RFC 9112 §3.2.2) becomes the origin form, and its
 *    authority replaces the Host header, as that section says an origin server must do;
 *  - percent-encoded unreserved characters (ALPHA DIGIT - . _ ~) are decoded (§6.2.2.2); other
 *    escapes stay as they are (`%2F` is not a `/` for routing);
 *  - runs of `/` collapse to one (the volume ignores empty segments anyway);
 *  - dot segments are removed (§5.2.4);
 *  - case is kept: matching is case-sensitive everywhere, and a path that is not in a route
 *    table exactly (`/-/ADMIN/volume`) is a 404.
 *
 * Signatures are computed over the path as sent, so authentication keeps reading `rawPath`
 * and `rawQuery`; S3 keys are literal, so the S3 API keeps the raw path too and only the
 * operational and file APIs act on the normalized one.
 */
import type { IncomingMessage } from 'node:http';

/** The three APIs the gateway serves. */
export type Api = 'ops' | 'fs' | 's3';

export interface RequestTarget {
  /** The path as received (origin form), still percent-encoded: what a signature covers. */
  rawPath: string;
  /** The query string as received, without '?'; '' when none. */
  rawQuery: string;
  /** The normalized path: what the /-/ and /fs/ route tables match. */
  path: string;
  api: Api;
}

const UNRESERVED = /%(4[1-9A-F]|5[0-9A]|6[1-9A-F]|7[0-9A]|3[0-9]|2D|2E|5F|7E)/gi;

/** RFC 3986 §5.2.4 remove_dot_segments, on a path whose `//` runs are already collapsed. */
function removeDotSegments(path: string): string {
  const out: string[] = [];
  const segs = path.split('/').slice(1);
  segs.forEach((s, i) => {
    const last = i === segs.length - 1;
    if (s === '.' || s === '..') {
      if (s === '..') out.pop();
      if (last) out.push(''); // `/a/b/..` is `/a/`: the directory
      return;
    }
    out.push(s);
  });
  return `/${out.join('/')}`;
}

/** The normalized form of a raw (origin-form) path, as described above. */
export function normalizePath(rawPath: string): string {
  const decoded = rawPath.replace(UNRESERVED, (_m, hex: string) => String.fromCharCode(parseInt(hex, 16)));
  const collapsed = `/${decoded}`.replace(/\/{2,}/g, '/');
  return removeDotSegments(collapsed);
}

/** Which API a normalized path belongs to. */
export function apiOf(path: string): Api {
  if (path === '/-' || path.startsWith('/-/')) return 'ops';
  if (path === '/fs' || path.startsWith('/fs/')) return 'fs';
  return 's3';
}

/** Splits an absolute-form target (`http://host:9000/p?q`) into its authority and the rest. */
function originForm(url: string): { authority?: string; rest: string } {
  const m = /^[A-Za-z][A-Za-z0-9+.-]*:\/\/([^/?#]*)(.*)$/s.exec(url);
  if (!m) return { rest: url };
  const rest = m[2]!;
  return { authority: m[1]!.replace(/^.*@/, ''), rest: rest.startsWith('/') ? rest : `/${rest}` };
}

/**
 * Splits an origin-form target (`/path?query`) at its first '?': the path and the query as sent,
 * neither decoded (a signature covers them so). The one place the gateway splits a target.
 */
export function splitTarget(target: string): { rawPath: string; rawQuery: string } {
  const qi = target.indexOf('?');
  return qi < 0 ? { rawPath: target, rawQuery: '' } : { rawPath: target.slice(0, qi), rawQuery: target.slice(qi + 1) };
}

/**
 * Percent-decodes a path or a part of one (RFC 3986 §2.1): every escape, '+' staying '+' as in
 * paths (it is a space only in form-encoded queries). Undefined when it is not valid UTF-8
 * percent-encoding, which each API answers in its own words.
 */
export function percentDecode(s: string): string | undefined {
  try {
    return decodeURIComponent(s);
  } catch {
    return undefined;
  }
}

/**
 * The bucket a Host header names under the configured domain (`photos.s3.example.com` with
 * domain `s3.example.com`), if any: S3's virtual-hosted style. The port is ignored and the
 * comparison is case-insensitive (host names are, RFC 3986 §3.2.2).
 */
export function virtualHostBucket(host: string | undefined, domain: string | undefined): string | undefined {
  if (!host || !domain) return undefined;
  const h = host.replace(/:\d+$/, '').toLowerCase();
  const d = domain.toLowerCase();
  return h.endsWith(`.${d}`) && h.length > d.length + 1 ? h.slice(0, -(d.length + 1)) : undefined;
}

/** Where an S3 request's bucket and key came from, decoded. */
export interface S3Address {
  /** The bucket named by the Host header (virtual-hosted style), if it named one. */
  vhost?: string;
  /** Absent for the service (ListBuckets). */
  bucket?: string;
  /** Absent (not '') when the request names the bucket only. */
  key?: string;
}

/**
 * The bucket and key an S3 request addresses (https://docs.aws.amazon.com/AmazonS3/latest/userguide/VirtualHosting.html):
 * virtual-hosted style when the Host is `<bucket>.<domain>` (the whole raw path is then the
 * key), else path style (`/<bucket>/<key>`). Both are percent-decoded as S3 does, the key
 * keeping every other character literally ('+', '//', '..': keys are not normalized). Undefined
 * for a path that is not valid percent-encoding.
 */
export function s3Address(host: string | undefined, domain: string | undefined, rawPath: string): S3Address | undefined {
  const p = rawPath.startsWith('/') ? rawPath.slice(1) : rawPath;
  const vhost = virtualHostBucket(host, domain);
  if (vhost !== undefined) {
    const key = percentDecode(p);
    if (key === undefined) return undefined;
    return key === '' ? { vhost, bucket: vhost } : { vhost, bucket: vhost, key };
  }
  if (p === '') return {};
  const i = p.indexOf('/');
  const bucket = percentDecode(i < 0 ? p : p.slice(0, i));
  if (bucket === undefined) return undefined;
  if (i < 0) return { bucket };
  const key = percentDecode(p.slice(i + 1));
  return key === undefined ? undefined : { bucket, key };
}

/** Parses a request-target: origin form or absolute form. */
export function parseTarget(url: string): RequestTarget & { authority?: string } {
  const { authority, rest } = originForm(url);
  const hash = rest.indexOf('#'); // never sent by a client; not part of the path if it is
  const noFragment = hash < 0 ? rest : rest.slice(0, hash);
  const { rawPath, rawQuery } = splitTarget(noFragment);
  const path = normalizePath(rawPath);
  return { rawPath, rawQuery, path, api: apiOf(path), ...(authority !== undefined ? { authority } : {}) };
}

const targets = new WeakMap<IncomingMessage, RequestTarget>();

/**
 * Normalizes the request's target once, at the front of the app. `req.url` becomes what the
 * API's handler reads: for /-/ and /fs/ the normalized path, for S3 the raw path (origin form);
 * the raw target stays available from `requestTarget(req)` for authentication.
 */
export function normalizeRequest(req: IncomingMessage): RequestTarget {
  const t = parseTarget(req.url ?? '/');
  if (t.authority !== undefined && t.authority !== '') req.headers.host = t.authority;
  const { authority: _a, ...target } = t;
  targets.set(req, target);
  req.url = (target.api === 's3' ? target.rawPath : target.path) + (target.rawQuery !== '' ? `?${target.rawQuery}` : '');
  return target;
}

/** The target `normalizeRequest` parsed (parsed now if it did not run). */
export function requestTarget(req: IncomingMessage): RequestTarget {
  return targets.get(req) ?? normalizeRequest(req);
}
