/**
 * Issue 13, defects 3 and 5a: a data brick (DS) lost while uploads stream into it. Real bricks,
 * the real gateway as its own process (a gateway that spins would freeze an in-process one, and
 * mocha with it; its CPU and RSS are read from /proc), 16 concurrent PUTs of 8 MiB each sent
 * slowly enough to be in flight. Then the DSs are SIGKILLed, or the gateway's connections to
 * them are reset. Every PUT must be answered at once with a 503 that clients retry (it was 400
 * IncompleteBody), the gateway must keep serving and not spin, and once the DSs are back new
 * PUTs succeed and the objects acknowledged before read back.
 */
import assert from 'node:assert/strict';
import http from 'node:http';
import net from 'node:net';
import { readFileSync } from 'node:fs';
import { readFile, readdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import aws4 from 'aws4';
import { readCpuSeconds } from '../../bench/util.js';
import { startCluster, type TestCluster } from '../helpers/cluster.js';
import { ACCESS_KEY, SECRET_KEY, spawnGateway, type GatewayProcess } from '../helpers/gateway.js';

const BUCKET = 'ds-lost';
const UPLOADS = 16;
const SIZE = 8 * 1024 * 1024;
const CHUNK = 64 * 1024;
/** Every upload has sent this much when the DSs go: well under way, far from done. */
const IN_FLIGHT = 512 * 1024;

interface Reply { status: number; body: string; error?: string }

interface Upload {
  /** Body bytes written so far. */
  sent(): number;
  reply: Promise<Reply>;
}

/** A TCP relay in front of a brick, so a test can reset the gateway's connections to it. */
interface Relay { port: number; reset(): void; close(): Promise<void> }

async function relay(to: number): Promise<Relay> {
  const pairs = new Set<[net.Socket, net.Socket]>();
  const server = net.createServer((down) => {
    const up = net.connect(to, '127.0.0.1');
    const pair: [net.Socket, net.Socket] = [down, up];
    pairs.add(pair);
    const forget = (): void => { pairs.delete(pair); down.destroy(); up.destroy(); };
    down.on('error', forget).on('close', forget);
    up.on('error', forget).on('close', forget);
    down.pipe(up).pipe(down);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const drop = (how: 'reset' | 'close'): void => {
    for (const [down, up] of pairs) {
      if (how === 'reset') down.resetAndDestroy();
      else down.destroy();
      up.destroy();
    }
    pairs.clear();
  };
  return {
    port: (server.address() as net.AddressInfo).port,
    // An RST to the gateway, as a host sends for a connection its dead process left with data unread.
    reset: () => drop('reset'),
    close: () => new Promise<void>((resolve) => { drop('close'); server.close(() => resolve()); }),
  };
}

function rssMiB(pid: number): number {
  return Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1] ?? 0) / 1024;
}

/** The gateway's CPU use over `ms`, as a share of one core. */
async function cpuShare(pid: number, ms: number): Promise<number> {
  const c0 = readCpuSeconds(pid)!;
  const t0 = Date.now();
  await sleep(ms);
  return (readCpuSeconds(pid)! - c0) / ((Date.now() - t0) / 1000);
}

/** Resolves with `p`, or fails naming `what` when it takes longer than `ms`. */
async function within<T>(ms: number, what: string, p: Promise<T>): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<never>((_, reject) => { timer = setTimeout(() => reject(new Error(`${what}: no answer within ${ms} ms`)), ms); });
  try {
    return await Promise.race([p, late]);
  } finally {
    clearTimeout(timer);
  }
}

