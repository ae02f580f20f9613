/**
 * ListObjectsV2, ListObjects (v1) and ListObjectVersions on an unversioned bucket
 * (https://docs.aws.amazon.com/AmazonS3/latest/API/API_ListObjectsV2.html). The walk over the
 * bucket's directories, in S3 key order and O(page), is the object layer's
 * (server/objects/list-walk.ts); this module reads the parameters and writes the XML. Object metadata (ETag) comes with each
 * directory page (readdirp with wanted xattrs), so a page costs O(page) round trips at most.
 */
import type { Attrs, DirEntry } from '../../dht2-core/index.js';
import { EMPTY_MD5, META_XATTR, decodeMeta, etagOf, type BucketRef, type ListResult } from '../objects/index.js';
import { OWNER, xmlReply, type S3Deps, type S3Reply, type S3Request } from './context.js';
import type { EndpointOf, ListQuery } from './router.js';
import { isoTime, xmlDoc } from './xml.js';

/** encoding-type=url: keys percent-encoded as S3 does (space as '+' is not used; '/' kept). */
function encoder(urlEncode: boolean): (s: string) => string {
  return urlEncode ? (s) => encodeURIComponent(s).replace(/%2F/g, '/').replace(/[!'()*]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`) : (s) => s;
}

function contentOf(c: ListResult['contents'][number]): { key: string; attrs: Attrs | undefined } {
  const e = c.entry.info as DirEntry | undefined;
  return { key: c.key, attrs: e?.attrs };
}

function objectXml(key: string, attrs: Attrs | undefined, enc: (s: string) => string, owner: boolean): Record<string, unknown> {
  const meta = decodeMeta(attrs?.xattrs?.[META_XATTR]);
  const o: Record<string, unknown> = {
    Key: enc(key),
    LastModified: isoTime(attrs?.mtimeMs ?? 0),
    ETag: attrs ? etagOf(attrs, meta) : `"${EMPTY_MD5}"`,
    Size: attrs?.type === 'file' ? attrs.size : 0,
    StorageClass: 'STANDARD',
  };
  if (owner) o.Owner = OWNER;
  return o;
}

function walk(d: S3Deps, bucket: BucketRef, r: S3Request, p: ListQuery, startAfter: string | undefined): Promise<ListResult> {
  return d.objects.list(bucket, { prefix: p.prefix, delimiter: p.delimiter, startAfter, maxKeys: p.maxKeys }, r.ctx);
}

/** The listing's objects as XML elements (with their Owner for v1, versions and fetch-owner). */
function contents(res: ListResult, enc: (s: string) => string, owner: boolean): Array<Record<string, unknown>> {
  return res.contents.map((c) => { const x = contentOf(c); return objectXml(x.key, x.attrs, enc, owner); });
}

/**
 * The body the three listings share, in S3's element order: Name, Prefix, the listing's own
 * markers, MaxKeys, Delimiter, IsTruncated, its continuation, EncodingType, its items, CommonPrefixes.
 */
function listBody(
  bucket: BucketRef, p: ListQuery, res: ListResult, enc: (s: string) => string,
  markers: Record<string, unknown>, next: Record<string, unknown>, items: [string, unknown[]],
): Record<string, unknown> {
  const body: Record<string, unknown> = { Name: bucket.name, Prefix: enc(p.prefix), ...markers, MaxKeys: p.maxKeys };
  if (p.delimiter !== undefined) body.Delimiter = enc(p.delimiter);
  body.IsTruncated = res.isTruncated;
  Object.assign(body, next);
  if (p.urlEncode) body.EncodingType = 'url';
  body[items[0]] = items[1];
  body.CommonPrefixes = res.commonPrefixes.map((cp) => ({ Prefix: enc(cp) }));
  return body;
}

export async function listObjectsV2(d: S3Deps, ep: EndpointOf<'ListObjectsV2'>, bucket: BucketRef, r: S3Request): Promise<S3Reply> {
  const p = ep.list;
  // The token is the key to continue after, base64url (the router decoded and checked it).
  const res = await walk(d, bucket, r, p, ep.continuationToken?.key ?? ep.startAfter);
  const enc = encoder(p.urlEncode);
  const owner = ep.fetchOwner;
  const next: Record<string, unknown> = {};
  if (ep.continuationToken !== undefined) next.ContinuationToken = ep.continuationToken.token;
  if (res.isTruncated && res.next !== undefined) next.NextContinuationToken = Buffer.from(res.next, 'utf8').toString('base64url');
  if (ep.startAfter !== undefined) next.StartAfter = enc(ep.startAfter);
  const body = listBody(bucket, p, res, enc, { KeyCount: res.contents.length + res.commonPrefixes.length }, next,
    ['Contents', contents(res, enc, owner)]);
  return xmlReply(xmlDoc('ListBucketResult', body));
}

export async function listObjectsV1(d: S3Deps, ep: EndpointOf<'ListObjects'>, bucket: BucketRef, r: S3Request): Promise<S3Reply> {
  const { list: p, marker } = ep;
  const res = await walk(d, bucket, r, p, marker || undefined);
  const enc = encoder(p.urlEncode);
  // NextMarker is returned only with a delimiter; without one clients use the last key (AWS docs).
  const next = res.isTruncated && p.delimiter !== undefined && res.next !== undefined ? { NextMarker: enc(res.next) } : {};
  const body = listBody(bucket, p, res, enc, { Marker: enc(marker) }, next,
    ['Contents', contents(res, enc, true)]);
  return xmlReply(xmlDoc('ListBucketResult', body));
}

/** Every object once, with VersionId "null" (the bucket is not versioned). */
export async function listObjectVersions(d: S3Deps, ep: EndpointOf<'ListObjectVersions'>, bucket: BucketRef, r: S3Request): Promise<S3Reply> {
  const { list: p, keyMarker } = ep;
  const res = await walk(d, bucket, r, p, keyMarker || undefined);
  const enc = encoder(p.urlEncode);
  const next = res.isTruncated && res.next !== undefined ? { NextKeyMarker: enc(res.next), NextVersionIdMarker: 'null' } : {};
  const body = listBody(bucket, p, res, enc, { KeyMarker: enc(keyMarker), VersionIdMarker: '' }, next, ['Version', contents(res, enc, true).map((o) => (
    { Key: o.Key, VersionId: 'null', IsLatest: true, LastModified: o.LastModified, ETag: o.ETag, Size: o.Size, StorageClass: o.StorageClass, Owner: OWNER }
  ))]);
  return xmlReply(xmlDoc('ListVersionsResult', body));
}
