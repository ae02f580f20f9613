/**
 * Parse, then dispatch (STYLE.md, after Garage's src/api/s3/router.rs): method, bucket, key,
 * the query's sub-resources and the signed x-amz-copy-source header become one typed endpoint
 * that carries what its handler needs, parsed and checked once here (upload id, part number,
 * copy source, listing parameters), and names the permissions it needs as the S3 actions an access policy matches.
 * Anything we do not implement becomes NotImplemented at once, never a 500 or a hang.
 *
 * Two steps, because headers are not known to be signed before authentication:
 * `operationOf` names the operation from the method, path and query alone (for the metrics
 * tag and to tell a browser-based upload, which is not signed, from the rest); `route`, called
 * after authentication, parses the endpoint, a signed x-amz-copy-source making a PUT a copy.
 */
import { authorizeAll, type Identity, type S3Action, type S3Permission } from '../auth/permissions.js';
import { checkBucketAccessName } from '../objects/index.js';
import { percentDecode } from '../request-target.js';
import { S3Error } from './errors.js';

/** An object named by x-amz-copy-source. */
export interface CopySource {
  bucket: string;
  key: string;
}

/** The parameters the three object listings share (https://docs.aws.amazon.com/AmazonS3/latest/API/API_ListObjectsV2.html). */
export interface ListQuery {
  prefix: string;
  /** Undefined when absent or empty (an empty delimiter groups nothing). */
  delimiter: string | undefined;
  /** 0 to 1000 (more is taken as 1000, as S3 does). */
  maxKeys: number;
  /** encoding-type=url: keys in the reply are percent-encoded. */
  urlEncode: boolean;
}

type BucketOp = 'CreateBucket' | 'HeadBucket' | 'DeleteBucket' | 'GetBucketLocation' | 'GetBucketVersioning' | 'DeleteObjects' | 'PostObject';

/** An S3 request, parsed: each operation with the parameters its handler reads. */
export type S3Endpoint =
  | { op: 'ListBuckets' }
  | { op: BucketOp; bucket: string }
  | { op: 'ListObjects'; bucket: string; list: ListQuery; marker: string }
  | {
      op: 'ListObjectsV2'; bucket: string; list: ListQuery; fetchOwner: boolean; startAfter?: string;
      /** The token as sent (echoed in the reply) and the key it stands for (the walk starts after it). */
      continuationToken?: { token: string; key: string };
    }
  | { op: 'ListObjectVersions'; bucket: string; list: ListQuery; keyMarker: string }
  | { op: 'ListMultipartUploads'; bucket: string; prefix: string }
  | { op: 'PutObject' | 'GetObject' | 'HeadObject' | 'DeleteObject' | 'CreateMultipartUpload'; bucket: string; key: string }
  | { op: 'CopyObject'; bucket: string; key: string; copySource: CopySource }
  | { op: 'CompleteMultipartUpload' | 'AbortMultipartUpload'; bucket: string; key: string; uploadId: string }
  | { op: 'ListParts'; bucket: string; key: string; uploadId: string; partNumberMarker: number; maxParts: number }
  | { op: 'UploadPart'; bucket: string; key: string; uploadId: string; partNumber: number }
  | { op: 'UploadPartCopy'; bucket: string; key: string; uploadId: string; partNumber: number; copySource: CopySource }
  | { op: 'NotImplemented'; what: string };

/** The name of an operation. */
export type S3Operation = S3Endpoint['op'];

/** Every operation name the router can give (the metrics' `op` label values for S3). */
export const S3_OPERATIONS = [
  'ListBuckets', 'CreateBucket', 'HeadBucket', 'DeleteBucket', 'GetBucketLocation', 'GetBucketVersioning', 'ListObjects',
  'ListObjectsV2', 'ListObjectVersions', 'DeleteObjects', 'ListMultipartUploads', 'PostObject', 'PutObject', 'GetObject',
  'HeadObject', 'DeleteObject', 'CopyObject', 'CreateMultipartUpload', 'CompleteMultipartUpload', 'AbortMultipartUpload',
  'ListParts', 'UploadPart', 'UploadPartCopy', 'NotImplemented',
] as const satisfies ReadonlyArray<S3Operation>;
// Compile-time check that the list has every operation of S3Endpoint.
const everyS3Operation: Exclude<S3Operation, (typeof S3_OPERATIONS)[number]> extends never ? true : never = true;
void everyS3Operation;

/** Sub-resources of buckets and objects that S3 has and we do not (yet). */
const UNSUPPORTED = new Set([
  'acl', 'policy', 'policyStatus', 'cors', 'lifecycle', 'logging', 'notification', 'replication', 'tagging', 'website',
  'encryption', 'ownershipControls', 'publicAccessBlock', 'requestPayment', 'accelerate', 'analytics', 'inventory',
  'metrics', 'intelligent-tiering', 'object-lock', 'legal-hold', 'retention', 'torrent', 'restore', 'select', 'attributes',
]);

/** The largest part number of a multipart upload (https://docs.aws.amazon.com/AmazonS3/latest/userguide/qfacts.html). */
export const MAX_PART_NUMBER = 10000;

