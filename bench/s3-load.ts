/**
 * The S3 load generator behind `dht2 bench` and `npm run bench -- s3`: PUT, GET, HEAD, LIST
 * (ListObjectsV2 with and without a delimiter) and DELETE of `count` objects of `size` bytes at
 * a fixed concurrency against any S3 endpoint (path-style), signed with SigV4 (aws4), sent with
 * an undici Pool of `concurrency` keep-alive HTTP/1.1 connections.
 *
 * - Bodies are streamed from one shared random buffer of at most 1 MiB: a 64 MiB PUT is 64
 *   writes of the same buffer, so memory stays flat whatever the size or concurrency; GETs are
 *   drained and counted, never kept. Payloads are sent as `UNSIGNED-PAYLOAD` (what SDKs do over
 *   TLS, and what keeps the client from hashing every byte on a 2-core machine).
 * - Keys: `<prefix>d<i % dirs>/o<i>` (`<prefix>o<i>` with dirs = 0); the prefix is random per
 *   run unless given, so a bench never touches other keys of an existing bucket.
 * - Latency: from sending the request to the last byte of the reply (ms); ops and latency count
 *   successful requests only, errors are counted apart with a few samples kept.
 * - LIST: `walks` full ListObjectsV2 walks of the prefix (pages of `listMaxKeys`) run by up to
 *   `concurrency` walkers; one op = one page request. LIST with delimiter: per walk, one
 *   `delimiter=/` listing of the prefix (the directories as CommonPrefixes) plus a delimited walk
 *   of each directory, spread over the walkers.
 * - The bucket is created when absent and removed afterwards when this run created it (unless
 *   `keep`); the run's objects are deleted afterwards unless `keep` (also when the DELETE phase
 *   was not run or some deletes failed).
 */
import { randomBytes } from 'node:crypto';
import { performance } from 'node:perf_hooks';
import aws4 from 'aws4';
import { Readable } from 'node:stream';
import { Pool, type Dispatcher } from './undici.js';
import { PhaseRun, Progress, workers, type PhaseResult } from './load-phase.js';
import { byteChunks, drain } from './util.js';

export type { LatencyMs, PhaseResult } from './load-phase.js';

export const S3_PHASES = ['put', 'get', 'head', 'list', 'list-delimiter', 'delete'] as const;
export type S3Phase = (typeof S3_PHASES)[number];

export interface S3BenchHooks {
  /** Awaited before a phase's clock starts (the s3 scenario settles the disk and starts sampling here). */
  beforePhase?(phase: S3Phase): Promise<void> | void;
  /** Called right after a phase's clock stops. */
  afterPhase?(phase: S3Phase, result: S3PhaseResult): Promise<void> | void;
}

export interface S3BenchOptions {
  /** e.g. http://127.0.0.1:9000 (path-style requests are sent to it). */
  endpoint: string;
  accessKey: string;
  secretKey: string;
  region: string;
  bucket: string;
  /** Object size in bytes. */
  size: number;
  /** Objects written by PUT (and read, listed, deleted by the later phases). */
  count: number;
  /** Requests kept in flight (and connections in the pool). */
  concurrency: number;
  /** Optional cap on each phase: no new request starts after it (those in flight finish). */
  durationMs?: number;
  phases: readonly S3Phase[];
  /** Keep the bucket and the objects afterwards. */
  keep?: boolean;
  /** Key prefix; default `dht2-bench-<random>/`. Without a PUT phase, the keys are assumed to exist under it. */
  prefix?: string;
  /** Spread the keys over this many "directories" (`d0/` …); 0 for flat keys. Default 10. */
  dirs?: number;
  /** max-keys of LIST pages; default 1000. */
  listMaxKeys?: number;
  /** Full walks per LIST phase; default max(5, concurrency). */
  listWalks?: number;
  /** Progress bar on stderr while a phase runs (only drawn on a TTY). */
  progress?: boolean;
  /** Status lines (bucket created, cleanup); default none. */
  log?: (msg: string) => void;
  hooks?: S3BenchHooks;
  /** Stops handing out work (the current phase ends early, later phases are skipped, cleanup runs). */
  signal?: AbortSignal;
}

