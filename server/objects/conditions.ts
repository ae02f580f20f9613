/**
 * Conditional requests and ranges, evaluated once for every API and operation: GET and HEAD
 * (S3 and the file API), a copy's `x-amz-copy-source-if-*`, a write's `If-Match` /
 * `If-None-Match` (https://docs.aws.amazon.com/AmazonS3/latest/userguide/conditional-writes.html).
 *
 * RFC 9110 §13.1.1: If-Match uses the strong comparison (a weak tag `W/"…"` never matches), and
 * If-None-Match the weak one (`W/"x"` matches `"x"`); §13.2.2 gives the order: If-Match, else
 * If-Unmodified-Since; then If-None-Match, else If-Modified-Since. An entity-tag is compared by
 * its opaque part, quoted or not: S3 clients send both forms (aws-cli quotes, some SDKs do not).
 */

/** The four validators of a request, as their header values. */
export interface Conditions {
  ifMatch?: string | undefined;
  ifNoneMatch?: string | undefined;
  ifModifiedSince?: string | undefined;
  ifUnmodifiedSince?: string | undefined;
}

/** `pass`, or which kind of condition failed: a read answers 304 / 412; a copy source 412 for both. */
export type ConditionResult = 'pass' | 'not-modified' | 'failed';

const opaque = (tag: string): string => tag.trim().replaceAll('"', '');

/** Whether an If-Match / If-None-Match list matches `etag`; `strong` refuses weak tags in the list. */
function etagListMatches(list: string, etag: string, strong: boolean): boolean {
  const mine = opaque(etag.replace(/^W\//, ''));
  return list.split(',').some((raw) => {
    const t = raw.trim();
    if (t === '*') return true;
    if (t.startsWith('W/')) return !strong && opaque(t.slice(2)) === mine;
    return opaque(t) === mine;
  });
}

/** Evaluates `c` against an object with `etag` modified at `mtimeMs` (HTTP dates have second precision). */
export function evaluateConditions(c: Conditions, etag: string, mtimeMs: number): ConditionResult {
  const secs = Math.floor(mtimeMs / 1000);
  const dateSecs = (v: string): number | undefined => {
    const t = Date.parse(v);
    return Number.isNaN(t) ? undefined : Math.floor(t / 1000); // an invalid date is ignored (§13.1.3/§13.1.4)
  };
  if (c.ifMatch !== undefined) {
    if (!etagListMatches(c.ifMatch, etag, true)) return 'failed';
  } else if (c.ifUnmodifiedSince !== undefined) {
    const t = dateSecs(c.ifUnmodifiedSince);
    if (t !== undefined && secs > t) return 'failed';
  }
  if (c.ifNoneMatch !== undefined) {
    if (etagListMatches(c.ifNoneMatch, etag, false)) return 'not-modified';
  } else if (c.ifModifiedSince !== undefined) {
    const t = dateSecs(c.ifModifiedSince);
    if (t !== undefined && secs <= t) return 'not-modified';
  }
  return 'pass';
}

/** A byte range of an object: first and last byte, inclusive. */
export interface ByteRange {
  start: number;
  end: number;
}

/** Parses a single `bytes=` range against `size`; undefined = whole object; 'unsatisfiable'. */
export function parseRange(h: string | undefined, size: number): ByteRange | 'unsatisfiable' | undefined {
  if (!h) return undefined;
  const m = /^bytes=(\d*)-(\d*)$/.exec(h.trim());
  if (!m || (m[1] === '' && m[2] === '')) return undefined; // several ranges or malformed: the whole object, as S3
  if (m[1] === '') {
    const n = Number(m[2]);
    if (n === 0) return 'unsatisfiable';
    return { start: Math.max(0, size - n), end: size - 1 };
  }
  const start = Number(m[1]);
  const end = m[2] === '' ? size - 1 : Math.min(Number(m[2]), size - 1);
  if (start >= size || (m[2] !== '' && Number(m[2]) < start)) return 'unsatisfiable';
  return { start, end };
}
