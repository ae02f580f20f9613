/**
 * ListObjectsV2, ListObjects (v1) and ListObjectVersions on an unversioned bucket
 * (https://docs.aws.amazon.com/AmazonS3/latest/API/API_ListObjectsV2.html). The walk over the
 * bucket's directories, in S3 key order and O(page), is list-walk.ts; this module reads the
 * parameters, feeds it the volume, and writes the XML. Object metadata (ETag) comes with each
 * directory page (readdirp with wanted xattrs), so a page costs O(page) round trips at most.
 */
import { Dht2Error, type Attrs, type DirEntry } from '../../dht2-core/index.js';
import { requireBucket } from './bucket.js';
import { xmlReply, type S3Deps, type S3Reply, type S3Request } from './context.js';
import { S3Error, s3ErrorOf } from './errors.js';
import { listKeys, type ListEntry, type ListIo, type ListResult } from './list-walk.js';
import { etagOf } from './object.js';
import { META_XATTR, decodeMeta } from './object-meta.js';
import { isoTime, xmlDoc } from './xml.js';

const OWNER = { ID: 'dht2', DisplayName: 'dht2' };

function io(d: S3Deps, bucket: string, r: S3Request): ListIo {
  const ctx = { requestId: r.requestId, signal: r.signal };
  const base = `/${bucket}`;
  return {
    async readdir(dirPath, after, limit) {
      try {
        const page = await d.volume.readdir(dirPath ? `${base}/${dirPath}` : base, { after, limit: Math.min(limit, 10000), plus: true, want: [META_XATTR] }, ctx);
        const entries = await Promise.all(page.entries.map(async (e): Promise<ListEntry> => {
          const carried = e.attrs ? await d.volume.carriedObject(e.attrs, ctx, [META_XATTR]) : undefined;
          if (!carried) return { name: e.name, type: e.type, info: e };
          const object: ListEntry = { name: e.name, type: 'file', info: { name: e.name, gfid: carried.gfid, type: 'file', attrs: carried } satisfies DirEntry };
          return { name: e.name, type: e.type, info: e, object };
        }));
        return { entries, eof: page.eof };
      } catch (e) {
        if (e instanceof Dht2Error && (e.errno === 'ENOENT' || e.errno === 'ENOTDIR')) return { entries: [], eof: true };
        throw e;
      }
    },
    async isMarker(dirPath) {
      try {
        const a = await d.volume.stat(`${base}/${dirPath}`, ctx, [META_XATTR]);
        return a.type === 'dir' && a.xattrs?.[META_XATTR] !== undefined;
      } catch {
        return false;
      }
    },
  };
}

interface Params {
  prefix: string;
  delimiter: string | undefined;
  maxKeys: number;
  urlEncode: boolean;
}

function params(r: S3Request): Params {
  const mk = r.query.get('max-keys');
  let maxKeys = 1000;
  if (mk !== null) {
    if (!/^\d+$/.test(mk)) throw new S3Error('InvalidArgument', 'max-keys must be a non-negative integer.');
    maxKeys = Math.min(1000, Number(mk));
  }
  const enc = r.query.get('encoding-type');
  if (enc !== null && enc !== 'url') throw new S3Error('InvalidArgument', 'Invalid Encoding Method specified in Request');
  const delimiter = r.query.get('delimiter') ?? undefined;
  return { prefix: r.query.get('prefix') ?? '', delimiter: delimiter === '' ? undefined : delimiter, maxKeys, urlEncode: enc === 'url' };
}

