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

/** IAM action names (https://docs.aws.amazon.com/service-authorization/latest/reference/list_amazons3.html). */
export type S3Action = 's3:GetObject' | 's3:PutObject' | 's3:DeleteObject' | 's3:ListBucket';

/** Throws AccessDenied (403) unless `who` may do `action` on `bucket` (and `key`). */
export function authorize(who: Identity, action: S3Action, bucket: string, key?: string): void {
  if (who.accessKeyId !== '') return;
  throw new S3AuthError('AccessDenied', `Access Denied: ${action} on ${key === undefined ? bucket : `${bucket}/${key}`}`);
}