describe('issue 13: a data brick lost mid-upload', function () {
  this.timeout(60_000);
  let c: TestCluster;
  let relays: Relay[];
  let direct: GatewayProcess;
  let relayed: GatewayProcess;

  before(async () => {
    c = await startCluster();
    // A second gateway reaches the DSs through relays that can reset its connections.
    relays = await Promise.all(c.ds.map((b) => relay(b.port)));
    const vf = JSON.parse(await readFile(c.volfile, 'utf8')) as { ds: Array<{ url: string }> };
    vf.ds.forEach((d, i) => { d.url = `http://127.0.0.1:${relays[i]!.port}`; });
    const relayedVolfile = join(c.dir, 'volume-relayed.json');
    await writeFile(relayedVolfile, JSON.stringify(vf));
    [direct, relayed] = await Promise.all([spawnGateway(c.volfile), spawnGateway(relayedVolfile)]);
    assert.equal((await send(direct, 'PUT', `/${BUCKET}`)).status, 200);
    assert.equal((await send(direct, 'PUT', `/${BUCKET}/acknowledged`, 'stored before')).status, 200);
  });

  after(async () => {
    await Promise.all([direct?.kill(), relayed?.kill()]);
    await Promise.all((relays ?? []).map((r) => r.close()));
    await c?.stop();
  });

  function request(gw: GatewayProcess, method: string, path: string, headers: Record<string, string>): http.ClientRequest {
    const o = aws4.sign({ host: new URL(gw.url).host, method, path, service: 's3', region: 'us-east-1', headers: { 'x-amz-content-sha256': 'UNSIGNED-PAYLOAD', ...headers } },
      { accessKeyId: ACCESS_KEY, secretAccessKey: SECRET_KEY });
    // The file API takes Basic credentials (curl -u); S3 takes the SigV4 headers.
    const h = path.startsWith('/fs/') ? { ...headers, authorization: `Basic ${Buffer.from(`${ACCESS_KEY}:${SECRET_KEY}`).toString('base64')}` } : o.headers;
    // Keep-alive: the gateway then drains what is left of a body it answered early, where it
    // would close a `Connection: close` socket under a client still writing (EPIPE, no reply).
    const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
    const req = http.request({ host: '127.0.0.1', port: new URL(gw.url).port, method, path, headers: h as http.OutgoingHttpHeaders, agent });
    req.once('close', () => agent.destroy());
    return req;
  }

  function replyOf(req: http.ClientRequest, onResponse: () => void = () => undefined): Promise<Reply> {
    return new Promise((resolve) => {
      req.on('response', (res) => {
        onResponse();
        let body = '';
        res.on('data', (d: Buffer) => { body += d.toString(); });
        res.on('end', () => { resolve({ status: res.statusCode!, body }); req.destroy(); });
        res.on('error', (e) => resolve({ status: 0, body, error: e.message }));
      });
      req.on('error', (e) => resolve({ status: 0, body: '', error: e.message }));
    });
  }

  function send(gw: GatewayProcess, method: string, path: string, body?: string): Promise<Reply> {
    const req = request(gw, method, path, body === undefined ? {} : { 'content-length': String(Buffer.byteLength(body)) });
    const r = replyOf(req);
    req.end(body);
    return r;
  }

  /** A PUT of SIZE bytes, 64 KiB every 10 ms, that stops sending once it is answered. */
  function upload(gw: GatewayProcess, path: string): Upload {
    const req = request(gw, 'PUT', path, { 'content-length': String(SIZE), 'content-type': 'application/octet-stream' });
    let sent = 0;
    let answered = false;
    const reply = replyOf(req, () => { answered = true; });
    const chunk = Buffer.alloc(CHUNK, 0x5a);
    const pump = (): void => {
      if (answered || req.destroyed) return;
      if (sent >= SIZE) { req.end(); return; }
      sent += CHUNK;
      if (req.write(chunk)) setTimeout(pump, 10);
      else req.once('drain', () => setTimeout(pump, 10));
    };
    pump();
    return { sent: () => sent, reply };
  }

  /** Temp files on the DSs: one per upload streaming into a brick (it opens one before reading the body). */
  const tmpFiles = async (): Promise<number> => {
    let n = 0;
    for (let i = 0; i < c.ds.length; i++) n += (await readdir(join(c.dir, `ds${i}`, '.dht2', 'tmp')).catch(() => [])).length;
    return n;
  };

  /** Starts `paths` uploads and resolves once each streams into its DS, well under way. */
  async function inFlight(gw: GatewayProcess, paths: string[]): Promise<Upload[]> {
    const before = await tmpFiles();
    const uploads = paths.map((p) => upload(gw, p));
    await within(20_000, 'uploads starting', (async () => {
      while (uploads.some((u) => u.sent() < IN_FLIGHT) || (await tmpFiles()) < before + uploads.length) await sleep(10);
    })());
    return uploads;
  }

  const code = (r: Reply) => /<Code>([^<]+)<\/Code>/.exec(r.body)?.[1];

  /** Every PUT answered promptly with a 503 clients retry, and the gateway serving meanwhile. */
  async function assertRetryable(gw: GatewayProcess, uploads: Upload[]): Promise<void> {
    const health = await within(2000, 'GET /-/health right after the loss', send(gw, 'GET', '/-/health'));
    assert.equal(health.status, 200);
    const replies = await within(10_000, `the ${uploads.length} PUTs in flight (gateway:\n${gw.tail()})`, Promise.all(uploads.map((u) => u.reply)));
    for (const r of replies) {
      assert.equal(r.status, 503, `${r.status} ${r.error ?? ''} ${r.body}`);
      assert.ok(['ServiceUnavailable', 'SlowDown'].includes(code(r) ?? ''), r.body);
    }
  }

  /** The gateway neither spins nor grows once the uploads are answered, and still answers. */
  async function assertIdle(gw: GatewayProcess): Promise<void> {
    const rss0 = rssMiB(gw.pid);
    const cpu = await cpuShare(gw.pid, 2000);
    assert.ok(cpu < 0.5, `gateway CPU ${Math.round(cpu * 100)} % of a core after the uploads were answered`);
    assert.ok(rssMiB(gw.pid) - rss0 < 64, `gateway RSS grew from ${rss0} to ${rssMiB(gw.pid)} MiB in 2 s`);
    const head = await within(2000, 'HEAD of an acknowledged object', send(gw, 'HEAD', `/${BUCKET}/acknowledged`));
    assert.equal(head.status, 200);
  }

  async function assertServedAgain(gw: GatewayProcess, key: string): Promise<void> {
    const put = await within(10_000, 'a PUT once the DSs are back', send(gw, 'PUT', `/${BUCKET}/${key}`, `new ${key}`));
    assert.equal(put.status, 200, put.body);
    assert.equal((await send(gw, 'GET', `/${BUCKET}/${key}`)).body, `new ${key}`);
    assert.equal((await send(gw, 'GET', `/${BUCKET}/acknowledged`)).body, 'stored before');
  }

  it('SIGKILLed DSs: every S3 PUT in flight gets 503 at once; the gateway serves, idles, and writes again after the restart', async () => {
    const uploads = await inFlight(direct, Array.from({ length: UPLOADS }, (_, i) => `/${BUCKET}/killed-${i}`));
    await Promise.all(c.ds.map((b) => b.kill()));
    try {
      await assertRetryable(direct, uploads);
      await assertIdle(direct);
    } finally {
      for (let i = 0; i < c.ds.length; i++) await c.restart('ds', i);
    }
    await assertServedAgain(direct, 'after-kill');
  });

  it('SIGKILLed DSs: a file API PUT in flight gets a 503 JSON error', async () => {
    const uploads = await inFlight(direct, Array.from({ length: 4 }, (_, i) => `/fs/${BUCKET}/fs-killed-${i}`));
    await Promise.all(c.ds.map((b) => b.kill()));
    try {
      const replies = await within(10_000, 'the file API PUTs in flight', Promise.all(uploads.map((u) => u.reply)));
      for (const r of replies) {
        assert.equal(r.status, 503, `${r.status} ${r.error ?? ''} ${r.body}`);
        assert.match((JSON.parse(r.body) as { error: string }).error, /^(ENOTCONN|EHOSTDOWN)$/);
      }
      await assertIdle(direct);
    } finally {
      for (let i = 0; i < c.ds.length; i++) await c.restart('ds', i);
    }
    await assertServedAgain(direct, 'after-fs-kill');
  });

  it('reset connections to live DSs: every S3 PUT in flight gets 503 at once; the next PUT succeeds', async () => {
    const uploads = await inFlight(relayed, Array.from({ length: UPLOADS }, (_, i) => `/${BUCKET}/reset-${i}`));
    for (const r of relays) r.reset();
    await assertRetryable(relayed, uploads);
    await assertIdle(relayed);
    await assertServedAgain(relayed, 'after-reset');
  });
});
