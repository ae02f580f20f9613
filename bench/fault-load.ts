/**
 * The fault load test of issue 13 ("Nothing acknowledged is ever lost"), as a library: the
 * mocha test (test/server/fault-load.test.ts) and the hunting CLI (bench/fault-load-cli.ts)
 * both run {@link runFaultLoad}. docs/CRASH-SAFETY.md describes both.
 *
 * 1. `dht2 local` starts as a real child process on a fresh data folder (bench/local-process.ts).
 * 2. `concurrency` workers send mixed S3 load for `durationMs`: PUT of 1 KiB-2 MiB (mostly
 *    small), overwrites (a few hot keys per worker), DELETE, a few multipart uploads (a 5 MiB
 *    part and a small one), GETs that are checked on the spot; keys three folders deep
 *    (`a1/b0/c1/w3-k7`), folders shared between workers. Each worker owns its keys, so the writes
 *    to a key go one after another and the ledger (bench/fault-ledger.ts) knows their order. Every
 *    request has a deadline: past it, it counts as hung.
 * 3. Meanwhile `faults` faults, one after another, spread over the run: kill -9 of a DS, of an
 *    MDS, SIGSTOP of a brick for 2-4 s, kill -9 of `dht2 local` and a start again on the same
 *    data folder. After each the driver waits for /-/ready; from the fault until then is a
 *    fault window, and a 5xx reply to a request that overlaps no fault window is a defect.
 * 4. Then every key is read back and checked against the ledger, the listing is compared with
 *    the keys read back, `dht2 fsck --grace 0` must find no dangling name, `--repair` and a
 *    second fsck must leave it clean, and a second read-back checks that the repair kept every
 *    acknowledged write.
 *
 * Which operation, key and size each worker draws comes from the seed; the bytes are random and
 * the timing is the machine's, so a seed replays the same load, not the same interleaving.
 */
import { createHash, randomBytes } from 'node:crypto';
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import type { FsckReport } from '../dht2-core/index.js';
import { ABSENT, checkKey, type Incarnation, type KeyProblem, type KeyState, type LedgerWrite, type Outcome, type WriteKind } from './fault-ledger.js';
import { formatFault } from './fault-report.js';
import { LOCAL_ACCESS_KEY, LOCAL_SECRET_KEY, LocalProcess, type UnplannedDeath } from './local-process.js';
import { rng } from './rng.js';
import { S3Client, encodeRfc3986, listPage } from './s3-load.js';
import { pool } from './util.js';

export const FAULT_KINDS = ['kill-ds', 'kill-mds', 'stop-brick', 'kill-local'] as const;
export type FaultKind = (typeof FAULT_KINDS)[number];

export interface FaultLoadOptions {
  seed: number;
  /** How long the load runs (ms); the faults are spread over it. */
  durationMs: number;
  /** Workers, each with one request in flight. */
  concurrency: number;
  /** Faults over the run, taking turns through {@link FAULT_KINDS} in a seeded order. */
  faults: number;
  /** Folder for the volume's data, the log of `dht2 local` and the ledger (made when absent). */
  workDir: string;
  /** A request with no complete reply after this long is hung (default 15 s: a brick stopped for 4 s justifies far less). */
  requestTimeoutMs?: number;
  /** How long the volume may take to be ready again after a fault (default 30 s). */
  readyTimeoutMs?: number;
  /** Keys owned by each worker (default 16); the first 3 take 40% of its operations. */
  keysPerWorker?: number;
  /** Share of operations that are multipart uploads of 5 MiB + up to 1 MiB (default 0.01). */
  multipartShare?: number;
  /** Progress lines (faults, phases). */
  log?: (line: string) => void;
}

export type RequestKind = WriteKind | 'get' | 'create-upload' | 'upload-part' | 'abort-upload' | 'read-back';

/** One request of the run: what, when (ms since the run started), and how it ended. */
export interface RequestRecord {
  seq: number;
  /** -1: the verification after the load. */
  worker: number;
  kind: RequestKind;
  key: string;
  start: number;
  end: number;
  outcome: Outcome;
  status?: number;
  error?: string;
}

export interface FaultRecord {
  kind: FaultKind;
  /** Brick id, or `dht2 local`. */
  target: string;
  pid?: number;
  /** When it was done, and when /-/ready said ready again (ms since the run started). */
  at: number;
  readyAt?: number;
  note?: string;
  error?: string;
}

