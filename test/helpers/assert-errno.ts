import assert from 'node:assert/strict';
import { Dht2Error, type Errno } from '../../dht2-core/protocol/errors.js';

/** Asserts that `p` rejects with a Dht2Error of errno `errno`; returns the error. */
export async function rejectsErrno(p: Promise<unknown>, errno: Errno): Promise<Dht2Error> {
  try {
    await p;
  } catch (e) {
    assert.ok(e instanceof Dht2Error, `expected Dht2Error ${errno}, got ${String(e)}`);
    assert.equal(e.errno, errno, e.message);
    return e;
  }
  assert.fail(`expected ${errno}, but it succeeded`);
}

/** Reads a whole stream into one string (test data only). */
export async function text(stream: AsyncIterable<Buffer | string>): Promise<string> {
  let s = '';
  for await (const c of stream) s += c.toString();
  return s;
}
