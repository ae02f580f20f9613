/**
 * Test helpers for the auth layer: aws4-signed requests, aws-chunked body builders that follow
 * the AWS chunked-upload pages independently of the decoder, and a driver that feeds a Transform
 * in awkward pieces while honouring backpressure.
 */
import assert from 'node:assert/strict';
import { createHash, createHmac } from 'node:crypto';
import type { Transform } from 'node:stream';

import aws4 from 'aws4';

import { S3AuthError, StaticCredentials, type AuthRequest, type S3AuthCode } from '../../../server/auth/index.js';

export const KEY_ID = 'AKIDTESTGATEWAY01';
export const SECRET = 'wJalrXUtnFEMI/K7MDENG+bPxRfiCY/Secret+Key';
export const OTHER_KEY_ID = 'AKIDOTHERKEY00002';
export const OTHER_SECRET = 'another-secret-value';

export const creds = new StaticCredentials([
  [KEY_ID, SECRET],
  [OTHER_KEY_ID, OTHER_SECRET],
]);

export const EMPTY_SHA256 = 'e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855';

export function sha256Hex(data: string | Buffer): string {
  return createHash('sha256').update(data).digest('hex');
}

export function hmacHex(key: Buffer, data: string): string {
  return createHmac('sha256', key).update(data, 'utf8').digest('hex');
}