/** A read during the load whose bytes no write to its key explains. */
export type BadRead = KeyProblem & { seq: number; at: number };

export interface FaultLoadReport {
  options: Omit<FaultLoadOptions, 'log'>;
  /** Wall time of the whole run, start to stop (s). */
  seconds: number;
  requests: Record<Outcome, number> & { total: number };
  /** Writes acknowledged, and their bytes. */
  ackedWrites: number;
  ackedBytes: number;
  faults: FaultRecord[];
  /** Bricks that died with no fault killing them (a crash, or a kill from outside the run: see the exit). */
  unplannedDeaths: UnplannedDeath[];
  /** Set when the volume did not come back, so nothing could be verified. */
  down?: string;
  /** Keys read back. */
  keys: number;
  present: number;
  /** Keys with an acknowledged write whose state read back is not one the ledger allows: lost acknowledged writes. */
  lost: KeyProblem[];
  /** Keys with no acknowledged write holding something no write sent. */
  unexpected: KeyProblem[];
  /** Keys whose read-back failed. */
  unreadable: KeyProblem[];
  badReads: BadRead[];
  hung: RequestRecord[];
  /** 5xx replies to requests that overlapped no fault window. */
  serverErrorsWhileReady: RequestRecord[];
  /** Connections refused or cut while no fault was on (reported, not a criterion of issue 13). */
  connectionErrorsWhileReady: RequestRecord[];
  listing?: { listed: number; notListed: string[]; listedAbsent: string[]; error?: string };
  fsck?: { before?: FsckReport; repair?: FsckReport; after?: FsckReport; error?: string };
  /** The read-back after `fsck --repair`: what the repair took. */
  lostAfterRepair: KeyProblem[];
  /** Bricks still running after `dht2 local` stopped (SIGTERM); killed by the driver. */
  leftoverBricks: number[];
  logFile: string;
  ledgerFile: string;
}

const MiB = 1024 * 1024;
const BUCKET = 'fault-load';
const HOT_KEYS = 3;
const GET_SHARE = 0.2;
const DELETE_SHARE = 0.12;

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const sha256 = (...parts: Buffer[]) => parts.reduce((h, p) => h.update(p), createHash('sha256')).digest('hex');
const pick = (r: () => number, n: number) => Math.floor(r() * n);
const message = (e: unknown) => (e instanceof Error ? e.message : String(e));

/** 1 KiB to 2 MiB, skewed to small (median about 4 KiB, 90% under 400 KiB): many requests, a few large bodies. */
function drawSize(r: () => number): number {
  return Math.min(2 * MiB, Math.round(1024 * 2048 ** (r() ** 2.5)));
}

/** A seeded Fisher-Yates shuffle: each kind once per round, in an order the seed fixes. */
function shuffled<T>(items: readonly T[], r: () => number): T[] {
  const out = [...items];
  for (let i = out.length - 1; i > 0; i--) {
    const j = pick(r, i + 1);
    [out[i], out[j]] = [out[j]!, out[i]!];
  }
  return out;
}

/** How the request failed, from the client's side (see fault-ledger.ts for what each means). */
function failureOutcome(e: unknown): Outcome {
  const err = e as { name?: string; code?: string; cause?: { code?: string } };
  if (err.name === 'TimeoutError') return 'hung';
  if (err.code === 'ECONNREFUSED' || err.cause?.code === 'ECONNREFUSED') return 'refused';
  return 'cut';
}

interface Reply {
  rec: RequestRecord;
  /** sha256 and length of the reply body. */
  sha256?: string;
  size: number;
  /** The body as text, except for GET 200 (hashed only). */
  text?: string;
  etag?: string;
}

class FaultRun {
  private seq = 0;
  private readonly records: RequestRecord[] = [];
  /** Every key of every worker, with its writes in the order sent. */
  private readonly ledger = new Map<string, LedgerWrite[]>();
  private readonly faults: FaultRecord[] = [];
  private readonly windows: Array<{ start: number; end?: number }> = [];
  private readonly badReads: BadRead[] = [];
  private down?: string;
  /** When the load started and ends on the run's clock (the clock starts with `dht2 local`). */
  private loadStart = 0;
  private loadEnd = 0;
  private readonly readyTimeoutMs: number;
  private readonly log: (line: string) => void;

