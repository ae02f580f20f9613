/**
 * Object metadata kept with each object's inode in one xattr (`s3`), written atomically with
 * the object's name (dht2-core writeFile): ETag, Content-Type, the stored response headers and
 * user metadata (x-amz-meta-*). One small JSON value: S3 caps user metadata at 2 KB.
 *
 * Rule (issue 14): whatever is stored can be sent back. Every value is checked on the way in
 * (PutObject, CopyObject with REPLACE, CreateMultipartUpload, PostObject's form fields, the file
 * API's PUT and uploads) and a value that no header could ever carry is refused with a 400;
 * every value is checked again on the way out, so an object stored before this rule (or
 * written behind the gateway's back) is still served, never a 500.
 *
 * Two kinds of values, two forms:
 *  - The stored response headers and Content-Type are kept as the bytes the client sent, as a
 *    latin1 string (one char per byte: how Node hands header values over and writes them
 *    back), so `Content-Disposition: attachment; filename="ü.txt"` sent as raw UTF-8 comes back
 *    byte for byte. Allowed: what Node's `http.validateHeaderValue` allows (TAB, visible ASCII,
 *    bytes 0x80-0xFF); refused: the other C0 controls (CR, LF, NUL…) and DEL.
 *  - User metadata values are text. "When using non US-ASCII characters in your metadata
 *    values, the provided Unicode string is examined for non US-ASCII characters. Values of such
 *    headers are character decoded as per RFC 2047 before storing and encoded as per RFC 2047 to
 *    make them mail-safe before returning"
 *    (https://docs.aws.amazon.com/AmazonS3/latest/userguide/UsingMetadata.html#UserMetadata).
 *    Clients send them as raw UTF-8 bytes (decoded here; bytes that are not UTF-8 are read as
 *    ISO-8859-1, the historical charset of HTTP fields, RFC 9110 §5.5) or as RFC 2047 encoded
 *    words (`=?UTF-8?B?...?=`, decoded here). They are stored as text, and returned as they are
 *    when they are printable ASCII, else as one `=?UTF-8?B?...?=` encoded word, as S3 does.
 *    Control characters are refused, encoded or not.
 *
 * On-disk format: base64 of JSON. Version 2 (`"v":2`) stores user metadata values as text;
 * entries without `v` (written before) kept them as the header's bytes in a latin1 string and
 * are read back into text by `decodeMeta`. `encodeMeta` always writes version 2.
 */
import { createHash } from 'node:crypto';
import type { IncomingHttpHeaders } from 'node:http';
import type { Attrs } from '../../dht2-core/index.js';
import { ObjectError } from './errors.js';

export const META_XATTR = 's3';

/** The version `encodeMeta` writes: user metadata values as text (see above). */
export const META_VERSION = 2;

/** Headers S3 stores with an object and returns on GET/HEAD (PutObject request headers). */
export const STORED_HEADERS = ['content-encoding', 'content-disposition', 'cache-control', 'expires', 'content-language'] as const;

/**
 * The most bytes the stored headers, Content-Type and user metadata take together (their JSON):
 * with the ETag and the inode's other xattrs this stays inside ext4's one 4 KiB xattr block.
 */
export const STORED_META_MAX = 3072;

/** The Content-Type of an object stored without one. */
export const DEFAULT_CONTENT_TYPE = 'binary/octet-stream';

export interface ObjectMeta {
  etag: string;
  contentType: string;
  /** Stored response headers: the bytes sent, as a latin1 string. */
  headers?: Record<string, string>;
  /** User metadata (x-amz-meta-<name>): names lower-case, values text. */
  meta?: Record<string, string>;
  /** Set on multipart objects: number of parts (the ETag ends with -N). */
  parts?: number;
}

/** A header value Node sends (its `http.validateHeaderValue`): TAB, visible ASCII, obs-text bytes. */
const HEADER_VALUE = /^[\t\x20-\x7e\x80-\xff]*$/;
/** What no header value can hold (RFC 9110 §5.5): the C0 controls but TAB, and DEL. */
const CONTROL = /[\x00-\x08\x0a-\x1f\x7f]/;
/** A header field name (RFC 9110 §5.6.2 token). */
const TOKEN = /^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/;
/** Sent back as it is: printable ASCII (and TAB). */
const PLAIN = /^[\t\x20-\x7e]*$/;
/** An RFC 2047 encoded word: =?charset?B|Q?text?= (a language tag after `*` is allowed, §5 of RFC 2231). */
const ENCODED_WORD = /=\?([^?\s*]+)(?:\*[^?\s]*)?\?([BbQq])\?([^?\s]*)\?=/g;

export const isHeaderValue = (v: string): boolean => HEADER_VALUE.test(v);

