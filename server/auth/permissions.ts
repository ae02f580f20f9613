/**
 * The one permission check of the gateway: may this identity do this S3 action on this bucket
 * and key? Every access decision beyond "the signature is valid" goes through `authorize`, so
 * per-key policies, when they come, have a single place to live. Today every authenticated key
 * may do everything (docs/FILE-API.md "Credentials": no per-path permissions yet); an identity
 * without an access key (an unsigned request) may do nothing.
 */
import { S3AuthError } from './errors.js';

/** Who a request authenticated as. */
export interface Identity {
  /** The access key that signed the request; '' when nothing did. */
  accessKeyId: string;
}

/**
 * The IAM actions of the S3 operations we implement
 * (https://docs.aws.amazon.com/service-authorization/latest/reference/list_amazons3.html);
 * server/s3/router.ts `permissionsOf` says which each endpoint needs.
 */
export type S3Action =
  | 's3:ListAllMyBuckets' | 's3:CreateBucket' | 's3:DeleteBucket' | 's3:ListBucket' | 's3:ListBucketVersions'
  | 's3:GetBucketLocation' | 's3:GetBucketVersioning' | 's3:ListBucketMultipartUploads'
  | 's3:GetObject' | 's3:PutObject' | 's3:DeleteObject' | 's3:AbortMultipartUpload' | 's3:ListMultipartUploadParts';

/** An action on a resource: a bucket (`*` for the service), or a bucket and key. */
export interface S3Permission {
  action: S3Action;
  bucket: string;
  key?: string;
}

/** Throws AccessDenied (403) unless `who` may do `action` on `bucket` (and `key`). */
export function authorize(who: Identity, action: S3Action, bucket: string, key?: string): void {
  if (who.accessKeyId !== '') return;
  throw new S3AuthError('AccessDenied', `Access Denied: ${action} on ${key === undefined ? bucket : `${bucket}/${key}`}`);
}

/** Throws AccessDenied (403) unless `who` has every one of `permissions`. */
export function authorizeAll(who: Identity, permissions: readonly S3Permission[]): void {
  for (const p of permissions) authorize(who, p.action, p.bucket, p.key);
}
