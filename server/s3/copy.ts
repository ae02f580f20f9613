/**
 * CopyObject (https://docs.aws.amazon.com/AmazonS3/latest/API/API_CopyObject.html): the copy is
 * made on the data brick (dcopy, a reflink where the filesystem allows), never through the
 * gateway; metadata directive COPY or REPLACE; x-amz-copy-source-if-* conditions; a copy onto
 * itself must change the metadata.
 */
import type { Attrs } from '../../dht2-core/index.js';
import { authorize } from '../auth/index.js';
import { checkBucketAccessName, keyPath } from '../namespace.js';
import { requireBucket } from './bucket.js';
import { checkedEmptyBody, header, xmlReply, type S3Deps, type S3Reply, type S3Request } from './context.js';
import { S3Error, s3ErrorOf } from './errors.js';
import { etagOf, keyParent, statObject } from './object.js';
import { META_XATTR, encodeMeta, metaFromHeaders, type ObjectMeta } from './object-meta.js';
import { isoTime, xmlDoc } from './xml.js';

/** Parses x-amz-copy-source: `[/]bucket/key[?versionId=…]`, percent-encoded. */
export function parseCopySource(v: string | undefined): { bucket: string; key: string } {
  if (!v) throw new S3Error('InvalidArgument', 'Copy Source must mention the source bucket and key: sourcebucket/sourcekey');
  let s = v.startsWith('/') ? v.slice(1) : v;
  const q = s.indexOf('?');
  if (q >= 0) {
    const version = new URLSearchParams(s.slice(q + 1)).get('versionId');
    if (version !== null && version !== 'null') throw new S3Error('InvalidArgument', 'Invalid version id specified');
    s = s.slice(0, q);
  }
  const i = s.indexOf('/');
  if (i <= 0 || i === s.length - 1) throw new S3Error('InvalidArgument', 'Copy Source must mention the source bucket and key: sourcebucket/sourcekey');
  let src: { bucket: string; key: string };
  try {
    src = { bucket: decodeURIComponent(s.slice(0, i)), key: decodeURIComponent(s.slice(i + 1)) };
  } catch {
    throw new S3Error('InvalidArgument', 'Copy Source is not valid percent-encoding');
  }
  checkBucketAccessName(src.bucket); // the same rule as the request's own bucket: never /.dht2
  return src;
}

export function copyPreconditions(r: S3Request, etag: string, mtimeMs: number): void {
  const im = header(r.headers, 'x-amz-copy-source-if-match');
  const inm = header(r.headers, 'x-amz-copy-source-if-none-match');
  const ims = header(r.headers, 'x-amz-copy-source-if-modified-since');
  const ius = header(r.headers, 'x-amz-copy-source-if-unmodified-since');
  const match = (l: string) => l.split(',').map((x) => x.trim()).some((x) => x === '*' || x === etag);
  const secs = Math.floor(mtimeMs / 1000);
  // S3: if-match true + if-unmodified-since false -> copy; if-none-match false + if-modified-since true -> 412.
  if (im !== undefined && !match(im)) throw new S3Error('PreconditionFailed');
  if (im === undefined && ius !== undefined && secs > Math.floor(Date.parse(ius) / 1000)) throw new S3Error('PreconditionFailed');
  if (inm !== undefined && match(inm)) throw new S3Error('PreconditionFailed');
  if (inm === undefined && ims !== undefined && secs <= Math.floor(Date.parse(ims) / 1000)) throw new S3Error('PreconditionFailed');
}

/** The object x-amz-copy-source names, checked against the x-amz-copy-source-if-* conditions. */
export async function resolveCopySource(d: S3Deps, r: S3Request): Promise<{ attrs: Attrs; meta: ObjectMeta | undefined; etag: string; path: string }> {
  const src = parseCopySource(header(r.headers, 'x-amz-copy-source'));
  // A copy reads its source: the caller must be allowed to, as for a GET of it.
  authorize({ accessKeyId: r.accessKeyId }, 's3:GetObject', src.bucket, src.key);
  const { attrs, meta } = await statObject(d, src.bucket, src.key, r);
  if (attrs.type !== 'file') throw new S3Error('NoSuchKey', undefined, `/${src.bucket}/${src.key}`);
  const etag = etagOf(attrs, meta);
  copyPreconditions(r, etag, attrs.mtimeMs);
  return { attrs, meta, etag, path: keyPath(src.bucket, src.key).path };
}

export async function copyObject(d: S3Deps, bucket: string, key: string, r: S3Request): Promise<S3Reply> {
  const dst = keyPath(bucket, key);
  if (dst.marker) throw new S3Error('InvalidRequest', 'A key ending in "/" is a folder and cannot be the target of a copy.');
  const ctx = { requestId: r.requestId, signal: r.signal };
  const bucketDir = { path: `/${bucket}`, gfid: await requireBucket(d, bucket, r) };
  await checkedEmptyBody(r);
  const { attrs: srcAttrs, meta: srcMeta, etag, path: srcPath } = await resolveCopySource(d, r);
  const directive = (header(r.headers, 'x-amz-metadata-directive') ?? 'COPY').toUpperCase();
  if (directive !== 'COPY' && directive !== 'REPLACE') throw new S3Error('InvalidArgument', 'Unknown metadata directive.');
  if (srcPath === dst.path && directive === 'COPY') {
    throw new S3Error('InvalidRequest', 'This copy request is illegal because it is trying to copy an object to itself without changing the object\'s metadata, storage class, website redirect location or encryption attributes.');
  }
  const meta: ObjectMeta = directive === 'REPLACE'
    ? { ...metaFromHeaders(r.headers), etag: etag.replaceAll('"', '') }
    : { ...(srcMeta ?? { contentType: 'binary/octet-stream' }), etag: etag.replaceAll('"', '') };
  let made;
  try {
    const parent = await keyParent(d, dst, ctx, bucketDir);
    made = await d.volume.copyAt(srcAttrs, parent, dst.name, { xattrs: { [META_XATTR]: encodeMeta(meta) }, intoDir: true }, ctx);
  } catch (e) {
    throw s3ErrorOf(e, `/${bucket}/${key}`);
  }
  return xmlReply(xmlDoc('CopyObjectResult', { LastModified: isoTime(made.mtimeMs), ETag: etag }));
}
