/**
 * The gateway's last word on a request that nothing else answered: an error that escaped a
 * route handler (the /-/ handler passes on whatever is not its own refusal), a request the
 * Express router gave up on (a target it cannot parse), a route that does not exist.
 * Express's own final handler (finalhandler) writes an HTML page there, with the stack trace
 * whenever NODE_ENV is not `production`; this one answers in the API's own error format
 * (issue 14): S3 XML (Code, Message, Resource, RequestId;
 * https://docs.aws.amazon.com/AmazonS3/latest/API/ErrorResponses.html) for the S3 API, JSON
 * `{error: ERRNO, message, path}` for /fs/ and /-/. Which API a request is for is what
 * server/request-target.ts decided for it. An unexpected error is logged with its cause; the
 * client is told only that it was internal.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { randomBytes } from 'node:crypto';
import type { Duplex } from 'node:stream';
import type { Logger } from 'pino';
import { fileError } from './files/errors.js';
import { sendJson } from './files/http.js';
import { discardBody } from './refused-body.js';
import { parseTarget, requestTarget } from './request-target.js';
import { S3Error, s3ErrorOf, type S3Code } from './s3/errors.js';
import { sendS3Error } from './s3/handler.js';
import { xmlPlain } from './s3/xml.js';

/** An error that carries an HTTP status of its own (http-errors, body-parser, the router's URIError). */
interface StatusError { status?: unknown; statusCode?: unknown; expose?: unknown; message?: unknown }

function clientStatus(e: unknown): number | undefined {
  const s = (e as StatusError | undefined)?.status ?? (e as StatusError | undefined)?.statusCode;
  return typeof s === 'number' && s >= 400 && s < 500 ? s : undefined;
}

/** A URIError, or an error saying it could not decode the target (Express wraps URIErrors with status 400). */
const isUriError = (e: unknown): boolean => e instanceof URIError || (e instanceof Error && /Failed to decode param/i.test(e.message));

/** What an escaped error means in S3 terms; undefined `e`: no route took the request. */
function s3Error(e: unknown, resource: string): S3Error {
  if (e === undefined || isUriError(e)) return new S3Error('InvalidURI', undefined, resource, { cause: e });
  const status = clientStatus(e);
  if (status === 413) return new S3Error('EntityTooLarge', undefined, resource, { cause: e });
  if (status !== undefined) return new S3Error('InvalidRequest', undefined, resource, { cause: e });
  return s3ErrorOf(e, resource);
}

/** What an escaped error means as the JSON of /fs/ and /-/. */
function jsonError(e: unknown, path: string): { status: number; body: { error: string; message: string; path: string } } {
  if (e === undefined) return { status: 404, body: { error: 'ENOENT', message: 'no such route', path } };
  if (isUriError(e)) return { status: 400, body: { error: 'EINVAL', message: 'the request target is not valid percent-encoding', path } };
  const status = clientStatus(e);
  if (status !== undefined) {
    // Only a message its maker marked as safe to show (http-errors `expose`, set for 4xx).
    const message = (e as StatusError).expose === true && typeof (e as StatusError).message === 'string' ? String((e as StatusError).message) : 'bad request';
    return { status, body: { error: status === 413 ? 'EFBIG' : status === 404 ? 'ENOENT' : 'EINVAL', message, path } };
  }
  const fe = fileError(e, path);
  return { status: fe.status, body: { error: fe.body.error, message: fe.body.message, path: fe.body.path ?? path } };
}

/**
 * The final handler of the app (server/app.ts hands it to Express in place of finalhandler):
 * `err` is what escaped, undefined when no route answered.
 */
export function finalResponder(log: Pick<Logger, 'error'>): (req: IncomingMessage, res: ServerResponse, err?: unknown) => void {
  return (req, res, err) => {
    // A body nobody read must not stall the connection that carries the answer, nor be read
    // without bound (server/refused-body.ts; before the answer, so it can say Connection: close).
    discardBody(req, res);
    if (res.headersSent) {
      // Answered already: an error after that can only cut the reply short, so the client
      // sees it was not whole; a route that answered and then passed on changes nothing.
      if (err === undefined) return;
      log.error({ err, method: req.method, url: req.url }, 'request failed after its reply started');
      if (!res.writableEnded) res.destroy();
      return;
    }
    const t = requestTarget(req);
    const method = (req.method ?? 'GET').toUpperCase();
    if (t.api === 's3') {
      const e = s3Error(err, t.rawPath);
      if (e.status >= 500) log.error({ err, method, url: req.url }, 's3 request failed');
      const requestId = String(res.getHeader('x-amz-request-id') ?? randomBytes(8).toString('hex').toUpperCase());
      sendS3Error(res, method, e, requestId, t.rawPath);
      return;
    }
    const j = jsonError(err, t.path);
    if (j.status >= 500) log.error({ err, method, url: req.url }, `${t.api === 'fs' ? 'file API' : 'operations'} request failed`);
    if (method === 'HEAD') {
      res.statusCode = j.status;
      res.setHeader('content-type', 'application/json');
      res.end();
      return;
    }
    sendJson(res, j.status, j.body);
  };
}

