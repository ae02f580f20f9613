/**
 * The S3 side of the gateway as one request handler: authenticate, parse the request into an
 * endpoint, verify the body while it streams, dispatch to the operation's module, and write
 * the reply or an S3 XML error (Code, Message, Resource, RequestId) with x-amz-request-id on
 * every response (https://docs.aws.amazon.com/AmazonS3/latest/API/ErrorResponses.html).
 */
import { randomBytes } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { Readable, type Transform } from 'node:stream';
import { pipeWhole } from '../whole-body.js';
import { authenticate, authorizeAll, contentMd5Verifier, payloadVerifier, type CredentialStore } from '../auth/index.js';
import type { Logger } from 'pino';
import type { Volume } from '../../dht2-core/index.js';
import { ObjectLayer, checkBucketAccessName, keyPath, through } from '../objects/index.js';
import * as bucketOps from './bucket.js';
import { header, type S3Deps, type S3Reply, type S3Request } from './context.js';
import { S3Error, s3ErrorOf } from './errors.js';
import * as list from './list.js';
import * as obj from './object.js';
import { deleteObjects } from './delete-objects.js';
import * as mp from './multipart.js';
import { copyObject } from './copy.js';
import { postObject } from './post-object.js';
import { assertNever, operationOf, permissionsOf, route, type S3Endpoint } from './router.js';
import { xmlPlain } from './xml.js';
import { discardBody } from '../refused-body.js';
import { s3Address, splitTarget, type S3Address } from '../request-target.js';

export interface S3HandlerOptions {
  volume: Volume;
  region: string;
  log: Logger;
  credentials: CredentialStore;
  /** Virtual-host style: requests to `<bucket>.<domain>` address that bucket. Path style always works. */
  domain?: string;
  /** Records the operation of a request, for logs and metrics. */
  tag?: (res: ServerResponse, op: string) => void;
}

/**
 * Calls the operation's module. The bucket is looked up here, once, for the operations that
 * work in it (they walk from its GFID); GET and HEAD of an object look it up only when the key
 * is missing (NoSuchBucket wins over NoSuchKey), an upload's own record names its bucket, and
 * CreateBucket, DeleteBucket and PostObject (after its form authenticates) need none first.
 */
async function dispatch(d: S3Deps & { credentials: CredentialStore }, ep: S3Endpoint, r: S3Request): Promise<S3Reply> {
  const inBucket = (name: string) => d.objects.bucket(name, r.ctx);
  // A key no path can hold is refused before the bucket's lookup, as it always was (no round trip).
  const forKey = (ep: { bucket: string; key: string }) => { keyPath(ep.bucket, ep.key); return inBucket(ep.bucket); };
  switch (ep.op) {
    case 'ListBuckets': return bucketOps.listBuckets(d, r);
    case 'CreateBucket': return bucketOps.createBucket(d, ep.bucket, r);
    case 'HeadBucket': return bucketOps.headBucket(d, await inBucket(ep.bucket));
    case 'DeleteBucket': return bucketOps.deleteBucket(d, ep.bucket, r);
    case 'GetBucketLocation': return bucketOps.getBucketLocation(d, await inBucket(ep.bucket));
    case 'GetBucketVersioning': return bucketOps.getBucketVersioning(d, await inBucket(ep.bucket));
    case 'ListObjectsV2': return list.listObjectsV2(d, ep, await inBucket(ep.bucket), r);
    case 'ListObjects': return list.listObjectsV1(d, ep, await inBucket(ep.bucket), r);
    case 'ListObjectVersions': return list.listObjectVersions(d, ep, await inBucket(ep.bucket), r);
    case 'DeleteObjects': return deleteObjects(d, await inBucket(ep.bucket), r);
    case 'PostObject': return postObject(d, d.credentials, ep.bucket, r);
    case 'PutObject': return obj.putObject(d, await forKey(ep), ep.key, r);
    case 'GetObject': return obj.getObject(d, ep.bucket, ep.key, r);
    case 'HeadObject': return obj.headObject(d, ep.bucket, ep.key, r);
    case 'DeleteObject': return obj.deleteObject(d, await forKey(ep), ep.key, r);
    case 'CreateMultipartUpload': return mp.createMultipartUpload(d, await forKey(ep), ep.key, r);
    case 'UploadPart': return mp.uploadPart(d, ep, r);
    case 'CompleteMultipartUpload': return mp.completeMultipartUpload(d, ep, await forKey(ep), r);
    case 'AbortMultipartUpload': return mp.abortMultipartUpload(d, ep, r);
    case 'ListParts': return mp.listParts(d, ep, r);
    case 'ListMultipartUploads': return mp.listMultipartUploads(d, ep, await inBucket(ep.bucket), r);
    case 'CopyObject': return copyObject(d, ep, await forKey(ep), r);
    case 'UploadPartCopy': return mp.uploadPartCopy(d, ep, r);
    case 'NotImplemented': throw new S3Error('NotImplemented', `${ep.what} is not implemented.`);
    default: return assertNever(ep);
  }
}

