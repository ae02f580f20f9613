/**
 * Multipart uploads in the object layer (https://docs.aws.amazon.com/AmazonS3/latest/userguide/mpuoverview.html).
 *
 * An upload is a directory `/.dht2/uploads/<uploadId>` (no bucket can be named `.dht2`) whose
 * xattr `s3upload` holds the bucket, key, object metadata and the upload's 16 "DS bits". Each
 * part is a file `part-00001…` in it whose GFID carries those bits, so every part of an upload
 * lives on one DS. Completion concatenates the parts there with the brick's `dconcat` (the
 * bytes never travel through the gateway again), names the result atomically like a PUT, then
 * removes the upload. Crash story: before the name exists a crash leaves the upload whole
 * (Complete can be retried) plus, at worst, an orphan data object for fsck; after it, leftover
 * parts that Abort, a retried Complete or the expiry sweep remove.
 */
import { createHash, randomBytes, randomInt } from 'node:crypto';
import type { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { Dht2Error, isErr, type Attrs, type CallContext, type Volume } from '../../dht2-core/index.js';
import { md5Tap } from './body.js';
import { ObjectError } from './errors.js';
import type { BucketRef, ObjectLayer, WriteConditions } from './layer.js';
import { DEFAULT_CONTENT_TYPE, META_VERSION, metaOfStored, type ObjectMeta } from './meta.js';
import { keyPath } from './names.js';

export const UPLOADS_DIR = '/.dht2/uploads';
const UPLOAD_XATTR = 's3upload';
const PART_XATTR = 's3part';
/** Every part but the last is at least this big (S3's limit). */
const MIN_PART = 5 * 1024 * 1024;

interface UploadInfo {
  bucket: string;
  key: string;
  meta: Omit<ObjectMeta, 'etag'>;
  /** How `meta` keeps user metadata (meta.ts META_VERSION); absent in uploads begun before version 2. */
  metaV?: number;
  low16: number;
  initiated: number;
}

interface PartInfo {
  etag: string;
  size: number;
}

/** A part as stored: its number, attributes, ETag (unquoted) and size. */
export interface StoredPart {
  n: number;
  attrs: Attrs;
  info: PartInfo;
}

/** An upload found by its id: its directory and what it was begun with. */
export interface Upload {
  id: string;
  dir: Attrs;
  info: UploadInfo;
}

const b64 = (v: unknown) => Buffer.from(JSON.stringify(v), 'utf8').toString('base64');
function unb64<T>(s: string | undefined): T | undefined {
  if (!s) return undefined;
  try { return JSON.parse(Buffer.from(s, 'base64').toString('utf8')) as T; } catch { return undefined; }
}

function partName(n: number): string {
  return `part-${String(n).padStart(5, '0')}`;
}

/** Multipart uploads of one volume: made by ObjectLayer, reached as its `uploads`. */
export class Uploads {
  constructor(private readonly objects: ObjectLayer, private readonly volume: Volume) {}

  /** Begins an upload of `key`; answers its id. */
  async create(bucket: BucketRef, key: string, meta: Omit<ObjectMeta, 'etag'>, ctx: CallContext): Promise<string> {
    const kp = keyPath(bucket.name, key);
    if (kp.marker) throw new ObjectError('FolderHoldsNoData', 'A key ending in "/" is a folder and cannot be a multipart object.', { bucket: bucket.name, key });
    const id = randomBytes(16).toString('hex');
    const info: UploadInfo = { bucket: bucket.name, key, meta, metaV: META_VERSION, low16: randomInt(0x10000), initiated: Date.now() };
    const uploads = await this.volume.mkdir(UPLOADS_DIR, { parents: true, mode: 0o700 }, ctx);
    await this.volume.mkdirAt(uploads.gfid, id, { mode: 0o700 }, ctx);
    await this.volume.setxattr(`${UPLOADS_DIR}/${id}`, UPLOAD_XATTR, Buffer.from(b64(info), 'base64'), undefined, ctx);
    return id;
  }

  /** The upload `id` of `bucket`/`key`; UploadNotFound otherwise (also for another key's upload id). */
  async load(bucket: string, key: string, id: string, ctx: CallContext): Promise<Upload> {
    const none = new ObjectError('UploadNotFound', undefined, { bucket, key });
    if (!/^[0-9a-f]{32}$/.test(id)) throw none;
    let dir: Attrs;
    try {
      dir = await this.volume.stat(`${UPLOADS_DIR}/${id}`, ctx, [UPLOAD_XATTR]);
    } catch (e) {
      if (isErr(e, 'ENOENT', 'ENOTDIR')) throw none;
      throw e;
    }
    const info = unb64<UploadInfo>(dir.xattrs?.[UPLOAD_XATTR]);
    if (!info || info.bucket !== bucket || info.key !== key) throw none;
    return { dir, info, id };
  }

  /** Stores part `n` of `upload` from `body` (replacing an earlier one); answers its ETag, unquoted. */
  async putPart(upload: Upload, n: number, body: Readable, ctx: CallContext): Promise<string> {
    const tap = md5Tap();
    pipeline(body, tap.stream).catch((e: unknown) => tap.stream.destroy(e as Error));
    await this.volume.writeFileAt(upload.dir.gfid, partName(n), tap.stream, {
      low16: upload.info.low16, xattrs: () => ({ [PART_XATTR]: b64({ etag: tap.digest(), size: tap.size() } satisfies PartInfo) }),
    }, ctx);
    return tap.digest();
  }

  /**
   * Part `n` made from (a range of) the object `src`. The bytes stream from the source's DS
   * through the gateway to the upload's DS (they are different DSs in general).
   */
  async copyPart(upload: Upload, n: number, src: Attrs, range: { offset: number; length: number } | undefined, ctx: CallContext): Promise<string> {
    let body: Readable | undefined;
    try {
      body = await this.volume.readAt(src, range ?? {}, ctx);
      return await this.putPart(upload, n, body, ctx);
    } finally {
      // The source's brick stream is closed also when the part's write failed before reading it
      // all (its DS unreachable): a stream left open wedges that brick's session (issue 14).
      body?.destroy();
    }
  }

  /** Every part of an upload in part order (after part `after`, if given). */
  async parts(upload: Upload, ctx: CallContext, after?: number): Promise<StoredPart[]> {
    const out: StoredPart[] = [];
    let cursor = after !== undefined && after > 0 ? partName(after) : undefined;
    for (;;) {
      const page = await this.volume.readdirGfid(upload.dir.gfid, { after: cursor, limit: 1000, plus: true, want: [PART_XATTR] }, ctx);
      for (const e of page.entries) {
        const m = /^part-(\d{5})$/.exec(e.name);
        const info = unb64<PartInfo>(e.attrs?.xattrs?.[PART_XATTR]);
        if (m && e.attrs && info) out.push({ n: Number(m[1]), attrs: e.attrs, info });
      }
      if (page.eof || page.entries.length === 0) return out;
      cursor = page.entries.at(-1)!.name;
    }
  }

  /**
   * Completes `upload` with the parts `chosen` (number and ETag, in the client's order): checks
   * them, names the object like a PUT, then removes the upload (a leftover is logged through
   * `onLeftover`, never failing the completion). Answers the object's ETag, unquoted:
   * https://docs.aws.amazon.com/AmazonS3/latest/userguide/checking-object-integrity.html, the MD5
   * of the parts' MD5s, then -N.
   */
  async complete(
    bucket: BucketRef, upload: Upload, chosen: ReadonlyArray<{ n: number; etag: string }>, cond: WriteConditions, ctx: CallContext,
    onLeftover?: (e: unknown) => void,
  ): Promise<string> {
    const key = upload.info.key;
    const at = { bucket: bucket.name, key };
    const have = new Map((await this.parts(upload, ctx)).map((p) => [p.n, p]));
    const picked: StoredPart[] = [];
    let prev = 0;
    for (const { n, etag } of chosen) {
      if (!Number.isInteger(n) || n <= prev) throw new ObjectError('PartOrderInvalid', undefined, at);
      prev = n;
      const part = have.get(n);
      if (!part || part.info.etag !== etag) throw new ObjectError('PartInvalid', `Part ${n} was not uploaded or its ETag does not match.`, at);
      picked.push(part);
    }
    picked.forEach((p, i) => {
      if (i < picked.length - 1 && p.info.size < MIN_PART) {
        throw new ObjectError('PartTooSmall', `Part ${p.n} is ${p.info.size} bytes; every part but the last must be at least 5 MiB.`, at);
      }
    });
    const etag = `${createHash('md5').update(Buffer.concat(picked.map((p) => Buffer.from(p.info.etag, 'hex')))).digest('hex')}-${picked.length}`;
    // An upload begun by an older gateway kept its metadata the old way: read as decodeMeta reads it.
    const meta = metaOfStored({ ...upload.info.meta, v: upload.info.metaV, etag, parts: picked.length }) ?? { contentType: DEFAULT_CONTENT_TYPE, etag, parts: picked.length };
    await this.objects.concat(bucket, key, picked.map((p) => p.attrs.gfid), meta, cond, ctx);
    await this.remove(upload.id, ctx).catch((e: unknown) => onLeftover?.(e));
    return etag;
  }

  /**
   * Removes an upload's parts (inodes and data) and its directory. The listing is walked once
   * with a cursor, so the walk ends however many parts there are; a part that cannot be removed
   * is passed over and reported: the upload then stays (Abort or the expiry sweep can try again)
   * and this fails with the first such error, never re-reading the same page forever (issue 14).
   */
  async remove(id: string, ctx: CallContext): Promise<void> {
    const v = this.volume;
    const path = `${UPLOADS_DIR}/${id}`;
    let after: string | undefined;
    let failed: { name: string; error: unknown; count: number } | undefined;
    for (;;) {
      const page = await v.readdir(path, { after, limit: 1000 }, ctx);
      for (const e of page.entries) {
        await v.unlink(`${path}/${e.name}`, ctx).catch((error: unknown) => {
          if (isErr(error, 'ENOENT')) return; // removed meanwhile (a racing Abort)
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

  /** The uploads in progress for keys of `bucket` starting with `prefix`, in key order then age. */
  async list(bucket: BucketRef, prefix: string, ctx: CallContext): Promise<Array<{ key: string; id: string; initiatedMs: number }>> {
    const out: Array<{ key: string; id: string; initiatedMs: number }> = [];
    await this.each(ctx, (id, info) => {
      if (info && info.bucket === bucket.name && info.key.startsWith(prefix)) out.push({ key: info.key, id, initiatedMs: info.initiated });
    });
    out.sort((a, b) => Buffer.compare(Buffer.from(a.key), Buffer.from(b.key)) || (a.initiatedMs < b.initiatedMs ? -1 : 1));
    return out;
  }

  /**
   * Removes uploads older than `maxAgeMs` (abandoned ones); returns how many. One pass with a
   * cursor; an upload that cannot be removed is reported to `onFailure` and passed over (the
   * next sweep tries again), so the sweep always ends.
   */
  async expire(maxAgeMs: number, onFailure?: (uploadId: string, e: unknown) => void): Promise<number> {
    let n = 0;
    const now = Date.now();
    await this.each({}, async (id, info, attrs) => {
      const born = info?.initiated ?? attrs?.btimeMs ?? now;
      if (now - born > maxAgeMs) await this.remove(id, {}).then(() => n++, (err: unknown) => onFailure?.(id, err));
    });
    return n;
  }

  /** Calls `f` for every upload directory, one page at a time. */
  private async each(ctx: CallContext, f: (id: string, info: UploadInfo | undefined, attrs: Attrs | undefined) => void | Promise<void>): Promise<void> {
    let after: string | undefined;
    for (;;) {
      const page = await this.volume.readdir(UPLOADS_DIR, { after, limit: 1000, plus: true, want: [UPLOAD_XATTR] }, ctx)
        .catch((e: unknown) => { if (isErr(e, 'ENOENT')) return { entries: [], eof: true }; throw e; });
      for (const e of page.entries) await f(e.name, unb64<UploadInfo>(e.attrs?.xattrs?.[UPLOAD_XATTR]), e.attrs);
      if (page.eof || page.entries.length === 0) return;
      after = page.entries.at(-1)!.name;
    }
  }
}