  /** `now()`: the run's clock (ms since `dht2 local` first started), shared with the incarnations of `local`. */
  constructor(private readonly o: FaultLoadOptions, private readonly local: LocalProcess, private readonly client: S3Client,
    readonly now: () => number) {
    this.readyTimeoutMs = o.readyTimeoutMs ?? 30_000;
    this.log = o.log ?? (() => undefined);
  }

  private get incarnations(): Incarnation[] {
    return this.local.incarnations;
  }

  // ------------------------------------------------------------------ requests

  private async call(kind: RequestKind, worker: number, key: string, method: string, query: string, body?: Buffer | string): Promise<Reply> {
    const rec: RequestRecord = { seq: ++this.seq, worker, kind, key, start: this.now(), end: 0, outcome: 'cut' };
    this.records.push(rec);
    try {
      const res = await this.client.send(method, this.client.objectPath(key) + query, {}, body);
      rec.status = res.statusCode;
      const hash = createHash('sha256');
      const chunks: Buffer[] | undefined = method === 'GET' && res.statusCode === 200 ? undefined : [];
      let size = 0;
      for await (const c of res.body as AsyncIterable<Buffer>) {
        hash.update(c);
        size += c.length;
        chunks?.push(c);
      }
      const text = chunks && Buffer.concat(chunks).toString('utf8');
      rec.end = this.now();
      // CompleteMultipartUpload may fail after its 200 status line: the error is in the body.
      // A GET answered NoSuchKey is answered as well as one answered with the bytes.
      const ok = (res.statusCode >= 200 && res.statusCode < 300 && !(kind === 'multipart' && text?.includes('<Error>')))
        || (method === 'GET' && res.statusCode === 404 && text?.includes('NoSuchKey') === true);
      rec.outcome = ok ? 'acked' : 'rejected';
      if (!ok) rec.error = /<Code>([^<]*)<\/Code>/.exec(text ?? '')?.[1] ?? `HTTP ${res.statusCode}`;
      const etag = res.headers.etag;
      return { rec, sha256: hash.digest('hex'), size, ...(text !== undefined ? { text } : {}), ...(typeof etag === 'string' ? { etag } : {}) };
    } catch (e) {
      rec.end = this.now();
      rec.outcome = failureOutcome(e);
      rec.error = message(e);
      return { rec, size: 0 };
    }
  }

  private write(key: string, rec: RequestRecord, kind: WriteKind, bytes?: { sha256: string; size: number }): void {
    this.ledger.get(key)!.push({
      seq: rec.seq, worker: rec.worker, kind, start: rec.start, end: rec.end, outcome: rec.outcome,
      ...(rec.status !== undefined ? { status: rec.status } : {}), ...(rec.error !== undefined ? { error: rec.error } : {}), ...bytes,
    });
  }

  /** What a GET reply says the key holds; undefined when it does not say. */
  private static stateRead(rep: Reply): KeyState | undefined {
    if (rep.rec.status === 200) return rep.sha256;
    if (rep.rec.status === 404 && rep.text?.includes('NoSuchKey')) return ABSENT;
    return undefined;
  }

  private async put(w: number, key: string, r: () => number): Promise<RequestRecord> {
    const body = randomBytes(drawSize(r));
    const rep = await this.call('put', w, key, 'PUT', '', body);
    this.write(key, rep.rec, 'put', { sha256: sha256(body), size: body.length });
    return rep.rec;
  }

  private async del(w: number, key: string): Promise<RequestRecord> {
    const rep = await this.call('delete', w, key, 'DELETE', '');
    this.write(key, rep.rec, 'delete');
    return rep.rec;
  }

  /** GET, checked against the writes sent so far (all done client-side: this worker sent them). */
  private async get(w: number, key: string): Promise<RequestRecord> {
    const rep = await this.call('get', w, key, 'GET', '');
    const state = FaultRun.stateRead(rep);
    const p = state === undefined ? undefined : checkKey(key, state, this.ledger.get(key)!, this.incarnations);
    if (p) this.badReads.push({ ...p, seq: rep.rec.seq, at: rep.rec.start });
    return rep.rec;
  }

