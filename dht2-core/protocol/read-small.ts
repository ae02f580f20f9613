/** Reading small request bodies with a hard limit (control FOP arguments, XML documents, form fields). */
import { finished, type Readable } from 'node:stream';

/**
 * Reads at most `max` bytes of `body`; past that rejects with `tooBig()` and drains the rest
 * without keeping it, so the connection stays usable for the error reply. A body that fails
 * (its checksum or signature check, a client gone) rejects with that error, also when it failed
 * before this call: `finished()` reports a stream that already errored or ended, where 'error'
 * and 'end' listeners added late would wait forever (issue 14: DeleteObjects and
 * CompleteMultipartUpload hung when the body verifier failed before their handler read it).
 */
export function readSmall(body: Readable, max: number, tooBig: () => Error): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let n = 0;
    let over = false;
    const onData = (c: Buffer): void => {
      if (over) return;
      n += c.length;
      if (n > max) {
        over = true;
        chunks.length = 0;
        reject(tooBig());
        return;
      }
      chunks.push(c);
    };
    body.on('data', onData);
    finished(body, { writable: false }, (e) => {
      body.off('data', onData);
      if (e) reject(e);
      else resolve(Buffer.concat(chunks));
    });
  });
}

/**
 * Reads and drops the body of an operation that takes none or ignores it, resolving when it has
 * ended and rejecting with its error: a body that fails its x-amz-content-sha256 or Content-MD5
 * check is refused before the operation changes anything. At most `max` bytes are read.
 */
export async function drainChecked(body: Readable, max: number, tooBig: () => Error): Promise<void> {
  await readSmall(body, max, tooBig);
}