/**
 * The operation a request asks for, from its method, bucket, key and query (and, after
 * authentication only, whether it has an x-amz-copy-source header). Never throws.
 */
export function operationOf(method: string, bucket: string | undefined, key: string | undefined, q: URLSearchParams, copySource = false): S3Operation {
  return choose(method, bucket, key, q, copySource).op;
}

/** What `route` reads of a request: its bucket and key as decoded from the path (and Host). */
export interface S3RouteInput {
  method: string;
  bucket?: string;
  key?: string;
  query: URLSearchParams;
  /** The x-amz-copy-source header: give it only once it is known to be signed. */
  copySource?: string;
}

/**
 * The endpoint of an authenticated request. Throws InvalidArgument for a part number that is
 * not an integer from 1 to 10000, for a copy source that names no object and for a listing's
 * bad max-keys, encoding-type or continuation-token, and InvalidBucketName for a copy source's
 * bucket no request may name (the reserved .dht2).
 */
export function route(r: S3RouteInput): S3Endpoint {
  const c = choose(r.method, r.bucket, r.key, r.query, r.copySource !== undefined);
  const q = r.query;
  const uploadId = () => q.get('uploadId') ?? '';
  switch (c.op) {
    case 'CopyObject': return { ...c, copySource: parseCopySource(r.copySource) };
    case 'UploadPart': return { ...c, uploadId: uploadId(), partNumber: parsePartNumber(q.get('partNumber')) };
    case 'UploadPartCopy': {
      const partNumber = parsePartNumber(q.get('partNumber'));
      return { ...c, uploadId: uploadId(), partNumber, copySource: parseCopySource(r.copySource) };
    }
    case 'CompleteMultipartUpload': case 'AbortMultipartUpload': return { ...c, uploadId: uploadId() };
    case 'ListParts':
      // Read as multipart.ts always has: what is not a number is the default.
      return {
        ...c, uploadId: uploadId(),
        partNumberMarker: Number(q.get('part-number-marker') ?? 0) || 0,
        maxParts: Math.min(1000, Number(q.get('max-parts') ?? 1000) || 1000),
      };
    case 'ListObjects': return { ...c, list: listQuery(q), marker: q.get('marker') ?? '' };
    case 'ListObjectVersions': return { ...c, list: listQuery(q), keyMarker: q.get('key-marker') ?? '' };
    case 'ListObjectsV2': {
      const list = listQuery(q);
      const token = q.get('continuation-token');
      const startAfter = q.get('start-after');
      return {
        ...c, list, fetchOwner: q.get('fetch-owner') === 'true',
        ...(startAfter !== null ? { startAfter } : {}),
        ...(token !== null ? { continuationToken: { token, key: continuationKey(token) } } : {}),
      };
    }
    case 'ListMultipartUploads': return { ...c, prefix: q.get('prefix') ?? '' };
    default: return c;
  }
}

/** Operations whose endpoint has parameters beyond bucket and key, parsed by `route`. */
type ParsedOp = 'CopyObject' | 'UploadPart' | 'UploadPartCopy' | 'CompleteMultipartUpload' | 'AbortMultipartUpload' | 'ListParts'
  | 'ListObjects' | 'ListObjectsV2' | 'ListObjectVersions' | 'ListMultipartUploads';
type ParsedField = 'uploadId' | 'partNumber' | 'copySource' | 'partNumberMarker' | 'maxParts' | 'list' | 'marker' | 'keyMarker'
  | 'fetchOwner' | 'startAfter' | 'continuationToken' | 'prefix';

/** The operation chosen, with its bucket and key only. */
type Choice = Exclude<S3Endpoint, { op: ParsedOp }> | { [K in ParsedOp]: Omit<EndpointOf<K>, ParsedField> & { op: K } }[ParsedOp];
/** The member of S3Endpoint whose op includes K: what the handler of K takes. */
export type EndpointOf<K extends S3Operation> = S3Endpoint extends infer E ? (E extends { op: infer O } ? (K extends O ? E : never) : never) : never;

