/**
 * CopyObject (https://docs.aws.amazon.com/AmazonS3/latest/API/API_CopyObject.html): the copy is
 * made on the data brick (dcopy, a reflink where the filesystem allows), never through the
 * gateway; metadata directive COPY or REPLACE; x-amz-copy-source-if-* conditions; a copy onto
 * itself must change the metadata.
 */
import { authorize } from '../auth/index.js';
import { checkBucketAccessName, evaluateConditions, keyPath, metaFromHeaders, type BucketRef, type ObjectInfo, type ObjectMeta } from '../objects/index.js';
import { checkedEmptyBody, header, xmlReply, type S3Deps, type S3Reply, type S3Request } from './context.js';
import { S3Error } from './errors.js';
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

/**
 * The object x-amz-copy-source names, checked against the x-amz-copy-source-if-* conditions:
 * the same evaluation as a GET's (server/objects/conditions.ts), except that a copy answers 412
 * where a GET answers 304 (https://docs.aws.amazon.com/AmazonS3/latest/API/API_CopyObject.html).
 */
export async function resolveCopySource(d: S3Deps, r: S3Request): Promise<ObjectInfo> {
  const src = parseCopySource(header(r.headers, 'x-amz-copy-source'));
  // A copy reads its source: the caller must be allowed to, as for a GET of it.
  authorize({ accessKeyId: r.accessKeyId }, 's3:GetObject', src.bucket, src.key);
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

export async function copyObject(d: S3Deps, bucket: BucketRef, key: string, r: S3Request): Promise<S3Reply> {
  const dst = keyPath(bucket.name, key);
  if (dst.marker) throw new S3Error('InvalidRequest', 'A key ending in "/" is a folder and cannot be the target of a copy.');
  await checkedEmptyBody(r);
  const src = await resolveCopySource(d, r);
  const directive = (header(r.headers, 'x-amz-metadata-directive') ?? 'COPY').toUpperCase();
  if (directive !== 'COPY' && directive !== 'REPLACE') throw new S3Error('InvalidArgument', 'Unknown metadata directive.');
  if (src.path === dst.path && directive === 'COPY') {
    throw new S3Error('InvalidRequest', 'This copy request is illegal because it is trying to copy an object to itself without changing the object\'s metadata, storage class, website redirect location or encryption attributes.');
  }
  const etag = src.etag.replaceAll('"', '');
  const meta: ObjectMeta = directive === 'REPLACE'
    ? { ...metaFromHeaders(r.headers), etag }
    : { ...(src.meta ?? { contentType: 'binary/octet-stream' }), etag };
  const made = await d.objects.copy(src, bucket, key, meta, r.ctx);
  return xmlReply(xmlDoc('CopyObjectResult', { LastModified: isoTime(made.mtimeMs), ETag: src.etag }));
}
