/**
 * Small helpers shared by the signature verifiers: header access, hashing, constant-time
 * comparison and the byte-exact URI encoding AWS signatures are defined over.
 */
import { createHash, createHmac, timingSafeEqual } from 'node:crypto';
import { S3AuthError } from './errors.js';

/** SHA-256 of the empty string, hex: used in chunk string-to-sign and as a payload hash. */
export const EMPTY_SHA256 = 'e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855';

/** 15 minutes: the clock skew S3 tolerates for header-signed requests. */
export const MAX_SKEW_MS = 15 * 60 * 1000;

/**
 * The time stamp rule of a header-signed request, SigV2 and SigV4 alike: a time (x-amz-date or
 * Date, parsed by the caller: `when`, undefined when absent or unreadable) must be there, and
 * within {@link MAX_SKEW_MS} of `now`. `sent` is the header as sent, for the error's RequestTime.
 */
export function checkRequestTime(when: Date | undefined, sent: string, now: Date): asserts when is Date {
  if (when === undefined) {
    throw new S3AuthError('AccessDenied', 'AWS authentication requires a valid Date or x-amz-date header');
  }
  if (Math.abs(now.getTime() - when.getTime()) > MAX_SKEW_MS) {
    throw new S3AuthError('RequestTimeTooSkewed', 'The difference between the request time and the current time is too large.', {
      RequestTime: sent,
      ServerTime: now.toISOString(),
      MaxAllowedSkewMilliseconds: String(MAX_SKEW_MS),
    });
  }
}

/**
 * One header's value. Node joins most repeated headers with ", " and gives string[] only for a
 * few (set-cookie); AWS's canonical form joins repeated values with "," so we do that for arrays.
 */
export function headerValue(
  headers: Record<string, string | string[] | undefined>,
  name: string,
): string | undefined {
  const v = headers[name];
  if (v === undefined) return undefined;
  return Array.isArray(v) ? v.join(',') : v;
}

export function hmac(key: Buffer | string, data: string): Buffer {
  return createHmac('sha256', key).update(data, 'utf8').digest();
}

export function sha256Hex(data: string | Buffer): string {
  return createHash('sha256').update(data).digest('hex');
}

/**
 * Compare two strings in time independent of where they differ (and of their lengths: both are
 * hashed first, so timingSafeEqual always sees 32 bytes). Used for every signature comparison so
 * a byte-by-byte timing oracle cannot be used to forge signatures.
 */
export function constantTimeEqual(a: string, b: string): boolean {
  const da = createHash('sha256').update(a, 'utf8').digest();
  const db = createHash('sha256').update(b, 'utf8').digest();
  return timingSafeEqual(da, db) && a.length === b.length;
}

const HEX = '0123456789ABCDEF';

function isHexDigit(c: number): boolean {
  return (c >= 0x30 && c <= 0x39) || (c >= 0x41 && c <= 0x46) || (c >= 0x61 && c <= 0x66);
}

function hexVal(c: number): number {
  return c <= 0x39 ? c - 0x30 : (c | 0x20) - 0x61 + 10;
}

/**
 * Percent-decode to raw bytes. Working on bytes (not decodeURIComponent) keeps sequences that are
 * not valid UTF-8 intact and never throws. A '%' not followed by two hex digits is kept literally.
 */
export function percentDecodeBytes(s: string, plusAsSpace: boolean): Buffer {
  const src = Buffer.from(s, 'utf8');
  const out = Buffer.allocUnsafe(src.length);
  let n = 0;
  for (let i = 0; i < src.length; i++) {
    const c = src[i]!;
    if (c === 0x25 && i + 2 < src.length && isHexDigit(src[i + 1]!) && isHexDigit(src[i + 2]!)) {
      out[n++] = (hexVal(src[i + 1]!) << 4) | hexVal(src[i + 2]!);
      i += 2;
    } else if (c === 0x2b && plusAsSpace) {
      out[n++] = 0x20;
    } else {
      out[n++] = c;
    }
  }
  return out.subarray(0, n);
}

/** Percent-decode to a string (UTF-8; invalid sequences become U+FFFD). */
export function percentDecode(s: string, plusAsSpace = false): string {
  return percentDecodeBytes(s, plusAsSpace).toString('utf8');
}

