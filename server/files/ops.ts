/**
 * The namespace and attribute operations of the REST file API, one function per `?op=` of
 * POST (rename, copy, link, symlink, chmod, utimes), plus PATCH (write at an offset, append,
 * truncate), user xattrs and statfs. Each returns what the route sends; errors are thrown
 * (Dht2Error from the volume, HttpError for the API's own refusals).
 */
import type { Readable } from 'node:stream';
import { Dht2Error, isErr, type Attrs, type SetAttrs, type Volume, type VolumeStatFs } from '../../dht2-core/index.js';
import { META_XATTR, refuseReservedWrite } from '../objects/index.js';
import { forgetEtag } from './object-meta.js';
import { bad, byteCount, flag, parseMode, parseTime, readSmall, required, splitLast, volumePath } from './http.js';

/** A reply: status and JSON body (the routes add `path` where it applies). */
export interface OpResult {
  status: number;
  path: string;
  attrs: Attrs;
}

/** The parent directory of `path` (made with `mkdir -p` when `parents`), and the last name. */
async function parentDir(v: Volume, path: string, parents: boolean): Promise<{ gfid: string; name: string }> {
  const { parentPath, name } = splitLast(path);
  if (!name) throw new Dht2Error('EINVAL', `${path}: the root has no parent`, { path });
  const p = parents ? await v.mkdir(parentPath, { parents: true }) : await v.stat(parentPath);
  if (p.type !== 'dir') throw new Dht2Error('ENOTDIR', `${parentPath} is not a directory`, { path: parentPath });
  return { gfid: p.gfid, name };
}

/** `overwrite=0|false` refuses an existing target (EEXIST); anything else replaces as POSIX does. */
const noReplace = (q: URLSearchParams) => q.has('overwrite') && !flag(q, 'overwrite');

export const POST_OPS = ['rename', 'copy', 'link', 'symlink', 'chmod', 'utimes'] as const;

/** POST `path?op=…` (not the upload). */
export async function postOp(v: Volume, path: string, op: string, q: URLSearchParams): Promise<OpResult> {
  const parents = flag(q, 'parents');
  const target = (name: string): string => {
    const to = volumePath(required(q, name, op));
    // A reserved top-level name (server/objects/names.ts) is no target either (the source `path`
    // was refused by the route).
    refuseReservedWrite(to);
    return to;
  };
  switch (op) {
    case 'rename': {
      const to = target('to');
      if (parents) await parentDir(v, to, true);
      await v.rename(path, to, { noReplace: noReplace(q) });
      return { status: 200, path: to, attrs: await v.stat(to) };
    }
    case 'copy': {
      const to = target('to');
      const src = await v.stat(path, undefined, [META_XATTR]);
      if (src.type !== 'file') throw new Dht2Error(src.type === 'dir' ? 'EISDIR' : 'EINVAL', `${path}: only a regular file can be copied`, { path });
      const dst = await parentDir(v, to, parents);
      // The S3 metadata (content type, user metadata, ETag of the same bytes) goes with the copy.
      const s3 = src.xattrs?.[META_XATTR];
      const attrs = await atTo(to, () => v.copyAt(src, dst.gfid, dst.name, { mode: src.mode, createOnly: noReplace(q), ...(s3 ? { xattrs: { [META_XATTR]: s3 } } : {}) }));
      const { xattrs: _x, ...plain } = attrs;
      return { status: 201, path: to, attrs: plain };
    }
    case 'link': {
      const to = target('to');
      if (parents) await parentDir(v, to, true);
      return { status: 201, path: to, attrs: await v.link(path, to) };
    }
    case 'symlink': {
      const target = required(q, 'target', 'symlink');
      if (target.includes('\0') || Buffer.byteLength(target) > 4095) throw bad('target must be at most 4095 bytes, without NUL');
      if (parents) await parentDir(v, path, true);
      return { status: 201, path, attrs: await v.symlink(target, path) };
    }
    case 'chmod': {
      const mode = parseMode(required(q, 'mode', 'chmod'));
      return { status: 200, path, attrs: await v.setattr(path, { mode }) };
    }
    case 'utimes': {
      const now = Date.now();
      const set: SetAttrs = {
        mtimeMs: q.get('mtime') ? parseTime(q.get('mtime')!, 'mtime') : now,
        atimeMs: q.get('atime') ? parseTime(q.get('atime')!, 'atime') : now,
      };
      return { status: 200, path, attrs: await v.setattr(path, set) };
    }
    default:
      throw bad(`unknown op ${JSON.stringify(op)}: one of ${POST_OPS.join(', ')}`);
  }
}

/** Names the target in errors of the copy (the volume names only the last component). */
async function atTo<T>(to: string, fn: () => Promise<T>): Promise<T> {
  try {
    return await fn();
  } catch (e) {
    if (e instanceof Dht2Error && e.path !== to) {
      const msg = e.detail.replace(/^[^/:]*: /, '');
      throw new Dht2Error(e.errno, `${to}: ${msg}`, { path: to, gfid: e.gfid, cause: e });
    }
    throw e;
  }
}

