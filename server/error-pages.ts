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
import type { Logger } from 'pino';
import { fileError } from './files/errors.js';
import { sendJson } from './files/http.js';
import { requestTarget } from './request-target.js';
import { S3Error, s3ErrorOf } from './s3/errors.js';
import { sendS3Error } from './s3/handler.js';

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
    // A body nobody read must not stall the connection that carries the answer.
    if (!req.complete) req.resume();
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
