/**
 * HTTP Basic credentials (RFC 7617) as the file API and the /-/ admin endpoints take them: the
 * user is an access key, the password its secret (`curl -u ACCESS_KEY:SECRET`).
 */
import { constantTimeEqual } from './common.js';
import type { CredentialStore } from './credentials.js';

/** Whether an Authorization header value is Basic credentials (the scheme as curl sends it). */
export function isBasicAuth(authorization: string | undefined): authorization is string {
  return typeof authorization === 'string' && authorization.startsWith('Basic ');
}

/**
 * The access key of Basic credentials whose password is that key's secret; undefined for an
 * unknown key, a wrong secret, or credentials without the ':' between user and password.
 */
export function verifyBasicAuth(authorization: string, creds: CredentialStore): string | undefined {
  const dec = Buffer.from(authorization.slice('Basic '.length), 'base64').toString('utf8');
  const i = dec.indexOf(':');
  if (i < 0) return undefined;
  const id = dec.slice(0, i);
  const secret = creds.secretFor(id);
  return secret !== undefined && constantTimeEqual(secret, dec.slice(i + 1)) ? id : undefined;
}
