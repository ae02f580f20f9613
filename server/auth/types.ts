/**
 * Plain-object request/result types shared by the SigV4 and SigV2 verifiers and the payload
 * verifier. Deliberately free of express/node:http types so the layer can be tested and reused
 * without a server.
 */

/** The parts of an incoming request that authentication looks at. */
export interface AuthRequest {
  /** HTTP method as received (node gives it upper-case). */
  method: string;
  /** The path exactly as received: still percent-encoded, no query string. */
  rawPath: string;
  /** The query string exactly as received, without the leading '?'. '' when there is none. */
  rawQuery: string;
  /** Request headers with lower-case names, as node's `IncomingMessage.headers` gives them. */
  headers: Record<string, string | string[] | undefined>;
  /**
   * SigV2 only: the bucket named by the Host header for virtual-hosted-style requests
   * (`bucket.s3.example.com`). SigV2's CanonicalizedResource starts with "/bucket" even when the
   * bucket is not in the path ("Signing and Authenticating REST Requests", "Constructing the
   * CanonicalizedResource Element"). Leave undefined for path-style requests.
   */
  virtualHostedBucket?: string;
}

/** What a SigV4 chunk decoder needs to verify the chained chunk signatures. */
export interface ChunkSigningContext {
  /** kSigning = HMAC chain over "AWS4"+secret, date, region, "s3", "aws4_request". */
  signingKey: Buffer;
  /** The request timestamp, ISO 8601 basic format (20130524T000000Z), as used in the seed. */
  amzDate: string;
  /** The credential scope: date/region/s3/aws4_request. */
  scope: string;
  /** The request's (seed) signature, lower-case hex: the "previous signature" of chunk 1. */
  seedSignature: string;
}

/**
 * How the request body is protected, decided from x-amz-content-sha256
 * ("Authenticating Requests: Using the Authorization Header (AWS Signature Version 4)", the table
 * of x-amz-content-sha256 values).
 */
export type PayloadMode =
  /** UNSIGNED-PAYLOAD, every presigned URL, and every SigV2 request: body not covered. */
  | { kind: 'unsigned' }
  /** The body's SHA-256 is in the signature; verify it once the whole body has been read. */
  | { kind: 'sha256'; hex: string }
  /** STREAMING-AWS4-HMAC-SHA256-PAYLOAD: aws-chunked body with chained chunk signatures. */
  | ({ kind: 'streaming-signed' } & ChunkSigningContext)
  /** STREAMING-UNSIGNED-PAYLOAD-TRAILER: aws-chunked body, unsigned chunks, checksum trailer. */
  | { kind: 'streaming-unsigned-trailer' }
  /** STREAMING-AWS4-HMAC-SHA256-PAYLOAD-TRAILER: signed chunks plus a signed checksum trailer. */
  | ({ kind: 'streaming-signed-trailer' } & ChunkSigningContext);

export type PayloadKind = PayloadMode['kind'];

/** Outcome of a successful authentication. */
export interface AuthResult {
  accessKeyId: string;
  payload: PayloadMode;
  /** Which scheme authenticated the request (for logs and metrics). */
  scheme: 'sigv4-header' | 'sigv4-query' | 'sigv2-header' | 'sigv2-query';
}