function choose(method: string, bucket: string | undefined, key: string | undefined, q: URLSearchParams, copySource: boolean): Choice {
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

/** The listing parameters the three object listings share. */
function listQuery(q: URLSearchParams): ListQuery {
  const mk = q.get('max-keys');
  let maxKeys = 1000;
  if (mk !== null) {
    if (!/^\d+$/.test(mk)) throw new S3Error('InvalidArgument', 'max-keys must be a non-negative integer.');
    maxKeys = Math.min(1000, Number(mk));
  }
  const enc = q.get('encoding-type');
  if (enc !== null && enc !== 'url') throw new S3Error('InvalidArgument', 'Invalid Encoding Method specified in Request');
  const delimiter = q.get('delimiter') ?? undefined;
  return { prefix: q.get('prefix') ?? '', delimiter: delimiter === '' ? undefined : delimiter, maxKeys, urlEncode: enc === 'url' };
}

/** The key a ListObjectsV2 continuation token stands for: ours are the key, base64url (list.ts). */
function continuationKey(token: string): string {
  const key = Buffer.from(token, 'base64url').toString('utf8');
  if (!token || Buffer.from(key, 'utf8').toString('base64url') !== token) {
    throw new S3Error('InvalidArgument', 'The continuation token provided is incorrect');
  }
  return key;
}

/**
 * partNumber, as S3 takes it: an integer from 1 to 10000. (Read with Number(), as the
 * multipart handlers did before the router parsed it: ' 7 ' and '7.0' are part 7.)
 */
function parsePartNumber(v: string | null): number {
  const n = Number(v);
  if (!Number.isInteger(n) || n < 1 || n > MAX_PART_NUMBER) {
    throw new S3Error('InvalidArgument', `Part number must be an integer between 1 and ${MAX_PART_NUMBER}, inclusive`);
  }
  return n;
}

/** Parses x-amz-copy-source: `[/]bucket/key[?versionId=…]`, percent-encoded. */
export function parseCopySource(v: string | undefined): CopySource {
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
  const bucket = percentDecode(s.slice(0, i));
  const key = percentDecode(s.slice(i + 1));
  if (bucket === undefined || key === undefined) throw new S3Error('InvalidArgument', 'Copy Source is not valid percent-encoding');
  checkBucketAccessName(bucket); // the same rule as the request's own bucket: never /.dht2
  return { bucket, key };
}

/**
 * The permissions an endpoint needs, as the S3 actions an access policy matches
 * (https://docs.aws.amazon.com/service-authorization/latest/reference/list_amazons3.html),
 * each on its resource: the bucket, or the bucket and key. Two are not checked from here:
 *  - DeleteObjects needs s3:DeleteObject on each key of its body, which only its handler reads
 *    (`deleteObjectsKeyPermission`); the request itself needs nothing more than a signature.
 *  - PostObject is not signed, its form is: post-object.ts checks the form's policy and then
 *    needs s3:PutObject on the bucket (the key comes from the form).
 */
export function permissionsOf(ep: S3Endpoint): S3Permission[] {
  const onBucket = (action: S3Action, bucket: string): S3Permission[] => [{ action, bucket }];
  switch (ep.op) {
    // ListAllMyBuckets is granted on "*" in IAM: no bucket.
    case 'ListBuckets': return [{ action: 's3:ListAllMyBuckets', bucket: '*' }];
    case 'CreateBucket': return onBucket('s3:CreateBucket', ep.bucket);
    case 'DeleteBucket': return onBucket('s3:DeleteBucket', ep.bucket);
    case 'HeadBucket': case 'ListObjects': case 'ListObjectsV2': return onBucket('s3:ListBucket', ep.bucket);
    case 'ListObjectVersions': return onBucket('s3:ListBucketVersions', ep.bucket);
    case 'GetBucketLocation': return onBucket('s3:GetBucketLocation', ep.bucket);
    case 'GetBucketVersioning': return onBucket('s3:GetBucketVersioning', ep.bucket);
    case 'ListMultipartUploads': return onBucket('s3:ListBucketMultipartUploads', ep.bucket);
    case 'DeleteObjects': return [];
    case 'PostObject': return onBucket('s3:PutObject', ep.bucket);
    case 'PutObject': case 'CreateMultipartUpload': case 'UploadPart': case 'CompleteMultipartUpload':
      return [{ action: 's3:PutObject', bucket: ep.bucket, key: ep.key }];
    case 'CopyObject': case 'UploadPartCopy':
      // A copy reads its source: the caller must be allowed to, as for a GET of it.
      return [{ action: 's3:PutObject', bucket: ep.bucket, key: ep.key }, { action: 's3:GetObject', bucket: ep.copySource.bucket, key: ep.copySource.key }];
    case 'GetObject': case 'HeadObject': return [{ action: 's3:GetObject', bucket: ep.bucket, key: ep.key }];
    case 'DeleteObject': return [{ action: 's3:DeleteObject', bucket: ep.bucket, key: ep.key }];
    case 'AbortMultipartUpload': return [{ action: 's3:AbortMultipartUpload', bucket: ep.bucket, key: ep.key }];
    case 'ListParts': return [{ action: 's3:ListMultipartUploadParts', bucket: ep.bucket, key: ep.key }];
    case 'NotImplemented': return [];
    default: return assertNever(ep);
  }
}

/** The permission DeleteObjects needs for each key of its body: its handler checks it key by key. */
export function deleteObjectsKeyPermission(bucket: string, key: string): S3Permission {
  return { action: 's3:DeleteObject', bucket, key };
}

/**
 * DeleteObjects' check of one key of its body (the hook its handler calls for each key before
 * deleting it): AccessDenied, an error of that key alone, unless `who` may delete it.
 */
export function authorizeDeleteObjectsKey(who: Identity, bucket: string, key: string): void {
  authorizeAll(who, [deleteObjectsKeyPermission(bucket, key)]);
}

/** The exhaustiveness check of a switch over endpoints. */
export function assertNever(x: never): never {
  throw new Error(`unhandled endpoint ${JSON.stringify(x)}`);
}
