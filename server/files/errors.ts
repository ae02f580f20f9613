/**
 * File API errors: JSON `{ "error": ERRNO, "message", "path" }` with one errno → HTTP status
 * table (documented in openapi.yaml and docs/FILE-API.md).
 */
import { Dht2Error, type Errno } from '../../dht2-core/index.js';
import { authErrorIn } from '../auth/index.js';
import { ObjectError, type ObjectErrorKind } from '../objects/index.js';

/**
 * One HTTP status per errno, so a new errno does not compile until it has one. 500 are the
 * unexpected ones (documented as "any other errno"); the S3 table (server/s3/errors.ts
 * ERRNO_S3) agrees except where test/server/s3/errors.test.ts lists why not.
 */
export const ERRNO_STATUS: Readonly<Record<Errno, number>> = {
  ENOENT: 404, EEXIST: 409, ENOTEMPTY: 409, ENOTDIR: 409, EISDIR: 409, EINVAL: 400, ENAMETOOLONG: 400,
  EACCES: 403, EPERM: 403, ENOSPC: 507, EDQUOT: 507, EFBIG: 413, ENODATA: 404, ESTALE: 412, ELOOP: 400, EXDEV: 400,
  EHOSTDOWN: 503, ENOTCONN: 503, ETIMEDOUT: 503, EAGAIN: 503,
  // Consumed by the replica-set layer (ARCHITECTURE.md §10.8); should one escape, the set is
  // between primaries: try again.
  ENOTPRIMARY: 503, EALREADY: 503, ECANCELED: 400, ERANGE: 400, E2BIG: 413,
  EIO: 500, EREMOTE: 500, EMLINK: 500, ENOTSUP: 500, EPROTO: 500, EROFS: 500, EBUSY: 500, EMSGSIZE: 500,
};

/**
 * The errno name each object-layer refusal (server/objects/errors.ts) reads as here, whose
 * status is then ERRNO_STATUS's: checked complete by the compiler, as the S3 table is.
 */
export const OBJECT_ERROR_ERRNO: Readonly<Record<ObjectErrorKind, Errno>> = {
  BucketNotFound: 'ENOENT', ObjectNotFound: 'ENOENT', UploadNotFound: 'ENOENT',
  BucketNameInvalid: 'EINVAL', ObjectNameInvalid: 'EINVAL', MetadataInvalid: 'EINVAL', ArgumentInvalid: 'EINVAL',
  FolderHoldsNoData: 'EISDIR', PartInvalid: 'EINVAL', PartOrderInvalid: 'EINVAL', PartTooSmall: 'EINVAL',
  ObjectNameTooLong: 'ENAMETOOLONG', MetadataTooLarge: 'EINVAL', RangeNotSatisfiable: 'EINVAL',
  BucketExists: 'EEXIST', BucketNotEmpty: 'ENOTEMPTY', PreconditionFailed: 'ESTALE', ObjectKeepsChanging: 'EAGAIN',
};

export interface FileApiError {
  status: number;
  body: { error: string; message: string; path?: string };
}

export function fileError(e: unknown, path: string): FileApiError {
  const auth = authErrorIn(e);
  if (auth) return { status: auth.status, body: { error: auth.code, message: auth.message, path } };
  if (e instanceof Dht2Error) {
    return { status: ERRNO_STATUS[e.errno], body: { error: e.errno, message: e.detail, path: e.path ?? path } };
  }
  if (e instanceof ObjectError) {
    const errno = OBJECT_ERROR_ERRNO[e.kind];
    return { status: ERRNO_STATUS[errno], body: { error: errno, message: e.message, path } };
  }
  return { status: 500, body: { error: 'EIO', message: 'internal error', path } };
}
