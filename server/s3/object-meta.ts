/**
 * Object metadata kept with each object's inode in one xattr (`s3`), written atomically with
 * the object's name (dht2-core writeFile): ETag, Content-Type, the stored response headers and
 * user metadata (x-amz-meta-*). One small JSON value: S3 caps user metadata at 2 KB.
 */
import type { IncomingHttpHeaders } from 'node:http';
import { S3Error } from './errors.js';

export const META_XATTR = 's3';

/** Headers S3 stores with an object and returns on GET/HEAD (PutObject request headers). */
export const STORED_HEADERS = ['content-encoding', 'content-disposition', 'cache-control', 'expires', 'content-language'] as const;

export interface ObjectMeta {
  etag: string;
  contentType: string;
  headers?: Record<string, string>;
  meta?: Record<string, string>;
  /** Set on multipart objects: number of parts (the ETag ends with -N). */
  parts?: number;
}

/** Picks the stored headers and user metadata of a PutObject request (2 KB user metadata limit). */
export function metaFromHeaders(h: IncomingHttpHeaders): Omit<ObjectMeta, 'etag'> {
  const one = (k: string) => { const v = h[k]; return Array.isArray(v) ? v.join(',') : v; };
  const headers: Record<string, string> = {};
  for (const k of STORED_HEADERS) { const v = one(k); if (v !== undefined) headers[k] = v; }
  const meta: Record<string, string> = {};
  let size = 0;
  for (const [k, v] of Object.entries(h)) {
    if (!k.startsWith('x-amz-meta-') || v === undefined) continue;
    const name = k.slice('x-amz-meta-'.length);
    const value = Array.isArray(v) ? v.join(',') : v;
    meta[name] = value;
    size += Buffer.byteLength(name) + Buffer.byteLength(value);
  }
  // https://docs.aws.amazon.com/AmazonS3/latest/userguide/UsingMetadata.html: 2 KB of user metadata.
  if (size > 2048) throw new S3Error('InvalidArgument', 'Your metadata headers exceed the maximum allowed metadata size (2 KB).');
  const out: Omit<ObjectMeta, 'etag'> = { contentType: one('content-type') ?? 'binary/octet-stream' };
  if (Object.keys(headers).length > 0) out.headers = headers;
  if (Object.keys(meta).length > 0) out.meta = meta;
  return out;
}

export function encodeMeta(m: ObjectMeta): string {
  return Buffer.from(JSON.stringify(m), 'utf8').toString('base64');
}

/** Reads the metadata of an object; files written through the file API get defaults. */
export function decodeMeta(b64: string | undefined): ObjectMeta | undefined {
  if (!b64) return undefined;
  try {
    return JSON.parse(Buffer.from(b64, 'base64').toString('utf8')) as ObjectMeta;
  } catch {
    return undefined;
  }
}

/** Response headers of a stored object (GET/HEAD), `x-amz-meta-*` included. */
export function metaHeaders(m: ObjectMeta | undefined): Record<string, string> {
  const out: Record<string, string> = { 'content-type': m?.contentType ?? 'binary/octet-stream' };
  for (const [k, v] of Object.entries(m?.headers ?? {})) out[k] = v;
  for (const [k, v] of Object.entries(m?.meta ?? {})) out[`x-amz-meta-${k}`] = v;
  return out;
}
