/**
 * CopyObject (https://docs.aws.amazon.com/AmazonS3/latest/API/API_CopyObject.html): the copy is
 * made on the data brick (dcopy, a reflink where the filesystem allows), never through the
 * gateway; metadata directive COPY or REPLACE; x-amz-copy-source-if-* conditions; a copy onto
 * itself must change the metadata. The router parsed the source and checked that the caller
 * may read it (s3:GetObject, router.ts permissionsOf).
 */
import { DEFAULT_CONTENT_TYPE, evaluateConditions, keyPath, metaFromHeaders, type BucketRef, type ObjectInfo, type ObjectMeta } from '../objects/index.js';
import { checkedEmptyBody, header, xmlReply, type S3Deps, type S3Reply, type S3Request } from './context.js';
import { S3Error } from './errors.js';
import type { CopySource, EndpointOf } from './router.js';
import { isoTime, xmlDoc } from './xml.js';

/**
 * The object x-amz-copy-source names, checked against the x-amz-copy-source-if-* conditions:
 * the same evaluation as a GET's (server/objects/conditions.ts), except that a copy answers 412
 * where a GET answers 304 (https://docs.aws.amazon.com/AmazonS3/latest/API/API_CopyObject.html).
 */
export async function resolveCopySource(d: S3Deps, src: CopySource, r: S3Request): Promise<ObjectInfo> {
  const info = await d.objects.stat(src.bucket, src.key, r.ctx);
  if (info.attrs.type !== 'file') throw new S3Error('NoSuchKey', undefined, `/${src.bucket}/${src.key}`);
  const h = r.headers;
  const pre = evaluateConditions({
    ifMatch: header(h, 'x-amz-copy-source-if-match'), ifNoneMatch: header(h, 'x-amz-copy-source-if-none-match'),
    ifModifiedSince: header(h, 'x-amz-copy-source-if-modified-since'), ifUnmodifiedSince: header(h, 'x-amz-copy-source-if-unmodified-since'),
  }, info.etag, info.attrs.mtimeMs);
  if (pre !== 'pass') throw new S3Error('PreconditionFailed');
  return info;
}

export async function copyObject(d: S3Deps, ep: EndpointOf<'CopyObject'>, bucket: BucketRef, r: S3Request): Promise<S3Reply> {
  const dst = keyPath(bucket.name, ep.key);
  if (dst.marker) throw new S3Error('InvalidRequest', 'A key ending in "/" is a folder and cannot be the target of a copy.');
  await checkedEmptyBody(r);
  const src = await resolveCopySource(d, ep.copySource, r);
  const directive = (header(r.headers, 'x-amz-metadata-directive') ?? 'COPY').toUpperCase();
  if (directive !== 'COPY' && directive !== 'REPLACE') throw new S3Error('InvalidArgument', 'Unknown metadata directive.');
  if (src.path === dst.path && directive === 'COPY') {
    throw new S3Error('InvalidRequest', 'This copy request is illegal because it is trying to copy an object to itself without changing the object\'s metadata, storage class, website redirect location or encryption attributes.');
  }
  const etag = src.etag.replaceAll('"', '');
  const meta: ObjectMeta = directive === 'REPLACE'
    ? { ...metaFromHeaders(r.headers), etag }
    : { ...(src.meta ?? { contentType: DEFAULT_CONTENT_TYPE }), etag };
  const made = await d.objects.copy(src, bucket, ep.key, meta, r.ctx);
  return xmlReply(xmlDoc('CopyObjectResult', { LastModified: isoTime(made.mtimeMs), ETag: src.etag }));
}