/** encoding-type=url: keys percent-encoded as S3 does (space as '+' is not used; '/' kept). */
function encoder(urlEncode: boolean): (s: string) => string {
  return urlEncode ? (s) => encodeURIComponent(s).replace(/%2F/g, '/').replace(/[!'()*]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`) : (s) => s;
}

function contentOf(c: ListResult['contents'][number]): { key: string; attrs: Attrs | undefined } {
  const e = c.entry.info as DirEntry | undefined;
  return { key: c.key, attrs: e?.attrs };
}

function objectXml(key: string, attrs: Attrs | undefined, enc: (s: string) => string, owner: boolean): Record<string, unknown> {
  const meta = decodeMeta(attrs?.xattrs?.[META_XATTR]);
  const o: Record<string, unknown> = {
    Key: enc(key),
    LastModified: isoTime(attrs?.mtimeMs ?? 0),
    ETag: attrs ? etagOf(attrs, meta) : '"d41d8cd98f00b204e9800998ecf8427e"',
    Size: attrs?.type === 'file' ? attrs.size : 0,
    StorageClass: 'STANDARD',
  };
  if (owner) o.Owner = OWNER;
  return o;
}

async function walk(d: S3Deps, bucket: string, r: S3Request, p: Params, startAfter: string | undefined): Promise<ListResult> {
  await requireBucket(d, bucket, r);
  try {
    return await listKeys(io(d, bucket, r), { prefix: p.prefix, delimiter: p.delimiter, startAfter, maxKeys: p.maxKeys });
  } catch (e) {
    throw s3ErrorOf(e, `/${bucket}`);
  }
}

export async function listObjectsV2(d: S3Deps, bucket: string, r: S3Request): Promise<S3Reply> {
  const p = params(r);
  const token = r.query.get('continuation-token');
  let after = r.query.get('start-after') ?? undefined;
  if (token !== null) {
    const decoded = Buffer.from(token, 'base64url').toString('utf8');
    if (!token || Buffer.from(decoded, 'utf8').toString('base64url') !== token) {
      throw new S3Error('InvalidArgument', 'The continuation token provided is incorrect');
    }
    after = decoded;
  }
  const res = await walk(d, bucket, r, p, after);
  const enc = encoder(p.urlEncode);
  const owner = r.query.get('fetch-owner') === 'true';
  const body: Record<string, unknown> = {
    Name: bucket, Prefix: enc(p.prefix), KeyCount: res.contents.length + res.commonPrefixes.length, MaxKeys: p.maxKeys,
  };
  if (p.delimiter !== undefined) body.Delimiter = enc(p.delimiter);
  body.IsTruncated = res.isTruncated;
  if (token !== null) body.ContinuationToken = token;
  if (res.isTruncated && res.next !== undefined) body.NextContinuationToken = Buffer.from(res.next, 'utf8').toString('base64url');
  if (r.query.get('start-after') !== null) body.StartAfter = enc(r.query.get('start-after')!);
  if (p.urlEncode) body.EncodingType = 'url';
  body.Contents = res.contents.map((c) => { const x = contentOf(c); return objectXml(x.key, x.attrs, enc, owner); });
  body.CommonPrefixes = res.commonPrefixes.map((cp) => ({ Prefix: enc(cp) }));
  return xmlReply(xmlDoc('ListBucketResult', body));
}

export async function listObjectsV1(d: S3Deps, bucket: string, r: S3Request): Promise<S3Reply> {
  const p = params(r);
  const marker = r.query.get('marker') ?? '';
  const res = await walk(d, bucket, r, p, marker || undefined);
  const enc = encoder(p.urlEncode);
  const body: Record<string, unknown> = { Name: bucket, Prefix: enc(p.prefix), Marker: enc(marker), MaxKeys: p.maxKeys };
  if (p.delimiter !== undefined) body.Delimiter = enc(p.delimiter);
  body.IsTruncated = res.isTruncated;
  // NextMarker is returned only with a delimiter; without one clients use the last key (AWS docs).
  if (res.isTruncated && p.delimiter !== undefined && res.next !== undefined) body.NextMarker = enc(res.next);
  if (p.urlEncode) body.EncodingType = 'url';
  body.Contents = res.contents.map((c) => { const x = contentOf(c); return objectXml(x.key, x.attrs, enc, true); });
  body.CommonPrefixes = res.commonPrefixes.map((cp) => ({ Prefix: enc(cp) }));
  return xmlReply(xmlDoc('ListBucketResult', body));
}

/** Every object once, with VersionId "null" (the bucket is not versioned). */
export async function listObjectVersions(d: S3Deps, bucket: string, r: S3Request): Promise<S3Reply> {
  const p = params(r);
  const keyMarker = r.query.get('key-marker') ?? '';
  const res = await walk(d, bucket, r, p, keyMarker || undefined);
  const enc = encoder(p.urlEncode);
  const body: Record<string, unknown> = { Name: bucket, Prefix: enc(p.prefix), KeyMarker: enc(keyMarker), VersionIdMarker: '', MaxKeys: p.maxKeys };
  if (p.delimiter !== undefined) body.Delimiter = enc(p.delimiter);
  body.IsTruncated = res.isTruncated;
  if (res.isTruncated && res.next !== undefined) { body.NextKeyMarker = enc(res.next); body.NextVersionIdMarker = 'null'; }
  if (p.urlEncode) body.EncodingType = 'url';
  body.Version = res.contents.map((c) => {
    const x = contentOf(c);
    const o = objectXml(x.key, x.attrs, enc, true);
    return { Key: o.Key, VersionId: 'null', IsLatest: true, LastModified: o.LastModified, ETag: o.ETag, Size: o.Size, StorageClass: o.StorageClass, Owner: OWNER };
  });
  body.CommonPrefixes = res.commonPrefixes.map((cp) => ({ Prefix: enc(cp) }));
  return xmlReply(xmlDoc('ListVersionsResult', body));
}
