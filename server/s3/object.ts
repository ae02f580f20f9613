/**
 * PutObject, GetObject, HeadObject, DeleteObject
 * (https://docs.aws.amazon.com/AmazonS3/latest/API/API_PutObject.html and siblings).
 * Data streams from the client through the payload verifier and an MD5 hasher straight into
 * the volume; the object's name appears only once all of it is stored and verified, so a
 * failed or cut-off upload leaves the previous object untouched.
 */
import { createHash } from 'node:crypto';
import { PassThrough, Transform, finished, type Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { setTimeout as sleep } from 'node:timers/promises';
import { Dht2Error, type Attrs, type KnownDir } from '../../dht2-core/index.js';
import { keyPath, type KeyPath } from '../namespace.js';
import { requireBucket } from './bucket.js';
import { header, type S3Deps, type S3Reply, type S3Request } from './context.js';
import { S3Error, s3ErrorOf } from './errors.js';
import { META_XATTR, asHeaderBytes, checkedHeaderValue, decodeMeta, encodeMeta, metaFromHeaders, metaHeaders, type ObjectMeta } from './object-meta.js';

const EMPTY_MD5 = 'd41d8cd98f00b204e9800998ecf8427e';

/**
 * A pass-through that computes the MD5 (the ETag) and the size of what flows. (Never count with
 * a 'data' listener: it would switch the stream to flowing mode and drop chunks nobody reads yet.)
 */
export function md5Tap(): { stream: Transform; digest(): string; size(): number } {
  const h = createHash('md5');
  let hex: string | undefined;
  let n = 0;
  const stream = new Transform({
    transform(chunk: Buffer, _enc, cb) { h.update(chunk); n += chunk.length; cb(null, chunk); },
  });
  return { stream, digest: () => (hex ??= h.digest('hex')), size: () => n };
}

/**
 * Pipes `src` through `t`, failing `t` when `src` fails or closes before its end (client gone,
 * bad signature). Not stream.pipeline: that makes an AbortController per call and aborts it when
 * done, and the DOMException the abort builds cost ~2 % of the gateway's CPU on small requests.
 * When `t` fails, `src` is only unpiped: the handler drains or drops the request body itself.
 */
export function through(src: Readable, t: Transform): Transform {
  finished(src, (e) => { if (e && !t.destroyed) t.destroy(e); });
  // Whoever reads `t` sees its error; one that nobody reads (a GET's empty body whose signature
  // check fails at its end) must not become an uncaught exception. pipeline() listened too.
  t.on('error', () => undefined);
  src.pipe(t);
  return t;
}

function ctxOf(r: S3Request) {
  return { requestId: r.requestId, signal: r.signal };
}

/** The quoted ETag of an object; files written through the file API get one from their identity. */
export function etagOf(a: Attrs, m: ObjectMeta | undefined): string {
  if (m?.etag) return `"${m.etag}"`;
  return `"${createHash('md5').update(`${a.gfid}:${a.size}:${a.mtimeMs}`).digest('hex')}"`;
}

/**
 * The directory a key's object goes into, made with its parents. A file on the way becomes a
 * directory that carries it, so `a` and `a/b` coexist (dht2-core fops/dirobj.ts).
 */
export async function keyParent(d: S3Deps, kp: KeyPath, ctx: { requestId: string; signal?: AbortSignal }, bucket?: KnownDir): Promise<string> {
  // A key without folders goes straight into the bucket the caller just looked up, and its
  // folders are walked from there: no second walk to the bucket.
  if (bucket !== undefined && kp.parent === bucket.path) return bucket.gfid;
  return d.volume.mkdirPath(kp.parent, { adopt: true }, ctx, bucket);
}

export async function statObject(d: S3Deps, bucket: string, key: string, r: S3Request): Promise<{ attrs: Attrs; meta: ObjectMeta | undefined }> {
  const kp = keyPath(bucket, key);
  let attrs: Attrs;
  try {
    attrs = await d.volume.stat(kp.path, ctxOf(r), [META_XATTR]);
  } catch (e) {
    if (e instanceof Dht2Error && (e.errno === 'ENOENT' || e.errno === 'ENOTDIR')) {
      await requireBucket(d, bucket, r); // NoSuchBucket wins over NoSuchKey
      throw new S3Error('NoSuchKey', undefined, `/${bucket}/${key}`);
    }
    throw s3ErrorOf(e, `/${bucket}/${key}`);
  }
  // Key `a` when `a` is a directory: the object the directory carries, if any.
  if (!kp.marker && attrs.type === 'dir') attrs = await d.volume.carriedObject(attrs, ctxOf(r), [META_XATTR]) ?? attrs;
  const meta = decodeMeta(attrs.xattrs?.[META_XATTR]);
  // A directory is an object only as its marker key ("a/"); a file is never one ("a" vs "a/").
  if (kp.marker ? attrs.type !== 'dir' || !meta : attrs.type !== 'file') throw new S3Error('NoSuchKey', undefined, `/${bucket}/${key}`);
  return { attrs, meta };
}

/**
 * A write's `If-Match` (PutObject, CompleteMultipartUpload: conditional writes,
 * https://docs.aws.amazon.com/AmazonS3/latest/userguide/conditional-writes.html): 412 unless the
 * key exists with that ETag (or at all for `*`). Answers the GFID the write must then replace,
 * so a change between this check and the write fails too; undefined without the header.
 */
export async function ifMatchGfid(d: S3Deps, bucket: string, key: string, r: S3Request): Promise<string | undefined> {
  const ifMatch = header(r.headers, 'if-match');
  if (ifMatch === undefined) return undefined;
  const cur = await statObject(d, bucket, key, r).catch((e: unknown) => {
    if (e instanceof S3Error && e.code === 'NoSuchKey') throw new S3Error('PreconditionFailed', undefined, `/${bucket}/${key}`);
    throw e;
  });
  if (ifMatch !== '*' && ifMatch.replaceAll('"', '') !== etagOf(cur.attrs, cur.meta).replaceAll('"', '')) {
    throw new S3Error('PreconditionFailed', undefined, `/${bucket}/${key}`);
  }
  return cur.attrs.gfid;
}

export async function putObject(d: S3Deps, bucket: string, key: string, r: S3Request): Promise<S3Reply> {
  const kp = keyPath(bucket, key);
  const base = metaFromHeaders(r.headers);
  const bucketDir = { path: `/${bucket}`, gfid: await requireBucket(d, bucket, r) };
  const ctx = ctxOf(r);
  const tap = md5Tap();
  if (kp.marker) {
    // A folder marker: the directory itself, carrying the marker's metadata. No data.
    const sink = new PassThrough();
    let n = 0;
    sink.on('data', (c: Buffer) => { n += c.length; });
    await pipeline(r.body, tap.stream, sink);
    if (n > 0) throw new S3Error('InvalidRequest', 'A key ending in "/" is a folder and cannot hold data here.', `/${bucket}/${key}`);
    try {
      await d.volume.mkdir(kp.path, { parents: true, adopt: true }, ctx);
      await d.volume.setxattr(kp.path, META_XATTR, Buffer.from(encodeMeta({ ...base, etag: tap.digest() }), 'base64'), undefined, ctx);
    } catch (e) {
      throw s3ErrorOf(e, `/${bucket}/${key}`);
    }
    return { status: 200, headers: { etag: `"${EMPTY_MD5}"` } };
  }
  const ifNoneMatch = header(r.headers, 'if-none-match');
  if (ifNoneMatch !== undefined && ifNoneMatch !== '*') throw new S3Error('NotImplemented', 'If-None-Match on PutObject supports only "*".');
  const ifGfid = await ifMatchGfid(d, bucket, key, r);
  try {
    const parent = await keyParent(d, kp, ctx, bucketDir);
    await d.volume.writeFileAt(parent, kp.name, through(r.body, tap.stream), {
      xattrs: () => ({ [META_XATTR]: encodeMeta({ ...base, etag: tap.digest() }) }),
      createOnly: ifNoneMatch === '*',
      ifGfid,
      intoDir: true,
      // A DELETE may prune the (empty) folder while this body streams in: make it again.
      reparent: () => keyParent(d, kp, ctx, bucketDir),
    }, ctx);
  } catch (e) {
    if (e instanceof Dht2Error && e.errno === 'EEXIST' && ifNoneMatch === '*') throw new S3Error('PreconditionFailed', undefined, `/${bucket}/${key}`);
    throw s3ErrorOf(e, `/${bucket}/${key}`);
  }
  return { status: 200, headers: { etag: `"${tap.digest()}"` } };
}

/** Evaluates GET/HEAD preconditions (RFC 9110 §13.2.2 order, as S3 documents it). */
function preconditions(r: S3Request, etag: string, mtimeMs: number): 304 | 412 | undefined {
  const ifMatch = header(r.headers, 'if-match');
  const ifNoneMatch = header(r.headers, 'if-none-match');
  const ifModifiedSince = header(r.headers, 'if-modified-since');
  const ifUnmodifiedSince = header(r.headers, 'if-unmodified-since');
  const matches = (list: string) => list.split(',').map((s) => s.trim()).some((t) => t === '*' || t.replace(/^W\//, '') === etag);
  const secs = Math.floor(mtimeMs / 1000);
  if (ifMatch !== undefined) {
    if (!matches(ifMatch)) return 412;
  } else if (ifUnmodifiedSince !== undefined) {
    const t = Date.parse(ifUnmodifiedSince);
    if (!Number.isNaN(t) && secs > Math.floor(t / 1000)) return 412;
  }
  if (ifNoneMatch !== undefined) {
    if (matches(ifNoneMatch)) return 304;
  } else if (ifModifiedSince !== undefined) {
    const t = Date.parse(ifModifiedSince);
    if (!Number.isNaN(t) && secs <= Math.floor(t / 1000)) return 304;
  }
  return undefined;
}

/** Parses a single `bytes=` range against `size`; undefined = whole object; 'unsatisfiable'. */
export function parseRange(h: string | undefined, size: number): { start: number; end: number } | 'unsatisfiable' | undefined {
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

const OVERRIDES: Record<string, string> = {
  'response-content-type': 'content-type', 'response-content-language': 'content-language', 'response-expires': 'expires',
  'response-cache-control': 'cache-control', 'response-content-disposition': 'content-disposition', 'response-content-encoding': 'content-encoding',
};

/**
 * The `response-*` overrides of a GET/HEAD
 * (https://docs.aws.amazon.com/AmazonS3/latest/API/API_GetObject.html#API_GetObject_RequestSyntax)
 * as header values: the query's text as UTF-8 bytes, and a value no header can carry (a
 * control character: `%7F`, `%00`, `%0A`) refused with InvalidArgument before the object is
 * even looked up, so no brick stream is ever opened for a reply that cannot be sent (issue 14).
 */
function responseOverrides(q: URLSearchParams): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [p, h] of Object.entries(OVERRIDES)) {
    const v = q.get(p);
    if (v !== null) out[h] = checkedHeaderValue(p, asHeaderBytes(v));
  }
  return out;
}

async function getOrHead(d: S3Deps, bucket: string, key: string, r: S3Request, head: boolean): Promise<S3Reply> {
  const overrides = responseOverrides(r.query);
  const { attrs, meta } = await statObject(d, bucket, key, r);
  const etag = etagOf(attrs, meta);
  const headers: Record<string, string | number> = {
    ...metaHeaders(meta), etag, 'last-modified': new Date(attrs.mtimeMs).toUTCString(), 'accept-ranges': 'bytes',
  };
  if (meta?.parts) headers['x-amz-mp-parts-count'] = meta.parts;
  Object.assign(headers, overrides);
  const pre = preconditions(r, etag, attrs.mtimeMs);
  if (pre === 412) throw new S3Error('PreconditionFailed', undefined, `/${bucket}/${key}`);
  if (pre === 304) return { status: 304, headers: { etag, 'last-modified': headers['last-modified']! } };
  const size = attrs.type === 'file' ? attrs.size : 0;
  const range = parseRange(header(r.headers, 'range'), size);
  if (range === 'unsatisfiable') {
    throw Object.assign(new S3Error('InvalidRange', undefined, `/${bucket}/${key}`), { contentRange: `bytes */${size}` });
  }
  const status = range ? 206 : 200;
  if (range) headers['content-range'] = `bytes ${range.start}-${range.end}/${size}`;
  headers['content-length'] = range ? range.end - range.start + 1 : size;
  if (head || attrs.type !== 'file' || headers['content-length'] === 0) return { status, headers };
  const body = await d.volume.readAt(attrs, range ? { offset: range.start, length: range.end - range.start + 1 } : {}, ctxOf(r))
    .catch((e: unknown) => { throw e instanceof Dht2Error && e.errno === 'ESTALE' ? new ReplacedWhileRead() : s3ErrorOf(e, `/${bucket}/${key}`); });
  return { status, headers, body };
}

/** The object was replaced or deleted between its lookup and the read of its data. */
class ReplacedWhileRead extends Error {}

export async function getObject(d: S3Deps, bucket: string, key: string, r: S3Request): Promise<S3Reply> {
  // A PUT or DELETE racing the GET removed the data the lookup named: look again, and answer
  // what the key holds now (the new object, or NoSuchKey), as S3 would.
  for (let attempt = 0; ; attempt++) {
    try {
      return await getOrHead(d, bucket, key, r, false);
    } catch (e) {
      if (!(e instanceof ReplacedWhileRead)) throw e;
      if (attempt >= 4) throw new S3Error('SlowDown', 'The object keeps changing; retry.', `/${bucket}/${key}`);
    }
  }
}

export function headObject(d: S3Deps, bucket: string, key: string, r: S3Request): Promise<S3Reply> {
  return getOrHead(d, bucket, key, r, true);
}

/** Deletes a key (absent keys too: S3 answers 204) and the empty folders above it that hold no marker. */
export async function deleteObject(d: S3Deps, bucket: string, key: string, r: S3Request): Promise<S3Reply> {
  const kp = keyPath(bucket, key);
  const bucketDir = { path: `/${bucket}`, gfid: await requireBucket(d, bucket, r) };
  const ctx = ctxOf(r);
  try {
    if (kp.marker) {
      await d.volume.removexattr(kp.path, META_XATTR, ctx).catch((e: unknown) => {
        if (!(e instanceof Dht2Error && ['ENOENT', 'ENODATA', 'ENOTDIR'].includes(e.errno))) throw e;
      });
      await pruneEmpty(d, bucket, kp.path, ctx);
    } else {
      // The name can turn from file to directory or back under us (another client writing `a/b`
      // or deleting `a/`): then look again.
      for (let attempt = 0; ; attempt++) {
        try {
          await deleteKeyAt(d, bucket, kp, ctx, bucketDir);
          break;
        } catch (e) {
          // ENOENT: the directory is turning back into the file it carries (pruneEmpty).
          if (!(e instanceof Dht2Error && ['EISDIR', 'ENOTDIR', 'ENOENT'].includes(e.errno)) || attempt >= 5) throw e;
          await sleep(5 * (attempt + 1));
        }
      }
    }
  } catch (e) {
    throw s3ErrorOf(e, `/${bucket}/${key}`);
  }
  return { status: 204 };
}

/**
 * Deletes the object at a non-marker key: a file, or the object a directory carries. The key's
 * folder is found once by its name entries; the key is unlinked there; only a directory at the
 * key's name (EISDIR) needs a second look, for the object it may carry.
 */
async function deleteKeyAt(d: S3Deps, bucket: string, kp: KeyPath, ctx: { requestId: string; signal: AbortSignal }, bucketDir: KnownDir): Promise<void> {
  const inBucket = kp.parent === bucketDir.path;
  let parent = bucketDir.gfid;
  if (!inBucket) {
    try {
      parent = await d.volume.dirGfid(kp.parent, ctx, bucketDir);
    } catch (e) {
      if (e instanceof Dht2Error && (e.errno === 'ENOENT' || e.errno === 'ENOTDIR')) return; // no such folder: no such key
      throw e;
    }
  }
  try {
    await d.volume.unlinkAt(parent, kp.name, ctx);
  } catch (e) {
    if (e instanceof Dht2Error && e.errno === 'ENOENT') return; // absent (or its folder just pruned): S3 answers 204
    if (!(e instanceof Dht2Error && e.errno === 'EISDIR')) throw e;
    // Key `a` carried by directory `a`: the directory goes too once nothing else needs it.
    if (await d.volume.dropCarriedObject(kp.path, ctx)) await pruneEmpty(d, bucket, kp.path, ctx);
    return;
  }
  if (!inBucket) await pruneEmpty(d, bucket, kp.parent, ctx, parent);
}

/**
 * Removes `dir` and its parents up to the bucket while they are empty and carry no marker; an
 * empty directory that carries an object turns back into that file (and the walk stops there).
 */
async function pruneEmpty(d: S3Deps, bucket: string, dir: string, ctx: { requestId: string; signal: AbortSignal }, dirGfid?: string): Promise<void> {
  // A folder that still holds names is left at once: one readdir of one entry, not a walk to it.
  if (dirGfid !== undefined) {
    try {
      if ((await d.volume.readdirGfid(dirGfid, { limit: 1 }, ctx)).entries.length > 0) return;
    } catch {
      return; // gone meanwhile: nothing to prune
    }
  }
  let p = dir;
  while (p.length > bucket.length + 1) {
    try {
      const a = await d.volume.stat(p, ctx, [META_XATTR]);
      if (a.type !== 'dir' || a.xattrs?.[META_XATTR]) return;
      // Only the object at its own name is left: the directory becomes that file again.
      if (a.obj !== undefined) { await d.volume.uncarry(p, ctx); return; }
      await d.volume.rmdir(p, ctx);
    } catch {
      return; // not empty, gone, or raced with a writer: leave it
    }
    p = p.slice(0, p.lastIndexOf('/'));
  }
}
