/** Bucket operations: a bucket is a directory under the volume root. */
import { Dht2Error } from '../../dht2-core/index.js';
import { checkBucketName, isBucketName, missingBucket } from '../namespace.js';
import type { S3Deps, S3Reply, S3Request } from './context.js';
import { checkedEmptyBody, xmlReply } from './context.js';
import { S3Error, s3ErrorOf } from './errors.js';
import { isoTime, xmlDoc } from './xml.js';

const OWNER = { ID: 'dht2', DisplayName: 'dht2' };

/** The bucket's directory, or NoSuchBucket. */
/**
 * The GFID of the bucket's directory; NoSuchBucket when there is none. One `entry` round trip
 * to the root's MDS: the name alone tells that it is a directory, without a second hop to the
 * MDS that holds the bucket's inode.
 */
export async function requireBucket(d: S3Deps, bucket: string, r: S3Request): Promise<string> {
  try {
    return await d.volume.dirGfid(`/${bucket}`, { requestId: r.requestId, signal: r.signal });
  } catch (e) {
    if (e instanceof Dht2Error && (e.errno === 'ENOENT' || e.errno === 'ENOTDIR' || e.errno === 'EINVAL' || e.errno === 'ENAMETOOLONG')) {
      throw missingBucket(bucket);
    }
    throw s3ErrorOf(e, `/${bucket}`);
  }
}

export async function listBuckets(d: S3Deps, r: S3Request): Promise<S3Reply> {
  const buckets: Array<{ Name: string; CreationDate: string }> = [];
  let after: string | undefined;
  for (;;) {
    const page = await d.volume.readdir('/', { after, limit: 1000, plus: true }, { requestId: r.requestId });
    for (const e of page.entries) {
      // Only names a request can address (namespace.ts isBucketName): never the reserved /.dht2.
      if (e.type !== 'dir' || !isBucketName(e.name)) continue;
      buckets.push({ Name: e.name, CreationDate: isoTime(e.attrs?.btimeMs ?? 0) });
    }
    if (page.eof || page.entries.length === 0) break;
    after = page.entries.at(-1)!.name;
  }
  return xmlReply(xmlDoc('ListAllMyBucketsResult', { Owner: OWNER, Buckets: { Bucket: buckets } }));
}

export async function createBucket(d: S3Deps, bucket: string, r: S3Request): Promise<S3Reply> {
  checkBucketName(bucket);
  await checkedEmptyBody(r); // CreateBucketConfiguration (a region) is accepted and ignored
  try {
    await d.volume.mkdir(`/${bucket}`, { mode: 0o755 }, { requestId: r.requestId });
  } catch (e) {
    if (e instanceof Dht2Error && e.errno === 'EEXIST') throw new S3Error('BucketAlreadyOwnedByYou', undefined, `/${bucket}`);
    throw s3ErrorOf(e, `/${bucket}`);
  }
  return { status: 200, headers: { location: `/${bucket}` } };
}

export async function headBucket(d: S3Deps, bucket: string, r: S3Request): Promise<S3Reply> {
  await requireBucket(d, bucket, r);
  return { status: 200, headers: { 'x-amz-bucket-region': d.region } };
}

export async function deleteBucket(d: S3Deps, bucket: string, r: S3Request): Promise<S3Reply> {
  try {
    await d.volume.rmdir(`/${bucket}`, { requestId: r.requestId });
  } catch (e) {
    if (e instanceof Dht2Error && e.errno === 'ENOTEMPTY') throw new S3Error('BucketNotEmpty', undefined, `/${bucket}`);
    if (e instanceof Dht2Error && (e.errno === 'ENOENT' || e.errno === 'ENOTDIR' || e.errno === 'EINVAL')) throw missingBucket(bucket);
    throw s3ErrorOf(e, `/${bucket}`);
  }
  return { status: 204 };
}

export async function getBucketLocation(d: S3Deps, bucket: string, r: S3Request): Promise<S3Reply> {
  await requireBucket(d, bucket, r);
  // us-east-1 is answered as an empty LocationConstraint, as AWS does.
  return xmlReply(xmlDoc('LocationConstraint', d.region === 'us-east-1' ? {} : { '#text': d.region }));
}

export async function getBucketVersioning(d: S3Deps, bucket: string, r: S3Request): Promise<S3Reply> {
  await requireBucket(d, bucket, r);
  return xmlReply(xmlDoc('VersioningConfiguration', {}));
}
