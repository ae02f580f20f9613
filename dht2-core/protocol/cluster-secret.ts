/**
 * What a cluster secret must be (issue 14). The secret keys the HMAC that signs every brick FOP
 * (docs/PROTOCOL.md §3): whoever knows it can read and write every brick. So:
 *
 * - a secret printed in this project's README, docs, `.env.example` or compose files is refused
 *   everywhere, old volume or new: it is public (the compose example
 *   `change-me-use-openssl-rand-hex-24` used to be accepted as is);
 * - a new volume (a brick directory formatted, a volume file written by `dht2 volume create`,
 *   the first start of `dht2 local`) needs 32 bytes or more, the HMAC-SHA256 key length that
 *   RFC 2104 §3 recommends at least (L = 32 bytes for SHA-256);
 * - an existing volume whose secret is 16-31 bytes still starts, with a warning that says how
 *   to rotate it (docs/VOLUME-FILE.md, "Rotating the cluster secret"). Below 16 is refused, as
 *   before.
 */
import { err } from './errors.js';
import { MIN_SECRET_LENGTH } from './wire.js';

/** Bytes (UTF-8) a secret needs for a new volume. */
export const MIN_NEW_SECRET_BYTES = 32;

/** How to make a good secret, for messages. */
export const MAKE_A_SECRET = 'make one with `openssl rand -hex 32` (or `node -e "console.log(require(\'crypto\').randomBytes(32).toString(\'hex\'))"`)';

/** Where the rotation steps are, for messages. */
export const ROTATE_DOC = 'docs/VOLUME-FILE.md, "Rotating the cluster secret"';

/**
 * Every cluster secret that has appeared as an example in this project's files (README, docs,
 * `.env.example`, compose files), now or in an earlier version: a secret anybody can read.
 * test/server/cluster-secret.test.ts checks that every example in those files is refused.
 */
export const EXAMPLE_SECRETS: readonly string[] = [
  'change-me-use-openssl-rand-hex-24',
];

/** Placeholders people write by hand: `change-me…`, `changeme…`, `replace-me…`, `your-secret…`. */
const PLACEHOLDER = /^(change[-_ ]?me|replace[-_ ]?me|your[-_ ]?(cluster[-_ ]?)?secret)/i;

export interface SecretCheck {
  /** Set when the secret is accepted for an existing volume but would not be for a new one. */
  warning?: string;
}

/**
 * Checks a cluster secret; throws EINVAL with a message saying what to do, or returns a warning
 * to log. `newVolume`: the secret is about to be used for something new (see the file comment).
 */
export function checkClusterSecret(secret: string, o: { newVolume: boolean }): SecretCheck {
  if (secret.length === 0) throw err('EINVAL', `no cluster secret: ${MAKE_A_SECRET}`);
  if (EXAMPLE_SECRETS.includes(secret) || PLACEHOLDER.test(secret)) {
    throw err('EINVAL', `the cluster secret is an example value from the documentation, known to anyone: ${MAKE_A_SECRET}` +
      (o.newVolume ? '' : ` and rotate it (${ROTATE_DOC})`));
  }
  const bytes = Buffer.byteLength(secret, 'utf8');
  if (bytes < MIN_SECRET_LENGTH) {
    throw err('EINVAL', `the cluster secret is ${bytes} bytes; it must be at least ${o.newVolume ? MIN_NEW_SECRET_BYTES : MIN_SECRET_LENGTH}: ${MAKE_A_SECRET}`);
  }
  if (bytes < MIN_NEW_SECRET_BYTES) {
    if (o.newVolume) {
      throw err('EINVAL', `the cluster secret is ${bytes} bytes; a new volume needs at least ${MIN_NEW_SECRET_BYTES}: ${MAKE_A_SECRET}`);
    }
    return {
      warning: `the cluster secret is ${bytes} bytes, shorter than the ${MIN_NEW_SECRET_BYTES} a new volume needs; ` +
        `it is accepted for this existing volume, but rotate it (${ROTATE_DOC}): ${MAKE_A_SECRET}`,
    };
  }
  return {};
}
