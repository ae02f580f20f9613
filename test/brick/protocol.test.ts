/**
 * The brick protocol over real HTTP/2 against real brick processes: round trips, auth
 * failures, bad input, streaming of a file larger than 256 MiB with bounded brick memory,
 * concurrency on one name, TLS.
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import http2 from 'node:http2';
import { createHash } from 'node:crypto';
import { readFile, readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import {
  authorization, fopPath, H_DATE, H_EPOCH, H_FROM, H_LAYOUT, H_NONCE, H_OP, H_REQUEST_ID, newGfid, newNonce, ROOT_GFID, sha256Hex,
} from '../../dht2-core/protocol/index.js';
import { BrickClient } from '../../dht2-core/index.js';
import { spawnBrick, type BrickProcess } from '../../brick/spawn.js';
import { rejectsErrno, text } from '../helpers/assert-errno.js';
import { rawH2 } from '../helpers/raw-h2.js';
import { SECRET, tmpDir } from '../helpers/tmp.js';

/** Resident set size of a process in bytes (Linux). */
async function rssOf(pid: number): Promise<number> {
  const status = await readFile(`/proc/${pid}/status`, 'utf8');
  return Number(/VmRSS:\s+(\d+) kB/.exec(status)![1]) * 1024;
}

/** Samples RSS every 50 ms until stopped; returns the peak. */
function sampleRss(pid: number): { stop(): Promise<number> } {
  let peak = 0;
  let running = true;
  const loop = (async () => {
    while (running) {
      peak = Math.max(peak, await rssOf(pid).catch(() => 0));
      await new Promise((r) => setTimeout(r, 50));
    }
  })();
  return { async stop() { running = false; await loop; return peak; } };
}

/** `total` bytes of a deterministic pattern, produced 1 MiB at a time. */
function pattern(total: number, seed: number): Readable {
  const chunk = Buffer.alloc(1024 * 1024);
  for (let i = 0; i < chunk.length; i++) chunk[i] = (i * 31 + seed) & 0xff;
  let sent = 0;
  return new Readable({
    read() {
      if (sent >= total) { this.push(null); return; }
      const n = Math.min(chunk.length, total - sent);
      sent += n;
      this.push(n === chunk.length ? Buffer.from(chunk) : chunk.subarray(0, n));
    },
  });
}

async function sha256Of(stream: AsyncIterable<Buffer>): Promise<{ hash: string; size: number }> {
  const h = createHash('sha256');
  let size = 0;
  for await (const c of stream) { h.update(c); size += c.length; }
  return { hash: h.digest('hex'), size };
}

/** Brick ids and boot epochs by URL, filled in as the test bricks start (requests are signed for both). */
const brickIds = new Map<string, string>();
const epochs = new Map<string, string>();

interface SignOpts { secret?: string; date?: number; nonce?: string; epoch?: string; opId?: string; layoutEpoch?: string; from?: string }

function signedHeaders(url: string, fop: string, body: string, opts: SignOpts = {}): Record<string, string> {
  const path = fopPath(fop);
  const date = String(opts.date ?? Date.now());
  const nonce = opts.nonce ?? newNonce();
  const epoch = opts.epoch ?? epochs.get(url) ?? '';
  const requestId = 'test';
  const p3 = { opId: opts.opId ?? '', layoutEpoch: opts.layoutEpoch ?? '', from: opts.from ?? '' };
  return {
    ':path': path,
    authorization: authorization(opts.secret ?? SECRET, { method: 'POST', path, brickId: brickIds.get(url) ?? '', epoch, date, nonce, requestId, ...p3, payloadHash: sha256Hex(body) }),
    [H_EPOCH]: epoch, [H_DATE]: date, [H_NONCE]: nonce, [H_REQUEST_ID]: requestId, 'content-type': 'application/json',
    ...(opts.opId === undefined ? {} : { [H_OP]: opts.opId }),
    ...(opts.layoutEpoch === undefined ? {} : { [H_LAYOUT]: opts.layoutEpoch }),
    ...(opts.from === undefined ? {} : { [H_FROM]: opts.from }),
  };
}

