/** A bare node:http2 request, for tests that must send what the real client never would. */
import http2 from 'node:http2';

export interface RawReply {
  status: number;
  headers: http2.IncomingHttpHeaders;
  body: string;
}

export async function rawH2(url: string, headers: Record<string, string>, body?: string | Buffer): Promise<RawReply> {
  const session = http2.connect(url);
  try {
    return await new Promise<RawReply>((resolve, reject) => {
      session.on('error', reject);
      const req = session.request({ ':method': 'POST', ...headers });
      let status = 0;
      let h: http2.IncomingHttpHeaders = {};
      const chunks: Buffer[] = [];
      req.on('response', (hh) => { h = hh; status = Number(hh[':status']); });
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => resolve({ status, headers: h, body: Buffer.concat(chunks).toString('utf8') }));
      req.on('error', reject);
      req.end(body);
    });
  } finally {
    session.close();
  }
}
