/**
 * The object layer: buckets and objects over the DHT2 Volume API, the one layer both the S3
 * API and the file API call for objects (MinIO's lesson, cmd/object-api-interface.go: handlers
 * never touch the storage API directly). It maps keys to paths (names.ts), keeps object
 * metadata (meta.ts), evaluates conditions once (conditions.ts) and taps bodies (body.ts). It
 * throws the volume's errors (Dht2Error) and its own (ObjectError); each API translates them.
 *
 * Crash stories: a PUT's data is stored whole under a new GFID before its name exists, and the
 * name replaces the old one in one FOP (dht2-core fops/data.ts), so a crash leaves the old
 * object or the new one, plus at worst an orphan data object for fsck (docs/CRASH-SAFETY.md).
 */
import { PassThrough, type Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { setTimeout as sleep } from 'node:timers/promises';
import { isErr, type Attrs, type CallContext, type DirEntry, type KnownDir, type Volume, type WriteFileOptions } from '../../dht2-core/index.js';
import { md5Tap, through } from './body.js';
import { evaluateConditions, parseRange, type ByteRange, type Conditions } from './conditions.js';
import { ObjectError } from './errors.js';
import { Uploads } from './uploads.js';
import { listKeys, type ListEntry, type ListIo, type ListParams, type ListResult } from './list-walk.js';
import { EMPTY_MD5, META_XATTR, decodeMeta, encodeMeta, etagOf, type ObjectMeta } from './meta.js';
import { checkBucketName, isBucketName, keyPath, missingBucket, type KeyPath } from './names.js';

/** A bucket looked up once per request: a key's folders are walked from its GFID (put, copy, delete). */
export interface BucketRef extends KnownDir {
  name: string;
}

/** An object found at a key: its inode's attributes, metadata and ETag. */
export interface ObjectInfo {
  bucket: string;
  key: string;
  /** Volume path of the object. */
  path: string;
  attrs: Attrs;
  meta: ObjectMeta | undefined;
  /** Quoted, as headers carry it. */
  etag: string;
}

/** A read decided against an object: its info, the bytes to send (range) and their stream. */
export type OpenResult =
  | { info: ObjectInfo; notModified: true }
  | { info: ObjectInfo; notModified: false; size: number; range: ByteRange | undefined; body: Readable | undefined };

/** How a write may replace what is at its key (conditional writes). */
export interface WriteConditions {
  /** Replace only an object whose ETag matches (`*`: any object). */
  ifMatch?: string | undefined;
  /** Only `*`: write only when the key holds no object. */
  ifNoneMatch?: '*' | undefined;
}

export class ObjectLayer {
  /** Multipart uploads, kept in the volume's reserved /.dht2 (uploads.ts). */
  readonly uploads: Uploads;

  /** The Volume stays private: the APIs reach storage through the layer's methods only. */
  constructor(private readonly volume: Volume) {
    this.uploads = new Uploads(this, volume);
  }

  // ------------------------------------------------------------------ buckets

  /**
   * The bucket's directory; BucketNotFound (or BucketNameInvalid) when there is none. One
   * `entry` round trip to the root's MDS: the name alone tells that it is a directory, without a
   * second hop to the MDS that holds the bucket's inode.
   */
  async bucket(name: string, ctx: CallContext): Promise<BucketRef> {
    try {
      return { name, path: `/${name}`, gfid: await this.volume.dirGfid(`/${name}`, ctx) };
    } catch (e) {
      if (isErr(e, 'ENOENT', 'ENOTDIR', 'EINVAL', 'ENAMETOOLONG')) throw missingBucket(name);
      throw e;
    }
  }

  /** Every bucket (top-level directory a request can address: never the reserved /.dht2), by name. */
  async listBuckets(ctx: CallContext): Promise<Array<{ name: string; createdMs: number }>> {
    const out: Array<{ name: string; createdMs: number }> = [];
    let after: string | undefined;
    for (;;) {
      const page = await this.volume.readdir('/', { after, limit: 1000, plus: true }, ctx);
      for (const e of page.entries) {
        if (e.type !== 'dir' || !isBucketName(e.name)) continue;
        out.push({ name: e.name, createdMs: e.attrs?.btimeMs ?? 0 });
      }
      if (page.eof || page.entries.length === 0) return out;
      after = page.entries.at(-1)!.name;
    }
  }

  /** Makes a bucket under S3's naming rules; BucketExists when it is there. */
  async createBucket(name: string, ctx: CallContext): Promise<void> {
    checkBucketName(name);
    try {
      await this.volume.mkdir(`/${name}`, { mode: 0o755 }, ctx);
    } catch (e) {
      if (isErr(e, 'EEXIST')) throw new ObjectError('BucketExists', undefined, { bucket: name, cause: e });
      throw e;
    }
  }

  /** Removes an empty bucket. */
  async deleteBucket(name: string, ctx: CallContext): Promise<void> {
    try {
      await this.volume.rmdir(`/${name}`, ctx);
    } catch (e) {
      if (isErr(e, 'ENOTEMPTY')) throw new ObjectError('BucketNotEmpty', undefined, { bucket: name, cause: e });
      if (isErr(e, 'ENOENT', 'ENOTDIR', 'EINVAL')) throw missingBucket(name);
      throw e;
    }
  }

  // ------------------------------------------------------------------ objects

  /**
   * The object at `key`. Given the bucket's name rather than a looked-up bucket, an absent key
   * looks the bucket up: BucketNotFound wins over ObjectNotFound, as in S3.
   */
  async stat(bucket: BucketRef | string, key: string, ctx: CallContext): Promise<ObjectInfo> {
    const name = typeof bucket === 'string' ? bucket : bucket.name;
    const kp = keyPath(name, key);
    let attrs: Attrs;
    try {
      attrs = await this.volume.stat(kp.path, ctx, [META_XATTR]);
    } catch (e) {
      if (isErr(e, 'ENOENT', 'ENOTDIR')) {
        if (typeof bucket === 'string') await this.bucket(bucket, ctx);
        throw new ObjectError('ObjectNotFound', undefined, { bucket: name, key, cause: e });
      }
      throw e;
    }
    // Key `a` when `a` is a directory: the object the directory carries, if any.
    if (!kp.marker && attrs.type === 'dir') attrs = await this.volume.carriedObject(attrs, ctx, [META_XATTR]) ?? attrs;
    const meta = decodeMeta(attrs.xattrs?.[META_XATTR]);
    // A directory is an object only as its marker key ("a/"); a file is never one ("a" vs "a/").
    if (kp.marker ? attrs.type !== 'dir' || !meta : attrs.type !== 'file') throw new ObjectError('ObjectNotFound', undefined, { bucket: name, key });
    return { bucket: name, key, path: kp.path, attrs, meta, etag: etagOf(attrs, meta) };
  }

  /**
   * Opens the object at `key` for a GET or HEAD (no body when `head`): conditions evaluated
   * (RFC 9110 §13.2.2), the range checked against the size. A PUT or DELETE racing the read
   * removed the data the lookup named: look again, and answer what the key holds now (the new
   * object, or ObjectNotFound), as S3 would; ObjectKeepsChanging after five tries.
   */
  async open(bucket: string, key: string, o: { conditions: Conditions; range: string | undefined; head: boolean }, ctx: CallContext): Promise<OpenResult> {
    for (let attempt = 0; ; attempt++) {
      const info = await this.stat(bucket, key, ctx);
      const pre = evaluateConditions(o.conditions, info.etag, info.attrs.mtimeMs);
      if (pre === 'failed') throw new ObjectError('PreconditionFailed', undefined, { bucket, key });
      if (pre === 'not-modified') return { info, notModified: true };
      const size = info.attrs.type === 'file' ? info.attrs.size : 0;
      const range = parseRange(o.range, size);
      if (range === 'unsatisfiable') throw new ObjectError('RangeNotSatisfiable', undefined, { bucket, key, contentRange: `bytes */${size}` });
      const length = range ? range.end - range.start + 1 : size;
      if (o.head || info.attrs.type !== 'file' || length === 0) return { info, notModified: false, size, range, body: undefined };
      try {
        const body = await this.volume.readAt(info.attrs, range ? { offset: range.start, length } : {}, ctx);
        return { info, notModified: false, size, range, body };
      } catch (e) {
        if (!isErr(e, 'ESTALE')) throw e;
        if (attempt >= 4) throw new ObjectError('ObjectKeepsChanging', 'The object keeps changing; retry.', { bucket, key });
      }
    }
  }

  /**
   * Stores `body` at `key`; answers the ETag (the MD5 of the bytes). The name appears only once
   * all of the data is stored (and verified by the stream's own checks), so a failed or cut-off
   * upload leaves the previous object untouched. A key ending in `/` is a folder marker: the
   * directory itself, carrying the metadata; it takes no data.
   */
  async put(bucket: BucketRef, key: string, body: Readable, meta: Omit<ObjectMeta, 'etag'>, cond: WriteConditions, ctx: CallContext): Promise<{ etag: string }> {
    const kp = keyPath(bucket.name, key);
    const tap = md5Tap();
    if (kp.marker) {
      const sink = new PassThrough();
      let n = 0;
      sink.on('data', (c: Buffer) => { n += c.length; });
      await pipeline(body, tap.stream, sink);
      if (n > 0) throw new ObjectError('FolderHoldsNoData', 'A key ending in "/" is a folder and cannot hold data here.', { bucket: bucket.name, key });
      await this.volume.mkdir(kp.path, { parents: true, adopt: true }, ctx);
      await this.volume.setxattr(kp.path, META_XATTR, Buffer.from(encodeMeta({ ...meta, etag: tap.digest() }), 'base64'), undefined, ctx);
      return { etag: `"${EMPTY_MD5}"` };
    }
    await this.nameAt(bucket, key, cond, ctx, (parent, name, o) => this.volume.writeFileAt(parent, name, through(body, tap.stream), {
      ...o, xattrs: () => ({ [META_XATTR]: encodeMeta({ ...meta, etag: tap.digest() }) }),
    }, ctx));
    return { etag: `"${tap.digest()}"` };
  }

  /**
   * Copies `src` to `key` on the data brick (dcopy, a reflink where the filesystem allows), never
   * through the gateway, with the metadata `meta`.
   */
  async copy(src: ObjectInfo, bucket: BucketRef, key: string, meta: ObjectMeta, ctx: CallContext): Promise<Attrs> {
    const kp = keyPath(bucket.name, key);
    if (kp.marker) throw new ObjectError('FolderHoldsNoData', 'A key ending in "/" is a folder and cannot be the target of a copy.', { bucket: bucket.name, key });
    const parent = await this.keyParent(kp, ctx, bucket);
    return this.volume.copyAt(src.attrs, parent, kp.name, { xattrs: { [META_XATTR]: encodeMeta(meta) }, intoDir: true }, ctx);
  }

  /** Names at `key` one new object made of the data of `parts` (files whose data share one DS), as put does. */
  async concat(bucket: BucketRef, key: string, parts: readonly string[], meta: ObjectMeta, cond: WriteConditions, ctx: CallContext): Promise<Attrs> {
    return this.nameAt(bucket, key, cond, ctx, (parent, name, o) => this.volume.concatAt(parent, name, parts, {
      ...o, xattrs: { [META_XATTR]: encodeMeta(meta) },
    }, ctx), true);
  }

  /**
   * Names a new object at `key` (put, concat): If-Match turned into the GFID the write must
   * replace, the key's folders made, a directory at the name made to carry the object, and the
   * folder made again when a DELETE pruned it meanwhile (issue 13: Complete answered 404
   * NoSuchKey then). EEXIST under If-None-Match: * (or any EEXIST, for `anyExisting`) is
   * PreconditionFailed.
   */
  private async nameAt(
    bucket: BucketRef, key: string, cond: WriteConditions, ctx: CallContext,
    write: (parent: string, name: string, o: WriteFileOptions) => Promise<Attrs>, anyExisting = false,
  ): Promise<Attrs> {
    const kp = keyPath(bucket.name, key);
    const ifGfid = await this.ifMatchGfid(bucket, key, cond, ctx);
    try {
      const parent = await this.keyParent(kp, ctx, bucket);
      return await write(parent, kp.name, {
        createOnly: cond.ifNoneMatch === '*', ifGfid, intoDir: true, reparent: () => this.keyParent(kp, ctx, bucket),
      });
    } catch (e) {
      if (isErr(e, 'EEXIST') && (anyExisting || cond.ifNoneMatch === '*')) {
        throw new ObjectError('PreconditionFailed', undefined, { bucket: bucket.name, key, cause: e });
      }
      throw e;
    }
  }

  /** Deletes a key (an absent key is no error: S3 answers 204) and the empty folders above it that hold no marker. */
  async delete(bucket: BucketRef, key: string, ctx: CallContext): Promise<void> {
    const kp = keyPath(bucket.name, key);
    if (kp.marker) {
      await this.volume.removexattr(kp.path, META_XATTR, ctx).catch((e: unknown) => {
        if (!isErr(e, 'ENOENT', 'ENODATA', 'ENOTDIR')) throw e;
      });
      await this.pruneEmpty(bucket, kp.path, ctx);
      return;
    }
    // The name can turn from file to directory or back under us (another client writing `a/b`
    // or deleting `a/`): then look again.
    for (let attempt = 0; ; attempt++) {
      try {
        await this.deleteKeyAt(bucket, kp, ctx);
        return;
      } catch (e) {
        // ENOENT: the directory is turning back into the file it carries (pruneEmpty).
        if (!isErr(e, 'EISDIR', 'ENOTDIR', 'ENOENT') || attempt >= 5) throw e;
        await sleep(5 * (attempt + 1));
      }
    }
  }

  /**
   * Lists keys in S3 key order, O(page) (list-walk.ts). Object metadata (the ETag) comes with each
   * directory page (readdirp with wanted xattrs), so a page costs O(page) round trips at most.
   */
  list(bucket: BucketRef, p: ListParams, ctx: CallContext): Promise<ListResult> {
    return listKeys(this.listIo(bucket, ctx), p);
  }

  /**
   * The GFID a conditional write must replace: with If-Match, PreconditionFailed unless the key
   * holds an object whose ETag matches (any object for `*`); a change between this check and the
   * write fails the write too (dht2-core `ifGfid`). Undefined without If-Match.
   */
  private async ifMatchGfid(bucket: BucketRef, key: string, cond: WriteConditions, ctx: CallContext): Promise<string | undefined> {
    if (cond.ifMatch === undefined) return undefined;
    let cur: ObjectInfo;
    try {
      cur = await this.stat(bucket, key, ctx);
    } catch (e) {
      if (e instanceof ObjectError && e.kind === 'ObjectNotFound') throw new ObjectError('PreconditionFailed', undefined, { bucket: bucket.name, key });
      throw e;
    }
    if (evaluateConditions({ ifMatch: cond.ifMatch }, cur.etag, cur.attrs.mtimeMs) === 'failed') {
      throw new ObjectError('PreconditionFailed', undefined, { bucket: bucket.name, key });
    }
    return cur.attrs.gfid;
  }

  /**
   * The directory a key's object goes into, made with its parents. A file on the way becomes a
   * directory that carries it, so `a` and `a/b` coexist (dht2-core fops/dirobj.ts).
   */
  private keyParent(kp: KeyPath, ctx: CallContext, bucket: KnownDir): Promise<string> {
    // A key without folders goes straight into the bucket the caller looked up, and its
    // folders are walked from there: no second walk to the bucket.
    if (kp.parent === bucket.path) return Promise.resolve(bucket.gfid);
    return this.volume.mkdirPath(kp.parent, { adopt: true }, ctx, bucket);
  }

  /**
   * Deletes the object at a non-marker key: a file, or the object a directory carries. The key's
   * folder is found once by its name entries; the key is unlinked there; only a directory at the
   * key's name (EISDIR) needs a second look, for the object it may carry.
   */
  private async deleteKeyAt(bucket: BucketRef, kp: KeyPath, ctx: CallContext): Promise<void> {
    const inBucket = kp.parent === bucket.path;
    let parent = bucket.gfid;
    if (!inBucket) {
      try {
        parent = await this.volume.dirGfid(kp.parent, ctx, bucket);
      } catch (e) {
        if (isErr(e, 'ENOENT', 'ENOTDIR')) return; // no such folder: no such key
        throw e;
      }
    }
    try {
      await this.volume.unlinkAt(parent, kp.name, ctx);
    } catch (e) {
      if (isErr(e, 'ENOENT')) return; // absent (or its folder just pruned): S3 answers 204
      if (!isErr(e, 'EISDIR')) throw e;
      // Key `a` carried by directory `a`: the directory goes too once nothing else needs it.
      if (await this.volume.dropCarriedObject(kp.path, ctx)) await this.pruneEmpty(bucket, kp.path, ctx);
      return;
    }
    if (!inBucket) await this.pruneEmpty(bucket, kp.parent, ctx, parent);
  }

  /**
   * Removes `dir` and its parents up to the bucket while they are empty and carry no marker; an
   * empty directory that carries an object turns back into that file (and the walk stops there).
   */
  private async pruneEmpty(bucket: BucketRef, dir: string, ctx: CallContext, dirGfid?: string): Promise<void> {
    // A folder that still holds names is left at once: one readdir of one entry, not a walk to it.
    if (dirGfid !== undefined) {
      try {
        if ((await this.volume.readdirGfid(dirGfid, { limit: 1 }, ctx)).entries.length > 0) return;
      } catch {
        return; // gone meanwhile: nothing to prune
      }
    }
    let p = dir;
    while (p.length > bucket.path.length) {
      try {
        const a = await this.volume.stat(p, ctx, [META_XATTR]);
        if (a.type !== 'dir' || a.xattrs?.[META_XATTR]) return;
        // Only the object at its own name is left: the directory becomes that file again.
        if (a.obj !== undefined) { await this.volume.uncarry(p, ctx); return; }
        await this.volume.rmdir(p, ctx);
      } catch {
        return; // not empty, gone, or raced with a writer: leave it
      }
      p = p.slice(0, p.lastIndexOf('/'));
    }
  }

  /** The volume as list-walk.ts reads it: directory pages with the objects directories carry, and markers. */
  private listIo(bucket: BucketRef, ctx: CallContext): ListIo {
    const v = this.volume;
    const base = bucket.path;
    return {
      async readdir(dirPath, after, limit) {
        try {
          const page = await v.readdir(dirPath ? `${base}/${dirPath}` : base, { after, limit: Math.min(limit, 10000), plus: true, want: [META_XATTR] }, ctx);
          const entries = await Promise.all(page.entries.map(async (e): Promise<ListEntry> => {
            const carried = e.attrs ? await v.carriedObject(e.attrs, ctx, [META_XATTR]) : undefined;
            if (!carried) return { name: e.name, type: e.type, info: e };
            const object: ListEntry = { name: e.name, type: 'file', info: { name: e.name, gfid: carried.gfid, type: 'file', attrs: carried } satisfies DirEntry };
            return { name: e.name, type: e.type, info: e, object };
          }));
          return { entries, eof: page.eof };
        } catch (e) {
          if (isErr(e, 'ENOENT', 'ENOTDIR')) return { entries: [], eof: true };
          throw e;
        }
      },
      async isMarker(dirPath) {
        try {
          const a = await v.stat(`${base}/${dirPath}`, ctx, [META_XATTR]);
          return a.type === 'dir' && a.xattrs?.[META_XATTR] !== undefined;
        } catch {
          return false;
        }
      },
    };
  }
}
