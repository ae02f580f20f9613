/**
 * Request-body verification: a Transform the gateway pipes the raw body through. It outputs the
 * object bytes (aws-chunked framing removed) and fails the stream with an S3AuthError when the
 * body does not match what the signature / headers promised.
 *
 * References (Amazon S3 API Reference):
 *  - "Signature Calculations for the Authorization Header: Transferring Payload in a Single Chunk"
 *    (x-amz-content-sha256 = hex SHA-256 of the body)
 *  - "Signature Calculations for the Authorization Header: Transferring Payload in Multiple Chunks
 *    (Chunked Upload)" (STREAMING-AWS4-HMAC-SHA256-PAYLOAD: `hex-size;chunk-signature=sig\r\n
 *    data\r\n`, a final 0-size chunk; each signature chains on the previous one)
 *  - "Signature Calculations for the Authorization Header: Including Trailing Headers (Chunked
 *    Upload)" (STREAMING-AWS4-HMAC-SHA256-PAYLOAD-TRAILER, x-amz-trailer-signature) and the
 *    STREAMING-UNSIGNED-PAYLOAD-TRAILER row of the x-amz-content-sha256 table (unsigned chunks
 *    `hex-size\r\ndata\r\n`, `0\r\n`, trailer lines, empty line)
 *  - Amazon S3 User Guide, "Checking object integrity" (x-amz-checksum-* headers and trailers)
 *
 * Failure contract: every check that needs the whole body runs in `_flush`, and a failure is
 * reported through the flush callback, so a failing stream emits 'error' and never 'end'. A
 * consumer that commits only on 'end' (or on `pipeline` resolving) never commits a bad body.
 * Chunk signatures are checked as soon as each chunk is complete; the chunk's bytes may already
 * have been pushed (we never buffer a whole chunk: chunks can be many MiB), which is safe under
 * the same contract.
 *
 * Memory is bounded: data passes through as slices of the input buffers, only a chunk-header or
 * trailer line (at most MAX_LINE_BYTES) is ever accumulated, and Transform's own highWaterMark
 * gives backpressure.
 */
import { createHash, createHmac, type Hash } from 'node:crypto';
import { Transform, type TransformCallback } from 'node:stream';

import {
  checksumAlgorithmOfHeader,
  createChecksummer,
  isValidChecksumValue,
  type ChecksumAlgorithm,
  type Checksummer,
} from './checksums.js';
import { EMPTY_SHA256, constantTimeEqual, headerValue } from './common.js';
import { S3AuthError } from './errors.js';
import type { AuthRequest, ChunkSigningContext, PayloadMode } from './types.js';

/** Longest chunk-header or trailer line accepted (a signed header is ~85 bytes). */
export const MAX_LINE_BYTES = 4096;
/** Most trailer bytes accepted in total. */
export const MAX_TRAILER_BYTES = 16 * 1024;

export interface PayloadVerification {
  /** Pipe the raw request body into this; read the object bytes out of it. */
  stream: PayloadVerifier;
  /**
   * The object size, when known before reading: x-amz-decoded-content-length for aws-chunked
   * bodies, Content-Length otherwise.
   */
  decodedLength?: number;
}

interface VerifierConfig {
  chunked: boolean;
  signing?: ChunkSigningContext;
  trailer: boolean;
  sha256?: string;
  headerChecksum?: { alg: ChecksumAlgorithm; expected: string };
  trailerAlgorithms: ChecksumAlgorithm[];
  decodedLength?: number;
}

const CHECKSUM_LABEL: Record<ChecksumAlgorithm, string> = {
  crc32: 'CRC32',
  crc32c: 'CRC32C',
  crc64nvme: 'CRC64NVME',
  sha1: 'SHA1',
  sha256: 'SHA256',
};

function parseLength(value: string | undefined, name: string): number | undefined {
  if (value === undefined) return undefined;
  const v = value.trim();
  if (!/^\d{1,16}$/.test(v) || !Number.isSafeInteger(Number(v))) {
    throw new S3AuthError('InvalidArgument', `${name} must be a non-negative integer`);
  }
  return Number(v);
}

/**
 * Build the verifier for a request authenticated with `mode`. Throws S3AuthError synchronously
 * for header problems that can be reported before reading any of the body (malformed checksum
 * headers, unsupported x-amz-trailer, bad x-amz-decoded-content-length).
 *
 * Checked: x-amz-content-sha256 digests, aws-chunked framing and chunk signatures, trailer
 * checksums and the trailer signature, a plain `x-amz-checksum-<alg>` header (any mode), and
 * x-amz-decoded-content-length. Not checked here: Content-MD5 (pipe the output through
 * `contentMd5Verifier`, which sees the decoded bytes, as S3's MD5 is over the object data).
 */
