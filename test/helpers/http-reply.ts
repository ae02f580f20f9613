/** Plain HTTP/1.1 requests to a local test gateway, and the SigV4 signer (SDK v3's) to sign them. */
import http from 'node:http';
import { SignatureV4 } from '@smithy/signature-v4';
import { ACCESS_KEY, SECRET_KEY } from './gateway.js';
import { NodeSha256 } from './sha256.js';

export interface Reply { status: number; headers: http.IncomingHttpHeaders; body: string }

/** Sends `method path` with exactly these headers (nothing signs or normalizes them) and `body`. */
export function request(port: number, method: string, path: string, headers: Record<string, string> = {}, body?: string): Promise<Reply> {
  return new Promise((resolve, reject) => {
    const req = http.request({ host: '127.0.0.1', port, method, path, headers }, (res) => {
      let b = '';
      res.on('data', (c: Buffer) => { b += c.toString(); });
      res.on('end', () => resolve({ status: res.statusCode!, headers: res.headers, body: b }));
    });
    req.on('error', reject);
    req.end(body);
  });
}

/** The SDK v3 SigV4 signer for S3 with the test gateway's credentials (or others), us-east-1. */
export function s3Signer(accessKeyId = ACCESS_KEY, secretAccessKey = SECRET_KEY): SignatureV4 {
  return new SignatureV4({
    credentials: { accessKeyId, secretAccessKey }, region: 'us-east-1', service: 's3', sha256: NodeSha256, uriEscapePath: false, applyChecksum: true,
  });
}