/** What a PATCH does: exactly one of `offset`, `append`, `truncate`. */
export function patchMode(q: URLSearchParams): { kind: 'offset'; offset: number } | { kind: 'append' } | { kind: 'truncate'; size: number } {
  const given = [q.has('offset'), flag(q, 'append'), q.has('truncate')].filter(Boolean).length;
  if (given !== 1) throw bad('PATCH needs exactly one of ?offset=N, ?append=1, ?truncate=N');
  if (q.has('offset')) return { kind: 'offset', offset: byteCount(q.get('offset')!, 'offset') };
  if (q.has('truncate')) return { kind: 'truncate', size: byteCount(q.get('truncate')!, 'truncate') };
  return { kind: 'append' };
}

/** Write at an offset, append or truncate; the body is the bytes to write. */
export async function patch(v: Volume, path: string, mode: ReturnType<typeof patchMode>, body: () => Readable): Promise<Attrs> {
  const a = mode.kind === 'truncate' ? await v.truncate(path, mode.size)
    : mode.kind === 'append' ? await v.append(path, body()) : await v.write(path, mode.offset, body());
  await forgetEtag(v, a.gfid);
  return a;
}

// ------------------------------------------------------------------ xattrs

/** The Linux limit on one value; the bricks keep no more. */
export const XATTR_VALUE_MAX = 64 * 1024;

/**
 * The caller's xattrs are the `user.` namespace, as for an unprivileged process on Linux. Other
 * names (the S3 API keeps object metadata in `s3`, multipart state in `s3upload`/`s3part`)
 * can be neither read nor written here, and are not listed.
 */
export function xattrName(q: URLSearchParams): string {
  const name = q.get('xattr') ?? '';
  if (!name.startsWith('user.') || name.length === 'user.'.length) throw bad(`xattr names start with "user." (user.color), not ${JSON.stringify(name)}`);
  if (name.includes('\0')) throw bad('an xattr name cannot contain NUL');
  if (Buffer.byteLength(name) > 255) throw new Dht2Error('ERANGE', `xattr name longer than 255 bytes`);
  return name;
}

export type XattrEncoding = 'raw' | 'base64';

export function xattrEncoding(q: URLSearchParams): XattrEncoding {
  const e = q.get('encoding') ?? 'raw';
  if (e !== 'raw' && e !== 'base64') throw bad(`encoding is raw or base64, not ${JSON.stringify(e)}`);
  return e;
}

/** The value of a PUT ?xattr body: raw bytes, or base64 text with `encoding=base64`. */
export async function xattrValue(body: Readable, enc: XattrEncoding): Promise<Buffer> {
  const tooBig = () => new Dht2Error('E2BIG', `an xattr value is at most ${XATTR_VALUE_MAX} bytes`);
  if (enc === 'raw') return readSmall(body, XATTR_VALUE_MAX, tooBig);
  const text = (await readSmall(body, Math.ceil(XATTR_VALUE_MAX / 3) * 4 + 1024, tooBig)).toString('latin1').replace(/\s+/g, '');
  if (!/^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/.test(text)) throw bad('the body is not base64');
  const value = Buffer.from(text, 'base64');
  if (value.length > XATTR_VALUE_MAX) throw tooBig();
  return value;
}

export function xattrFlag(q: URLSearchParams): 'create' | 'replace' | undefined {
  const f = q.get('flag');
  if (f === null || f === '') return undefined;
  if (f !== 'create' && f !== 'replace') throw bad(`flag is create or replace, not ${JSON.stringify(f)}`);
  return f;
}

/** `{path, xattrs: [names]}`, with `values` (base64) when asked. */
export async function listXattrs(v: Volume, path: string, withValues: boolean): Promise<Record<string, unknown>> {
  const names = (await v.listxattr(path)).filter((n) => n.startsWith('user.'));
  if (!withValues) return { path, xattrs: names };
  const values: Record<string, string> = {};
  await Promise.all(names.map(async (n) => {
    try {
      values[n] = (await v.getxattr(path, n)).toString('base64');
    } catch (e) {
      if (!isErr(e, 'ENODATA')) throw e; // removed meanwhile
    }
  }));
  return { path, xattrs: names.filter((n) => n in values), values };
}

// ------------------------------------------------------------------ statfs

export function statfsJson(s: VolumeStatFs): Record<string, unknown> {
  return {
    bytes: { total: s.sizeBytes, used: Math.max(0, s.sizeBytes - s.freeBytes), free: s.freeBytes, avail: s.availBytes },
    inodes: { total: s.files, used: Math.max(0, s.files - s.freeFiles), free: s.freeFiles },
  };
}
