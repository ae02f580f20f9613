/**
 * A tiny loopback S3 stand-in for real-client tests: every request is authenticated with the
 * layer under test, its body piped through the payload verifier, and the outcome recorded.
 * Responses are just rich enough for the clients to be satisfied (ETag on PUT, a ListBucketResult
 * for list-type=2, the object for GET).
 */
import { createHash } from 'node:crypto';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createServer as createHttpServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';

import {
  S3AuthError,
  authenticate,
  contentMd5Verifier,
  payloadVerifier,
  type AuthResult,
  type CredentialStore,
} from '../../../server/auth/index.js';

export interface Captured {
  method: string;
  url: string;
  headers: IncomingMessage['headers'];
  auth?: AuthResult;
  error?: S3AuthError;
  body?: Buffer;
  checksums?: Record<string, string>;
}

export interface CaptureServer {
  url: string;
  port: number;
  requests: Captured[];
  /** Object returned for GET requests on a key. */
  objectBody: Buffer;
  close(): Promise<void>;
}

function xmlEscape(s: string): string {
  return s.replace(/[<>&'"]/g, (c) => ({ '<': '&lt;', '>': '&gt;', '&': '&amp;', "'": '&apos;', '"': '&quot;' })[c]!);
}

async function handle(req: IncomingMessage, res: ServerResponse, creds: CredentialStore, state: CaptureServer): Promise<void> {
  const url = req.url ?? '/';
  const q = url.indexOf('?');
  const record: Captured = { method: req.method ?? 'GET', url, headers: req.headers };
  state.requests.push(record);
  try {
    const auth = authenticate(
      { method: record.method, rawPath: q < 0 ? url : url.slice(0, q), rawQuery: q < 0 ? '' : url.slice(q + 1), headers: req.headers },
      creds,
    );
    record.auth = auth;
    const { stream } = payloadVerifier(auth.payload, req.headers);
    const md5 = req.headers['content-md5'];
    const parts: Buffer[] = [];
    const sink = new Writable({
      write(chunk: Buffer, _enc, cb) {
        parts.push(chunk);
        cb();
      },
    });
    if (typeof md5 === 'string') await pipeline(req, stream, contentMd5Verifier(md5), sink);
    else await pipeline(req, stream, sink);
    record.body = Buffer.concat(parts);
    record.checksums = { ...stream.checksums };
  } catch (err) {
    if (!(err instanceof S3AuthError)) throw err;
    record.error = err;
    req.resume();
    await new Promise<void>((r) => {
      if (req.readableEnded) r();
      else {
        req.on('end', () => r());
        req.on('close', () => r());
      }
    });
    const body = `<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>${err.code}</Code><Message>${xmlEscape(err.message)}</Message></Error>`;
    res.writeHead(err.status, { 'content-type': 'application/xml', 'content-length': Buffer.byteLength(body) });
    res.end(record.method === 'HEAD' ? undefined : body);
    return;
  }
  const md5hex = createHash('md5').update(record.body ?? Buffer.alloc(0)).digest('hex');
  if (record.method === 'PUT') {
    res.writeHead(200, { etag: `"${md5hex}"`, 'content-length': 0 });
    res.end();
  } else if (record.method === 'GET' && /[?&]list-type=2/.test(url)) {
    const body =
      '<?xml version="1.0" encoding="UTF-8"?>\n<ListBucketResult xmlns="http://s3.amazonaws.com/doc/2006-03-01/">' +
      '<Name>bkt</Name><Prefix></Prefix><KeyCount>0</KeyCount><MaxKeys>1000</MaxKeys><IsTruncated>false</IsTruncated></ListBucketResult>';
    res.writeHead(200, { 'content-type': 'application/xml', 'content-length': Buffer.byteLength(body) });
    res.end(body);
  } else if (record.method === 'GET' || record.method === 'HEAD') {
    const etag = createHash('md5').update(state.objectBody).digest('hex');
    res.writeHead(200, {
      'content-type': 'application/octet-stream',
      'content-length': state.objectBody.length,
      etag: `"${etag}"`,
      'last-modified': new Date().toUTCString(),
    });
    res.end(record.method === 'HEAD' ? undefined : state.objectBody);
  } else {
    res.writeHead(204);
    res.end();
  }
}

/** A self-signed certificate for 127.0.0.1 made with the openssl CLI, or undefined without it. */
export function selfSignedCert(): { key: Buffer; cert: Buffer } | undefined {
  const dir = mkdtempSync(join(tmpdir(), 'auth-tls-'));
  try {
    execFileSync('openssl', [
      'req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-days', '1', '-subj', '/CN=127.0.0.1',
      '-addext', 'subjectAltName=IP:127.0.0.1', '-keyout', join(dir, 'key.pem'), '-out', join(dir, 'cert.pem'),
    ], { stdio: 'ignore' });
    return { key: readFileSync(join(dir, 'key.pem')), cert: readFileSync(join(dir, 'cert.pem')) };
  } catch {
    return undefined;
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

export async function startCaptureServer(
  creds: CredentialStore,
  tls?: { key: Buffer; cert: Buffer },
): Promise<CaptureServer> {
  const state: CaptureServer = {
    url: '',
    port: 0,
    requests: [],
    objectBody: Buffer.from('hello from the capture server\n'),
    close: async () => {},
  };
  const listener = (req: IncomingMessage, res: ServerResponse): void => {
    handle(req, res, creds, state).catch((err: unknown) => {
      res.writeHead(500);
      res.end(String(err));
    });
  };
  const server: Server = tls ? createHttpsServer(tls, listener) : createHttpServer(listener);
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  const port = (server.address() as AddressInfo).port;
  state.port = port;
  state.url = `${tls ? 'https' : 'http'}://127.0.0.1:${port}`;
  state.close = () =>
    new Promise<void>((r) => {
      server.closeAllConnections();
      server.close(() => r());
    });
  return state;
}
