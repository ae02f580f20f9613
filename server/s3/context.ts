/**
 * What an S3 handler sees: the parsed request (no express types) and the object layer; what it
 * returns: status, headers and a body (string or stream). The app writes the reply.
 */
import type { IncomingHttpHeaders } from 'node:http';
import type { Readable } from 'node:stream';
import type { Logger } from 'pino';
import { drainChecked, type CallContext } from '../../dht2-core/index.js';
import type { ObjectLayer } from '../objects/index.js';
import { S3Error } from './errors.js';

/** What every S3 operation may use: the object layer (never the Volume API itself), the region, the log. */
export interface S3Deps {
  objects: ObjectLayer;
  region: string;
  log: Logger;
}

export interface S3Request {
  method: string;
  query: URLSearchParams;
  headers: IncomingHttpHeaders;
  /** The request body, decoded (aws-chunked) and verified (sha256, checksums) while it streams. */
  body: Readable;
  /** The context every volume call of this request carries: its request id, and the signal aborted when the client goes away. */
  ctx: CallContext;
  accessKeyId: string;
}

export interface S3Reply {
  status: number;
  headers?: Record<string, string | number>;
  body?: string | Readable;
}

/**
 * Reads the body of an operation that takes none or ignores it (CreateBucket's
 * CreateBucketConfiguration, copies, CreateMultipartUpload, Abort) before the operation changes
 * anything: one that fails its x-amz-content-sha256 or Content-MD5 check is refused with its
 * 400, never ignored (issue 14). Such bodies are small; past 1 MiB it is MalformedXML.
 */
export function checkedEmptyBody(r: S3Request): Promise<void> {
  return drainChecked(r.body, 1024 * 1024, () => new S3Error('MalformedXML', 'The request body is too large for this operation.'));
}

/** A header value as one string (first of a list). */
export function header(h: IncomingHttpHeaders, name: string): string | undefined {
  const v = h[name];
  return Array.isArray(v) ? v[0] : v;
}

/** The owner S3 shows on buckets, objects and uploads: one identity, the gateway's. */
export const OWNER = { ID: 'dht2', DisplayName: 'dht2' };

export function xmlReply(body: string, status = 200): S3Reply {
  return { status, headers: { 'content-type': 'application/xml' }, body };
}