export function payloadVerifier(mode: PayloadMode, headers: AuthRequest['headers']): PayloadVerification {
  const chunked = mode.kind.startsWith('streaming-');
  const trailer = mode.kind === 'streaming-unsigned-trailer' || mode.kind === 'streaming-signed-trailer';
  const config: VerifierConfig = { chunked, trailer, trailerAlgorithms: [] };
  if (mode.kind === 'sha256') config.sha256 = mode.hex;
  if (mode.kind === 'streaming-signed' || mode.kind === 'streaming-signed-trailer') {
    config.signing = {
      signingKey: mode.signingKey,
      amzDate: mode.amzDate,
      scope: mode.scope,
      seedSignature: mode.seedSignature,
    };
  }

  // A checksum sent as a plain header (botocore over http sends x-amz-checksum-crc32 with a
  // sha256 payload; SDKs do it for known-length bodies).
  for (const name of Object.keys(headers)) {
    const alg = checksumAlgorithmOfHeader(name);
    if (alg === undefined) continue;
    const value = (headerValue(headers, name) ?? '').trim();
    if (config.headerChecksum !== undefined) {
      throw new S3AuthError('InvalidRequest', 'Expecting a single x-amz-checksum- header. Multiple checksum Types are not allowed.');
    }
    if (!isValidChecksumValue(alg, value)) {
      throw new S3AuthError('InvalidRequest', `Value for x-amz-checksum-${alg} header is invalid.`);
    }
    config.headerChecksum = { alg, expected: value };
  }

  if (trailer) {
    const declared = headerValue(headers, 'x-amz-trailer');
    if (declared !== undefined) {
      for (const raw of declared.split(',')) {
        const name = raw.trim().toLowerCase();
        if (name === '') continue;
        const alg = checksumAlgorithmOfHeader(name);
        if (alg === undefined) {
          throw new S3AuthError('InvalidRequest', `The value specified in the x-amz-trailer header is not supported: ${name}`);
        }
        if (!config.trailerAlgorithms.includes(alg)) config.trailerAlgorithms.push(alg);
      }
    }
  }

  let decodedLength: number | undefined;
  if (chunked) {
    decodedLength = parseLength(headerValue(headers, 'x-amz-decoded-content-length'), 'x-amz-decoded-content-length');
    config.decodedLength = decodedLength;
  } else {
    const contentLength = headerValue(headers, 'content-length');
    decodedLength = contentLength !== undefined && /^\d{1,16}$/.test(contentLength.trim()) ? Number(contentLength.trim()) : undefined;
  }
  const stream = new PayloadVerifier(config);
  return decodedLength === undefined ? { stream } : { stream, decodedLength };
}

type State = 'size' | 'data' | 'data-cr' | 'data-lf' | 'trailer' | 'done';

/** The Transform returned by `payloadVerifier`. */
export class PayloadVerifier extends Transform {
  /** Checksums that were verified (base64), filled in just before the stream ends. */
  readonly checksums: Partial<Record<ChecksumAlgorithm, string>> = {};

  private readonly config: VerifierConfig;
  private readonly bodySha256?: Hash;
  private readonly headerChecksummer?: Checksummer;
  private readonly trailerChecksummers: Checksummer[];

  private decoded = 0;
  // aws-chunked decoder state
  private state: State = 'size';
  private lineParts: Buffer[] = [];
  private lineBytes = 0;
  private remaining = 0;
  private chunkHash?: Hash;
  private chunkSignature = '';
  private previousSignature = '';
  private sawChunk = false;
  private trailerLines: Array<[string, string]> = [];
  private trailerBytes = 0;
  private blankBeforeTrailers = false;

  constructor(config: VerifierConfig) {
    super();
    this.config = config;
    if (config.sha256 !== undefined) this.bodySha256 = createHash('sha256');
    if (config.headerChecksum !== undefined) this.headerChecksummer = createChecksummer(config.headerChecksum.alg);
    this.trailerChecksummers = config.trailerAlgorithms.map((alg) => createChecksummer(alg));
    if (config.signing !== undefined) this.previousSignature = config.signing.seedSignature;
  }

  /** Object bytes output so far. */
  get bytesOut(): number {
    return this.decoded;
  }

