/**
 * The flexible-checksum algorithms S3 accepts in `x-amz-checksum-<alg>` headers and aws-chunked
 * trailers (Amazon S3 User Guide, "Checking object integrity"): CRC32, CRC32C, CRC64NVME, SHA-1,
 * SHA-256, each transmitted as the base64 of the big-endian digest.
 */
import { createHash, type Hash } from 'node:crypto';
import { crc32 } from 'node:zlib';

// CRC32C with SSE4.2 / ARMv8 CRC instructions: ~6 GB/s here against ~110 MB/s for
// @aws-crypto/crc32c's table loop, which made it the slowest step of a CRC32C-checked PUT.
import { crc32c } from '@node-rs/crc32';
import { Crc64Nvme } from '@aws-sdk/crc64-nvme';

export type ChecksumAlgorithm = 'crc32' | 'crc32c' | 'crc64nvme' | 'sha1' | 'sha256';

export const CHECKSUM_ALGORITHMS: readonly ChecksumAlgorithm[] = ['crc32', 'crc32c', 'crc64nvme', 'sha1', 'sha256'];

/** Digest length in bytes, used to validate a received base64 value before reading the body. */
export const CHECKSUM_DIGEST_BYTES: Readonly<Record<ChecksumAlgorithm, number>> = {
  crc32: 4,
  crc32c: 4,
  crc64nvme: 8,
  sha1: 20,
  sha256: 32,
};

/** `x-amz-checksum-crc32` -> 'crc32'; undefined for anything else. */
export function checksumAlgorithmOfHeader(name: string): ChecksumAlgorithm | undefined {
  const lower = name.toLowerCase();
  if (!lower.startsWith('x-amz-checksum-')) return undefined;
  const alg = lower.slice('x-amz-checksum-'.length);
  return (CHECKSUM_ALGORITHMS as readonly string[]).includes(alg) ? (alg as ChecksumAlgorithm) : undefined;
}

/** Whether `value` is canonical base64 of exactly the algorithm's digest length. */
export function isValidChecksumValue(alg: ChecksumAlgorithm, value: string): boolean {
  if (!/^[A-Za-z0-9+/]+={0,2}$/.test(value)) return false;
  const bytes = Buffer.from(value, 'base64');
  return bytes.length === CHECKSUM_DIGEST_BYTES[alg] && bytes.toString('base64') === value;
}

/** Incremental checksum; digest is async because the CRC64NVME implementation's is. */
export interface Checksummer {
  readonly algorithm: ChecksumAlgorithm;
  update(data: Uint8Array): void;
  digestBase64(): Promise<string>;
}

/** A running CRC as each implementation offers it: fed chunks, then the value (a number, or big-endian bytes). */
interface Crc {
  update(data: Uint8Array): unknown;
  digest(): number | Promise<Uint8Array>;
}

/** A CRC given as a function over the running value (node:zlib's CRC32, @node-rs's CRC32C) in the shape of the others. */
function runningCrc(fn: (data: Uint8Array, value: number) => number): Crc {
  let value = 0;
  return {
    update(data) { value = fn(data, value); },
    digest: () => value,
  };
}

/** The three CRCs: a 32-bit value goes out as its 4 big-endian bytes, CRC64NVME's digest as it is. */
class CrcChecksummer implements Checksummer {
  constructor(readonly algorithm: 'crc32' | 'crc32c' | 'crc64nvme', private readonly crc: Crc) {}
  update(data: Uint8Array): void {
    this.crc.update(data);
  }
  async digestBase64(): Promise<string> {
    const d = await this.crc.digest();
    if (typeof d !== 'number') return Buffer.from(d).toString('base64');
    const b = Buffer.alloc(4);
    b.writeUInt32BE(d >>> 0);
    return b.toString('base64');
  }
}

class HashChecksummer implements Checksummer {
  private readonly hash: Hash;
  constructor(readonly algorithm: 'sha1' | 'sha256') {
    this.hash = createHash(algorithm);
  }
  update(data: Uint8Array): void {
    this.hash.update(data);
  }
  digestBase64(): Promise<string> {
    return Promise.resolve(this.hash.digest('base64'));
  }
}

export function createChecksummer(alg: ChecksumAlgorithm): Checksummer {
  switch (alg) {
    case 'crc32':
      return new CrcChecksummer(alg, runningCrc(crc32));
    case 'crc32c':
      return new CrcChecksummer(alg, runningCrc((d, v) => crc32c(Buffer.from(d.buffer, d.byteOffset, d.byteLength), v)));
    case 'crc64nvme':
      return new CrcChecksummer(alg, new Crc64Nvme());
    case 'sha1':
    case 'sha256':
      return new HashChecksummer(alg);
  }
}

/** One-shot helper (tests, small bodies). */
export async function checksumBase64(alg: ChecksumAlgorithm, data: Uint8Array): Promise<string> {
  const c = createChecksummer(alg);
  c.update(data);
  return c.digestBase64();
}