  /** Create, a 5 MiB part, a small last part, complete; only the complete is a write to the key. */
  private async multipart(w: number, key: string, r: () => number): Promise<RequestRecord> {
    const parts = [randomBytes(5 * MiB), randomBytes(1024 + pick(r, MiB))];
    const created = await this.call('create-upload', w, key, 'POST', '?uploads');
    const id = /<UploadId>([^<]+)<\/UploadId>/.exec(created.text ?? '')?.[1];
    if (created.rec.outcome !== 'acked' || id === undefined) return created.rec;
    const etags: string[] = [];
    for (const [i, part] of parts.entries()) {
      const rep = await this.call('upload-part', w, key, 'PUT', `?partNumber=${i + 1}&uploadId=${encodeRfc3986(id)}`, part);
      if (rep.rec.outcome !== 'acked' || rep.etag === undefined) {
        // Best effort: the gateway also expires abandoned uploads.
        await this.call('abort-upload', w, key, 'DELETE', `?uploadId=${encodeRfc3986(id)}`);
        return rep.rec;
      }
      etags.push(rep.etag);
    }
    const xml = `<CompleteMultipartUpload>${etags.map((e, i) => `<Part><PartNumber>${i + 1}</PartNumber><ETag>${e}</ETag></Part>`).join('')}</CompleteMultipartUpload>`;
    const rep = await this.call('multipart', w, key, 'POST', `?uploadId=${encodeRfc3986(id)}`, xml);
    this.write(key, rep.rec, 'multipart', { sha256: sha256(...parts), size: parts[0]!.length + parts[1]!.length });
    return rep.rec;
  }

  private async worker(w: number): Promise<void> {
    // The seed fixes each worker's sequence of keys, operations and sizes.
    const r = rng(Math.imul(this.o.seed, 1009) + w + 1);
    const n = this.o.keysPerWorker ?? 16;
    const keys = Array.from({ length: n }, (_, i) => `a${pick(r, 2)}/b${pick(r, 2)}/c${pick(r, 2)}/w${w}-k${i}`);
    for (const k of keys) this.ledger.set(k, []);
    const mp = this.o.multipartShare ?? 0.01;
    while (this.now() < this.loadEnd && this.down === undefined) {
      const key = keys[r() < 0.4 ? pick(r, Math.min(HOT_KEYS, n)) : pick(r, n)]!;
      const x = r();
      const last = x < GET_SHARE ? await this.get(w, key)
        : x < GET_SHARE + DELETE_SHARE ? await this.del(w, key)
        : x < GET_SHARE + DELETE_SHARE + mp ? await this.multipart(w, key, r)
        : await this.put(w, key, r);
      // No gateway, or a volume not ready: do not spin while it comes back.
      if (last.outcome === 'refused' || last.outcome === 'cut') await sleep(250);
      else if ((last.status ?? 0) >= 500) await sleep(50);
    }
  }

  // ------------------------------------------------------------------ faults

  private async faultLoop(): Promise<void> {
    const r = rng(Math.imul(this.o.seed, 7919) ^ 0x5bd1e995);
    const order: FaultKind[] = [];
    const slot = (this.o.durationMs * 0.85) / Math.max(1, this.o.faults);
    for (let i = 0; i < this.o.faults && this.down === undefined; i++) {
      if (order.length === 0) order.push(...shuffled(FAULT_KINDS, r));
      const kind = order.shift()!;
      const at = this.loadStart + this.o.durationMs * 0.05 + (i + 0.2 + 0.6 * r()) * slot;
      if (at > this.now()) await sleep(at - this.now());
      await this.inject(kind, r);
    }
  }

