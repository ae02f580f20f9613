/**
 * Where the gateway's access keys come from.
 *
 * The authentication code only needs "secret for this access key id", so that is the whole
 * interface; a file-backed static store is provided for the server's configuration.
 */
import { readFileSync } from 'node:fs';

export interface CredentialStore {
  /** The secret access key of `accessKeyId`, or undefined when the key is unknown. */
  secretFor(accessKeyId: string): string | undefined;
}

/** One entry of the credentials file. */
export interface CredentialsFileKey {
  accessKeyId: string;
  secretAccessKey: string;
}

/**
 * Access key ids appear inside `Credential=AKID/date/region/s3/aws4_request` (SigV4) and
 * `Authorization: AWS AKID:signature` (SigV2), so they must not contain '/', ':', ',', '=', '&',
 * whitespace or control characters, or the headers that carry them could not be parsed back.
 * AWS's own ids are 16-128 upper-case alphanumerics; we are a little more permissive.
 */
const ACCESS_KEY_ID_RE = /^[A-Za-z0-9._~+-]{3,128}$/;

/** A fixed set of keys held in memory. */
export class StaticCredentials implements CredentialStore {
  private readonly keys: Map<string, string>;

  constructor(keys: ReadonlyMap<string, string> | Iterable<readonly [string, string]>) {
    this.keys = new Map();
    for (const [id, secret] of keys) {
      validateKey(id, secret, `key ${JSON.stringify(id)}`);
      if (this.keys.has(id)) throw new Error(`duplicate access key id ${JSON.stringify(id)}`);
      this.keys.set(id, secret);
    }
  }

  secretFor(accessKeyId: string): string | undefined {
    return this.keys.get(accessKeyId);
  }

  get size(): number {
    return this.keys.size;
  }
}

function validateKey(id: unknown, secret: unknown, where: string): asserts id is string {
  if (typeof id !== 'string' || !ACCESS_KEY_ID_RE.test(id)) {
    throw new Error(
      `${where}: accessKeyId must be a string of 3-128 characters from [A-Za-z0-9._~+-]`,
    );
  }
  if (typeof secret !== 'string' || secret.length === 0) {
    throw new Error(`${where}: secretAccessKey must be a non-empty string`);
  }
  // Control characters would make the HMAC key differ from what users typed in a config file.
  if (/[\u0000-\u001f\u007f]/.test(secret)) {
    throw new Error(`${where}: secretAccessKey contains control characters`);
  }
}

/**
 * Validate the parsed JSON of a credentials file: `{ "keys": [{ "accessKeyId", "secretAccessKey" }] }`.
 * `source` names the file in error messages.
 */
export function parseCredentials(json: unknown, source = 'credentials'): StaticCredentials {
  if (typeof json !== 'object' || json === null || Array.isArray(json)) {
    throw new Error(`${source}: expected a JSON object with a "keys" array`);
  }
  const keys = (json as { keys?: unknown }).keys;
  if (!Array.isArray(keys) || keys.length === 0) {
    throw new Error(`${source}: "keys" must be a non-empty array`);
  }
  const pairs: Array<[string, string]> = [];
  const seen = new Set<string>();
  keys.forEach((entry: unknown, i: number) => {
    const where = `${source}: keys[${i}]`;
    if (typeof entry !== 'object' || entry === null || Array.isArray(entry)) {
      throw new Error(`${where}: expected an object with accessKeyId and secretAccessKey`);
    }
    const { accessKeyId, secretAccessKey } = entry as Partial<Record<string, unknown>>;
    validateKey(accessKeyId, secretAccessKey, where);
    if (seen.has(accessKeyId)) {
      throw new Error(`${where}: duplicate accessKeyId ${JSON.stringify(accessKeyId)}`);
    }
    seen.add(accessKeyId);
    pairs.push([accessKeyId, secretAccessKey as string]);
  });
  return new StaticCredentials(pairs);
}

/** Read and validate a credentials JSON file (synchronously: it is read once at startup). */
export function loadCredentialsFile(path: string): StaticCredentials {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (err) {
    throw new Error(`cannot read credentials file ${path}: ${(err as Error).message}`);
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (err) {
    throw new Error(`credentials file ${path} is not valid JSON: ${(err as Error).message}`);
  }
  return parseCredentials(json, path);
}
