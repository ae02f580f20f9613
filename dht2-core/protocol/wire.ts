/**
 * Wire encoding of the brick protocol (docs/PROTOCOL.md): one HTTP/2 POST per FOP at
 * `/v1/<fop>`, arguments as JSON (in the body for control FOPs, in the `x-dht2-args` header
 * for data FOPs whose body is the data), every request signed with the cluster secret.
 */
import { createHash, createHmac, randomBytes, timingSafeEqual, type Hash } from 'node:crypto';
import { randomPooled } from './random-pool.js';
import { PROTOCOL_VERSION } from './fops.js';
import type { Errno } from './errors.js';

export const H_VERSION = 'x-dht2-proto';
export const H_DATE = 'x-dht2-date';
export const H_NONCE = 'x-dht2-nonce';
export const H_ARGS = 'x-dht2-args';
export const H_RESULT = 'x-dht2-result';
export const H_REQUEST_ID = 'x-dht2-request-id';
export const H_TIMEOUT = 'x-dht2-timeout-ms';
/**
 * Protocol 3 (ARCHITECTURE.md §10.2): the FOP's operation id, 32 hex characters the gateway draws
 * once per FOP and keeps on every resend of it, so a replicated set answers a resend with the
 * first outcome (§10.4, duplicates).
 */
export const H_OP = 'x-dht2-op';
/** Protocol 3: the layout epoch the sender placed the FOP with (§10.9), decimal; empty when none. */
export const H_LAYOUT = 'x-dht2-layout';
/** Protocol 3: the sending brick's id on peer FOPs (§10.2); empty from a gateway. */
export const H_FROM = 'x-dht2-from';
/** The brick boot a request is signed for (request), and the brick's current one (refusals). */
export const H_EPOCH = 'x-dht2-epoch';
/** On a stale-epoch refusal: the brick's MAC of that refusal (see {@link staleEpochMac}). */
export const H_EPOCH_MAC = 'x-dht2-epoch-mac';
/** Trailer of an upload: the MAC of its body (see {@link bodyMac}). */
export const T_BODY_MAC = 'x-dht2-body-mac';
export const AUTH_SCHEME = 'DHT2-HMAC-SHA256';
/** Protocol 4: the body MAC covers the body's SHA-256, not the body itself (PROTOCOL.md §3.1). */
const BODY_MAC_SCHEME = 'DHT2-BODY-SHA256-HMAC-SHA256';

/** Path of a FOP on the wire. */
export function fopPath(fop: string): string {
  return `/v${PROTOCOL_VERSION}/${fop}`;
}

/** Largest control request body a brick reads (JSON args; xattr values are the big ones). */
export const MAX_CONTROL_BODY = 1024 * 1024;
/** Largest `x-dht2-args` header. */
export const MAX_ARGS_HEADER = 8 * 1024;
/** How far a request's date may be from the brick's clock; also how long nonces are remembered. */
export const MAX_CLOCK_SKEW_MS = 60 * 1000;

/**
 * HTTP/2 flow-control window of both ends, per stream and per connection. The default 64 KiB
 * caps big streams (PERFORMANCE-NOTES.md); 8 MiB kept the same throughput as 32 MiB here while
 * the brick's RSS grew +50 MiB instead of +150 MiB on 0.3-1.2 GiB uploads.
 */
export const H2_WINDOW = 8 * 1024 * 1024;

/** Args travel in a header as base64url JSON so that any Unicode name survives. */
export function encodeArgsHeader(args: unknown): string {
  return Buffer.from(JSON.stringify(args), 'utf8').toString('base64url');
}

export function decodeArgsHeader(h: string): unknown {
  return JSON.parse(Buffer.from(h, 'base64url').toString('utf8'));
}

export function sha256Hex(data: string | Uint8Array): string {
  return createHash('sha256').update(data).digest('hex');
}

/** What the signature covers. `payloadHash` is sha256 of the JSON body or of the args header. */
export interface SignedParts {
  method: string;
  path: string;
  /** Id of the brick the request is for (its identity's brickId): a request signed for one brick fails on every other. */
  brickId: string;
  /**
   * The brick boot the request is for: 32 hex characters the brick draws at random when it
   * starts and tells on `/-/health`. A request captured before a restart fails after it, when
   * the brick's nonce cache (memory only) no longer knows it.
   */
  epoch: string;
  date: string;
  nonce: string;
  requestId: string;
  /** `x-dht2-op`, or empty. */
  opId: string;
  /** `x-dht2-layout`, or empty. */
  layoutEpoch: string;
  /** `x-dht2-from`, or empty. */
  from: string;
  payloadHash: string;
}

/** What the three protocol-3 headers may hold when present (the brick refuses anything else). */
export const OP_ID_RE = /^[0-9a-f]{32}$/;
export const LAYOUT_EPOCH_RE = /^[1-9][0-9]{0,14}$/;
export const BRICK_ID_RE = /^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$/;

