/**
 * Parse, then dispatch (STYLE.md, after Garage's src/api/s3/router.rs): method, path-style
 * bucket/key and the query's sub-resources become one typed endpoint. Anything we do not
 * implement becomes NotImplemented at once, never a 500 or a hang.
 */
export type S3Endpoint =
  | { op: 'ListBuckets' }
  | { op: 'CreateBucket' | 'HeadBucket' | 'DeleteBucket' | 'GetBucketLocation' | 'GetBucketVersioning'
      | 'ListObjects' | 'ListObjectsV2' | 'ListObjectVersions' | 'DeleteObjects' | 'ListMultipartUploads' | 'PostObject'; bucket: string }
  | { op: 'PutObject' | 'GetObject' | 'HeadObject' | 'DeleteObject' | 'CopyObject'
      | 'CreateMultipartUpload' | 'CompleteMultipartUpload' | 'AbortMultipartUpload' | 'ListParts'
      | 'UploadPart' | 'UploadPartCopy'; bucket: string; key: string }
  | { op: 'NotImplemented'; what: string };

/** Every operation name the router can give (the metrics' `op` label values for S3). */
export const S3_OPERATIONS = [
  'ListBuckets', 'CreateBucket', 'HeadBucket', 'DeleteBucket', 'GetBucketLocation', 'GetBucketVersioning', 'ListObjects',
  'ListObjectsV2', 'ListObjectVersions', 'DeleteObjects', 'ListMultipartUploads', 'PostObject', 'PutObject', 'GetObject',
  'HeadObject', 'DeleteObject', 'CopyObject', 'CreateMultipartUpload', 'CompleteMultipartUpload', 'AbortMultipartUpload',
  'ListParts', 'UploadPart', 'UploadPartCopy', 'NotImplemented',
] as const satisfies ReadonlyArray<S3Endpoint['op']>;
// Compile-time check that the list has every operation of S3Endpoint.
const everyS3Operation: Exclude<S3Endpoint['op'], (typeof S3_OPERATIONS)[number]> extends never ? true : never = true;
void everyS3Operation;

/** Sub-resources of buckets and objects that S3 has and we do not (yet). */
const UNSUPPORTED = new Set([
  'acl', 'policy', 'policyStatus', 'cors', 'lifecycle', 'logging', 'notification', 'replication', 'tagging', 'website',
  'encryption', 'ownershipControls', 'publicAccessBlock', 'requestPayment', 'accelerate', 'analytics', 'inventory',
  'metrics', 'intelligent-tiering', 'object-lock', 'legal-hold', 'retention', 'torrent', 'restore', 'select', 'attributes',
]);

export function route(method: string, bucket: string | undefined, key: string | undefined, q: URLSearchParams, copySource = false): S3Endpoint {
  for (const k of q.keys()) if (UNSUPPORTED.has(k)) return { op: 'NotImplemented', what: `the ?${k} sub-resource` };
  if (!bucket) {
    if (method === 'GET') return { op: 'ListBuckets' };
    return { op: 'NotImplemented', what: `${method} on the service` };
  }
  if (key === undefined || key === '') {
    switch (method) {
      case 'PUT':
        if (q.has('versioning')) return { op: 'NotImplemented', what: 'bucket versioning' };
        return { op: 'CreateBucket', bucket };
      case 'HEAD': return { op: 'HeadBucket', bucket };
      case 'DELETE': return { op: 'DeleteBucket', bucket };
      case 'POST':
        if (q.has('delete')) return { op: 'DeleteObjects', bucket };
        return { op: 'PostObject', bucket }; // browser-based upload: a form, authenticated by its policy
      case 'GET':
        if (q.has('location')) return { op: 'GetBucketLocation', bucket };
        if (q.has('versioning')) return { op: 'GetBucketVersioning', bucket };
        if (q.has('versions')) return { op: 'ListObjectVersions', bucket };
        if (q.has('uploads')) return { op: 'ListMultipartUploads', bucket };
        if (q.get('list-type') === '2') return { op: 'ListObjectsV2', bucket };
        return { op: 'ListObjects', bucket };
      default: return { op: 'NotImplemented', what: `${method} on a bucket` };
    }
  }
  switch (method) {
    case 'PUT':
      if (q.has('uploadId') && q.has('partNumber')) return { op: copySource ? 'UploadPartCopy' : 'UploadPart', bucket, key };
      return { op: copySource ? 'CopyObject' : 'PutObject', bucket, key };
    case 'GET':
      if (q.has('uploadId')) return { op: 'ListParts', bucket, key };
      return { op: 'GetObject', bucket, key };
    case 'HEAD': return { op: 'HeadObject', bucket, key };
    case 'DELETE':
      if (q.has('uploadId')) return { op: 'AbortMultipartUpload', bucket, key };
      return { op: 'DeleteObject', bucket, key };
    case 'POST':
      if (q.has('uploads')) return { op: 'CreateMultipartUpload', bucket, key };
      if (q.has('uploadId')) return { op: 'CompleteMultipartUpload', bucket, key };
      return { op: 'NotImplemented', what: 'POST on an object' };
    default: return { op: 'NotImplemented', what: `${method} on an object` };
  }
}

/**
 * Splits a raw path-style request path into bucket and key. Keys are percent-decoded as S3 does
 * ('+' stays '+' in paths). Returns undefined for undecodable paths.
 */
export function splitBucketKey(rawPath: string): { bucket?: string; key?: string } | undefined {
  const p = rawPath.startsWith('/') ? rawPath.slice(1) : rawPath;
  if (p === '') return {};
  const i = p.indexOf('/');
  try {
    if (i < 0) return { bucket: decodeURIComponent(p) };
    return { bucket: decodeURIComponent(p.slice(0, i)), key: decodeURIComponent(p.slice(i + 1)) };
  } catch {
    return undefined;
  }
}
