/**
 * An attacker between the gateway and a data brick (test/helpers/h2-mitm.ts, a real HTTP/2
 * proxy in front of a real brick process): a captured brick request is never accepted twice,
 * also after the brick restarts, and a data body changed on the way, or sent without its MAC
 * trailer, is refused before any of it becomes visible (docs/PROTOCOL.md §3).
 */
import assert from 'node:assert/strict';
import { readFile, readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { createHash, createHmac, randomBytes } from 'node:crypto';
import http2 from 'node:http2';
import { PassThrough, Readable } from 'node:stream';
import { setTimeout as delay } from 'node:timers/promises';
import { spawnBrick, type BrickProcess } from '../../brick/spawn.js';
import { tmpDir as brickTmpDir } from '../../brick/posix2/format.js';
import { handlePath } from '../../brick/posix2/handles.js';
import {
  bodyMac, encodeArgsHeader, fopPath, H_ARGS, H_DATE, H_EPOCH, H_NONCE, newGfid, newNonce, signatureOf, T_BODY_MAC,
} from '../../dht2-core/protocol/index.js';
import { BrickClient } from '../../dht2-core/index.js';
import { rejectsErrno, text } from '../helpers/assert-errno.js';
import { replay, startH2Mitm, type CapturedRequest, type H2Mitm } from '../helpers/h2-mitm.js';
import { SECRET, tmpDir } from '../helpers/tmp.js';

const body = (s: string): Readable => Readable.from([Buffer.from(s)]);

describe('brick requests: no replay, no tampered body', function () {
  this.timeout(120_000);
  let dir: Awaited<ReturnType<typeof tmpDir>>;
  let brickDir: string;
  let brick: BrickProcess;
  let mitm: H2Mitm;
  let c: BrickClient;

  const content = (gfid: string): Promise<string> => readFile(handlePath(brickDir, gfid), 'utf8');
  const tmpFiles = (): Promise<string[]> => readdir(brickTmpDir(brickDir));
  const count = (fop: string): number => mitm.captured.filter((q) => q.headers[':path'] === fopPath(fop)).length;
  /** Waits up to `ms` for a client's streams to close; the count left open. */
  const settled = async (client: BrickClient, ms: number): Promise<number> => {
    const until = Date.now() + ms;
    while (client.openStreams > 0 && Date.now() < until) await delay(25);
    return client.openStreams;
  };
  const last = (fop: string): CapturedRequest => {
    const r = mitm.captured.filter((q) => q.headers[':path']?.endsWith(`/${fop}`)).at(-1);
    assert.ok(r, `no ${fop} captured`);
    return r;
  };

  before(async () => {
    dir = await tmpDir('replay');
    brickDir = join(dir.path, 'ds');
    brick = await spawnBrick({ dir: brickDir, role: 'ds', secret: SECRET, volumeId: 'rv' });
    mitm = await startH2Mitm(brick.url);
    c = new BrickClient({ url: mitm.url, secret: SECRET });
  });
  afterEach(() => {
    mitm.tamper = undefined;
    mitm.dropTrailers = false;
    mitm.retrail = undefined;
    mitm.forgeReply = undefined;
    mitm.streaming = false;
  });
  after(async () => {
    await c.close();
    await mitm.close();
    await brick.stop();
    await dir.cleanup();
  });

  it('refuses a captured request replayed, before and after the brick restarts', async () => {
    const g = newGfid();
    await c.upload('dput', { gfid: g }, body('first'));
    const put = last('dput');
    await c.call('dunlink', { gfid: g });
    const unlink = last('dunlink');
    await c.upload('dput', { gfid: g }, body('second'));

    for (const when of ['before the restart', 'after the restart']) {
      const u = await replay(brick.url, unlink);
      assert.ok(u.status === 401 || u.status === 403, `dunlink replayed ${when}: ${u.status} ${u.body}`);
      assert.match(u.body, /"errno":"EACCES"/);
      const p = await replay(brick.url, put);
      assert.ok(p.status === 401 || p.status === 403, `dput replayed ${when}: ${p.status} ${p.body}`);
      assert.equal(await content(g), 'second', `a replay ${when} changed the object`);
      if (when === 'before the restart') {
        await brick.stop();
        brick = await spawnBrick({ dir: brickDir, role: 'ds', secret: SECRET, port: brick.port });
      }
    }
    assert.deepEqual(await tmpFiles(), []);
    // The client goes on. Its connection to the proxy outlived the brick: its first request
    // after the restart, signed for the old boot, is refused with the new epoch and sent again.
    assert.equal(await text((await c.download('dread', { gfid: g })).body), 'second');
    await c.upload('dput', { gfid: g }, body('third'));
    assert.equal(await content(g), 'third');
    // A client on a new connection learns the new boot in its hello, for a streamed upload too.
    const fresh = new BrickClient({ url: mitm.url, secret: SECRET });
    try {
      await fresh.upload('dput', { gfid: g }, body('fourth'));
      assert.equal(await content(g), 'fourth');
    } finally {
      await fresh.close();
    }
  });

  it('keeps one operation id on every attempt of a FOP, and draws a new one per FOP (protocol 3)', async () => {
    const g = newGfid();
    await c.upload('dput', { gfid: g }, body('x'));
    await brick.stop();
    brick = await spawnBrick({ dir: brickDir, role: 'ds', secret: SECRET, port: brick.port });
    const before = mitm.captured.length;
    // Signed for the old boot, refused with the new epoch, sent again: two requests, one FOP.
    await c.call('dstat', { gfid: g });
    await c.call('dstat', { gfid: g }, { opId: 'c'.repeat(32) });
    const sent = mitm.captured.slice(before).filter((q) => q.headers[':path'] === fopPath('dstat'));
    assert.equal(sent.length, 3);
    const [first, resent, third] = sent.map((q) => q.headers);
    assert.match(first!['x-dht2-op']!, /^[0-9a-f]{32}$/);
    assert.equal(resent!['x-dht2-op'], first!['x-dht2-op'], 'the resend kept the operation id');
    assert.notEqual(resent!['x-dht2-nonce'], first!['x-dht2-nonce'], 'but was signed afresh');
    assert.equal(third!['x-dht2-op'], 'c'.repeat(32), 'a caller\'s operation id is sent as given');
  });

  it('refuses unapplied an upload signed for a boot that is gone, as ENOTCONN (may be sent again)', async () => {
    const g = newGfid();
    await c.upload('dput', { gfid: g }, body('before'));
    await brick.stop();
    brick = await spawnBrick({ dir: brickDir, role: 'ds', secret: SECRET, port: brick.port });
    // The upload's body cannot be sent twice: refused unapplied, as ENOTCONN (the gateway's 503).
    const e = await rejectsErrno(c.upload('dput', { gfid: g }, body('after')), 'ENOTCONN');
    assert.match(e.message, /send it again/);
    assert.equal(await settled(c, 2000), 0, 'the refused upload\'s stream is still open');
    assert.equal(await content(g), 'before');
    await c.upload('dput', { gfid: g }, body('after'));
    assert.equal(await content(g), 'after');
  });

  it('refuses a dput whose body was changed on the way and keeps the old object', async () => {
    const g = newGfid();
    await c.upload('dput', { gfid: g }, body('original content'));
    mitm.tamper = (b) => { const t = Buffer.from(b); t[0] = t[0]! ^ 1; return t; };
    await rejectsErrno(c.upload('dput', { gfid: g }, body('replacement body')), 'EACCES');
    assert.equal(await content(g), 'original content');
    assert.deepEqual(await tmpFiles(), []);
  });

  it('refuses in-place writes and appends whose body was changed on the way, before any byte lands', async () => {
    const g = newGfid();
    await c.upload('dput', { gfid: g }, body('0123456789'));
    mitm.tamper = (b) => { const t = Buffer.from(b); t[t.length - 1] = t[t.length - 1]! ^ 1; return t; };
    await rejectsErrno(c.upload('dwrite', { gfid: g, offset: 2 }, body('ABCD')), 'EACCES');
    await rejectsErrno(c.upload('dwrite', { gfid: g, offset: 0, append: true }, body('tail')), 'EACCES');
    assert.equal(await content(g), '0123456789');
    const fresh = newGfid();
    await rejectsErrno(c.upload('dwrite', { gfid: fresh, offset: 0, create: true }, body('new object')), 'EACCES');
    await assert.rejects(content(fresh), { code: 'ENOENT' }, 'a refused create-write left an object');
    assert.deepEqual(await tmpFiles(), []);
    mitm.tamper = undefined;
    await c.upload('dwrite', { gfid: g, offset: 2 }, body('ABCD'));
    await c.upload('dwrite', { gfid: g, offset: 0, append: true }, body('!'));
    assert.equal(await content(g), '01ABCD6789!');
  });

  it('refuses a data body without its MAC trailer', async () => {
    const g = newGfid();
    await c.upload('dput', { gfid: g }, body('kept'));
    mitm.dropTrailers = true;
    await rejectsErrno(c.upload('dput', { gfid: g }, body('lost')), 'EACCES');
    await rejectsErrno(c.upload('dwrite', { gfid: g, offset: 0 }, body('LOST')), 'EACCES');
    assert.equal(await content(g), 'kept');
    assert.deepEqual(await tmpFiles(), []);
  });

  // Protocol 4 (PROTOCOL.md §3.1): the trailer is an HMAC over the body's SHA-256, checked against
  // the digest of what the brick received. A version-3 MAC (over the body itself) of the very
  // body sent, and a version-4 MAC of another body (what a client that hashed the wrong bytes,
  // or a shared digest gone wrong, would send), are refused; the body untouched passes.
  it('refuses a body whose trailer is a version-3 MAC, or the MAC of another body', async () => {
    const g = newGfid();
    await c.upload('dput', { gfid: g }, body('kept'));
    const sig = (h: Record<string, string>): string => signatureOf(h.authorization ?? '')!;
    mitm.retrail = (t, b, h) => ({ ...t, [T_BODY_MAC]: createHmac('sha256', SECRET).update(`DHT2-BODY-HMAC-SHA256\n${sig(h)}\n`).update(b).digest('hex') });
    await rejectsErrno(c.upload('dput', { gfid: g }, body('version 3')), 'EACCES');
    mitm.retrail = (t, _b, h) => ({ ...t, [T_BODY_MAC]: bodyMac(SECRET, sig(h), createHash('sha256').update('another body').digest()) });
    await rejectsErrno(c.upload('dput', { gfid: g }, body('this body')), 'EACCES');
    await rejectsErrno(c.upload('dwrite', { gfid: g, offset: 0 }, body('THIS')), 'EACCES');
    assert.equal(await content(g), 'kept');
    assert.deepEqual(await tmpFiles(), []);
    // The same hook, passing the trailer on as sent: accepted (the hook itself changes nothing).
    mitm.retrail = (t) => t;
    await c.upload('dput', { gfid: g }, body('replaced'));
    assert.equal(await content(g), 'replaced');
  });

  // Issue 14 review: the refusal of a request signed for another boot travels unauthenticated on
  // h2c. Someone between swaps the reply of a FOP the brick ran for such a refusal naming the
  // brick's epoch (public on /-/health): the client must not send it again, or a non-idempotent
  // FOP (here dcreate, exclusive) runs twice.
  it('never sends a FOP again on a forged refusal: the brick ran it once, the error surfaces', async () => {
    const real = (await c.health()).epoch;
    const stale = { errno: 'EACCES', message: 'request signed for another brick epoch (the brick restarted)' };
    for (const epoch of [real, 'f'.repeat(32)]) {
      const g = newGfid();
      const before = count('dcreate');
      mitm.forgeReply = (h) => (h[':path'] === fopPath('dcreate') ? { status: 403, headers: { [H_EPOCH]: epoch }, body: JSON.stringify(stale) } : undefined);
      await rejectsErrno(c.call('dcreate', { gfid: g }), 'EACCES');
      assert.equal(count('dcreate') - before, 1, `a 403 naming epoch ${epoch === real ? 'the real' : 'a fake'} one made the client send dcreate again`);
      assert.equal(await content(g), '', 'the dcreate did not run');
      // The forged epoch was not taken: the next request is signed for the real boot, sent once.
      mitm.forgeReply = undefined;
      const sent = count('dstat');
      assert.equal((await c.call('dstat', { gfid: g })).size, 0);
      assert.equal(count('dstat') - sent, 1, 'the next request was refused first (a forged epoch was taken)');
    }
  });

  it('never sends a non-idempotent FOP again after a forged REFUSED_STREAM (RFC 9113 §8.7 is not authenticated)', async () => {
    const g = newGfid();
    const before = count('dcreate');
    mitm.forgeReply = (h) => (h[':path'] === fopPath('dcreate') ? { reset: http2.constants.NGHTTP2_REFUSED_STREAM } : undefined);
    await rejectsErrno(c.call('dcreate', { gfid: g }), 'ENOTCONN');
    assert.equal(count('dcreate') - before, 1, 'dcreate sent again after a refused stream');
    assert.equal(await content(g), '', 'the dcreate did not run');
    // An idempotent FOP still is: the first reply is reset, the second goes through.
    let resets = 1;
    mitm.forgeReply = (h) => (h[':path'] === fopPath('dstat') && resets-- > 0 ? { reset: http2.constants.NGHTTP2_REFUSED_STREAM } : undefined);
    const sent = count('dstat');
    assert.equal((await c.call('dstat', { gfid: g })).size, 0);
    assert.equal(count('dstat') - sent, 2);
  });

  // Issue 14 review: an upload refused as signed for a boot that is gone used to stay open with
  // its body still piped into it until the body ended or the 30 s idle deadline.
  it('closes an upload refused for a boot that is gone at once, its body still coming', async () => {
    mitm.streaming = true;
    const client = new BrickClient({ url: mitm.url, secret: SECRET });
    const src = new PassThrough();
    try {
      const g = newGfid();
      await client.upload('dput', { gfid: g }, body('before'));
      await brick.stop();
      brick = await spawnBrick({ dir: brickDir, role: 'ds', secret: SECRET, port: brick.port });
      src.write(randomBytes(2 * 1024 * 1024)); // and never ended, as a gateway's client still sending
      const e = await rejectsErrno(client.upload('dput', { gfid: g }, src), 'ENOTCONN');
      assert.match(e.message, /send it again/);
      assert.equal(await settled(client, 2000), 0, 'the refused upload\'s stream is still open');
      assert.equal(await content(g), 'before');
      assert.deepEqual(await tmpFiles(), []);
      await client.upload('dput', { gfid: g }, body('after'));
      assert.equal(await content(g), 'after');
    } finally {
      src.destroy();
      await client.close();
    }
  });

  it('stops reading a refused upload: answers, then closes the stream (no drain without bound)', async () => {
    const session = http2.connect(brick.url);
    session.on('error', () => undefined);
    try {
      // The brick's epoch, as anyone can learn it: the refusal here is of the signature.
      const health = session.request({ ':method': 'GET', ':path': '/-/health' });
      const epoch = (JSON.parse(await text(health)) as { epoch: string }).epoch;
      const req = session.request({
        ':method': 'POST', ':path': fopPath('dput'), authorization: `DHT2-HMAC-SHA256 ${'0'.repeat(64)}`,
        [H_ARGS]: encodeArgsHeader({ gfid: newGfid() }), [H_DATE]: String(Date.now()), [H_NONCE]: newNonce(),
        [H_EPOCH]: epoch,
      });
      req.on('error', () => undefined);
      let status = 0;
      let reply = '';
      req.on('response', (h) => { status = Number(h[':status']); });
      req.setEncoding('utf8');
      req.on('data', (d: string) => { reply += d; });
      const closed = new Promise<void>((resolve) => req.once('close', () => resolve()));
      req.write(randomBytes(2 * 1024 * 1024)); // and never ended
      const timer = delay(2000).then(() => 'open');
      assert.equal(await Promise.race([closed.then(() => 'closed'), timer]), 'closed', 'the brick kept reading a refused body');
      assert.equal(status, 403);
      assert.match(reply, /signature does not match/);
    } finally {
      session.destroy();
    }
  });
});
