/** A request whose body the test writes piece by piece (node:http), and its reply once it ends. */
import { request, type ClientRequest, type OutgoingHttpHeaders } from 'node:http';

export interface OpenRequest {
  req: ClientRequest;
  /** Status and body (UTF-8) of the reply, when it has ended. */
  reply: Promise<{ status: number; body: string }>;
}

/** Starts `method url` with a chunked body that stays open until the caller ends it. */
export function openRequest(method: string, url: string, headers: OutgoingHttpHeaders): OpenRequest {
  const u = new URL(url);
  const req = request({ host: u.hostname, port: u.port, path: `${u.pathname}${u.search}`, method, headers: { ...headers, 'transfer-encoding': 'chunked' } });
  const reply = new Promise<{ status: number; body: string }>((resolve, reject) => {
    req.on('response', (res) => {
      let b = '';
      res.setEncoding('utf8');
      res.on('data', (c: string) => { b += c; });
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body: b }));
    });
    req.on('error', reject);
  });
  return { req, reply };
}
