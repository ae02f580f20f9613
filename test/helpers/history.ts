/**
 * Records histories for the linearizability checker (ARCHITECTURE.md §10.11): operations sent
 * through the S3 API (an AWS SDK v3 S3Client) or the REST file API (fetch), each with its call and
 * return times on one monotonic clock (`performance.now()`: the gateways a test drives are
 * endpoints of one process's clients, so one clock orders them all).
 *
 * What counts as an outcome: a 2xx, and the answers the model knows (412, 404 on a read, 404 on a
 * file API delete, append or rename). A 5xx, a timeout or a broken connection may come after the
 * write was applied: the operation is recorded with no return (unknown outcome), which the
 * checker lets take effect at any point after its call, or never. Any other answer (a 400, a
 * 403) is not in the model: it is recorded as unknown too, so the history stays sound, and kept
 * in `unexpected` for the test to assert on.
 *
 * Conditional writes need clients that do not retry (`maxAttempts: 1` on an S3Client, see
 * {@link recordingS3Client}): a retry of an If-None-Match PUT whose first answer was lost would
 * answer 412 to a write that took effect, which no order explains.
 */
import { DeleteObjectCommand, GetObjectCommand, PutObjectCommand, S3Client, S3ServiceException } from '@aws-sdk/client-s3';
import { checkLinearizable, type CheckOptions, type CheckResult } from './linearizability.js';
import { volumeModel, type VolumeInput, type VolumeModelOptions, type VolumeOp, type VolumeOperation, type VolumeOutput } from './volume-model.js';

export interface RecorderOptions {
  /** A request without an answer after this long is abandoned as unknown (default 10 000 ms). */
  timeoutMs?: number;
  /** The clock (default `performance.now`). */
  clock?: () => number;
}

/** A definite answer, or a thrown error the caller classifies. */
type Attempt = (signal: AbortSignal) => Promise<VolumeOutput>;

/** Thrown by an attempt for an answer that says nothing about the outcome. */
class UnknownOutcome extends Error {}
/** Thrown by an attempt for an answer the model does not know. */
class Unexpected extends Error {}

export class HistoryRecorder {
  readonly ops: VolumeOperation[] = [];
  /** Answers outside the model (recorded as unknown outcomes). */
  readonly unexpected: Array<{ op: VolumeOperation; error: string }> = [];
  readonly timeoutMs: number;
  private readonly clock: () => number;

  constructor(o: RecorderOptions = {}) {
    this.timeoutMs = o.timeoutMs ?? 10_000;
    this.clock = o.clock ?? (() => performance.now());
  }

  /**
   * Runs one operation and records it. Answers the output, or undefined when the outcome is
   * unknown. The return time is taken after the whole answer (body included) was read.
   */
  async record(client: string, op: VolumeOp, key: string, input: VolumeInput, attempt: Attempt, keys?: string[]): Promise<VolumeOutput | undefined> {
    const x: VolumeOperation = { client, op, key, input, call: this.clock() };
    if (keys) x.keys = keys;
    this.ops.push(x);
    const ac = new AbortController();
    const timer = setTimeout(() => ac.abort(new UnknownOutcome(`no answer within ${this.timeoutMs} ms`)), this.timeoutMs);
    try {
      const out = await attempt(ac.signal);
      x.return = this.clock();
      x.output = out;
      return out;
    } catch (e) {
      if (e instanceof Unexpected) this.unexpected.push({ op: x, error: e.message });
      // Anything else (UnknownOutcome, 5xx, a reset, an abort) is an unknown outcome.
      return undefined;
    } finally {
      clearTimeout(timer);
    }
  }

  /** A recording view of an S3 client for `bucket`; keys are recorded as `bucket/key`. */
  s3(client: S3Client, name: string, bucket: string): S3Recorder {
    return new S3Recorder(this, client, name, bucket);
  }

  /** A recording view of the file API at `url` (the gateway's, without /fs) with `headers` (auth). */
  files(url: string, name: string, headers: Record<string, string>): FileRecorder {
    return new FileRecorder(this, url, name, headers);
  }

  /** Checks the history recorded so far. */
  check(o: CheckOptions & VolumeModelOptions = {}): CheckResult<VolumeInput, VolumeOutput> {
    return checkLinearizable(this.ops, volumeModel(o), o);
  }
}

/** An S3Client for recording: no retries (see the file comment), path style. */
export function recordingS3Client(url: string, accessKeyId: string, secretAccessKey: string): S3Client {
  return new S3Client({ endpoint: url, region: 'us-east-1', forcePathStyle: true, maxAttempts: 1, credentials: { accessKeyId, secretAccessKey } });
}

/** The HTTP status of an SDK error, undefined when there was no answer. */
function sdkStatus(e: unknown): number | undefined {
  if (e instanceof S3ServiceException) return e.$metadata.httpStatusCode;
  const m = (e as { $metadata?: { httpStatusCode?: number } } | null)?.$metadata;
  return m?.httpStatusCode;
}

/** Maps an SDK error to a model answer, or throws the classification. */
function s3Error(e: unknown, known: Partial<Record<number, VolumeOutput>>): VolumeOutput {
  const status = sdkStatus(e);
  if (status !== undefined && known[status]) return known[status]!;
  if (status === undefined || status >= 500) throw new UnknownOutcome(String(e));
  throw new Unexpected(`HTTP ${status}: ${String(e)}`);
}

export class S3Recorder {
  constructor(private readonly h: HistoryRecorder, private readonly c: S3Client, readonly name: string, readonly bucket: string) {}

  private k(key: string) { return `${this.bucket}/${key}`; }

