/**
 * Sends a streamed body as exactly the Content-Length the response announced (issue 14). A body
 * that ends short (a file found shorter than the stat that set the length: a truncate racing the
 * GET, or a crash between dtruncate and the inode's size, docs/CRASH-SAFETY.md) must not end the
 * response on a keep-alive connection: the client would wait for the rest until the idle timeout.
 * The response is cut instead (the connection closed), so the client sees it was not whole, as
 * when the brick fails mid-body. (A body that runs over cannot happen: dht2-core's readGfid sends
 * at most the stat's bytes.)
 */
import type { ServerResponse } from 'node:http';
import { Transform, type Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';

export async function pipeWhole(body: Readable, res: ServerResponse): Promise<void> {
  const announced = Number(res.getHeader('content-length'));
  let seen = 0;
  const count = new Transform({
    transform(chunk: Buffer, _enc, cb) { seen += chunk.length; cb(null, chunk); },
    flush(cb) { cb(Number.isFinite(announced) && seen < announced ? new Error(`the body ended after ${seen} of ${announced} bytes`) : null); },
  });
  await pipeline(body, count, res).catch(() => {
    // The client went away, the brick failed mid-body, or the body was short: the response is
    // cut, as it must be, and the brick stream closed.
    body.destroy();
    res.destroy();
  });
}
