/**
 * The POST policy of a browser-based upload: a base64 JSON document with an `expiration` and
 * `conditions` every form field must meet
 * (https://docs.aws.amazon.com/AmazonS3/latest/API/sigv4-HTTPPOSTConstructPolicy.html).
 * Pure: parsing and checking take data and the current time; the size range is enforced by
 * post-object.ts while the file streams.
 */
import { S3Error } from './errors.js';

/** One eq / starts-with condition; `field` is lower-cased, without its `$`. */
export interface PolicyCondition {
  op: 'eq' | 'starts-with';
  field: string;
  value: string;
  /** The condition as S3 quotes it in "Policy Condition failed: [...]". */
  text: string;
}

export interface PostPolicy {
  expiration: Date;
  conditions: PolicyCondition[];
  /** content-length-range: inclusive bounds on the size of the file, in bytes. */
  length?: { min: number; max: number };
}

/** A form field as checked: after `${filename}` substitution, and as the form sent it. */
export interface FormValue {
  value: string;
  sent: string;
}

/**
 * Fields that take exact matches only (the "Conditions" table of the page above): the bucket,
 * the status, the signing fields and other x-amz-* fields except user metadata.
 */
function exactOnly(field: string): boolean {
  return field === 'bucket' || field === 'success_action_status' || (field.startsWith('x-amz-') && !field.startsWith('x-amz-meta-'));
}

function invalid(why: string): S3Error {
  return new S3Error('InvalidPolicyDocument', `Invalid Policy: ${why}`);
}

function lengthBound(v: unknown): number | undefined {
  const n = typeof v === 'number' ? v : typeof v === 'string' && /^\d+$/.test(v) ? Number(v) : NaN;
  return Number.isSafeInteger(n) && n >= 0 ? n : undefined;
}

/** Decodes and validates the `policy` field; InvalidPolicyDocument says what is wrong. */
export function parsePostPolicy(b64: string): PostPolicy {
  const compact = b64.replace(/\s+/g, '');
  if (!/^[A-Za-z0-9+/]+={0,2}$/.test(compact)) throw invalid('Invalid base64 encoding.');
  let doc: unknown;
  try {
    doc = JSON.parse(Buffer.from(compact, 'base64').toString('utf8'));
  } catch {
    throw invalid('Invalid JSON.');
  }
  if (typeof doc !== 'object' || doc === null || Array.isArray(doc)) throw invalid('Invalid JSON.');
  const { expiration, conditions } = doc as { expiration?: unknown; conditions?: unknown };
  if (expiration === undefined) throw invalid('Policy missing expiration.');
  const when = typeof expiration === 'string' && /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})$/.test(expiration) ? new Date(expiration) : undefined;
  if (when === undefined || Number.isNaN(when.getTime())) throw invalid(`Invalid 'expiration' value: '${String(expiration)}'.`);
  if (conditions === undefined) throw invalid('Policy missing conditions.');
  if (!Array.isArray(conditions)) throw invalid("The 'conditions' element must be a list.");
  const out: PostPolicy = { expiration: when, conditions: [] };
  for (const c of conditions as unknown[]) {
    if (Array.isArray(c)) {
      const [op, a, b] = c as unknown[];
      const name = typeof op === 'string' ? op.toLowerCase() : '';
      if (name === 'content-length-range') {
        const min = lengthBound(a);
        const max = lengthBound(b);
        if (c.length !== 3 || min === undefined || max === undefined || min > max) {
          throw invalid(`Invalid content-length-range condition: ${JSON.stringify(c)}; expecting ["content-length-range", min, max] with 0 <= min <= max.`);
        }
        out.length = out.length ? { min: Math.max(out.length.min, min), max: Math.min(out.length.max, max) } : { min, max };
        continue;
      }
      if (name !== 'eq' && name !== 'starts-with') throw invalid(`Invalid condition operation: ${JSON.stringify(op)}.`);
      if (c.length !== 3 || typeof a !== 'string' || typeof b !== 'string' || !a.startsWith('$') || a.length < 2) {
        throw invalid(`Invalid condition: ${JSON.stringify(c)}; expecting ["${name}", "$field", "value"].`);
      }
      const field = a.slice(1).toLowerCase();
      if (name === 'starts-with' && exactOnly(field)) throw invalid(`The '${a}' field accepts exact matches only, not starts-with.`);
      out.conditions.push({ op: name, field, value: b, text: `["${name}", "${a}", ${JSON.stringify(b)}]` });
    } else if (typeof c === 'object' && c !== null) {
      // {"acl": "public-read"} is ["eq", "$acl", "public-read"]; each entry of the object is one.
      const entries = Object.entries(c);
      if (entries.length === 0 || entries.some(([, v]) => typeof v !== 'string')) {
        throw invalid(`Invalid simple condition: ${JSON.stringify(c)}; expecting {"field": "value"}.`);
      }
      for (const [k, v] of entries as Array<[string, string]>) {
        out.conditions.push({ op: 'eq', field: k.toLowerCase(), value: v, text: `["eq", "$${k}", ${JSON.stringify(v)}]` });
      }
    } else {
      throw invalid(`Invalid condition: ${JSON.stringify(c)}.`);
    }
  }
  return out;
}

/**
 * Form fields the conditions need not name: the signature fields, the policy, the file and
 * `x-ignore-*` ("Each form field that you specify in a form (except x-amz-signature, file,
 * policy, and field names that have an x-ignore- prefix) must appear in the list of
 * conditions"; SigV2 forms: AWSAccessKeyId and signature).
 */
export function exemptFromPolicy(field: string): boolean {
  return ['policy', 'x-amz-signature', 'file', 'awsaccesskeyid', 'signature'].includes(field) || field.startsWith('x-ignore-');
}

function holds(c: PolicyCondition, v: string): boolean {
  if (c.op === 'eq') return v === c.value;
  // A Content-Type may list several types: each must start with the prefix.
  if (c.field === 'content-type') return v.split(',').every((t) => t.trim().startsWith(c.value));
  return v.startsWith(c.value);
}

function denied(why: string): S3Error {
  return new S3Error('AccessDenied', `Invalid according to Policy: ${why}`);
}

/**
 * Checks the form against the policy: not expired, every condition met (by the value after
 * `${filename}` substitution or as sent; an absent field is ''; `$bucket` is the bucket the
 * request addresses), every form field named by a condition. Throws AccessDenied
 * "Invalid according to Policy: ...".
 */
export function checkPostPolicy(p: PostPolicy, form: ReadonlyMap<string, FormValue>, bucket: string, now: Date = new Date()): void {
  if (now.getTime() >= p.expiration.getTime()) throw denied('Policy expired.');
  for (const c of p.conditions) {
    const v = c.field === 'bucket' ? { value: bucket, sent: bucket } : form.get(c.field) ?? { value: '', sent: '' };
    if (!holds(c, v.value) && !holds(c, v.sent)) throw denied(`Policy Condition failed: ${c.text}`);
  }
  const named = new Set(p.conditions.map((c) => c.field));
  const extra = [...form.keys()].filter((f) => !exemptFromPolicy(f) && !named.has(f));
  if (extra.length > 0) throw denied(`Extra input fields: ${extra.join(', ')}`);
}