/** versionId=null is the only version of an object in an unversioned bucket; others do not exist. */
function checkVersionId(q: URLSearchParams, resource: string): void {
  const v = q.get('versionId');
  if (v !== null && v !== 'null') throw new S3Error('InvalidArgument', 'Invalid version id specified', resource);
}

export function s3Handler(o: S3HandlerOptions): (req: IncomingMessage, res: ServerResponse) => void {
  const objects = new ObjectLayer(o.volume);
  const deps = { objects, region: o.region, log: o.log, credentials: o.credentials };
  return (req, res) => {
    const requestId = String(res.getHeader('x-amz-request-id') ?? randomBytes(8).toString('hex').toUpperCase());
    res.setHeader('x-amz-request-id', requestId);
    res.setHeader('x-amz-id-2', requestId);
    res.setHeader('server', 'DHT2Gateway');
    const ac = new AbortController();
    res.on('close', () => { if (!res.writableFinished) ac.abort(); });
    const ctx = { requestId, signal: ac.signal }; // every volume call of this request carries it
    const { rawPath, rawQuery } = splitTarget(req.url ?? '/');
    const method = (req.method ?? 'GET').toUpperCase();
    let resource = rawPath;
    handle().catch((e: unknown) => {
      // A body left unread or half-read by a failed stage (bad signature, a brick gone
      // mid-upload) is read up to a bound, then the connection closes (server/refused-body.ts).
      discardBody(req, res);
      const err = s3ErrorOf(e, resource);
      if (err.code === 'InternalError') o.log.error({ err: e, requestId, method, path: rawPath }, 's3 request failed');
      // A brick unreachable: which one and why is what an operator (and a failed test) needs.
      else if (err.code === 'ServiceUnavailable') o.log.warn({ err: e, requestId, method, path: rawPath }, 's3 request failed: a brick is unreachable');
      else o.log.debug({ code: err.code, requestId, method, path: rawPath, msg: err.message }, 's3 error');
      sendS3Error(res, method, err, requestId, resource);
    });

    async function handle(): Promise<void> {
      const bk = s3Address(req.headers.host, o.domain, rawPath);
      if (!bk) throw new S3Error('InvalidArgument', 'The request path is not valid percent-encoding.');
      resource = bk.key !== undefined ? `/${bk.bucket}/${bk.key}` : bk.bucket ? `/${bk.bucket}` : '/';
      // IAM, STS and other services signed for this endpoint: not ours, answered at once.
      const service = signedService(req.headers.authorization, rawQuery);
      if (service !== undefined && service !== 's3') throw new S3Error('NotImplemented', `The ${service.toUpperCase()} API is not implemented; only S3 is.`);
      // Every request, not only CreateBucket: no bucket name reaches the volume unchecked (the
      // reserved /.dht2 is no bucket), path style or virtual-host style alike.
      if (bk.bucket !== undefined) checkBucketAccessName(bk.bucket);
      const query = new URLSearchParams(rawQuery);
      // The operation is chosen from the method, path and query only: headers are not known to be
      // signed before authentication (x-amz-copy-source is looked at in `authenticated`).
      const unsigned = operationOf(method, bk.bucket, bk.key, query);
      o.tag?.(res, unsigned); // refined after authentication (a signed x-amz-copy-source makes a copy)
      // A browser-based upload is not signed, its form is: post-object.ts authenticates that, on
      // the raw body, and then needs s3:PutObject on the bucket (permissionsOf).
      let reply: S3Reply;
      if (unsigned === 'PostObject') {
        const ep = route({ method, bucket: bk.bucket, key: bk.key, query });
        reply = await dispatch(deps, ep, { method, query, headers: req.headers, body: req, ctx, accessKeyId: '' });
      } else {
        reply = await authenticated(bk, query);
      }
      discardBody(req, res); // an unread body (HEAD, GET) must not stall the connection, nor be read without bound
      await send(res, method, reply);
    }

    async function authenticated(bk: S3Address, query: URLSearchParams): Promise<S3Reply> {
      const auth = authenticate({ method, rawPath, rawQuery, headers: req.headers, ...(bk.vhost !== undefined ? { virtualHostedBucket: bk.vhost } : {}) }, o.credentials);
      // Now every x-amz-* header is known to be signed (sigv4.ts requireSignedAmzHeaders; SigV2
      // signs them all): x-amz-copy-source may make a PUT a copy, and is parsed as its source.
      const copySource = header(req.headers, 'x-amz-copy-source');
      o.tag?.(res, operationOf(method, bk.bucket, bk.key, query, copySource !== undefined));
      const ep = route({ method, bucket: bk.bucket, key: bk.key, query, copySource });
      if ('key' in ep) checkVersionId(query, resource);
      // The one permission check of every signed request (server/auth/permissions.ts).
      authorizeAll({ accessKeyId: auth.accessKeyId }, permissionsOf(ep));
      const verification = payloadVerifier(auth.payload, req.headers);
      const md5 = req.headers['content-md5'];
      const stages: NodeJS.ReadWriteStream[] = [verification.stream];
      if (typeof md5 === 'string') stages.push(contentMd5Verifier(md5));
      const body = stages.reduce<Readable>((src, t) => through(src, t as unknown as Transform), req);
      return dispatch(deps, ep, {
        method, query, headers: req.headers, body, ctx, accessKeyId: auth.accessKeyId,
      });
    }
  };
}

