/**
 * DeleteObjects (https://docs.aws.amazon.com/AmazonS3/latest/API/API_DeleteObjects.html): up
 * to 1000 keys in one request, per-key errors, Quiet mode. Each key is deleted as DeleteObject,
 * in the bucket the router resolved once.
 */
import { readSmall } from '../../dht2-core/index.js';
import type { BucketRef } from '../objects/index.js';
import { xmlReply, type S3Deps, type S3Reply, type S3Request } from './context.js';
import { S3Error, s3ErrorOf } from './errors.js';
import { authorizeDeleteObjectsKey } from './router.js';
import { parseXml, xmlDoc } from './xml.js';

const MAX_BODY = 2 * 1024 * 1024;

export async function deleteObjects(d: S3Deps, bucket: BucketRef, r: S3Request): Promise<S3Reply> {
  const doc = parseXml((await readSmall(r.body, MAX_BODY, () => new S3Error('MalformedXML', 'The XML you provided was too large.'))).toString('utf8'));
  const del = doc?.Delete as { Object?: Array<{ Key?: unknown; VersionId?: unknown }>; Quiet?: unknown } | undefined;
  if (!del || !Array.isArray(del.Object)) throw new S3Error('MalformedXML');
  if (del.Object.length > 1000) throw new S3Error('MalformedXML', 'The request may delete at most 1000 keys.');
  const quiet = String(del.Quiet ?? 'false').trim() === 'true';
  const deleted: Array<Record<string, string>> = [];
  const errors: Array<Record<string, string>> = [];
  for (const o of del.Object) {
    const key = typeof o.Key === 'string' ? o.Key : undefined;
    const version = typeof o.VersionId === 'string' ? o.VersionId : undefined;
    if (key === undefined) { errors.push({ Key: '', Code: 'InvalidArgument', Message: 'Key is missing.' }); continue; }
    if (version !== undefined && version !== 'null') {
      errors.push({ Key: key, VersionId: version, Code: 'NoSuchVersion', Message: 'The specified version does not exist.' });
      continue;
    }
    try {
      // Each key is its own permission check (s3:DeleteObject): a refusal is that key's error alone.
      authorizeDeleteObjectsKey({ accessKeyId: r.accessKeyId }, bucket.name, key);
      await d.objects.delete(bucket, key, r.ctx);
      if (!quiet) deleted.push(version !== undefined ? { Key: key, VersionId: version } : { Key: key });
    } catch (e) {
      const s = s3ErrorOf(e, `/${bucket.name}/${key}`);
      errors.push({ Key: key, Code: s.code, Message: s.message });
    }
  }
  return xmlReply(xmlDoc('DeleteResult', { Deleted: deleted, Error: errors }));
}
