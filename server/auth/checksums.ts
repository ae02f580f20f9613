/**
 * The flexible-checksum algorithms S3 accepts in `x-amz-checksum-<alg>` headers and aws-chunked
 * trailers (Amazon S3 User Guide, "Checking object integrity"): CRC32, CRC32C, CRC64NVME, SHA-1,
 * SHA-256, each transmitted as the base64 of the big-endian digest.
 */
import { createHash, type Hash } from 'node:crypto';
import { crc32 } from 'node:zlib';

import { Crc32c } from '@aws-crypto/crc32c';
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

class Crc32Checksummer implements Checksummer {
  readonly algorithm = 'crc32' as const;
  private value = 0;
  update(data: Uint8Array): void {
    this.value = crc32(data, this.value);
  }
  digestBase64(): Promise<string> {
    const b = Buffer.alloc(4);
    b.writeUInt32BE(this.value >>> 0);
    return Promise.resolve(b.toString('base64'));
  }
}

class Crc32cChecksummer implements Checksummer {
  readonly algorithm = 'crc32c' as const;
  private readonly impl = new Crc32c();
  update(data: Uint8Array): void {
    this.impl.update(data);
  }
  digestBase64(): Promise<string> {
    const b = Buffer.alloc(4);
    b.writeUInt32BE(this.impl.digest() >>> 0);
    return Promise.resolve(b.toString('base64'));
  }
}

class Crc64NvmeChecksummer implements Checksummer {
  readonly algorithm = 'crc64nvme' as const;
  private readonly impl = new Crc64Nvme();
  update(data: Uint8Array): void {
    this.impl.update(data);
  }
  async digestBase64(): Promise<string> {
    return Buffer.from(await this.impl.digest()).toString('base64');
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
      return new Crc32Checksummer();
    case 'crc32c':
      return new Crc32cChecksummer();
    case 'crc64nvme':
      return new Crc64NvmeChecksummer();
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