/** The service of a SigV4 credential scope (header or presigned query), if any. */
function signedService(authorization: string | undefined, rawQuery: string): string | undefined {
  const m = /Credential=[^/,\s]+\/\d{8}\/[^/]+\/([^/]+)\/aws4_request/.exec(authorization ?? '')
    ?? /X-Amz-Credential=[^&]+?(?:%2F|\/)\d{8}(?:%2F|\/)[^&%/]+(?:%2F|\/)([^&%/]+)(?:%2F|\/)aws4_request/i.exec(rawQuery);
  return m?.[1]?.toLowerCase();
}

/**
 * Writes a reply. A stream body (a brick download) is destroyed on every path that does not
 * send it to its end: a header that cannot be set, a HEAD, the client gone before or during the
 * body. A brick stream left open holds its share of the brick session's flow-control window
 * (RFC 9113 §5.2), and ~100 of them wedged the data brick for every request (issue 14).
 */
async function send(res: ServerResponse, method: string, reply: S3Reply): Promise<void> {
  const stream = reply.body instanceof Readable ? reply.body : undefined;
  if (stream) res.once('close', () => stream.destroy());
  try {
    res.statusCode = reply.status;
    for (const [k, v] of Object.entries(reply.headers ?? {})) res.setHeader(k, v);
  } catch (e) {
    stream?.destroy();
    throw e;
  }
  if (reply.body === undefined || method === 'HEAD' || reply.status === 304 || reply.status === 204) {
    stream?.destroy();
    if (reply.body === undefined && !res.hasHeader('content-length') && reply.status !== 304 && reply.status !== 204) res.setHeader('content-length', 0);
    res.end();
    return;
  }
  if (typeof reply.body === 'string') {
    res.setHeader('content-length', Buffer.byteLength(reply.body));
    res.end(reply.body);
    return;
  }
  await pipeWhole(reply.body, res);
}

/** Writes an S3 XML error (or destroys a response already under way); server/error-pages.ts writes its own with it. */
export function sendS3Error(res: ServerResponse, method: string, e: S3Error, requestId: string, resource: string): void {
  if (res.headersSent) {
    res.destroy();
    return;
  }
  const body = xmlPlain('Error', { Code: e.code, Message: e.message, ...e.details, Resource: e.resource ?? resource, RequestId: requestId });
  res.statusCode = e.status;
  res.setHeader('content-type', 'application/xml');
  if (e.contentRange !== undefined) res.setHeader('content-range', e.contentRange);
  if (method === 'HEAD') {
    res.end();
    return;
  }
  res.setHeader('content-length', Buffer.byteLength(body));
  res.end(body);
}