/** What Node's HTTP parser refused, in each API's terms (Node answers 431, 413, 408 or 400 itself). */
const PARSE_ERRORS: Record<string, { s3: S3Code; status: number; errno: string; message: string }> = {
  HPE_HEADER_OVERFLOW: { s3: 'RequestHeaderSectionTooLarge', status: 431, errno: 'E2BIG', message: 'the request header section is too large' },
  HPE_CHUNK_EXTENSIONS_OVERFLOW: { s3: 'InvalidRequest', status: 413, errno: 'E2BIG', message: 'the chunk extensions are too large' },
  ERR_HTTP_REQUEST_TIMEOUT: { s3: 'RequestTimeout', status: 408, errno: 'ETIMEDOUT', message: 'the request was not received in time' },
};
const BAD_REQUEST = { s3: 'InvalidRequest' as S3Code, status: 400, errno: 'EINVAL', message: 'the request is not valid HTTP/1.1' };

/**
 * The server's `clientError` listener: a request Node's parser refused before any route could
 * see it (a header section over the limit, a malformed request line or header, a request not
 * received in time). Node's own answer is a bare status line; this one is that API's error
 * body, the API being the one server/request-target.ts gives the request line's target when
 * it can be read (S3 otherwise, the API of every other path). The socket is then closed, as
 * Node does.
 */
export function clientErrorResponder(log: Pick<Logger, 'debug'>): (err: Error & { code?: string; rawPacket?: Buffer; bytesParsed?: number }, socket: Duplex) => void {
  return (err, socket) => {
    // Node's own handler answers only on a connection that has written nothing yet; but a
    // keep-alive connection whose earlier answers are all out can take one more, and a client
    // that sent a bad second request learns why instead of seeing the connection drop. Only an
    // answer still being written (`_httpMessage`, Node's current response on the socket) rules it out.
    const s = socket as Duplex & { _httpMessage?: { writableFinished?: boolean } | null };
    const answering = s._httpMessage != null && s._httpMessage.writableFinished !== true;
    if (err.code === 'ECONNRESET' || !s.writable || answering) {
      s.destroy();
      return;
    }
    const kind = PARSE_ERRORS[err.code ?? ''] ?? BAD_REQUEST;
    // The packet can hold earlier requests of the same connection: the one refused is the last
    // request line that starts before the byte the parser stopped at.
    const packet = err.rawPacket?.toString('latin1') ?? '';
    const stop = typeof err.bytesParsed === 'number' ? err.bytesParsed : packet.length;
    const line = [...packet.matchAll(/(?:^|\r\n)([A-Za-z]+) (\S+) HTTP\//g)].filter((m) => m.index < stop).pop();
    const target = line?.[2];
    // A HEAD's answer has no body (RFC 9110 §9.3.2): bytes after its head would be read as the
    // start of a next response.
    const head = line?.[1]?.toUpperCase() === 'HEAD';
    const t = target !== undefined ? parseTarget(target) : undefined;
    const requestId = randomBytes(8).toString('hex').toUpperCase();
    log.debug({ code: err.code, requestId }, 'request refused by the HTTP parser');
    let status: number;
    let type: string;
    let body: string;
    if (t === undefined || t.api === 's3') {
      const e = new S3Error(kind.s3);
      status = e.status;
      type = 'application/xml';
      body = xmlPlain('Error', { Code: e.code, Message: e.message, Resource: t?.rawPath ?? '/', RequestId: requestId });
    } else {
      status = kind.status;
      type = 'application/json';
      body = JSON.stringify({ error: kind.errno, message: kind.message, path: t.path });
    }
    const lines = [
      `HTTP/1.1 ${status} ${STATUS_TEXT[status] ?? 'Bad Request'}`, `content-type: ${type}`, `content-length: ${Buffer.byteLength(body)}`,
      'x-content-type-options: nosniff', `x-amz-request-id: ${requestId}`, 'connection: close',
    ].join('\r\n');
    s.end(`${lines}\r\n\r\n${head ? '' : body}`);
    // A client that never reads must not hold the socket: it goes once the answer is flushed, or soon.
    setTimeout(() => s.destroy(), 5000).unref();
  };
}

const STATUS_TEXT: Record<number, string> = { 400: 'Bad Request', 408: 'Request Timeout', 413: 'Payload Too Large', 431: 'Request Header Fields Too Large' };
