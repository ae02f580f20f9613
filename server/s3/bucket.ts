/** Bucket operations (a bucket is a directory under the volume root: server/objects/names.ts). */
import { checkBucketName, type BucketRef } from '../objects/index.js';
import type { S3Deps, S3Reply, S3Request } from './context.js';
import { OWNER, checkedEmptyBody, xmlReply } from './context.js';
import { isoTime, xmlDoc } from './xml.js';

export async function listBuckets(d: S3Deps, r: S3Request): Promise<S3Reply> {
  const buckets = (await d.objects.listBuckets(r.ctx)).map((b) => ({ Name: b.name, CreationDate: isoTime(b.createdMs) }));
  return xmlReply(xmlDoc('ListAllMyBucketsResult', { Owner: OWNER, Buckets: { Bucket: buckets } }));
}

export async function createBucket(d: S3Deps, bucket: string, r: S3Request): Promise<S3Reply> {
  checkBucketName(bucket); // S3's naming rules, before the body is read
  await checkedEmptyBody(r); // CreateBucketConfiguration (a region) is accepted and ignored
  await d.objects.createBucket(bucket, r.ctx);
  return { status: 200, headers: { location: `/${bucket}` } };
}

export function headBucket(d: S3Deps, _bucket: BucketRef): S3Reply {
  return { status: 200, headers: { 'x-amz-bucket-region': d.region } };
}

export async function deleteBucket(d: S3Deps, bucket: string, r: S3Request): Promise<S3Reply> {
  await d.objects.deleteBucket(bucket, r.ctx);
  return { status: 204 };
}

export function getBucketLocation(d: S3Deps, _bucket: BucketRef): S3Reply {
  // us-east-1 is answered as an empty LocationConstraint, as AWS does.
  return xmlReply(xmlDoc('LocationConstraint', d.region === 'us-east-1' ? {} : { '#text': d.region }));
}

export function getBucketVersioning(_d: S3Deps, _bucket: BucketRef): S3Reply {
  return xmlReply(xmlDoc('VersioningConfiguration', {}));
}
