/**
 * Multipart uploads (https://docs.aws.amazon.com/AmazonS3/latest/userguide/mpuoverview.html).
 *
 * An upload is a directory `/.dht2/uploads/<uploadId>` (no bucket can be named `.dht2`) whose
 * xattr `s3upload` holds the bucket, key, object metadata and the upload's 16 "DS bits". Each
 * part is a file `part-00001…` in it whose GFID carries those bits, so every part of an upload
 * lives on one DS. CompleteMultipartUpload concatenates the parts there with the brick's
 * `dconcat` (the bytes never travel through the gateway again), names the result atomically
 * like a PUT, then removes the upload. Crash story: before the name exists a crash leaves the
 * upload whole (Complete can be retried) plus, at worst, an orphan data object for fsck; after
 * it, leftover parts that Abort, a retried Complete or the expiry sweep remove.
 */
import { createHash, randomBytes, randomInt } from 'node:crypto';
import { Dht2Error, readSmall, type Attrs, type Volume } from '../../dht2-core/index.js';
import { keyPath } from '../namespace.js';
import { requireBucket } from './bucket.js';
import { checkedEmptyBody, xmlReply, type S3Deps, type S3Reply, type S3Request } from './context.js';
import { S3Error, s3ErrorOf } from './errors.js';
import { ifMatchGfid, keyParent, md5Tap } from './object.js';
import { resolveCopySource } from './copy.js';
import { DEFAULT_CONTENT_TYPE, META_VERSION, META_XATTR, encodeMeta, metaFromHeaders, metaOfStored, type ObjectMeta } from './object-meta.js';
import { isoTime, parseXml, xmlDoc } from './xml.js';
import type { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';

export const UPLOADS_DIR = '/.dht2/uploads';
const UPLOAD_XATTR = 's3upload';
const PART_XATTR = 's3part';
const MIN_PART = 5 * 1024 * 1024;
const MAX_PARTS = 10000;

interface UploadInfo {
  bucket: string;
  key: string;
  meta: Omit<ObjectMeta, 'etag'>;
  /** How `meta` keeps user metadata (object-meta.ts META_VERSION); absent in uploads begun before version 2. */
  metaV?: number;
  low16: number;
  initiated: number;
}

interface PartInfo {
  etag: string;
  size: number;
}

const b64 = (v: unknown) => Buffer.from(JSON.stringify(v), 'utf8').toString('base64');
function unb64<T>(s: string | undefined): T | undefined {
  if (!s) return undefined;
  try { return JSON.parse(Buffer.from(s, 'base64').toString('utf8')) as T; } catch { return undefined; }
}

function ctxOf(r: S3Request) {
  return { requestId: r.requestId, signal: r.signal };
}

function partName(n: number): string {
  return `part-${String(n).padStart(5, '0')}`;
}

/** The upload directory and its info, or NoSuchUpload (also for another key's upload id). */
async function loadUpload(d: S3Deps, bucket: string, key: string, r: S3Request): Promise<{ dir: Attrs; info: UploadInfo; id: string }> {
  const id = r.query.get('uploadId') ?? '';
  const none = new S3Error('NoSuchUpload', undefined, `/${bucket}/${key}`);
  if (!/^[0-9a-f]{32}$/.test(id)) throw none;
  let dir: Attrs;
  try {
    dir = await d.volume.stat(`${UPLOADS_DIR}/${id}`, ctxOf(r), [UPLOAD_XATTR]);
  } catch (e) {
    if (e instanceof Dht2Error && (e.errno === 'ENOENT' || e.errno === 'ENOTDIR')) throw none;
    throw s3ErrorOf(e);
  }
  const info = unb64<UploadInfo>(dir.xattrs?.[UPLOAD_XATTR]);
  if (!info || info.bucket !== bucket || info.key !== key) throw none;
  return { dir, info, id };
}

export async function createMultipartUpload(d: S3Deps, bucket: string, key: string, r: S3Request): Promise<S3Reply> {
  const kp = keyPath(bucket, key);
  if (kp.marker) throw new S3Error('InvalidRequest', 'A key ending in "/" is a folder and cannot be a multipart object.');
  await requireBucket(d, bucket, r);
  await checkedEmptyBody(r);
  const id = randomBytes(16).toString('hex');
  const info: UploadInfo = { bucket, key, meta: metaFromHeaders(r.headers), metaV: META_VERSION, low16: randomInt(0x10000), initiated: Date.now() };
  try {
    const uploads = await d.volume.mkdir(UPLOADS_DIR, { parents: true, mode: 0o700 }, ctxOf(r));
    await d.volume.mkdirAt(uploads.gfid, id, { mode: 0o700 }, ctxOf(r));
    await d.volume.setxattr(`${UPLOADS_DIR}/${id}`, UPLOAD_XATTR, Buffer.from(b64(info), 'base64'), undefined, ctxOf(r));
  } catch (e) {
    throw s3ErrorOf(e, `/${bucket}/${key}`);
  }
  return xmlReply(xmlDoc('InitiateMultipartUploadResult', { Bucket: bucket, Key: key, UploadId: id }));
}

export async function uploadPart(d: S3Deps, bucket: string, key: string, r: S3Request): Promise<S3Reply> {
  const n = Number(r.query.get('partNumber'));
  if (!Number.isInteger(n) || n < 1 || n > MAX_PARTS) throw new S3Error('InvalidArgument', `Part number must be an integer between 1 and ${MAX_PARTS}, inclusive`);
  const { dir, info } = await loadUpload(d, bucket, key, r);
  const tap = md5Tap();
  pipeline(r.body, tap.stream).catch((e: unknown) => tap.stream.destroy(e as Error));
  try {
    await d.volume.writeFileAt(dir.gfid, partName(n), tap.stream, {
      low16: info.low16, xattrs: () => ({ [PART_XATTR]: b64({ etag: tap.digest(), size: tap.size() } satisfies PartInfo) }),
    }, ctxOf(r));
  } catch (e) {
    throw s3ErrorOf(e, `/${bucket}/${key}`);
  }
  return { status: 200, headers: { etag: `"${tap.digest()}"` } };
}

/**
 * UploadPartCopy: a part made from (a range of) an existing object. The bytes stream from the
 * source's DS through the gateway to the upload's DS (they are different DSs in general).
 */
export async function uploadPartCopy(d: S3Deps, bucket: string, key: string, r: S3Request): Promise<S3Reply> {
  const n = Number(r.query.get('partNumber'));
  if (!Number.isInteger(n) || n < 1 || n > MAX_PARTS) throw new S3Error('InvalidArgument', `Part number must be an integer between 1 and ${MAX_PARTS}, inclusive`);
  const { dir, info } = await loadUpload(d, bucket, key, r);
  await checkedEmptyBody(r);
  const { attrs: a } = await resolveCopySource(d, r);
  const rangeHeader = r.headers['x-amz-copy-source-range'];
  let range: { offset: number; length: number } | undefined;
  if (typeof rangeHeader === 'string') {
    const m = /^bytes=(\d+)-(\d+)$/.exec(rangeHeader.trim());
    if (!m || Number(m[1]) > Number(m[2]) || Number(m[2]) >= a.size) {
      throw new S3Error('InvalidArgument', `Range specified is not valid for source object of size: ${a.size}`);
    }
    range = { offset: Number(m[1]), length: Number(m[2]) - Number(m[1]) + 1 };
  }
  const tap = md5Tap();
  let body: Readable | undefined;
  try {
    body = await d.volume.readAt(a, range ?? {}, ctxOf(r));
    pipeline(body, tap.stream).catch((e: unknown) => tap.stream.destroy(e as Error));
    await d.volume.writeFileAt(dir.gfid, partName(n), tap.stream, {
      low16: info.low16, xattrs: () => ({ [PART_XATTR]: b64({ etag: tap.digest(), size: tap.size() } satisfies PartInfo) }),
    }, ctxOf(r));
  } catch (e) {
    throw s3ErrorOf(e, `/${bucket}/${key}`);
  } finally {
    // The source's brick stream is closed also when the part's write failed before reading it
    // all (its DS unreachable): a stream left open wedges that brick's session (issue 14).
    body?.destroy();
  }
  return xmlReply(xmlDoc('CopyPartResult', { LastModified: isoTime(Date.now()), ETag: `"${tap.digest()}"` }));
}

/** Every part of an upload in part order, with its attributes and info. */
async function listPartFiles(v: Volume, dir: Attrs, r: S3Request, after?: string): Promise<Array<{ n: number; attrs: Attrs; info: PartInfo }>> {
  const out: Array<{ n: number; attrs: Attrs; info: PartInfo }> = [];
  let cursor = after;
  for (;;) {
    const page = await v.readdirGfid(dir.gfid, { after: cursor, limit: 1000, plus: true, want: [PART_XATTR] }, ctxOf(r));
    for (const e of page.entries) {
      const m = /^part-(\d{5})$/.exec(e.name);
      const info = unb64<PartInfo>(e.attrs?.xattrs?.[PART_XATTR]);
      if (m && e.attrs && info) out.push({ n: Number(m[1]), attrs: e.attrs, info });
    }
    if (page.eof || page.entries.length === 0) return out;
    cursor = page.entries.at(-1)!.name;
  }
}

export async function completeMultipartUpload(d: S3Deps, bucket: string, key: string, r: S3Request): Promise<S3Reply> {
  const kp = keyPath(bucket, key);
  const { dir, info, id } = await loadUpload(d, bucket, key, r);
  const xml = await readSmall(r.body, 4 * 1024 * 1024, () => new S3Error('MalformedXML', 'The XML you provided was too large.'));
  const doc = parseXml(xml.toString('utf8'));
  const list = (doc?.CompleteMultipartUpload as { Part?: Array<{ PartNumber?: unknown; ETag?: unknown }> } | undefined)?.Part;
  if (!Array.isArray(list) || list.length === 0) throw new S3Error('MalformedXML', 'You must specify at least one part.');
  const have = new Map((await listPartFiles(d.volume, dir, r)).map((p) => [p.n, p]));
  const chosen: Array<{ n: number; attrs: Attrs; info: PartInfo }> = [];
  let prev = 0;
  for (const p of list) {
    const n = Number(p.PartNumber);
    const etag = String(p.ETag ?? '').replaceAll('"', '').trim();
    if (!Number.isInteger(n) || n <= prev) throw new S3Error('InvalidPartOrder', undefined, `/${bucket}/${key}`);
    prev = n;
    const part = have.get(n);
    if (!part || part.info.etag !== etag) throw new S3Error('InvalidPart', `Part ${n} was not uploaded or its ETag does not match.`, `/${bucket}/${key}`);
    chosen.push(part);
  }
  chosen.forEach((p, i) => {
    if (i < chosen.length - 1 && p.info.size < MIN_PART) {
      throw new S3Error('EntityTooSmall', `Part ${p.n} is ${p.info.size} bytes; every part but the last must be at least 5 MiB.`, `/${bucket}/${key}`);
    }
  });
  // https://docs.aws.amazon.com/AmazonS3/latest/userguide/checking-object-integrity.html: MD5 of the parts' MD5s, then -N.
  const etag = `${createHash('md5').update(Buffer.concat(chosen.map((p) => Buffer.from(p.info.etag, 'hex')))).digest('hex')}-${chosen.length}`;
  const ifNoneMatch = r.headers['if-none-match'];
  const ifGfid = await ifMatchGfid(d, bucket, key, r);
  // The bucket is resolved once and the key's folders walked from it, as PutObject does: a
  // bucket deleted meanwhile is never made again by the walk.
  const bucketDir = { path: `/${bucket}`, gfid: await requireBucket(d, bucket, r) };
  try {
    const parent = await keyParent(d, kp, ctxOf(r), bucketDir);
    await d.volume.concatAt(parent, kp.name, chosen.map((p) => p.attrs.gfid), {
      // An upload begun by an older gateway kept its metadata the old way: read as decodeMeta reads it.
      xattrs: { [META_XATTR]: encodeMeta(metaOfStored({ ...info.meta, v: info.metaV, etag, parts: chosen.length }) ?? { contentType: DEFAULT_CONTENT_TYPE, etag, parts: chosen.length }) },
      createOnly: ifNoneMatch === '*',
      ifGfid,
      intoDir: true,
      // A DELETE may prune the (empty) folder while the parts are joined: make it again, as
      // PutObject does (issue 13: Complete answered 404 NoSuchKey then).
      reparent: () => keyParent(d, kp, ctxOf(r), bucketDir),
    }, ctxOf(r));
  } catch (e) {
    if (e instanceof Dht2Error && e.errno === 'EEXIST') throw new S3Error('PreconditionFailed', undefined, `/${bucket}/${key}`);
    throw s3ErrorOf(e, `/${bucket}/${key}`);
  }
  await removeUpload(d.volume, id, ctxOf(r)).catch((e: unknown) => d.log.warn({ err: e, uploadId: id }, 'leftover upload after complete'));
  return xmlReply(xmlDoc('CompleteMultipartUploadResult', { Location: `/${bucket}/${key}`, Bucket: bucket, Key: key, ETag: `"${etag}"` }));
}

/**
 * Removes an upload's parts (inodes and data) and its directory. The listing is walked once
 * with a cursor, so the walk ends however many parts there are; a part that cannot be removed
 * is passed over and reported: the upload then stays (Abort or the expiry sweep can try again)
 * and this fails with the first such error, never re-reading the same page forever (issue 14).
 */
export async function removeUpload(v: Volume, id: string, ctx: { requestId?: string; signal?: AbortSignal }): Promise<void> {
  const path = `${UPLOADS_DIR}/${id}`;
  let after: string | undefined;
  let failed: { name: string; error: unknown; count: number } | undefined;
  for (;;) {
    const page = await v.readdir(path, { after, limit: 1000 }, ctx);
    for (const e of page.entries) {
      await v.unlink(`${path}/${e.name}`, ctx).catch((error: unknown) => {
        if (error instanceof Dht2Error && error.errno === 'ENOENT') return; // removed meanwhile (a racing Abort)
        if (failed) failed.count++;
        else failed = { name: e.name, error, count: 1 };
      });
    }
    if (page.eof || page.entries.length === 0) break;
    after = page.entries.at(-1)!.name;
  }
  // EIO (an S3 InternalError): the upload's folder holds what the gateway cannot remove.
  if (failed) throw new Dht2Error('EIO', `upload ${id}: ${failed.count} entries could not be removed, ${failed.name} first (${String(failed.error)})`, { cause: failed.error });
  await v.rmdir(path, ctx);
}

export async function abortMultipartUpload(d: S3Deps, bucket: string, key: string, r: S3Request): Promise<S3Reply> {
  const { id } = await loadUpload(d, bucket, key, r);
  await checkedEmptyBody(r);
  await removeUpload(d.volume, id, ctxOf(r)).catch((e: unknown) => { throw s3ErrorOf(e, `/${bucket}/${key}`); });
  return { status: 204 };
}

export async function listParts(d: S3Deps, bucket: string, key: string, r: S3Request): Promise<S3Reply> {
  const { dir, id } = await loadUpload(d, bucket, key, r);
  const marker = Number(r.query.get('part-number-marker') ?? 0) || 0;
  const max = Math.min(1000, Number(r.query.get('max-parts') ?? 1000) || 1000);
  const all = (await listPartFiles(d.volume, dir, r, marker > 0 ? partName(marker) : undefined));
  const page = all.slice(0, max);
  const body: Record<string, unknown> = {
    Bucket: bucket, Key: key, UploadId: id, PartNumberMarker: marker, MaxParts: max, IsTruncated: all.length > max,
    Initiator: { ID: 'dht2', DisplayName: 'dht2' }, Owner: { ID: 'dht2', DisplayName: 'dht2' }, StorageClass: 'STANDARD',
    Part: page.map((p) => ({ PartNumber: p.n, LastModified: isoTime(p.attrs.mtimeMs), ETag: `"${p.info.etag}"`, Size: p.info.size })),
  };
  if (all.length > max) body.NextPartNumberMarker = page.at(-1)!.n;
  return xmlReply(xmlDoc('ListPartsResult', body));
}

export async function listMultipartUploads(d: S3Deps, bucket: string, r: S3Request): Promise<S3Reply> {
  await requireBucket(d, bucket, r);
  const prefix = r.query.get('prefix') ?? '';
  const uploads: Array<{ Key: string; UploadId: string; Initiated: string }> = [];
  let after: string | undefined;
  for (;;) {
    const page = await d.volume.readdir(UPLOADS_DIR, { after, limit: 1000, plus: true, want: [UPLOAD_XATTR] }, ctxOf(r))
      .catch((e: unknown) => { if (e instanceof Dht2Error && e.errno === 'ENOENT') return { entries: [], eof: true }; throw e; });
    for (const e of page.entries) {
      const info = unb64<UploadInfo>(e.attrs?.xattrs?.[UPLOAD_XATTR]);
      if (info && info.bucket === bucket && info.key.startsWith(prefix)) uploads.push({ Key: info.key, UploadId: e.name, Initiated: isoTime(info.initiated) });
    }
    if (page.eof || page.entries.length === 0) break;
    after = page.entries.at(-1)!.name;
  }
  uploads.sort((a, b) => Buffer.compare(Buffer.from(a.Key), Buffer.from(b.Key)) || (a.Initiated < b.Initiated ? -1 : 1));
  return xmlReply(xmlDoc('ListMultipartUploadsResult', {
    Bucket: bucket, KeyMarker: '', UploadIdMarker: '', Prefix: prefix, MaxUploads: 1000, IsTruncated: false,
    Upload: uploads.map((u) => ({ ...u, Initiator: { ID: 'dht2', DisplayName: 'dht2' }, Owner: { ID: 'dht2', DisplayName: 'dht2' }, StorageClass: 'STANDARD' })),
  }));
}

/**
 * Removes uploads older than `maxAgeMs` (abandoned ones); returns how many. One pass with a
 * cursor; an upload that cannot be removed is reported to `onFailure` and passed over (the
 * next sweep tries again), so the sweep always ends.
 */
export async function expireUploads(v: Volume, maxAgeMs: number, onFailure?: (uploadId: string, e: unknown) => void): Promise<number> {
  let n = 0;
  let after: string | undefined;
  const now = Date.now();
  for (;;) {
    const page = await v.readdir(UPLOADS_DIR, { after, limit: 1000, plus: true, want: [UPLOAD_XATTR] })
      .catch((e: unknown) => { if (e instanceof Dht2Error && e.errno === 'ENOENT') return { entries: [], eof: true }; throw e; });
    for (const e of page.entries) {
      const info = unb64<UploadInfo>(e.attrs?.xattrs?.[UPLOAD_XATTR]);
      const born = info?.initiated ?? e.attrs?.btimeMs ?? now;
      if (now - born > maxAgeMs) {
        await removeUpload(v, e.name, {}).then(() => n++, (err: unknown) => onFailure?.(e.name, err));
      }
    }
    if (page.eof || page.entries.length === 0) return n;
    after = page.entries.at(-1)!.name;
  }
}
