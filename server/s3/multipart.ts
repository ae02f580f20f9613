/**
 * Multipart uploads, the S3 side (https://docs.aws.amazon.com/AmazonS3/latest/userguide/mpuoverview.html):
 * the request's parameters and XML in, XML out. How an upload is stored, completed and removed
 * is the object layer's (server/objects/uploads.ts).
 */
import { metaFromHeaders, type BucketRef } from '../objects/index.js';
import { readSmall } from '../../dht2-core/index.js';
import { OWNER, checkedEmptyBody, header, xmlReply, type S3Deps, type S3Reply, type S3Request } from './context.js';
import { S3Error } from './errors.js';
import { resolveCopySource } from './copy.js';
import type { EndpointOf } from './router.js';
import { isoTime, parseXml, xmlDoc } from './xml.js';

/** The upload an endpoint names (NoSuchUpload unless it is one of its bucket and key). */
function load(d: S3Deps, ep: { bucket: string; key: string; uploadId: string }, r: S3Request) {
  return d.objects.uploads.load(ep.bucket, ep.key, ep.uploadId, r.ctx);
}

export async function createMultipartUpload(d: S3Deps, bucket: BucketRef, key: string, r: S3Request): Promise<S3Reply> {
  await checkedEmptyBody(r);
  const id = await d.objects.uploads.create(bucket, key, metaFromHeaders(r.headers), r.ctx);
  return xmlReply(xmlDoc('InitiateMultipartUploadResult', { Bucket: bucket.name, Key: key, UploadId: id }));
}

export async function uploadPart(d: S3Deps, ep: EndpointOf<'UploadPart'>, r: S3Request): Promise<S3Reply> {
  const upload = await load(d, ep, r);
  const etag = await d.objects.uploads.putPart(upload, ep.partNumber, r.body, r.ctx);
  return { status: 200, headers: { etag: `"${etag}"` } };
}

/** UploadPartCopy: a part made from (a range of) an existing object. */
export async function uploadPartCopy(d: S3Deps, ep: EndpointOf<'UploadPartCopy'>, r: S3Request): Promise<S3Reply> {
  const upload = await load(d, ep, r);
  await checkedEmptyBody(r);
  const { attrs: a } = await resolveCopySource(d, ep.copySource, r);
  const rangeHeader = header(r.headers, 'x-amz-copy-source-range');
  let range: { offset: number; length: number } | undefined;
  if (rangeHeader !== undefined) {
    const m = /^bytes=(\d+)-(\d+)$/.exec(rangeHeader.trim());
    if (!m || Number(m[1]) > Number(m[2]) || Number(m[2]) >= a.size) {
      throw new S3Error('InvalidArgument', `Range specified is not valid for source object of size: ${a.size}`);
    }
    range = { offset: Number(m[1]), length: Number(m[2]) - Number(m[1]) + 1 };
  }
  const etag = await d.objects.uploads.copyPart(upload, ep.partNumber, a, range, r.ctx);
  return xmlReply(xmlDoc('CopyPartResult', { LastModified: isoTime(Date.now()), ETag: `"${etag}"` }));
}

export async function completeMultipartUpload(d: S3Deps, ep: EndpointOf<'CompleteMultipartUpload'>, bucket: BucketRef, r: S3Request): Promise<S3Reply> {
  const { key } = ep;
  const upload = await load(d, ep, r);
  const xml = await readSmall(r.body, 4 * 1024 * 1024, () => new S3Error('MalformedXML', 'The XML you provided was too large.'));
  const doc = parseXml(xml.toString('utf8'));
  const list = (doc?.CompleteMultipartUpload as { Part?: Array<{ PartNumber?: unknown; ETag?: unknown }> } | undefined)?.Part;
  if (!Array.isArray(list) || list.length === 0) throw new S3Error('MalformedXML', 'You must specify at least one part.');
  const chosen = list.map((p) => ({ n: Number(p.PartNumber), etag: String(p.ETag ?? '').replaceAll('"', '').trim() }));
  const etag = await d.objects.uploads.complete(bucket, upload, chosen, {
    ifMatch: header(r.headers, 'if-match'), ifNoneMatch: header(r.headers, 'if-none-match') === '*' ? '*' : undefined,
  }, r.ctx, (e) => d.log.warn({ err: e, uploadId: upload.id }, 'leftover upload after complete'));
  return xmlReply(xmlDoc('CompleteMultipartUploadResult', { Location: `/${bucket.name}/${key}`, Bucket: bucket.name, Key: key, ETag: `"${etag}"` }));
}

export async function abortMultipartUpload(d: S3Deps, ep: EndpointOf<'AbortMultipartUpload'>, r: S3Request): Promise<S3Reply> {
  const { id } = await load(d, ep, r);
  await checkedEmptyBody(r);
  await d.objects.uploads.remove(id, r.ctx);
  return { status: 204 };
}

export async function listParts(d: S3Deps, ep: EndpointOf<'ListParts'>, r: S3Request): Promise<S3Reply> {
  const upload = await load(d, ep, r);
  const { bucket, key, partNumberMarker: marker, maxParts: max } = ep;
  const all = await d.objects.uploads.parts(upload, r.ctx, marker);
  const page = all.slice(0, max);
  const body: Record<string, unknown> = {
    Bucket: bucket, Key: key, UploadId: upload.id, PartNumberMarker: marker, MaxParts: max, IsTruncated: all.length > max,
    Initiator: OWNER, Owner: OWNER, StorageClass: 'STANDARD',
    Part: page.map((p) => ({ PartNumber: p.n, LastModified: isoTime(p.attrs.mtimeMs), ETag: `"${p.info.etag}"`, Size: p.info.size })),
  };
  if (all.length > max) body.NextPartNumberMarker = page.at(-1)!.n;
  return xmlReply(xmlDoc('ListPartsResult', body));
}

export async function listMultipartUploads(d: S3Deps, ep: EndpointOf<'ListMultipartUploads'>, bucket: BucketRef, r: S3Request): Promise<S3Reply> {
  const { prefix } = ep;
  const uploads = await d.objects.uploads.list(bucket, prefix, r.ctx);
  return xmlReply(xmlDoc('ListMultipartUploadsResult', {
    Bucket: bucket.name, KeyMarker: '', UploadIdMarker: '', Prefix: prefix, MaxUploads: 1000, IsTruncated: false,
    Upload: uploads.map((u) => ({
      Key: u.key, UploadId: u.id, Initiated: isoTime(u.initiatedMs), Initiator: OWNER, Owner: OWNER, StorageClass: 'STANDARD',
    })),
  }));
}
