/**
 * The S3 side of a file written through the file API (issue 4: "content type and user metadata
 * kept where both sides have them"). A PUT or an uploaded form part stores the same metadata
 * xattr an S3 PutObject stores (server/objects/meta.ts): Content-Type as sent, the stored
 * response headers, `x-amz-meta-*`, and the MD5 of the bytes as the ETag, so S3 GET/HEAD/LIST
 * show them. A read through the file API answers with them too. A write in place (offset,
 * append, truncate) makes the stored MD5 wrong, so it is dropped: both APIs then derive the
 * ETag from the file's identity, size and mtime.
 */
import type { IncomingHttpHeaders } from 'node:http';
import type { Readable } from 'node:stream';
import { isErr, type Attrs, type Volume } from '../../dht2-core/index.js';
import { META_XATTR, decodeMeta, encodeMeta, md5Tap, metaFromHeaders, metaHeaders, through, type ObjectMeta } from '../objects/index.js';

/** Taps the MD5 of `body`; `xattrs()` (called once it is stored) is the metadata xattr to write with it. */
export function withObjectMeta(body: Readable, headers: IncomingHttpHeaders): { body: Readable; xattrs: () => Record<string, string> } {
  let base: Omit<ObjectMeta, 'etag'>;
  try {
    base = metaFromHeaders(headers); // a refusal is an ObjectError: 400 EINVAL (errors.ts)
  } catch (e) {
    body.resume();
    throw e;
  }
  const tap = md5Tap();
  return { body: through(body, tap.stream), xattrs: () => ({ [META_XATTR]: encodeMeta({ ...base, etag: tap.digest() }) }) };
}

/** The metadata of a file read with `want: [META_XATTR]`; undefined for a file that has none. */
export function objectMetaOf(a: Attrs): ObjectMeta | undefined {
  return decodeMeta(a.xattrs?.[META_XATTR]);
}

/** Response headers of a file read: its Content-Type (else application/octet-stream), stored headers, x-amz-meta-*. */
export function objectHeaders(m: ObjectMeta | undefined): Record<string, string> {
  return m ? metaHeaders(m) : { 'content-type': 'application/octet-stream' };
}

/**
 * After a write in place: the stored MD5 no longer describes the bytes, so it goes. By the GFID
 * the write went to, not by path: a PUT that replaced the file meanwhile has its own, right
 * ETag, which a lookup by path cleared (and a path whose file was just replaced answered 404,
 * test/server/linearizable-history.test.ts). An inode gone meanwhile has nothing to forget.
 */
export async function forgetEtag(v: Volume, gfid: string): Promise<void> {
  let m: ObjectMeta | undefined;
  try {
    m = decodeMeta((await v.getxattrOf(gfid, META_XATTR)).toString('base64'));
  } catch (e) {
    if (isErr(e, 'ENOENT', 'ENODATA')) return;
    throw e;
  }
  if (!m?.etag) return;
  await v.setxattrOf(gfid, META_XATTR, Buffer.from(encodeMeta({ ...m, etag: '' }), 'base64'), 'replace').catch((e: unknown) => {
    if (!isErr(e, 'ENOENT', 'ENODATA')) throw e;
  });
}