/**
 * AWS "UriEncode()" (Signature Version 4, "Signature Calculations for the Authorization Header",
 * canonical request): every byte except the unreserved characters A-Z a-z 0-9 - . _ ~ becomes
 * %XX with upper-case hex; '/' is kept when `keepSlash` (object key names in the path).
 */
export function uriEncodeBytes(bytes: Buffer, keepSlash: boolean): string {
  let out = '';
  for (const c of bytes) {
    if (
      (c >= 0x41 && c <= 0x5a) ||
      (c >= 0x61 && c <= 0x7a) ||
      (c >= 0x30 && c <= 0x39) ||
      c === 0x2d || c === 0x2e || c === 0x5f || c === 0x7e ||
      (keepSlash && c === 0x2f)
    ) {
      out += String.fromCharCode(c);
    } else {
      out += '%' + HEX[c >> 4]! + HEX[c & 15]!;
    }
  }
  return out;
}

/** Re-encode an already percent-encoded component into AWS's canonical encoding. */
export function canonicalizeEncoded(s: string, keepSlash: boolean, plusAsSpace: boolean): string {
  return uriEncodeBytes(percentDecodeBytes(s, plusAsSpace), keepSlash);
}

/** One `key[=value]` element of a raw query string. */
export interface QueryParam {
  rawKey: string;
  rawValue: string;
  /** Whether the element had an '=' (SigV2 distinguishes "?acl" from "?acl="). */
  hasValue: boolean;
  /** Decoded key and value ('+' read as space, as in form encoding). */
  key: string;
  value: string;
}

/** Split a raw query string into its elements, skipping empty ones ("a=1&&b=2", trailing '&'). */
export function parseQuery(rawQuery: string): QueryParam[] {
  const out: QueryParam[] = [];
  if (rawQuery === '') return out;
  for (const part of rawQuery.split('&')) {
    if (part === '') continue;
    const eq = part.indexOf('=');
    const rawKey = eq < 0 ? part : part.slice(0, eq);
    const rawValue = eq < 0 ? '' : part.slice(eq + 1);
    out.push({
      rawKey,
      rawValue,
      hasValue: eq >= 0,
      key: percentDecode(rawKey, true),
      value: percentDecode(rawValue, true),
    });
  }
  return out;
}

/**
 * The canonical path candidates for a raw request path. S3 signs the path as sent, without
 * double-encoding or dot-segment normalization, and every mainstream SDK (botocore, SDK v3,
 * aws-sdk-go) signs exactly the bytes it puts on the wire, so `rawPath` is tried first. Some
 * signers (the `aws4` npm package, some hand-rolled ones) instead sign AWS UriEncode() of the
 * decoded key while sending a differently-encoded path (e.g. a literal '+' or '!' that they
 * sign as %2B / %21); the re-encoded form is tried as a fallback. Both forms denote the same
 * decoded key, so accepting either does not let a signature cover a different resource.
 */
export function canonicalPathCandidates(rawPath: string): string[] {
  const asSent = rawPath === '' ? '/' : rawPath;
  const normalized = canonicalizeEncoded(asSent, true, false);
  return normalized === asSent ? [asSent] : [asSent, normalized];
}

/** Parse an ISO 8601 basic timestamp (20130524T000000Z) as used by X-Amz-Date. */
export function parseAmzDate(s: string): Date | undefined {
  const m = /^(\d{4})(\d{2})(\d{2})T(\d{2})(\d{2})(\d{2})Z$/.exec(s);
  if (!m) return undefined;
  const [, y, mo, d, h, mi, se] = m;
  const t = Date.UTC(+y!, +mo! - 1, +d!, +h!, +mi!, +se!);
  const date = new Date(t);
  // Reject rolled-over values such as month 13 or 25:00.
  if (date.getUTCMonth() !== +mo! - 1 || date.getUTCDate() !== +d! || date.getUTCHours() !== +h!) {
    return undefined;
  }
  return date;
}

/** Parse an HTTP Date header (RFC 7231 IMF-fixdate and the obsolete forms Date.parse knows). */
export function parseHttpDate(s: string): Date | undefined {
  const basic = parseAmzDate(s.trim());
  if (basic) return basic;
  const t = Date.parse(s);
  return Number.isNaN(t) ? undefined : new Date(t);
}

/** Date as 20130524T000000Z. */
export function toAmzDate(d: Date): string {
  return d.toISOString().replace(/[-:]/g, '').replace(/\.\d{3}/, '');
}