  private put(op: VolumeOp, key: string, value: string, cond: { IfNoneMatch?: string; IfMatch?: string }, input: VolumeInput) {
    return this.h.record(this.name, op, this.k(key), input, async (signal) => {
      try {
        const r = await this.c.send(new PutObjectCommand({ Bucket: this.bucket, Key: key, Body: value, ...cond }), { abortSignal: signal });
        return r.ETag === undefined ? { status: 'ok' } : { status: 'ok', etag: r.ETag };
      } catch (e) {
        return s3Error(e, { 412: { status: 'precondition-failed' } });
      }
    });
  }

  putObject(key: string, value: string) { return this.put('put', key, value, {}, { value }); }
  putIfNoneMatch(key: string, value: string) { return this.put('put-if-none-match', key, value, { IfNoneMatch: '*' }, { value }); }
  putIfMatch(key: string, etag: string, value: string) { return this.put('put-if-match', key, value, { IfMatch: etag }, { value, etag }); }

  getObject(key: string) {
    return this.h.record(this.name, 'get', this.k(key), {}, async (signal) => {
      try {
        const r = await this.c.send(new GetObjectCommand({ Bucket: this.bucket, Key: key }), { abortSignal: signal });
        const value = await r.Body!.transformToString();
        return r.ETag === undefined ? { status: 'ok', value } : { status: 'ok', value, etag: r.ETag };
      } catch (e) {
        return s3Error(e, { 404: { status: 'absent' } });
      }
    });
  }

  deleteObject(key: string) {
    return this.h.record(this.name, 'delete', this.k(key), { absentOk: true }, async (signal) => {
      try {
        await this.c.send(new DeleteObjectCommand({ Bucket: this.bucket, Key: key }), { abortSignal: signal });
        return { status: 'ok' };
      } catch (e) {
        return s3Error(e, {});
      }
    });
  }
}

export class FileRecorder {
  constructor(private readonly h: HistoryRecorder, private readonly url: string, readonly name: string, private readonly headers: Record<string, string>) {}

  /** `a/b.txt` (the recorded key, as the S3 key `a` + `/b.txt` of bucket `a`) → /fs/a/b.txt */
  private async send(path: string, init: RequestInit & { query?: string }, signal: AbortSignal, known: Partial<Record<number, VolumeOutput>>): Promise<{ res: Response; out?: VolumeOutput }> {
    let res: Response;
    try {
      res = await fetch(`${this.url}/fs/${path.split('/').map(encodeURIComponent).join('/')}${init.query ?? ''}`, { ...init, signal, headers: { ...this.headers, ...(init.headers ?? {}) } });
    } catch (e) {
      throw new UnknownOutcome(String(e));
    }
    if (res.ok) return { res };
    const text = await res.text().catch(() => '');
    if (known[res.status]) return { res, out: known[res.status]! };
    if (res.status >= 500) throw new UnknownOutcome(`HTTP ${res.status}: ${text}`);
    throw new Unexpected(`HTTP ${res.status}: ${text}`);
  }

  private async done(p: Promise<{ res: Response; out?: VolumeOutput }>, ok: (res: Response) => Promise<VolumeOutput>): Promise<VolumeOutput> {
    const { res, out } = await p;
    if (out) return out;
    try {
      return await ok(res);
    } catch (e) {
      // The body broke off: the answer was not read whole.
      throw new UnknownOutcome(String(e));
    }
  }

  put(path: string, value: string) {
    return this.h.record(this.name, 'put', path, { value }, (signal) =>
      this.done(this.send(path, { method: 'PUT', body: value }, signal, {}), async (res) => { await res.arrayBuffer(); return { status: 'ok' }; }));
  }

  putIfNoneMatch(path: string, value: string) {
    return this.h.record(this.name, 'put-if-none-match', path, { value }, (signal) =>
      this.done(this.send(path, { method: 'PUT', body: value, headers: { 'if-none-match': '*' } }, signal, { 412: { status: 'precondition-failed' } }),
        async (res) => { await res.arrayBuffer(); return { status: 'ok' }; }));
  }

  get(path: string) {
    return this.h.record(this.name, 'get', path, {}, (signal) =>
      this.done(this.send(path, { method: 'GET' }, signal, { 404: { status: 'absent' } }), async (res) => {
        const value = await res.text();
        const etag = res.headers.get('etag');
        return etag === null ? { status: 'ok', value } : { status: 'ok', value, etag };
      }));
  }

  delete(path: string) {
    return this.h.record(this.name, 'delete', path, {}, (signal) =>
      this.done(this.send(path, { method: 'DELETE' }, signal, { 404: { status: 'absent' } }), async (res) => { await res.arrayBuffer(); return { status: 'ok' }; }));
  }

  append(path: string, value: string) {
    return this.h.record(this.name, 'append', path, { value }, (signal) =>
      this.done(this.send(path, { method: 'PATCH', body: value, query: '?append=1' }, signal, { 404: { status: 'absent' } }), async (res) => {
        const st = (await res.json()) as { size: number };
        return { status: 'ok', size: st.size };
      }));
  }

  rename(path: string, to: string, o: { noReplace?: boolean } = {}) {
    const query = `?op=rename&to=${encodeURIComponent(`/${to}`)}${o.noReplace ? '&overwrite=0' : ''}`;
    return this.h.record(this.name, 'rename', path, { to, noReplace: o.noReplace }, (signal) =>
      this.done(this.send(path, { method: 'POST', query }, signal, { 404: { status: 'absent' }, 409: { status: 'exists' } }),
        async (res) => { await res.arrayBuffer(); return { status: 'ok' }; }), [to]);
  }
}