  override _transform(chunk: Buffer | string, _encoding: BufferEncoding, callback: TransformCallback): void {
    try {
      const buf = typeof chunk === 'string' ? Buffer.from(chunk) : chunk;
      if (this.config.chunked) this.decodeChunked(buf);
      else this.emitData(buf);
      callback();
    } catch (err) {
      callback(err as Error);
    }
  }

  override _flush(callback: TransformCallback): void {
    this.finish().then(
      () => callback(),
      (err: unknown) => callback(err as Error),
    );
  }

  /** Account for and forward object bytes. */
  private emitData(data: Buffer): void {
    if (data.length === 0) return;
    this.decoded += data.length;
    this.bodySha256?.update(data);
    this.headerChecksummer?.update(data);
    for (const c of this.trailerChecksummers) c.update(data);
    this.chunkHash?.update(data);
    this.push(data);
  }

  // -------------------------------------------------------------------------------------------
  // aws-chunked decoding
  // -------------------------------------------------------------------------------------------

  private decodeChunked(buf: Buffer): void {
    let pos = 0;
    while (pos < buf.length) {
      switch (this.state) {
        case 'size':
        case 'trailer': {
          const nl = buf.indexOf(0x0a, pos);
          const end = nl < 0 ? buf.length : nl;
          if (end > pos) {
            this.lineBytes += end - pos;
            if (this.lineBytes > MAX_LINE_BYTES) {
              throw new S3AuthError('InvalidRequest', `aws-chunked ${this.state === 'size' ? 'chunk header' : 'trailer'} line is longer than ${MAX_LINE_BYTES} bytes`);
            }
            this.lineParts.push(buf.subarray(pos, end));
          }
          if (nl < 0) return;
          pos = nl + 1;
          const raw = Buffer.concat(this.lineParts).toString('latin1');
          this.lineParts = [];
          this.lineBytes = 0;
          if (this.state === 'size') this.onChunkHeader(raw);
          else this.onTrailerLine(raw);
          break;
        }
        case 'data': {
          const n = Math.min(this.remaining, buf.length - pos);
          this.emitData(buf.subarray(pos, pos + n));
          pos += n;
          this.remaining -= n;
          if (this.remaining === 0) {
            this.endOfChunkData();
            this.state = 'data-cr';
          }
          break;
        }
        case 'data-cr':
        case 'data-lf': {
          const expected = this.state === 'data-cr' ? 0x0d : 0x0a;
          if (buf[pos] !== expected) {
            throw new S3AuthError('InvalidRequest', 'aws-chunked chunk data is not followed by CRLF (chunk size does not match its data)');
          }
          pos++;
          this.state = this.state === 'data-cr' ? 'data-lf' : 'size';
          break;
        }
        case 'done': {
          // Tolerate stray line ends after the terminating empty line; anything else is a
          // framing error (data after the final chunk would otherwise be silently dropped).
          for (; pos < buf.length; pos++) {
            if (buf[pos] !== 0x0d && buf[pos] !== 0x0a) {
              throw new S3AuthError('InvalidRequest', 'aws-chunked body has data after its final chunk');
            }
          }
          return;
        }
      }
    }
  }

  /** `hex-size[;chunk-signature=sig]\r\n` */
  private onChunkHeader(line: string): void {
    if (!line.endsWith('\r')) {
      throw new S3AuthError('InvalidRequest', 'aws-chunked chunk header is not terminated by CRLF');
    }
    const text = line.slice(0, -1);
    const semi = text.indexOf(';');
    const sizeText = semi < 0 ? text : text.slice(0, semi);
    if (!/^[0-9a-fA-F]{1,13}$/.test(sizeText)) {
      throw new S3AuthError('InvalidRequest', `aws-chunked chunk size is malformed: ${JSON.stringify(sizeText.slice(0, 32))}`);
    }
    const size = parseInt(sizeText, 16);
    let signature: string | undefined;
    if (semi >= 0) {
      for (const ext of text.slice(semi + 1).split(';')) {
        const eq = ext.indexOf('=');
        if (eq >= 0 && ext.slice(0, eq).trim() === 'chunk-signature') signature = ext.slice(eq + 1).trim();
      }
    }
    if (this.config.signing !== undefined) {
      if (signature === undefined || !/^[0-9a-fA-F]{64}$/.test(signature)) {
        throw new S3AuthError('InvalidRequest', 'aws-chunked chunk header lacks a valid chunk-signature');
      }
      this.chunkSignature = signature.toLowerCase();
      this.chunkHash = createHash('sha256');
    }
    this.sawChunk = true;
    const expected = this.config.decodedLength;
    if (expected !== undefined && this.decoded + size > expected) {
      throw new S3AuthError('IncompleteBody', 'The aws-chunked body is longer than x-amz-decoded-content-length');
    }
    if (size === 0) {
      this.endOfChunkData();
      this.state = 'trailer';
    } else {
      this.remaining = size;
      this.state = 'data';
    }
  }

