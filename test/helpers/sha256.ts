/** Node-crypto implementation of the AWS SDK's Checksum interface (what @smithy/hash-node does), for @smithy/signature-v4. */
import { createHash, createHmac, type Hash, type Hmac } from 'node:crypto';

export class NodeSha256 {
  private h: Hash | Hmac;
  private readonly secret?: string | Buffer;
  constructor(secret?: string | ArrayBuffer | ArrayBufferView) {
    this.secret =
      secret === undefined || typeof secret === 'string' ? secret
      : secret instanceof ArrayBuffer ? Buffer.from(secret)
      : Buffer.from(secret.buffer, secret.byteOffset, secret.byteLength);
    this.h = this.secret !== undefined ? createHmac('sha256', this.secret) : createHash('sha256');
  }
  update(data: string | Uint8Array): void {
    this.h.update(typeof data === 'string' ? Buffer.from(data) : data);
  }
  digest(): Promise<Uint8Array> {
    return Promise.resolve(new Uint8Array(this.h.digest()));
  }
  reset(): void {
    this.h = this.secret !== undefined ? createHmac('sha256', this.secret) : createHash('sha256');
  }
}