/**
 * A new operation id: 16 random bytes, hex (ARCHITECTURE.md §10.4). Not from the pooled source:
 * the model checker seeds that one to replay placements, and an id drawn for every call (reads
 * included) would shift every GFID drawn after it between two replays of one FOP.
 */
export function newOpId(): string {
  return randomBytes(16).toString('hex');
}

function stringToSign(p: SignedParts): string {
  return [
    AUTH_SCHEME, String(PROTOCOL_VERSION), p.method, p.path, p.brickId, p.epoch, p.date, p.nonce, p.requestId,
    p.opId, p.layoutEpoch, p.from, p.payloadHash,
  ].join('\n');
}

/** HMAC-SHA256 of the request with the cluster secret, hex. */
export function signature(secret: string, parts: SignedParts): string {
  return createHmac('sha256', secret).update(stringToSign(parts)).digest('hex');
}

/** The `authorization` header value for a request. */
export function authorization(secret: string, parts: SignedParts): string {
  return `${AUTH_SCHEME} ${signature(secret, parts)}`;
}

/** Constant-time check of an `authorization` header against the expected signature. */
export function checkAuthorization(secret: string, header: string, parts: SignedParts): boolean {
  const m = /^DHT2-HMAC-SHA256 ([0-9a-f]{64})$/.exec(header);
  if (!m) return false;
  const want = Buffer.from(signature(secret, parts), 'hex');
  return timingSafeEqual(want, Buffer.from(m[1]!, 'hex'));
}

/** An epoch: 16 random bytes, hex. */
export function newEpoch(): string {
  return randomBytes(16).toString('hex');
}

/**
 * The MAC of an upload's body (PROTOCOL.md §3.1): HMAC-SHA256 with the cluster secret over the
 * scheme, the request's own signature and the SHA-256 of the body bytes, hex. Keyed by the
 * signature, it belongs to that one request (its brick, epoch, nonce and arguments): it cannot be
 * moved to another, and no body but the one the client sent matches it, as long as SHA-256 is
 * collision resistant. The digest is taken as the bytes go by (see {@link bodyHash}), so nothing
 * is held, and a body sent to several bricks (a fresh dput, ARCHITECTURE.md §10.7) is hashed
 * once: only this HMAC over 32 bytes is per brick.
 */
export function bodyMac(secret: string, requestSignature: string, bodySha256: Buffer): string {
  return createHmac('sha256', secret).update(`${BODY_MAC_SCHEME}\n${requestSignature}\n`).update(bodySha256).digest('hex');
}

/** The hash an upload's body goes through, on both ends (its digest is what {@link bodyMac} covers). */
export function bodyHash(): Hash {
  return createHash('sha256');
}

/**
 * The MAC a brick puts on its refusal of a request signed for another of its boots: HMAC-SHA256
 * with the cluster secret over `STALE`, the refused request's signature and the epoch the brick
 * names, hex. The refusal travels in the clear on h2c: without it anyone between the client and
 * the brick could make the client sign for an epoch of their choosing (or answer a request the
 * brick ran with a fake refusal). Keyed by the signature, it belongs to that one request.
 */
export function staleEpochMac(secret: string, requestSignature: string, epoch: string): string {
  return createHmac('sha256', secret).update(`STALE\n${requestSignature}\n${epoch}`).digest('hex');
}

/** The signature (hex) of an `authorization` header value, or undefined when it is not one. */
export function signatureOf(header: string): string | undefined {
  return /^DHT2-HMAC-SHA256 ([0-9a-f]{64})$/.exec(header)?.[1];
}

/** Constant-time comparison of two hex MACs. */
export function sameMac(a: string, b: string): boolean {
  if (!/^[0-9a-f]{64}$/.test(a) || !/^[0-9a-f]{64}$/.test(b)) return false;
  return timingSafeEqual(Buffer.from(a, 'hex'), Buffer.from(b, 'hex'));
}

export function newNonce(): string {
  return randomPooled(16).toString('hex');
}

/** Error reply body of any failed FOP. */
export interface WireError {
  errno: Errno;
  message: string;
  gfid?: string;
  /** ENOTPRIMARY: the set's primary as this member knows it, and its term (ARCHITECTURE.md §10.8). */
  primary?: string;
  term?: number;
}

/** HTTP status of an errno reply; the body's errno is what clients act on. */
export function statusOfErrno(errno: Errno): number {
  switch (errno) {
    case 'ENOENT': return 404;
    case 'EEXIST': case 'ENOTEMPTY': return 409;
    case 'EACCES': case 'EPERM': return 403;
    case 'ENOSPC': case 'EDQUOT': return 507;
    case 'EMSGSIZE': case 'EFBIG': return 413;
    case 'EIO': return 500;
    // Misdirected Request (RFC 9110 §15.5.20): this member of a replica set is not its primary.
    case 'ENOTPRIMARY': return 421;
    case 'ETIMEDOUT': return 504;
    default: return 400;
  }
}

/** Minimum length of a cluster secret, so that nobody runs a cluster on "x". */
export const MIN_SECRET_LENGTH = 16;