  private async inject(kind: FaultKind, r: () => number): Promise<void> {
    const f: FaultRecord = { kind, target: '', at: this.now() };
    this.faults.push(f);
    const window: { start: number; end?: number } = { start: f.at };
    this.windows.push(window);
    try {
      if (kind === 'kill-ds' || kind === 'kill-mds') {
        const bricks = this.local.brickList(kind === 'kill-ds' ? 'ds' : 'mds');
        const b = bricks[pick(r, bricks.length)]!;
        Object.assign(f, { target: b.id, pid: b.pid });
        f.note = `restarted as pid ${(await this.local.killBrick(b.id, 15_000)).new}`;
      } else if (kind === 'stop-brick') {
        const bricks = this.local.brickList();
        const b = bricks[pick(r, bricks.length)]!;
        const ms = 2000 + pick(r, 2001);
        Object.assign(f, { target: b.id, pid: b.pid, note: `stopped for ${(ms / 1000).toFixed(1)} s` });
        await this.local.pauseBrick(b.id, ms);
      } else {
        Object.assign(f, { target: 'dht2 local', pid: this.local.pid });
        await this.local.kill();
        await this.startAgain(f);
      }
      const readyAt = await this.local.waitReady(this.readyTimeoutMs);
      if (readyAt === undefined) f.error = `not ready ${this.readyTimeoutMs / 1000} s later`;
      else f.readyAt = window.end = readyAt;
    } catch (e) {
      f.error = message(e);
      if (kind === 'kill-local') this.down = `dht2 local did not start again after kill -9: ${f.error}`;
    }
    this.log(`fault ${this.faults.length}: ${formatFault(f)}`);
  }

  /** After kill -9 of `dht2 local`: starts it again on the same folder (three tries, a second apart). */
  private async startAgain(f: FaultRecord): Promise<void> {
    // Bricks must not outlive `dht2 local` (issue 13): they exit on their supervisor pipe's EOF.
    const left = this.local.survivingBricks();
    if (left.length > 0) f.note = `${left.length} bricks outlived it (pids ${left.join(', ')})`;
    let last: unknown;
    for (let i = 0; i < 3; i++) {
      try {
        await this.local.startAgain();
        return;
      } catch (e) {
        last = e;
        await sleep(1000);
      }
    }
    throw last;
  }

  // ------------------------------------------------------------------ verification

  /** Reads every key back (but those in `skip`); sorts what does not match the ledger. */
  private async readBack(skip = new Set<string>()): Promise<{ present: Set<string>; lost: KeyProblem[]; unexpected: KeyProblem[]; unreadable: KeyProblem[] }> {
    const keys = [...this.ledger.keys()].filter((k) => !skip.has(k)).sort();
    const out = { present: new Set<string>(), lost: [] as KeyProblem[], unexpected: [] as KeyProblem[], unreadable: [] as KeyProblem[] };
    await pool(keys.length, 8, async (i) => {
      const key = keys[i]!;
      const rep = await this.call('read-back', -1, key, 'GET', '');
      const state = FaultRun.stateRead(rep) ?? { error: rep.rec.error ?? `HTTP ${rep.rec.status}` };
      if (state !== ABSENT && typeof state === 'string') out.present.add(key);
      const p = checkKey(key, state, this.ledger.get(key)!, this.incarnations);
      if (p) (typeof state !== 'string' ? out.unreadable : p.acked ? out.lost : out.unexpected).push(p);
    });
    const byKey = (a: { key: string }, b: { key: string }) => a.key.localeCompare(b.key);
    out.lost.sort(byKey);
    out.unexpected.sort(byKey);
    out.unreadable.sort(byKey);
    return out;
  }

  private async listing(present: Set<string>, unreadable: Set<string>): Promise<NonNullable<FaultLoadReport['listing']>> {
    const listed = new Set<string>();
    try {
      let token: string | undefined;
      do {
        const page = await listPage(this.client, '', 1000, token);
        for (const k of page.keys) listed.add(k);
        token = page.next;
      } while (token !== undefined);
    } catch (e) {
      return { listed: listed.size, notListed: [], listedAbsent: [], error: message(e) };
    }
    return {
      listed: listed.size,
      notListed: [...present].filter((k) => !listed.has(k)).sort(),
      listedAbsent: [...listed].filter((k) => !present.has(k) && !unreadable.has(k)).sort(),
    };
  }

  private async fsck(): Promise<NonNullable<FaultLoadReport['fsck']>> {
    const out: NonNullable<FaultLoadReport['fsck']> = {};
    try {
      out.before = await this.local.fsck(false);
      out.repair = await this.local.fsck(true);
      out.after = await this.local.fsck(false);
    } catch (e) {
      out.error = message(e);
    }
    return out;
  }

  private overlapsFault(rec: RequestRecord): boolean {
    return this.windows.some((w) => rec.start <= (w.end ?? Infinity) && rec.end >= w.start);
  }