/** AWS UriEncode() of one path segment / query component (independent of the server code). */
export function awsEncode(s: string): string {
  return encodeURIComponent(s).replace(/[!'()*]/g, (c) => '%' + c.charCodeAt(0).toString(16).toUpperCase());
}

/** Encode an object key for a path, keeping '/'. */
export function encodeKey(key: string): string {
  return key.split('/').map(awsEncode).join('/');
}

export interface SignOptions {
  method?: string;
  /** Path, possibly with a query string, already encoded as it will go on the wire. */
  path: string;
  host?: string;
  headers?: Record<string, string>;
  body?: string | Buffer;
  region?: string;
  signQuery?: boolean;
  accessKeyId?: string;
  secretAccessKey?: string;
}

/** Sign with the `aws4` package and return what the server would see. */
export function signAws4(opts: SignOptions): AuthRequest {
  const host = opts.host ?? '127.0.0.1:9000';
  const request: aws4.Request & { path: string; headers: Record<string, string | number> } = {
    host,
    method: opts.method ?? 'GET',
    path: opts.path,
    service: 's3',
    region: opts.region ?? 'us-east-1',
    headers: { ...(opts.headers ?? {}) },
    ...(opts.body !== undefined ? { body: opts.body } : {}),
    ...(opts.signQuery ? { signQuery: true } : {}),
  };
  aws4.sign(request, {
    accessKeyId: opts.accessKeyId ?? KEY_ID,
    secretAccessKey: opts.secretAccessKey ?? SECRET,
  });
  const headers: Record<string, string> = { host };
  for (const [k, v] of Object.entries(request.headers)) headers[k.toLowerCase()] = String(v);
  const q = request.path.indexOf('?');
  return {
    method: request.method ?? 'GET',
    rawPath: q < 0 ? request.path : request.path.slice(0, q),
    rawQuery: q < 0 ? '' : request.path.slice(q + 1),
    headers,
  };
}

/** Expect `fn` to throw an S3AuthError with `code` (and optionally a message fragment). */
export function expectAuthError(fn: () => unknown, code: S3AuthCode, message?: RegExp | string): S3AuthError {
  let caught: unknown;
  try {
    fn();
  } catch (err) {
    caught = err;
  }
  assert.ok(caught instanceof S3AuthError, `expected S3AuthError ${code}, got ${String(caught)}`);
  assert.equal(caught.code, code, `expected ${code}, got ${caught.code}: ${caught.message}`);
  if (message !== undefined) {
    if (typeof message === 'string') assert.ok(caught.message.includes(message), caught.message);
    else assert.match(caught.message, message);
  }
  return caught;
}

// -----------------------------------------------------------------------------------------------
// Feeding Transforms
// -----------------------------------------------------------------------------------------------

export type RunResult = { ok: true; out: Buffer } | { ok: false; err: unknown; out: Buffer; ended: boolean };

/**
 * Write `pieces` into `stream` (waiting for 'drain' when write() says so), read everything out
 * slowly enough to exercise backpressure, and report the output or the error. Also records
 * whether 'end' was emitted, which must never happen together with an error.
 */
export function run(stream: Transform, pieces: readonly Buffer[], slowReader = false): Promise<RunResult> {
  return new Promise((resolve) => {
    const out: Buffer[] = [];
    let ended = false;
    let settled = false;
    const settle = (r: RunResult): void => {
      if (!settled) {
        settled = true;
        resolve(r);
      }
    };
    stream.on('data', (d: Buffer) => {
      out.push(d);
      if (slowReader) {
        stream.pause();
        setImmediate(() => stream.resume());
      }
    });
    stream.on('end', () => {
      ended = true;
      settle({ ok: true, out: Buffer.concat(out) });
    });
    stream.on('error', (err) => settle({ ok: false, err, out: Buffer.concat(out), ended }));
    void (async () => {
      for (const p of pieces) {
        if (stream.destroyed) return;
        if (!stream.write(p)) {
          await new Promise<void>((r) => {
            const done = (): void => {
              stream.off('drain', done);
              stream.off('close', done);
              r();
            };
            stream.on('drain', done);
            stream.on('close', done);
          });
        }
      }
      if (!stream.destroyed) stream.end();
    })();
  });
}

export async function expectOk(stream: Transform, pieces: readonly Buffer[], expected: Buffer, slowReader = false): Promise<void> {
  const r = await run(stream, pieces, slowReader);
  if (!r.ok) assert.fail(`stream failed: ${String((r.err as Error).message ?? r.err)} (${(r.err as S3AuthError).code})`);
  assert.equal(r.out.length, expected.length, 'decoded length');
  assert.ok(r.out.equals(expected), 'decoded bytes differ');
}

export async function expectStreamError(stream: Transform, pieces: readonly Buffer[], code: S3AuthCode): Promise<S3AuthError> {
  const r = await run(stream, pieces);
  assert.ok(!r.ok, `expected ${code}, stream succeeded`);
  assert.ok(r.err instanceof S3AuthError, `expected S3AuthError ${code}, got ${String(r.err)}`);
  assert.equal(r.err.code, code, `expected ${code}, got ${r.err.code}: ${r.err.message}`);
  assert.equal(r.ended, false, "'end' must not be emitted on failure");
  return r.err;
}

/** Split into pieces of the given sizes, cycling through them. */
export function splitCycle(buf: Buffer, sizes: readonly number[]): Buffer[] {
  const out: Buffer[] = [];
  let pos = 0;
  let i = 0;
  while (pos < buf.length) {
    const n = Math.max(1, sizes[i++ % sizes.length]!);
    out.push(buf.subarray(pos, pos + n));
    pos += n;
  }
  return out;
}

/** Deterministic pseudo-random split (xorshift), pieces of 1..max bytes. */
export function splitRandom(buf: Buffer, seed: number, max = 97): Buffer[] {
  let x = seed >>> 0 || 1;
  const out: Buffer[] = [];
  let pos = 0;
  while (pos < buf.length) {
    x ^= x << 13;
    x >>>= 0;
    x ^= x >>> 17;
    x ^= x << 5;
    x >>>= 0;
    const n = 1 + (x % max);
    out.push(buf.subarray(pos, pos + n));
    pos += n;
  }
  return out;
}

/** Deterministic test data. */
export function testData(n: number, seed = 7): Buffer {
  const b = Buffer.alloc(n);
  let x = seed;
  for (let i = 0; i < n; i++) {
    x = (x * 1103515245 + 12345) & 0x7fffffff;
    b[i] = x >>> 16;
  }
  return b;
}

// -----------------------------------------------------------------------------------------------
// aws-chunked builders (written from the AWS pages, not from the decoder)
// -----------------------------------------------------------------------------------------------

export interface ChunkSigner {
  signingKey: Buffer;
  amzDate: string;
  scope: string;
  seedSignature: string;
}

export function deriveKey(secret: string, date: string, region: string): Buffer {
  const k1 = createHmac('sha256', 'AWS4' + secret).update(date).digest();
  const k2 = createHmac('sha256', k1).update(region).digest();
  const k3 = createHmac('sha256', k2).update('s3').digest();
  return createHmac('sha256', k3).update('aws4_request').digest();
}

function chunkSignature(s: ChunkSigner, previous: string, data: Buffer): string {
  const sts = ['AWS4-HMAC-SHA256-PAYLOAD', s.amzDate, s.scope, previous, EMPTY_SHA256, sha256Hex(data)].join('\n');
  return hmacHex(s.signingKey, sts);
}

export interface ChunkedOptions {
  chunkSize: number;
  /** Signed chunks when given. */
  signer?: ChunkSigner;
  /** Trailer lines [name, value]; a trailer signature is appended when `signer` is given. */
  trailers?: ReadonlyArray<readonly [string, string]>;
  /** Hook to corrupt the n-th chunk signature. */
  mangleSignature?: (index: number, sig: string) => string;
  /** Put an empty line between the final chunk and the trailers (seen in some encoders). */
  blankBeforeTrailers?: boolean;
}

/** Build an aws-chunked body for `data`. */
export function buildChunked(data: Buffer, o: ChunkedOptions): Buffer {
  const parts: Buffer[] = [];
  let previous = o.signer?.seedSignature ?? '';
  let index = 0;
  const chunks: Buffer[] = [];
  for (let pos = 0; pos < data.length; pos += o.chunkSize) chunks.push(data.subarray(pos, pos + o.chunkSize));
  chunks.push(Buffer.alloc(0));
  for (const c of chunks) {
    let header = c.length.toString(16);
    if (o.signer) {
      let sig = chunkSignature(o.signer, previous, c);
      previous = sig;
      if (o.mangleSignature) sig = o.mangleSignature(index, sig);
      header += `;chunk-signature=${sig}`;
    }
    parts.push(Buffer.from(header + '\r\n'));
    if (c.length > 0) parts.push(c, Buffer.from('\r\n'));
    index++;
  }
  if (o.trailers) {
    if (o.blankBeforeTrailers) parts.push(Buffer.from('\r\n'));
    let text = '';
    for (const [n, v] of o.trailers) text += `${n}:${v}\r\n`;
    if (o.signer) {
      const canonical = [...o.trailers]
        .sort(([a], [b]) => (a < b ? -1 : 1))
        .map(([n, v]) => `${n}:${v}\n`)
        .join('');
      const sts = ['AWS4-HMAC-SHA256-TRAILER', o.signer.amzDate, o.signer.scope, previous, sha256Hex(canonical)].join('\n');
      text += `x-amz-trailer-signature:${hmacHex(o.signer.signingKey, sts)}\r\n`;
    }
    parts.push(Buffer.from(text + '\r\n'));
  } else {
    parts.push(Buffer.from('\r\n'));
  }
  return Buffer.concat(parts);
}
