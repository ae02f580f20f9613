/** Reading small request bodies with a hard limit (control FOP arguments, XML documents, form fields). */
import type { Readable } from 'node:stream';

/**
 * Reads at most `max` bytes of `body`; past that rejects with `tooBig()` and drains the rest
 * without keeping it, so the connection stays usable for the error reply.
 */
export function readSmall(body: Readable, max: number, tooBig: () => Error): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let n = 0;
    const onData = (c: Buffer): void => {
      n += c.length;
      if (n > max) {
        body.off('data', onData);
        body.off('end', onEnd);
        body.resume();
        reject(tooBig());
        return;
      }
      chunks.push(c);
    };
    const onEnd = (): void => resolve(Buffer.concat(chunks));
    body.on('data', onData);
    body.once('end', onEnd);
    body.once('error', reject);
  });
}
