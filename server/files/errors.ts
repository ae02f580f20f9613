/**
 * File API errors: JSON `{ "error": ERRNO, "message", "path" }` with one errno → HTTP status
 * table (documented in openapi.yaml and docs/FILE-API.md).
 */
import { Dht2Error, type Errno } from '../../dht2-core/index.js';
import { authErrorIn } from '../s3/errors.js';

export const ERRNO_STATUS: Partial<Record<Errno, number>> = {
  ENOENT: 404, EEXIST: 409, ENOTEMPTY: 409, ENOTDIR: 409, EISDIR: 409, EINVAL: 400, ENAMETOOLONG: 400,
  EACCES: 403, EPERM: 403, ENOSPC: 507, EDQUOT: 507, EFBIG: 413, ENODATA: 404, ESTALE: 412, ELOOP: 400, EXDEV: 400,
  EHOSTDOWN: 503, ENOTCONN: 503, ETIMEDOUT: 503, EAGAIN: 503, ECANCELED: 400, ERANGE: 400, E2BIG: 413,
};

export interface FileApiError {
  status: number;
  body: { error: string; message: string; path?: string };
}

export function fileError(e: unknown, path: string): FileApiError {
  const auth = authErrorIn(e);
  if (auth) return { status: auth.httpStatus, body: { error: auth.code, message: auth.message, path } };
  if (e instanceof Dht2Error) {
    return { status: ERRNO_STATUS[e.errno] ?? 500, body: { error: e.errno, message: e.message.replace(/^E[A-Z0-9]+: /, ''), path: e.path ?? path } };
  }
  return { status: 500, body: { error: 'EIO', message: 'internal error', path } };
}
