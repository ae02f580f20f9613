/**
 * Errors of the DHT2 tiers. The brick speaks POSIX errno names on the wire; dht2-core turns
 * them into one typed class, {@link Dht2Error}, that carries the errno, the path or GFID it is
 * about and, for EREMOTE, the GFID to follow (DHT2 P2: a name whose inode lives on another MDS).
 */

/** Errno names that travel on the wire. Anything else a filesystem throws becomes EIO. */
export const ERRNOS = [
  'ENOENT', 'EEXIST', 'ENOTDIR', 'EISDIR', 'ENOTEMPTY', 'EREMOTE', 'EINVAL', 'ENAMETOOLONG',
  'ENOSPC', 'EDQUOT', 'EIO', 'EACCES', 'EPERM', 'EXDEV', 'ELOOP', 'ENODATA', 'E2BIG', 'EFBIG',
  'ERANGE', 'EMLINK', 'ESTALE', 'ENOTSUP', 'EPROTO', 'EROFS', 'EBUSY', 'EAGAIN',
  'ETIMEDOUT', 'EHOSTDOWN', 'ENOTCONN', 'ECANCELED', 'EMSGSIZE',
  // Replica sets (ARCHITECTURE.md §10.2, §10.4): this member is not the set's primary (HTTP 421,
  // names the primary it follows); an operation id already applied whose reply is no longer
  // kept (outcome unknown to this member). Both are consumed by the replica-set layer.
  'ENOTPRIMARY', 'EALREADY',
] as const;

export type Errno = (typeof ERRNOS)[number];

const errnoSet: ReadonlySet<string> = new Set(ERRNOS);

/** True when `s` is an errno name this protocol knows. */
export function isErrno(s: unknown): s is Errno {
  return typeof s === 'string' && errnoSet.has(s);
}

/** Extra facts an error may carry across the wire. */
export interface Dht2ErrorDetails {
  /** For EREMOTE: the GFID of the inode that lives on another MDS. */
  gfid?: string;
  /** The path or name the operation was about, for messages. */
  path?: string;
  /** For ENOTPRIMARY: the primary this member follows, when it knows one (ARCHITECTURE.md §10.8). */
  primary?: string;
  /** For ENOTPRIMARY: the term this member is in. */
  term?: number;
  cause?: unknown;
}

/** The one error class of dht2-core and the brick: an errno plus context. */
export class Dht2Error extends Error {
  override readonly name = 'Dht2Error';
  readonly errno: Errno;
  readonly gfid: string | undefined;
  readonly path: string | undefined;
  /** ENOTPRIMARY: the primary the member named, if any, and its term. */
  readonly primary: string | undefined;
  readonly term: number | undefined;
  /**
   * The message without its errno prefix: what users read next to the errno (the file API's
   * `message`, a wrapping error's text). `message` keeps the prefix, for logs and stack traces.
   */
  readonly detail: string;

  constructor(errno: Errno, message: string, details: Dht2ErrorDetails = {}) {
    super(`${errno}: ${message}`, details.cause === undefined ? undefined : { cause: details.cause });
    this.errno = errno;
    this.detail = message;
    this.gfid = details.gfid;
    this.path = details.path;
    this.primary = details.primary;
    this.term = details.term;
  }
}

/**
 * True when `e` is a Dht2Error with one of `errnos`: the one test callers use instead of
 * spelling out `instanceof` and errno comparisons. At least one errno, so a call cannot
 * silently mean "never".
 */
export function isErr(e: unknown, ...errnos: [Errno, ...Errno[]]): e is Dht2Error {
  return e instanceof Dht2Error && errnos.includes(e.errno);
}

/** Shorthand used at call sites: `throw err('ENOENT', 'no such entry', {path})`. */
export function err(errno: Errno, message: string, details?: Dht2ErrorDetails): Dht2Error {
  return new Dht2Error(errno, message, details);
}

/**
 * Turns anything thrown by node:fs (or by a native addon that only says "(os error N)")
 * into a Dht2Error. Unknown failures become EIO so callers never see a raw exception.
 */
export function toDht2Error(e: unknown, context?: string): Dht2Error {
  if (e instanceof Dht2Error) return e;
  const ctx = context ? `${context}: ` : '';
  if (e && typeof e === 'object') {
    const code = (e as { code?: unknown }).code;
    const message = (e as { message?: unknown }).message;
    // node:fs messages name the brick's local paths; users see the errno and the FOP instead.
    const syscall = (e as { syscall?: unknown }).syscall;
    if (isErrno(code)) {
      const text = typeof syscall === 'string' ? `${code} in ${syscall}` : String(message ?? code);
      return new Dht2Error(code, `${ctx}${text}`, { cause: e });
    }
    const m = typeof message === 'string' ? /\(os error (\d+)\)/.exec(message) : null;
    if (m) {
      const name = OS_ERRNO[Number(m[1])];
      if (name) return new Dht2Error(name, `${ctx}${String(message)}`, { cause: e });
    }
    if (code === 'ENAMETOOLONG' || code === 'ENOTSUP' || code === 'EOPNOTSUPP') {
      return new Dht2Error(code === 'ENAMETOOLONG' ? 'ENAMETOOLONG' : 'ENOTSUP', `${ctx}${String(message)}`);
    }
  }
  return new Dht2Error('EIO', `${ctx}${e instanceof Error ? e.message : String(e)}`, { cause: e });
}

/** Linux errno numbers for the names above (asm-generic/errno-base.h, errno.h). */
const OS_ERRNO: Record<number, Errno> = {
  1: 'EPERM', 2: 'ENOENT', 5: 'EIO', 7: 'E2BIG', 11: 'EAGAIN', 13: 'EACCES', 16: 'EBUSY',
  17: 'EEXIST', 18: 'EXDEV', 20: 'ENOTDIR', 21: 'EISDIR', 22: 'EINVAL', 27: 'EFBIG',
  28: 'ENOSPC', 30: 'EROFS', 31: 'EMLINK', 34: 'ERANGE', 36: 'ENAMETOOLONG', 39: 'ENOTEMPTY',
  40: 'ELOOP', 61: 'ENODATA', 66: 'EREMOTE', 95: 'ENOTSUP', 110: 'ETIMEDOUT', 112: 'EHOSTDOWN',
  116: 'ESTALE', 122: 'EDQUOT', 125: 'ECANCELED',
};