describe('brick protocol over HTTP/2', function () {
  this.timeout(180_000);
  let dir: Awaited<ReturnType<typeof tmpDir>>;
  let mds: BrickProcess;
  let ds: BrickProcess;
  let m: BrickClient;
  let d: BrickClient;

  before(async () => {
    dir = await tmpDir('proto');
    mds = await spawnBrick({ dir: join(dir.path, 'mds'), role: 'mds', secret: SECRET, volumeId: 'pv' });
    ds = await spawnBrick({ dir: join(dir.path, 'ds'), role: 'ds', secret: SECRET, volumeId: 'pv' });
    m = new BrickClient({ url: mds.url, secret: SECRET });
    d = new BrickClient({ url: ds.url, secret: SECRET });
    for (const [url, c] of [[mds.url, m], [ds.url, d]] as const) {
      const h = await c.health();
      brickIds.set(url, h.brickId);
      epochs.set(url, h.epoch);
    }
  });
  after(async () => {
    await m.close();
    await d.close();
    await mds.stop();
    await ds.stop();
    await dir.cleanup();
  });

  it('answers /-/health with its identity', async () => {
    const h = await m.health();
    assert.equal(h.status, 'ok');
    assert.equal(h.role, 'mds');
    assert.equal(h.volumeId, 'pv');
    assert.equal(h.protocol, 4);
    assert.match(h.epoch, /^[0-9a-f]{32}$/);
    assert.equal((await d.health()).role, 'ds');
  });

  it('round-trips namespace and data FOPs', async () => {
    const dirA = await m.call('create', { parent: ROOT_GFID, name: 'docs', gfid: newGfid(), type: 'dir' });
    const f = await m.call('create', { parent: dirA.gfid, name: 'résumé 😀.txt', gfid: newGfid(1), type: 'file', xattrs: { 'content-type': Buffer.from('text/plain').toString('base64') } });
    assert.deepEqual(await m.call('lookup', { parent: dirA.gfid, name: 'résumé 😀.txt' }), f);
    const page = await m.call('readdir', { gfid: dirA.gfid, limit: 10, plus: true });
    assert.deepEqual(page.entries.map((e) => [e.name, e.gfid, e.attrs?.type]), [['résumé 😀.txt', f.gfid, 'file']]);
    assert.equal((await d.upload('dput', { gfid: f.gfid }, Readable.from([Buffer.from('hello, brick')]))).size, 12);
    const got = await d.download('dread', { gfid: f.gfid, offset: 7 });
    assert.equal(got.res.size, 12);
    assert.equal(await text(got.body), 'brick');
    const e = await rejectsErrno(m.call('rmdir', { parent: ROOT_GFID, name: 'docs' }), 'ENOTEMPTY');
    assert.match(e.message, /not empty/);
    // Rebuilt from the wire: `message` has the errno prefix once, `detail` is the bare text.
    assert.equal(e.message, `ENOTEMPTY: ${e.detail}`);
    assert.doesNotMatch(e.detail, /E[A-Z0-9]+: /);
    await rejectsErrno(d.download('dread', { gfid: newGfid() }), 'ENOENT');
    await rejectsErrno(m.call('dstat', { gfid: f.gfid }), 'ENOTSUP');
    const st = await d.call('statfs', {});
    assert.ok(st.bavail > 0);
  });

  it('EREMOTE carries the GFID across the wire', async () => {
    const g = newGfid();
    await m.call('namelink', { parent: ROOT_GFID, name: 'elsewhere', gfid: g, type: 'file' });
    assert.equal((await rejectsErrno(m.call('lookup', { parent: ROOT_GFID, name: 'elsewhere' }), 'EREMOTE')).gfid, g);
  });

  it('rejects bad names and GFIDs with EINVAL or ENAMETOOLONG and touches nothing outside the brick', async () => {
    for (const name of ['..', '.', 'a/b', '../../../../tmp/escape', 'nul\0byte', '']) {
      await rejectsErrno(m.call('create', { parent: ROOT_GFID, name, gfid: newGfid(), type: 'file' }), 'EINVAL');
    }
    await rejectsErrno(m.call('create', { parent: ROOT_GFID, name: 'x'.repeat(256), gfid: newGfid(), type: 'file' }), 'ENAMETOOLONG');
    await rejectsErrno(m.call('create', { parent: ROOT_GFID, name: 'é'.repeat(128), gfid: newGfid(), type: 'file' }), 'ENAMETOOLONG');
    assert.ok(await m.call('create', { parent: ROOT_GFID, name: 'x'.repeat(255), gfid: newGfid(), type: 'file' }));
    for (const gfid of ['../../../etc/passwd', 'ABCDEF00-0000-0000-0000-000000000000', '00000000-0000-0000-0000-000000000000', 'zz', '']) {
      await rejectsErrno(m.call('getattr', { gfid }), 'EINVAL');
      await rejectsErrno(d.download('dread', { gfid }), 'EINVAL');
    }
    await rejectsErrno(m.call('readdir', { gfid: ROOT_GFID, limit: 0 }), 'EINVAL');
    await rejectsErrno(m.call('lookup', { parent: ROOT_GFID, name: 'a', extra: 1 } as never), 'EINVAL');
    assert.deepEqual((await readdir(dir.path)).sort(), ['ds', 'mds']);
  });

  it('refuses unauthenticated (401), wrong-secret, tampered, stale and replayed requests (403) and touches nothing', async () => {
    const args = JSON.stringify({ parent: ROOT_GFID, name: 'intruder', gfid: newGfid(), type: 'file' });
    const { authorization: _a, ...unsigned } = signedHeaders(mds.url, 'create', args);
    void _a;
    assert.equal((await rawH2(mds.url, unsigned, args)).status, 401);
    assert.equal((await rawH2(mds.url, signedHeaders(mds.url, 'create', args, { secret: 'some-other-secret-value' }), args)).status, 403);
    const tampered = args.replace('intruder', 'intruder2');
    assert.equal((await rawH2(mds.url, signedHeaders(mds.url, 'create', args), tampered)).status, 403);
    assert.equal((await rawH2(mds.url, signedHeaders(mds.url, 'create', args, { date: Date.now() - 10 * 60_000 }), args)).status, 403);
    // Signed for another boot of this brick (test/brick/replay.test.ts restarts one).
    const otherBoot = await rawH2(mds.url, signedHeaders(mds.url, 'create', args, { epoch: '0'.repeat(32) }), args);
    assert.equal(otherBoot.status, 403);
    assert.match(otherBoot.body, /another brick epoch/);
    const once = signedHeaders(mds.url, 'create', args);
    const first = await rawH2(mds.url, once, args);
    assert.equal(first.status, 200, first.body);
    await m.call('unlink', { parent: ROOT_GFID, name: 'intruder' });
    const replay = await rawH2(mds.url, once, args);
    assert.equal(replay.status, 403);
    assert.match(replay.body, /replayed/);
    await rejectsErrno(m.call('lookup', { parent: ROOT_GFID, name: 'intruder' }), 'ENOENT');
    await rejectsErrno(m.call('lookup', { parent: ROOT_GFID, name: 'intruder2' }), 'ENOENT');
    // A request signed for one brick is refused by another.
    const dsArgs = JSON.stringify({ gfid: newGfid() });
    const forMds = signedHeaders(mds.url, 'dcreate', dsArgs);
    assert.equal((await rawH2(ds.url, forMds, dsArgs)).status, 403);
    // Garbage arguments from an unauthenticated caller are refused before they are parsed.
    const { authorization: _b, ...noAuth } = signedHeaders(mds.url, 'create', 'not json');
    void _b;
    assert.equal((await rawH2(mds.url, noAuth, 'not json')).status, 401);
    const wrong = new BrickClient({ url: ds.url, secret: 'wrong-secret-wrong-secret' });
    try {
      const g = newGfid();
      await rejectsErrno(wrong.upload('dput', { gfid: g }, Readable.from([Buffer.from('x')])), 'EACCES');
      await rejectsErrno(d.call('dstat', { gfid: g }), 'ENOENT');
    } finally {
      await wrong.close();
    }
  });

  it('answers HEAD /-/health without a body and stays up', async () => {
    const r = await new Promise<number>((resolve, reject) => {
      const s = http2.connect(mds.url);
      s.on('error', reject);
      const req = s.request({ ':method': 'HEAD', ':path': '/-/health' });
      req.on('response', (h) => { resolve(Number(h[':status'])); });
      req.on('end', () => s.close());
      req.resume();
      req.end();
    });
    assert.equal(r, 200);
    assert.equal((await m.health()).status, 'ok');
  });

  it('signs the operation id, the layout epoch and the sender (protocol 3), and refuses them malformed', async () => {
    const body = '{}';
    const p3 = { opId: 'a'.repeat(32), layoutEpoch: '1', from: 'mds-a2' };
    // statfs is placed: this brick holds no layout, so it refuses epoch 1 (brick/server.ts), after
    // the signature is checked; `digest` is a member's own and is served.
    const refused = await rawH2(mds.url, signedHeaders(mds.url, 'statfs', body, p3), body);
    assert.equal(JSON.parse(refused.body).errno, 'EAGAIN', refused.body);
    const digestBody = '{"limit":1}';
    const ok = await rawH2(mds.url, signedHeaders(mds.url, 'digest', digestBody, p3), digestBody);
    assert.equal(ok.status, 200, ok.body);
    // Each of the three is covered by the signature: changed after signing, the request fails.
    for (const [h, v] of [[H_OP, 'b'.repeat(32)], [H_LAYOUT, '2'], [H_FROM, 'mds-a3']] as const) {
      const r = await rawH2(mds.url, { ...signedHeaders(mds.url, 'statfs', body, p3), [h]: v }, body);
      assert.equal(r.status, 403, `${h} changed`);
      assert.match(r.body, /signature does not match/);
    }
    // And dropped after signing, too.
    const dropped = signedHeaders(mds.url, 'statfs', body, p3);
    delete dropped[H_OP];
    assert.equal((await rawH2(mds.url, dropped, body)).status, 403);
    for (const [h, v] of [[H_OP, 'A'.repeat(32)], [H_OP, 'a'.repeat(31)], [H_LAYOUT, '0'], [H_LAYOUT, 'x'], [H_FROM, '../x']] as const) {
      const r = await rawH2(mds.url, signedHeaders(mds.url, 'statfs', body, { ...p3, [h === H_OP ? 'opId' : h === H_LAYOUT ? 'layoutEpoch' : 'from']: v }), body);
      assert.equal(r.status, 400, `${h}: ${v}`);
      assert.deepEqual(JSON.parse(r.body), { errno: 'EINVAL', message: `malformed ${h} header` });
    }
  });

  it('answers unknown FOPs, other protocol versions and oversized bodies with errors', async () => {
    const otherVersion = await rawH2(mds.url, { ...signedHeaders(mds.url, 'statfs', '{}'), 'x-dht2-proto': '9' }, '{}');
    assert.equal(otherVersion.status, 400);
    assert.match(otherVersion.body, /EPROTO/);
    assert.equal((await rawH2(mds.url, { ':path': fopPath('nosuchfop') }, '{}')).status, 404);
    // Version 1 signed no epoch and sent no body MAC, version 2 no operation id, layout epoch or
    // sender, version 3 a body MAC over the body instead of its SHA-256: a brick of version 4
    // refuses them all.
    for (const old of ['/v1/lookup', '/v2/lookup', '/v3/lookup']) {
      const r = await rawH2(mds.url, { ':path': old }, '{}');
      assert.equal(r.status, 400);
      assert.equal((JSON.parse(r.body) as { errno: string }).errno, 'EPROTO');
    }
    const big = JSON.stringify({ gfid: ROOT_GFID, name: 'user.big', value: 'A'.repeat(2 * 1024 * 1024) });
    const r = await rawH2(mds.url, signedHeaders(mds.url, 'setxattr', big), big);
    assert.equal(r.status, 413);
  });

  it('of 50 concurrent creates of one name exactly one wins, the rest get EEXIST', async () => {
    const results = await Promise.allSettled(Array.from({ length: 50 }, () =>
      m.call('create', { parent: ROOT_GFID, name: 'contested', gfid: newGfid(), type: 'file' })));
    const won = results.filter((r) => r.status === 'fulfilled');
    assert.equal(won.length, 1);
    for (const r of results) {
      if (r.status === 'rejected') assert.equal((r.reason as { errno: string }).errno, 'EEXIST');
    }
    const winner = (won[0] as PromiseFulfilledResult<{ gfid: string }>).value.gfid;
    assert.equal((await m.call('lookup', { parent: ROOT_GFID, name: 'contested' })).gfid, winner);
  });

  it('streams 300 MiB in and out without the brick memory growing with it', async function () {
    const size = 300 * 1024 * 1024;
    const g = newGfid();
    const before = await rssOf(ds.pid);
    const up = sampleRss(ds.pid);
    const upHash = createHash('sha256');
    const src = pattern(size, 7);
    src.on('data', (c: Buffer) => upHash.update(c));
    const st = await d.upload('dput', { gfid: g }, src, { timeoutMs: 120_000 });
    const upPeak = await up.stop();
    assert.equal(st.size, size);
    const down = sampleRss(ds.pid);
    const { res, body } = await d.download('dread', { gfid: g }, { timeoutMs: 120_000 });
    assert.equal(res.size, size);
    const got = await sha256Of(body);
    const downPeak = await down.stop();
    assert.equal(got.size, size);
    assert.equal(got.hash, upHash.digest('hex'));
    const bound = 96 * 1024 * 1024;
    assert.ok(upPeak - before < bound, `brick RSS grew ${((upPeak - before) / 2 ** 20).toFixed(0)} MiB during a 300 MiB upload`);
    assert.ok(downPeak - before < bound, `brick RSS grew ${((downPeak - before) / 2 ** 20).toFixed(0)} MiB during a 300 MiB download`);
    await d.call('dunlink', { gfid: g });
  });
});