/** Text (a query parameter, a form field) as the UTF-8 bytes a header would carry, in a latin1 string. */
export function asHeaderBytes(text: string): string {
  return /[^\x00-\x7f]/.test(text) ? Buffer.from(text, 'utf8').toString('latin1') : text;
}

/** The text of header bytes (a latin1 string): UTF-8 when they are, else ISO-8859-1 as they stand. */
function textOfBytes(bytes: string): string {
  if (!/[\x80-\xff]/.test(bytes) || /[^\x00-\xff]/.test(bytes)) return bytes;
  try {
    return new TextDecoder('utf-8', { fatal: true }).decode(Buffer.from(bytes, 'latin1'));
  } catch {
    return bytes;
  }
}

function decodeWord(charset: string, enc: string, text: string): string | undefined {
  const cs = charset.toLowerCase();
  if (enc.toUpperCase() === 'B' && !/^[A-Za-z0-9+/]*={0,2}$/.test(text)) return undefined; // not base64: left as sent
  const bytes = enc.toUpperCase() === 'B'
    ? Buffer.from(text, 'base64')
    : Buffer.from(text.replace(/_/g, ' ').replace(/=([0-9A-Fa-f]{2})/g, (_m, h: string) => String.fromCharCode(parseInt(h, 16))), 'latin1');
  if (cs === 'utf-8' || cs === 'utf8' || cs === 'us-ascii') {
    try {
      return new TextDecoder('utf-8', { fatal: true }).decode(bytes);
    } catch {
      return undefined;
    }
  }
  if (cs === 'iso-8859-1' || cs === 'latin1') return bytes.toString('latin1');
  return undefined; // another charset: the word stays as it was sent (it is ASCII, so it can be sent back)
}

/** Decodes the RFC 2047 encoded words of a value; white space between two words goes (RFC 2047 §6.2). */
export function decodeRfc2047(v: string): string {
  if (!v.includes('=?')) return v;
  let out = '';
  let last = 0;
  let prevWordEnd = -1;
  for (const m of v.matchAll(ENCODED_WORD)) {
    const between = v.slice(last, m.index);
    const word = decodeWord(m[1]!, m[2]!, m[3]!);
    if (word === undefined) {
      out += between + m[0];
      prevWordEnd = -1;
    } else {
      out += prevWordEnd === last && /^\s*$/.test(between) ? '' : between;
      out += word;
      prevWordEnd = m.index + m[0].length;
    }
    last = m.index + m[0].length;
  }
  return out + v.slice(last);
}

/** A user metadata value as a header: as it is when printable ASCII, else one RFC 2047 encoded word. */
export function encodeRfc2047(text: string): string {
  return PLAIN.test(text) ? text : `=?UTF-8?B?${Buffer.from(text, 'utf8').toString('base64')}?=`;
}

const invalid = (name: string): ObjectError =>
  new ObjectError('MetadataInvalid', `The value of ${name} holds a control character (CR, LF, NUL, DEL, …) that no HTTP header can carry.`, {
    details: { ArgumentName: name },
  });

/** A header value to store as sent (its bytes); refused when no response could carry it. */
export function checkedHeaderValue(name: string, v: string): string {
  if (!isHeaderValue(v)) throw invalid(name);
  return v;
}

/**
 * Picks the stored headers and user metadata of a PutObject request (2 KB user metadata
 * limit). `h` holds header values as Node gives them (bytes in a latin1 string); PostObject
 * turns its form fields into that form first (`asHeaderBytes`).
 */
export function metaFromHeaders(h: IncomingHttpHeaders): Omit<ObjectMeta, 'etag'> {
  const one = (k: string) => { const v = h[k]; return Array.isArray(v) ? v.join(',') : v; };
  const headers: Record<string, string> = {};
  for (const k of STORED_HEADERS) { const v = one(k); if (v !== undefined) headers[k] = checkedHeaderValue(k, v); }
  const meta: Record<string, string> = {};
  let size = 0;
  for (const [k, v] of Object.entries(h)) {
    if (!k.startsWith('x-amz-meta-') || v === undefined) continue;
    const name = k.slice('x-amz-meta-'.length);
    if (!TOKEN.test(k)) {
      throw new ObjectError('MetadataInvalid', `${JSON.stringify(k)} is not a valid header name.`, { details: { ArgumentName: k } });
    }
    const value = decodeRfc2047(textOfBytes(Array.isArray(v) ? v.join(',') : v));
    if (CONTROL.test(value)) throw invalid(k);
    meta[name] = value;
    size += Buffer.byteLength(name) + Buffer.byteLength(value);
  }
  // https://docs.aws.amazon.com/AmazonS3/latest/userguide/UsingMetadata.html: 2 KB of user
  // metadata, "the sum of the number of bytes in the UTF-8 encoding of each key and value".
  if (size > 2048) throw new ObjectError('MetadataTooLarge', 'Your metadata headers exceed the maximum allowed metadata size (2 KB of x-amz-meta-*).');
  const type = one('content-type');
  const out: Omit<ObjectMeta, 'etag'> = { contentType: type !== undefined ? checkedHeaderValue('content-type', type) : DEFAULT_CONTENT_TYPE };
  if (Object.keys(headers).length > 0) out.headers = headers;
  if (Object.keys(meta).length > 0) out.meta = meta;
  // The whole record is one xattr of the inode, and ext4 keeps all of an inode's xattrs in one
  // 4 KiB block: a record past that answered 507 InsufficientStorage on a volume with room to
  // spare (found by test/server/fuzz.test.ts). S3's own limit on the stored headers is its 8 KB
  // request header limit; ours is the room the xattr has, told as S3 tells a metadata excess.
  if (Buffer.byteLength(JSON.stringify(out)) > STORED_META_MAX) {
    throw new ObjectError('MetadataTooLarge', `Your metadata headers exceed the maximum allowed metadata size (${STORED_META_MAX} bytes of stored headers and x-amz-meta-* together).`);
  }
  return out;
}