  /**
   * Verify a chunk signature:
   *   HMAC(kSigning, "AWS4-HMAC-SHA256-PAYLOAD\n" + date + "\n" + scope + "\n" + previous
   *        signature + "\n" + sha256("") + "\n" + hex(sha256(chunk data)))
   */
  private endOfChunkData(): void {
    const signing = this.config.signing;
    if (signing === undefined || this.chunkHash === undefined) return;
    const dataHash = this.chunkHash.digest('hex');
    this.chunkHash = undefined;
    const sts = `AWS4-HMAC-SHA256-PAYLOAD\n${signing.amzDate}\n${signing.scope}\n${this.previousSignature}\n${EMPTY_SHA256}\n${dataHash}`;
    const expected = createHmac('sha256', signing.signingKey).update(sts, 'utf8').digest('hex');
    if (!constantTimeEqual(expected, this.chunkSignature)) {
      throw new S3AuthError('SignatureDoesNotMatch', 'The chunk signature we calculated does not match the signature you provided.', {
        StringToSign: sts,
        SignatureProvided: this.chunkSignature,
      });
    }
    this.previousSignature = this.chunkSignature;
  }

  /** Lines after the final 0-size chunk: `name:value\r\n` trailers, then an empty line. */
  private onTrailerLine(line: string): void {
    const text = line.endsWith('\r') ? line.slice(0, -1) : line;
    if (text === '') {
      // Some encoders put an empty line between the final chunk and the trailers
      // ("0;chunk-signature=...\r\n\r\nx-amz-checksum-...") - accept one such line.
      if (this.config.trailer && this.trailerLines.length === 0 && !this.blankBeforeTrailers) {
        this.blankBeforeTrailers = true;
        return;
      }
      this.state = 'done';
      return;
    }
    if (!this.config.trailer) {
      throw new S3AuthError('InvalidRequest', 'aws-chunked body has trailing headers but x-amz-content-sha256 does not announce a trailer');
    }
    this.trailerBytes += text.length;
    if (this.trailerBytes > MAX_TRAILER_BYTES) {
      throw new S3AuthError('InvalidRequest', 'aws-chunked trailer section is too large');
    }
    const colon = text.indexOf(':');
    if (colon <= 0) {
      throw new S3AuthError('InvalidRequest', `aws-chunked trailer line is malformed: ${JSON.stringify(text.slice(0, 64))}`);
    }
    const name = text.slice(0, colon).trim().toLowerCase();
    const value = text.slice(colon + 1).trim();
    if (this.trailerLines.some(([n]) => n === name)) {
      throw new S3AuthError('InvalidRequest', `aws-chunked trailer ${name} appears more than once`);
    }
    this.trailerLines.push([name, value]);
  }

  // -------------------------------------------------------------------------------------------
  // End of body
  // -------------------------------------------------------------------------------------------

  private async finish(): Promise<void> {
    const cfg = this.config;
    if (cfg.chunked) {
      if (this.state === 'trailer' && this.lineParts.length > 0) {
        // Accept a trailer section whose last line lacks its line end (EOF ends it anyway).
        const raw = Buffer.concat(this.lineParts).toString('latin1');
        this.lineParts = [];
        this.onTrailerLine(raw);
      }
      if (this.state !== 'trailer' && this.state !== 'done') {
        throw new S3AuthError('IncompleteBody', this.sawChunk
          ? 'The request body terminated unexpectedly (aws-chunked body without its final chunk)'
          : 'The request body terminated unexpectedly (empty aws-chunked body)');
      }
      if (cfg.decodedLength !== undefined && this.decoded !== cfg.decodedLength) {
        throw new S3AuthError('IncompleteBody', `You did not provide the number of bytes specified by x-amz-decoded-content-length (${cfg.decodedLength}); got ${this.decoded}`);
      }
      if (cfg.trailer) await this.verifyTrailers();
    }
    if (this.bodySha256 !== undefined) {
      const computed = this.bodySha256.digest('hex');
      if (!constantTimeEqual(computed, cfg.sha256!)) {
        throw new S3AuthError('XAmzContentSHA256Mismatch', "The provided 'x-amz-content-sha256' header does not match what was computed.", {
          ClientComputedContentSHA256: cfg.sha256!,
          S3ComputedContentSHA256: computed,
        });
      }
    }
    if (this.headerChecksummer !== undefined) {
      const { alg, expected } = cfg.headerChecksum!;
      await this.compareChecksum(this.headerChecksummer, expected);
      this.checksums[alg] = expected;
    }
  }

