/**
 * PutObject, GetObject, HeadObject, DeleteObject
 * (https://docs.aws.amazon.com/AmazonS3/latest/API/API_PutObject.html and siblings): headers in,
 * headers out; the object layer (server/objects/) stores, reads and deletes. Data streams from
 * the client through the payload verifier and an MD5 tap straight into the volume.
 */
import { asHeaderBytes, checkedHeaderValue, metaFromHeaders, metaHeaders, type BucketRef } from '../objects/index.js';
import { header, type S3Deps, type S3Reply, type S3Request } from './context.js';
import { S3Error } from './errors.js';

export async function putObject(d: S3Deps, bucket: BucketRef, key: string, r: S3Request): Promise<S3Reply> {
  const meta = metaFromHeaders(r.headers);
  const ifNoneMatch = header(r.headers, 'if-none-match');
  // https://docs.aws.amazon.com/AmazonS3/latest/userguide/conditional-writes.html: only `*`.
  if (ifNoneMatch !== undefined && ifNoneMatch !== '*' && !key.endsWith('/')) throw new S3Error('NotImplemented', 'If-None-Match on PutObject supports only "*".');
  const { etag } = await d.objects.put(bucket, key, r.body, meta, { ifMatch: header(r.headers, 'if-match'), ifNoneMatch: ifNoneMatch === '*' ? '*' : undefined }, r.ctx);
  return { status: 200, headers: { etag } };
}

const OVERRIDES: Record<string, string> = {
  'response-content-type': 'content-type', 'response-content-language': 'content-language', 'response-expires': 'expires',
  'response-cache-control': 'cache-control', 'response-content-disposition': 'content-disposition', 'response-content-encoding': 'content-encoding',
};

/**
 * The `response-*` overrides of a GET/HEAD
 * (https://docs.aws.amazon.com/AmazonS3/latest/API/API_GetObject.html#API_GetObject_RequestSyntax)
 * as header values: the query's text as UTF-8 bytes, and a value no header can carry (a
 * control character: `%7F`, `%00`, `%0A`) refused with InvalidArgument before the object is
 * even looked up, so no brick stream is ever opened for a reply that cannot be sent (issue 14).
 */
function responseOverrides(q: URLSearchParams): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [p, h] of Object.entries(OVERRIDES)) {
    const v = q.get(p);
    if (v !== null) out[h] = checkedHeaderValue(p, asHeaderBytes(v));
  }
  return out;
}

async function getOrHead(d: S3Deps, bucket: string, key: string, r: S3Request, head: boolean): Promise<S3Reply> {
  const overrides = responseOverrides(r.query);
  const h = r.headers;
  const got = await d.objects.open(bucket, key, {
    conditions: {
      ifMatch: header(h, 'if-match'), ifNoneMatch: header(h, 'if-none-match'),
      ifModifiedSince: header(h, 'if-modified-since'), ifUnmodifiedSince: header(h, 'if-unmodified-since'),
    },
    range: header(h, 'range'),
    head,
  }, r.ctx);
  const { attrs, meta, etag } = got.info;
  const lastModified = new Date(attrs.mtimeMs).toUTCString();
  if (got.notModified) return { status: 304, headers: { etag, 'last-modified': lastModified } };
  const headers: Record<string, string | number> = { ...metaHeaders(meta), etag, 'last-modified': lastModified, 'accept-ranges': 'bytes' };
  if (meta?.parts) headers['x-amz-mp-parts-count'] = meta.parts;
  Object.assign(headers, overrides);
  const { range, size } = got;
  if (range) headers['content-range'] = `bytes ${range.start}-${range.end}/${size}`;
  headers['content-length'] = range ? range.end - range.start + 1 : size;
  return got.body ? { status: range ? 206 : 200, headers, body: got.body } : { status: range ? 206 : 200, headers };
}

export function getObject(d: S3Deps, bucket: string, key: string, r: S3Request): Promise<S3Reply> {
  return getOrHead(d, bucket, key, r, false);
}

export function headObject(d: S3Deps, bucket: string, key: string, r: S3Request): Promise<S3Reply> {
  return getOrHead(d, bucket, key, r, true);
}

/** Deletes a key (absent keys too: S3 answers 204). */
export async function deleteObject(d: S3Deps, bucket: BucketRef, key: string, r: S3Request): Promise<S3Reply> {
  await d.objects.delete(bucket, key, r.ctx);
  return { status: 204 };
}