export function encodeMeta(m: ObjectMeta): string {
  return Buffer.from(JSON.stringify({ ...m, v: META_VERSION }), 'utf8').toString('base64');
}

/** The string entries of a stored object, if it is one. */
function strings(o: unknown): Record<string, string> | undefined {
  if (!o || typeof o !== 'object' || Array.isArray(o)) return undefined;
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(o)) if (typeof v === 'string') out[k] = v;
  return out;
}

/**
 * Reads the metadata of an object (undefined for files written through the file API without
 * one, or for an xattr that is not metadata). Entries written before version 2 have their user
 * metadata read from header bytes into text, and stored header values that are text (from
 * an old PostObject) turned into their UTF-8 bytes.
 */
export function decodeMeta(b64: string | undefined): ObjectMeta | undefined {
  if (!b64) return undefined;
  let raw: unknown;
  try {
    raw = JSON.parse(Buffer.from(b64, 'base64').toString('utf8'));
  } catch {
    return undefined;
  }
  return metaOfStored(raw);
}

/** The metadata of a parsed stored value (its `v` says how its user metadata is kept), as `decodeMeta` reads it. */
export function metaOfStored(raw: unknown): ObjectMeta | undefined {
  if (!raw || typeof raw !== 'object' || Array.isArray(raw)) return undefined;
  const r = raw as Record<string, unknown>;
  const old = r.v !== META_VERSION;
  const bytes = (v: string) => (old && /[^\x00-\xff]/.test(v) ? asHeaderBytes(v) : v);
  const m: ObjectMeta = {
    etag: typeof r.etag === 'string' ? r.etag : '',
    contentType: typeof r.contentType === 'string' ? bytes(r.contentType) : DEFAULT_CONTENT_TYPE,
  };
  const headers = strings(r.headers);
  if (headers && Object.keys(headers).length > 0) m.headers = Object.fromEntries(Object.entries(headers).map(([k, v]) => [k, bytes(v)]));
  const meta = strings(r.meta);
  if (meta && Object.keys(meta).length > 0) m.meta = old ? Object.fromEntries(Object.entries(meta).map(([k, v]) => [k, textOfBytes(v)])) : meta;
  if (typeof r.parts === 'number') m.parts = r.parts;
  return m;
}

/**
 * Response headers of a stored object (GET/HEAD, the file API's reads), `x-amz-meta-*`
 * included. Never throws and never yields a value Node refuses: a stored header that cannot be
 * sent (written before values were checked) is left out, a Content-Type falls back to the
 * default, user metadata is RFC 2047 encoded when it is not printable ASCII.
 */
export function metaHeaders(m: ObjectMeta | undefined, defaultType = DEFAULT_CONTENT_TYPE): Record<string, string> {
  const type = m?.contentType;
  const out: Record<string, string> = { 'content-type': type !== undefined && isHeaderValue(type) ? type : defaultType };
  for (const [k, v] of Object.entries(m?.headers ?? {})) {
    if ((STORED_HEADERS as readonly string[]).includes(k) && isHeaderValue(v)) out[k] = v;
  }
  for (const [k, v] of Object.entries(m?.meta ?? {})) {
    const name = `x-amz-meta-${k}`;
    if (TOKEN.test(name)) out[name] = encodeRfc2047(v);
  }
  return out;
}

/** The MD5 of no bytes: the ETag of an empty object or a folder marker. */
export const EMPTY_MD5 = 'd41d8cd98f00b204e9800998ecf8427e';

/** The quoted ETag of an object; files written through the file API get one from their identity. */
export function etagOf(a: Attrs, m: ObjectMeta | undefined): string {
  if (m?.etag) return `"${m.etag}"`;
  return `"${createHash('md5').update(`${a.gfid}:${a.size}:${a.mtimeMs}`).digest('hex')}"`;
}