  async run(): Promise<FaultLoadReport> {
    const o = this.o;
    const { log: _log, ...options } = o;
    const report: FaultLoadReport = {
      options, seconds: 0,
      requests: { total: 0, acked: 0, rejected: 0, refused: 0, cut: 0, hung: 0 }, ackedWrites: 0, ackedBytes: 0,
      faults: this.faults, unplannedDeaths: this.local.unplannedDeaths, keys: 0, present: 0, lost: [], unexpected: [], unreadable: [], badReads: this.badReads, hung: [],
      serverErrorsWhileReady: [], connectionErrorsWhileReady: [], lostAfterRepair: [], leftoverBricks: [],
      logFile: join(o.workDir, 'dht2-local.log'), ledgerFile: join(o.workDir, 'ledger.json'),
    };
    this.log(`load: c=${o.concurrency} for ${o.durationMs / 1000} s with ${o.faults} faults (seed ${o.seed})`);
    this.loadStart = this.now();
    this.loadEnd = this.loadStart + o.durationMs;
    const faults = this.faultLoop();
    await Promise.all(Array.from({ length: o.concurrency }, (_, w) => this.worker(w)));
    await faults;
    if (this.down === undefined) {
      this.log('load done; waiting for the volume to be ready, then reading every key back');
      const readyAt = await this.local.waitReady(this.readyTimeoutMs);
      if (readyAt === undefined) this.down = `the volume was not ready ${this.readyTimeoutMs / 1000} s after the load`;
      for (const w of this.windows) w.end ??= readyAt;
    }
    if (this.down === undefined) {
      const first = await this.readBack();
      Object.assign(report, { keys: this.ledger.size, present: first.present.size, lost: first.lost, unexpected: first.unexpected, unreadable: first.unreadable });
      this.log('listing, fsck, fsck --repair, fsck, read-back');
      const unreadable = new Set(first.unreadable.map((u) => u.key));
      report.listing = await this.listing(first.present, unreadable);
      report.fsck = await this.fsck();
      // Keys already found wrong or unreadable are reported once (and a hung read is not waited for twice).
      const second = await this.readBack(new Set([...unreadable, ...first.lost.map((p) => p.key), ...first.unexpected.map((p) => p.key)]));
      report.lostAfterRepair = [...second.lost, ...second.unexpected, ...second.unreadable];
    }
    for (const rec of this.records) {
      report.requests.total++;
      report.requests[rec.outcome]++;
      if (rec.outcome === 'hung') report.hung.push(rec);
      if (this.overlapsFault(rec)) continue;
      if ((rec.status ?? 0) >= 500) report.serverErrorsWhileReady.push(rec);
      if (rec.outcome === 'refused' || rec.outcome === 'cut') report.connectionErrorsWhileReady.push(rec);
    }
    for (const writes of this.ledger.values()) {
      for (const w of writes) if (w.outcome === 'acked') { report.ackedWrites++; report.ackedBytes += w.size ?? 0; }
    }
    report.down = this.down;
    await writeFile(report.ledgerFile, JSON.stringify({
      options: report.options, incarnations: this.incarnations, faults: this.faults, windows: this.windows,
      keys: Object.fromEntries(this.ledger), requests: this.records,
    }));
    return report;
  }
}

/** Runs the fault load test (see the file comment) and reports; the volume's data stays in `workDir`. */
export async function runFaultLoad(o: FaultLoadOptions): Promise<FaultLoadReport> {
  const t0 = performance.now();
  const clock = () => performance.now() - t0;
  await mkdir(o.workDir, { recursive: true });
  const local = await LocalProcess.start({ dataDir: join(o.workDir, 'data'), logFile: join(o.workDir, 'dht2-local.log'), clock });
  const client = new S3Client({
    endpoint: local.url, accessKey: LOCAL_ACCESS_KEY, secretKey: LOCAL_SECRET_KEY, region: 'us-east-1', bucket: BUCKET,
    concurrency: o.concurrency, requestTimeoutMs: o.requestTimeoutMs ?? 15_000,
  });
  let report: FaultLoadReport | undefined;
  try {
    const made = await client.send('PUT', client.bucketPath());
    if (made.statusCode !== 200) throw await S3Client.failure(`create bucket ${BUCKET}`, made);
    await made.body.dump();
    report = await new FaultRun(o, local, client, clock).run();
  } finally {
    await client.close();
    const left = await local.stop();
    if (report) report.leftoverBricks = left;
  }
  report.seconds = clock() / 1000;
  return report;
}