export interface S3BenchResult {
  endpoint: string;
  bucket: string;
  prefix: string;
  size: number;
  count: number;
  concurrency: number;
  durationMs?: number;
  startedAt: string;
  phases: S3PhaseResult[];
}

/** One phase of an S3 run. */
export type S3PhaseResult = PhaseResult<S3Phase>;

const CHUNK = 1024 * 1024;
const EMPTY_SHA256 = 'e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855';

/** RFC 3986 percent-encoding, as SigV4 canonicalizes (and so as aws4 does). */
export function encodeRfc3986(s: string): string {
  return encodeURIComponent(s).replace(/[!'()*]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`);
}

function decodeXml(s: string): string {
  return s.replace(/&(lt|gt|quot|apos|amp|#(\d+)|#x([0-9a-fA-F]+));/g, (_m, name: string, dec?: string, hex?: string) => {
    if (dec) return String.fromCodePoint(Number(dec));
    if (hex) return String.fromCodePoint(parseInt(hex, 16));
    return ({ lt: '<', gt: '>', quot: '"', apos: "'", amp: '&' } as Record<string, string>)[name]!;
  });
}

class HttpError extends Error {}

/**
 * What an {@link S3Client} needs: where, who, which bucket, how many connections; optionally a
 * deadline for each request, headers to last byte (the fault load test counts a request past it
 * as hung; the aborted request rejects with a `TimeoutError`).
 */
export type S3ClientOptions = Pick<S3BenchOptions, 'endpoint' | 'accessKey' | 'secretKey' | 'region' | 'bucket' | 'concurrency'>
  & { requestTimeoutMs?: number };

/** A signed S3 client over one undici Pool (path-style). */
export class S3Client {
  readonly pool: Pool;
  private readonly host: string;
  private readonly creds: { accessKeyId: string; secretAccessKey: string };

  readonly bucket: string;

  constructor(private readonly o: S3ClientOptions) {
    this.bucket = o.bucket;
    const u = new URL(o.endpoint);
    if (u.protocol !== 'http:' && u.protocol !== 'https:') throw new Error(`endpoint must be http(s)://host[:port], not ${o.endpoint}`);
    this.host = u.host;
    this.creds = { accessKeyId: o.accessKey, secretAccessKey: o.secretKey };
    this.pool = new Pool(u.origin, {
      connections: Math.max(1, o.concurrency) + 2,
      pipelining: 1,
      keepAliveTimeout: 60_000,
      headersTimeout: 300_000,
      bodyTimeout: 300_000,
    });
  }

  objectPath(key: string): string {
    return `/${encodeRfc3986(this.o.bucket)}/${key.split('/').map(encodeRfc3986).join('/')}`;
  }

  bucketPath(query?: Record<string, string>): string {
    const base = `/${encodeRfc3986(this.o.bucket)}`;
    if (!query) return base;
    const qs = Object.entries(query).map(([k, v]) => `${encodeRfc3986(k)}=${encodeRfc3986(v)}`).join('&');
    return qs ? `${base}?${qs}` : base;
  }

  /** Sends a signed request; the caller consumes or dumps the body. */
  async send(method: string, path: string, extra: Record<string, string> = {},
    body?: Buffer | Readable | string): Promise<Dispatcher.ResponseData> {
    const headers: Record<string, string> = { 'x-amz-content-sha256': body === undefined ? EMPTY_SHA256 : 'UNSIGNED-PAYLOAD', ...extra };
    const req = { host: this.host, path, method, service: 's3', region: this.o.region, headers };
    aws4.sign(req, this.creds);
    const signal = this.o.requestTimeoutMs === undefined ? undefined : AbortSignal.timeout(this.o.requestTimeoutMs);
    return this.pool.request({ path, method, headers: req.headers as Record<string, string>, body: body ?? null, reset: false, signal });
  }

  /** Reads an error reply into an Error with the S3 code when there is one. */
  static async failure(what: string, res: { statusCode: number; body: { text(): Promise<string> } }): Promise<HttpError> {
    const text = await res.body.text().catch(() => '');
    const code = /<Code>([^<]*)<\/Code>/.exec(text)?.[1];
    const msg = /<Message>([^<]*)<\/Message>/.exec(text)?.[1];
    return new HttpError(`${what}: HTTP ${res.statusCode}${code ? ` ${code}` : ''}${msg ? `: ${decodeXml(msg)}` : ''}`);
  }

  async close(): Promise<void> {
    await this.pool.close();
  }
}

/** One ListObjectsV2 page: keys, common prefixes and the next token. */
export interface ListPage {
  keys: string[];
  prefixes: number;
  next?: string;
}

/** One ListObjectsV2 request (`startAfter`: the start-after parameter, to ask for a page anywhere without walking to it). */
export async function listPage(c: S3Client, prefix: string, maxKeys: number, token?: string, delimiter?: string, startAfter?: string): Promise<ListPage> {
  const q: Record<string, string> = { 'list-type': '2', 'max-keys': String(maxKeys), prefix };
  if (delimiter) q.delimiter = delimiter;
  if (token !== undefined) q['continuation-token'] = token;
  if (startAfter !== undefined) q['start-after'] = startAfter;
  const res = await c.send('GET', c.bucketPath(q));
  if (res.statusCode !== 200) throw await S3Client.failure(`LIST s3://${c.bucket}/${prefix}`, res);
  const xml = await res.body.text();
  const keys: string[] = [];
  const keyRe = /<Contents>[\s\S]*?<Key>([^<]*)<\/Key>/g;
  for (let m = keyRe.exec(xml); m; m = keyRe.exec(xml)) keys.push(decodeXml(m[1]!));
  const prefixes = xml.split('<CommonPrefixes>').length - 1;
  const truncated = /<IsTruncated>\s*true\s*<\/IsTruncated>/.test(xml);
  const next = /<NextContinuationToken>([^<]*)<\/NextContinuationToken>/.exec(xml)?.[1];
  if (truncated && next === undefined) throw new Error(`LIST ${prefix}: truncated page without NextContinuationToken`);
  return { keys, prefixes, ...(truncated ? { next: decodeXml(next!) } : {}) };
}

function keyOf(prefix: string, dirs: number, i: number): string {
  const name = `o${String(i).padStart(7, '0')}`;
  return dirs > 0 ? `${prefix}d${i % dirs}/${name}` : `${prefix}${name}`;
}

/** Creates the bucket when absent; returns whether this call created it. */
async function ensureBucket(c: S3Client, o: S3BenchOptions): Promise<boolean> {
  const head = await c.send('HEAD', c.bucketPath());
  await head.body.dump();
  if (head.statusCode === 200) return false;
  if (head.statusCode !== 404) {
    // A HEAD reply has no body: ask again with a GET to show the S3 error code (SignatureDoesNotMatch…).
    await listPage(c, '', 1);
    throw new Error(`HEAD bucket ${o.bucket}: HTTP ${head.statusCode}`);
  }
  const body = o.region === 'us-east-1' ? undefined
    : `<CreateBucketConfiguration xmlns="http://s3.amazonaws.com/doc/2006-03-01/"><LocationConstraint>${o.region}</LocationConstraint></CreateBucketConfiguration>`;
  const res = await c.send('PUT', c.bucketPath(), body ? { 'content-length': String(Buffer.byteLength(body)) } : {}, body);
  if (res.statusCode === 200) { await res.body.dump(); return true; }
  const err = await S3Client.failure(`create bucket ${o.bucket}`, res);
  if (/BucketAlreadyOwnedByYou/.test(err.message)) return false;
  throw err;
}

/** Deletes every key under the prefix (what a failed or skipped DELETE phase left). */
async function deletePrefix(c: S3Client, prefix: string, concurrency: number): Promise<number> {
  let removed = 0;
  let token: string | undefined;
  do {
    const page = await listPage(c, prefix, 1000, token);
    token = page.next;
    let i = 0;
    await Promise.all(Array.from({ length: Math.max(1, Math.min(concurrency, 32)) }, async () => {
      while (i < page.keys.length) {
        const key = page.keys[i++]!;
        const res = await c.send('DELETE', c.objectPath(key));
        await res.body.dump();
        if (res.statusCode === 204 || res.statusCode === 200) removed++;
      }
    }));
  } while (token !== undefined);
  return removed;
}

/** Runs the phases; see the file comment. */
export async function runS3Bench(o: S3BenchOptions): Promise<S3BenchResult> {
  if (!Number.isInteger(o.count) || o.count < 1) throw new Error('count must be a positive integer');
  if (!Number.isInteger(o.concurrency) || o.concurrency < 1) throw new Error('concurrency must be a positive integer');
  if (!Number.isInteger(o.size) || o.size < 0) throw new Error('size must be a whole number of bytes');
  const prefix = o.prefix ?? `dht2-bench-${randomBytes(4).toString('hex')}/`;
  const dirs = Math.min(o.dirs ?? 10, o.count);
  const maxKeys = o.listMaxKeys ?? 1000;
  const walks = o.listWalks ?? Math.max(5, o.concurrency);
  const log = o.log ?? ((): void => undefined);
  const chunk = randomBytes(Math.max(1, Math.min(o.size, CHUNK)));
  const c = new S3Client(o);
  const startedAt = new Date().toISOString();
  const results: S3PhaseResult[] = [];
  /** Which keys exist (a PUT phase sets them; without one, all `count` are assumed). */
  const stored = new Uint8Array(o.count).fill(o.phases.includes('put') ? 0 : 1);
  const storedKeys = (): number[] => { const a: number[] = []; stored.forEach((v, i) => { if (v) a.push(i); }); return a; };
  let created: boolean;
  try {
    created = await ensureBucket(c, o);
  } catch (e) {
    await c.close();
    throw e;
  }
  try {
    log(`bucket ${o.bucket} ${created ? 'created' : 'exists'}; keys under ${prefix}`);
    for (const phase of S3_PHASES) {
      if (!o.phases.includes(phase) || o.signal?.aborted) continue;
      const keys = phase === 'put' ? [] : storedKeys();
      const listTotal = phase === 'list' ? walks * Math.max(1, Math.ceil(keys.length / maxKeys))
        : phase === 'list-delimiter' ? walks * (1 + Math.max(dirs, 1) * Math.max(1, Math.ceil(keys.length / Math.max(dirs, 1) / maxKeys)))
          : 0;
      const total = phase === 'put' ? o.count : phase.startsWith('list') ? listTotal : keys.length;
      await o.hooks?.beforePhase?.(phase);
      const progress = new Progress(o.progress ?? false, phase, total);
      const run = new PhaseRun(phase, o.durationMs, o.signal, progress);
      let extra: Partial<S3PhaseResult> = {};
      try {
        extra = await runPhase(phase, c, o, run, { prefix, dirs, maxKeys, walks, chunk, keys, stored, progress });
      } finally {
        progress.stop();
      }
      const r = run.result(extra);
      results.push(r);
      await o.hooks?.afterPhase?.(phase, r);
    }
  } finally {
    try {
      if (!o.keep) {
        const left = await deletePrefix(c, prefix, o.concurrency);
        if (left > 0) log(`removed ${left} objects left under ${prefix}`);
        if (created) {
          const res = await c.send('DELETE', c.bucketPath());
          if (res.statusCode === 204 || res.statusCode === 200) { await res.body.dump(); log(`bucket ${o.bucket} removed`); } else log((await S3Client.failure(`remove bucket ${o.bucket}`, res)).message);
        }
      }
    } catch (e) {
      log(`cleanup failed: ${e instanceof Error ? e.message : String(e)}`);
    } finally {
      await c.close();
    }
  }
  return {
    endpoint: o.endpoint, bucket: o.bucket, prefix, size: o.size, count: o.count, concurrency: o.concurrency,
    ...(o.durationMs !== undefined ? { durationMs: o.durationMs } : {}), startedAt, phases: results,
  };
}

interface PhaseCtx {
  prefix: string;
  dirs: number;
  maxKeys: number;
  walks: number;
  chunk: Buffer;
  keys: number[];
  stored: Uint8Array;
  progress: Progress;
}

async function runPhase(phase: S3Phase, c: S3Client, o: S3BenchOptions, run: PhaseRun<S3Phase>, x: PhaseCtx): Promise<Partial<S3PhaseResult>> {
  const size = o.size;
  const key = (i: number): string => keyOf(x.prefix, x.dirs, i);
  let k = 0;
  const nextKey = (): number | undefined => (k < x.keys.length ? x.keys[k++] : undefined);
  switch (phase) {
    case 'put': {
      let i = 0;
      await workers(o.concurrency, run, () => (i < o.count ? i++ : undefined), async (n) => {
        const ok = await run.op(async () => {
          const body = size <= x.chunk.length ? x.chunk.subarray(0, size)
            : Readable.from(byteChunks(size, x.chunk), { objectMode: false, highWaterMark: x.chunk.length });
          const res = await c.send('PUT', c.objectPath(key(n)), { 'content-length': String(size), 'content-type': 'application/octet-stream' }, body);
          if (res.statusCode !== 200) throw await S3Client.failure(`PUT ${key(n)}`, res);
          await res.body.dump();
          return size;
        });
        if (ok) x.stored[n] = 1;
      });
      return {};
    }
    case 'get':
      await workers(o.concurrency, run, nextKey, async (n) => {
        await run.op(async () => {
          const res = await c.send('GET', c.objectPath(key(n)));
          if (res.statusCode !== 200) throw await S3Client.failure(`GET ${key(n)}`, res);
          const got = await drain(res.body);
          if (got !== size) throw new Error(`GET ${key(n)}: ${got} bytes, expected ${size}`);
          return got;
        });
      });
      return {};
    case 'head':
      await workers(o.concurrency, run, nextKey, async (n) => {
        await run.op(async () => {
          const res = await c.send('HEAD', c.objectPath(key(n)));
          await res.body.dump();
          if (res.statusCode !== 200) throw new Error(`HEAD ${key(n)}: HTTP ${res.statusCode}`);
          const len = Number(res.headers['content-length']);
          if (len !== size) throw new Error(`HEAD ${key(n)}: Content-Length ${String(res.headers['content-length'])}, expected ${size}`);
          return 0;
        });
      });
      return {};
    case 'delete':
      await workers(o.concurrency, run, nextKey, async (n) => {
        const ok = await run.op(async () => {
          const res = await c.send('DELETE', c.objectPath(key(n)));
          if (res.statusCode !== 204 && res.statusCode !== 200) throw await S3Client.failure(`DELETE ${key(n)}`, res);
          await res.body.dump();
          return 0;
        });
        if (ok) x.stored[n] = 0;
      });
      return {};
    case 'list':
    case 'list-delimiter': {
      // Work items: one walk of a prefix (with or without delimiter), `walks` times over.
      const dirPrefixes = x.dirs > 0 ? Array.from({ length: x.dirs }, (_, d) => `${x.prefix}d${d}/`) : [x.prefix];
      const items: Array<{ prefix: string; delimiter?: string }> = [];
      for (let w = 0; w < x.walks; w++) {
        if (phase === 'list') items.push({ prefix: x.prefix });
        else {
          items.push({ prefix: x.prefix, delimiter: '/' });
          for (const p of dirPrefixes) items.push({ prefix: p, delimiter: '/' });
        }
      }
      let keys = 0;
      let prefixes = 0;
      let pages = 0;
      let it = 0;
      await workers(o.concurrency, run, () => (it < items.length ? items[it++] : undefined), async (item) => {
        let token: string | undefined;
        let walkKeys = 0;
        do {
          if (!run.mayStart()) return;
          let page: ListPage | undefined;
          const ok = await run.op(async () => {
            page = await listPage(c, item.prefix, x.maxKeys, token, item.delimiter);
            return 0;
          });
          pages++;
          if (!ok || !page) return;
          keys += page.keys.length;
          walkKeys += page.keys.length;
          prefixes += page.prefixes;
          token = page.next;
        } while (token !== undefined);
        if (phase === 'list' && walkKeys !== x.keys.length) {
          run.fail(`LIST ${item.prefix}: walk saw ${walkKeys} keys, expected ${x.keys.length}`);
        }
      });
      const seconds = (performance.now() - run.t0) / 1000;
      x.progress.setTotal(pages);
      return { listed: { keys, prefixes, keysPerSec: seconds > 0 ? keys / seconds : 0 } };
    }
  }
}

// ------------------------------------------------------------------ output

const fmt = (v: number, digits: number): string => (Number.isFinite(v) ? v.toFixed(digits) : String(v));
const fmtRate = (v: number): string => (v >= 100 ? v.toFixed(0) : v.toFixed(1));
const fmtMs = (v: number): string => (v < 10 ? v.toFixed(2) : v < 100 ? v.toFixed(1) : v.toFixed(0));

/** Bytes as the largest binary unit that divides them evenly (4 KiB, 64 MiB), else bytes. */
export function formatSize(n: number): string {
  for (const [u, b] of [['GiB', 2 ** 30], ['MiB', 2 ** 20], ['KiB', 2 ** 10]] as const) if (n >= b && n % b === 0) return `${n / b} ${u}`;
  return `${n} B`;
}

/** The results as a plain-text table (phase, ops/s, MB/s, p50/p90/p99 ms, errors). */
export function formatS3Results(r: S3BenchResult): string {
  const header = ['phase', 'ops', 'ops/s', 'MB/s', 'p50 ms', 'p90 ms', 'p99 ms', 'errors', 'note'];
  const rows = r.phases.map((p) => [
    p.phase, String(p.ops), fmtRate(p.opsPerSec), p.bytes > 0 ? fmtRate(p.mbPerSec) : '-',
    fmtMs(p.latencyMs.p50), fmtMs(p.latencyMs.p90), fmtMs(p.latencyMs.p99), String(p.errors),
    [p.listed ? `${fmt(p.listed.keysPerSec, 0)} keys/s` : '', p.capped ? 'capped by --duration' : '', p.interrupted ? 'interrupted' : ''].filter(Boolean).join('; '),
  ]);
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((row) => row[i]!.length)));
  const right = [false, true, true, true, true, true, true, true, false];
  const line = (cells: string[]): string => cells.map((c, i) => (right[i] ? c.padStart(widths[i]!) : c.padEnd(widths[i]!))).join('  ').trimEnd();
  const out = [
    `${r.endpoint}  bucket ${r.bucket}  ${formatSize(r.size)} x ${r.count}  concurrency ${r.concurrency}` +
      (r.durationMs !== undefined ? `  cap ${r.durationMs / 1000} s/phase` : ''),
    '',
    line(header),
    widths.map((w) => '-'.repeat(w)).join('  '),
    ...rows.map(line),
  ];
  const errs = r.phases.filter((p) => p.errorSamples.length > 0);
  if (errs.length) {
    out.push('', 'errors (first few per phase):');
    for (const p of errs) for (const m of p.errorSamples) out.push(`  ${p.phase}: ${m}`);
  }
  return out.join('\n');
}