describe('brick protocol over TLS (h2)', function () {
  this.timeout(60_000);
  it('serves FOPs over h2 with a certificate, and the client verifies it', async () => {
    const dir = await tmpDir('tls');
    const cert = join(dir.path, 'cert.pem');
    const key = join(dir.path, 'key.pem');
    execFileSync('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', key, '-out', cert, '-days', '1',
      '-subj', '/CN=localhost', '-addext', 'subjectAltName=IP:127.0.0.1'], { stdio: 'ignore' });
    const b = await spawnBrick({ dir: join(dir.path, 'b'), role: 'mds', secret: SECRET, args: ['--tls-cert', cert, '--tls-key', key] });
    const c = new BrickClient({ url: b.url, secret: SECRET, tls: { ca: await readFile(cert) } });
    try {
      assert.match(b.url, /^https:/);
      const a = await c.call('create', { parent: ROOT_GFID, name: 'secure', gfid: newGfid(), type: 'file' });
      assert.equal((await c.call('lookup', { parent: ROOT_GFID, name: 'secure' })).gfid, a.gfid);
      const untrusting = new BrickClient({ url: b.url, secret: SECRET });
      await assert.rejects(untrusting.call('statfs', {}));
      await untrusting.close();
    } finally {
      await c.close();
      await b.stop();
      await dir.cleanup();
    }
  });
});