  private async compareChecksum(c: Checksummer, expected: string): Promise<void> {
    const computed = await c.digestBase64();
    if (!constantTimeEqual(computed, expected)) {
      throw new S3AuthError('BadDigest', `The ${CHECKSUM_LABEL[c.algorithm]} you specified did not match the calculated checksum.`);
    }
  }

  private async verifyTrailers(): Promise<void> {
    const signing = this.config.signing;
    if (signing !== undefined) {
      // "Including Trailing Headers": the trailer signature chains on the final chunk's:
      //   "AWS4-HMAC-SHA256-TRAILER\n" + date + "\n" + scope + "\n" + previous signature + "\n"
      //   + hex(sha256(canonical trailers)), canonical trailers = sorted `name:value\n` lines.
      const sig = this.trailerLines.find(([n]) => n === 'x-amz-trailer-signature')?.[1];
      if (sig === undefined || !/^[0-9a-fA-F]{64}$/.test(sig)) {
        throw new S3AuthError('InvalidRequest', 'aws-chunked trailer lacks a valid x-amz-trailer-signature');
      }
      const canonical = this.trailerLines
        .filter(([n]) => n !== 'x-amz-trailer-signature')
        .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
        .map(([n, v]) => `${n}:${v}\n`)
        .join('');
      const sts = `AWS4-HMAC-SHA256-TRAILER\n${signing.amzDate}\n${signing.scope}\n${this.previousSignature}\n${createHash('sha256').update(canonical, 'utf8').digest('hex')}`;
      const expected = createHmac('sha256', signing.signingKey).update(sts, 'utf8').digest('hex');
      if (!constantTimeEqual(expected, sig.toLowerCase())) {
        throw new S3AuthError('SignatureDoesNotMatch', 'The trailer signature we calculated does not match the signature you provided.', {
          StringToSign: sts,
          SignatureProvided: sig,
        });
      }
    }
    for (const [name] of this.trailerLines) {
      const alg = checksumAlgorithmOfHeader(name);
      if (alg !== undefined && !this.config.trailerAlgorithms.includes(alg)) {
        throw new S3AuthError('InvalidRequest', `aws-chunked trailer ${name} was not declared in x-amz-trailer`);
      }
    }
    for (const c of this.trailerChecksummers) {
      const name = `x-amz-checksum-${c.algorithm}`;
      const value = this.trailerLines.find(([n]) => n === name)?.[1];
      if (value === undefined) {
        throw new S3AuthError('InvalidRequest', `x-amz-trailer declares ${name} but the body has no such trailer`);
      }
      if (!isValidChecksumValue(c.algorithm, value)) {
        throw new S3AuthError('InvalidRequest', `Value for ${name} trailing header is invalid.`);
      }
      await this.compareChecksum(c, value);
      this.checksums[c.algorithm] = value;
    }
  }
}

/**
 * Verify a Content-MD5 header (RFC 1864: base64 of the 16-byte MD5 of the body). Throws
 * InvalidDigest at once when the header is malformed; the returned passthrough Transform fails
 * with BadDigest at the end when the MD5 of what flowed through differs (reported from flush,
 * so 'end' is never emitted for a bad body).
 */
export function contentMd5Verifier(b64: string): Transform {
  const expected = b64.trim();
  const bytes = /^[A-Za-z0-9+/]{22}==$/.test(expected) ? Buffer.from(expected, 'base64') : undefined;
  if (bytes === undefined || bytes.length !== 16) {
    throw new S3AuthError('InvalidDigest', 'The Content-MD5 you specified is not valid.');
  }
  const md5 = createHash('md5');
  return new Transform({
    transform(chunk: Buffer, _enc, cb) {
      md5.update(chunk);
      cb(null, chunk);
    },
    flush(cb) {
      const computed = md5.digest('base64');
      if (!constantTimeEqual(computed, expected)) {
        cb(new S3AuthError('BadDigest', 'The Content-MD5 you specified did not match what we received.', {
          ExpectedDigest: expected,
          CalculatedDigest: computed,
        }));
        return;
      }
      cb();
    },
  });
}
