/**
 * The gateway side of the fresh-object fast path (docs/ARCHITECTURE.md §10.7): a `dput` of a new
 * GFID goes to every member of the set at once, not through the primary's log.
 *
 * 1. The source is read once and teed to one stream per member; a chunk goes on only when every
 *    member still running has room for it (the slowest member's window paces the rest; nothing
 *    is buffered beyond each member's stream and HTTP/2 window). A member that has taken nothing
 *    for `stallMs` while a majority keeps up is cut off (a frozen member cannot hold the PUT).
 * 2. Each member stores the body (tmp, fsync, link into place) and answers.
 * 3. Once a majority has answered success the others get at most `graceMs` more; then they are
 *    cut off. Members that failed or were cut off are the *missing* ones.
 * 4. None missing: done, nothing logged. Otherwise `pending {gfid, size, crc32c, missing}` goes to
 *    the primary (logged there, §10.7 step 4) and the dput succeeds once it is committed.
 * 5. Fewer than a majority: EAGAIN (a refusal every member gave, such as EFBIG, is answered as
 *    such); what landed is an orphan, which fsck removes (no name ever pointed at it).
 */
import { PassThrough, type Readable } from 'node:stream';
import { crc32c } from '@node-rs/crc32';
import { bodyHash, err, isErr, type CallContext, type DataStat, type FopReq } from '../protocol/index.js';
import type { ReplicaMember } from './replica-set.js';

export interface FreshFanoutOptions {
  /** How long the members after a majority get to answer, ms (§10.7 step 3: 1000). */
  graceMs: number;
  /** A member that takes no byte for this long while a majority keeps up is cut off, ms. */
  stallMs: number;
  /** Logs the pending record through the set's primary (ReplicaSetFops.call). */
  pending(req: FopReq<'pending'>, ctx: CallContext | undefined): Promise<unknown>;
}

/** Per-member stream buffer: small, the HTTP/2 window behind it holds the rest. */
const BRANCH_HWM = 1024 * 1024;

interface Branch {
  m: ReplicaMember;
  pt: PassThrough;
  ac: AbortController;
  done: boolean;
  res?: DataStat;
  error?: unknown;
  settled: Promise<void>;
}

/** Errors that say the member could not take the body now (down, busy, cut off), not that the body is refused. */
function transient(e: unknown): boolean {
  return isErr(e, 'EAGAIN', 'EHOSTDOWN', 'ENOTCONN', 'ETIMEDOUT', 'ECANCELED', 'ENOTPRIMARY', 'EIO', 'ESTALE', 'EEXIST');
}

export async function freshPut(
  setId: string, members: readonly ReplicaMember[], req: FopReq<'dput'>, body: Readable, ctx: CallContext | undefined, o: FreshFanoutOptions,
): Promise<DataStat> {
  const need = Math.floor(members.length / 2) + 1;
  const sent: FopReq<'dput'> = { gfid: req.gfid, fresh: true, at: req.at ?? Date.now() };
  // The body's SHA-256, taken once as the source is read and shared by every member's body MAC
  // (PROTOCOL.md §3.1): each member's trailer is then an HMAC over 32 bytes, not over the body.
  // A member asks for it on its 'wantTrailers', after its stream ended, so after the whole
  // source went through the hash below.
  const hash = bodyHash();
  let digest: Buffer | undefined;
  const bodySha256 = (): Buffer => (digest ??= hash.digest());
  const branches: Branch[] = members.map((m) => {
    const pt = new PassThrough({ highWaterMark: BRANCH_HWM });
    const ac = new AbortController();
    const signal = ctx?.signal ? AbortSignal.any([ctx.signal, ac.signal]) : ac.signal;
    const b: Branch = { m, pt, ac, done: false, settled: Promise.resolve() };
    // No opId of the set's: a fresh dput is not logged, and each member's is its own call.
    const { opId: _opId, ...rest } = ctx ?? {};
    b.settled = m.fops.upload('dput', sent, pt, { ...rest, signal, bodySha256 }).then(
      (res) => { b.res = res; b.done = true; },
      (e: unknown) => { b.error = e; b.done = true; if (!pt.destroyed) pt.destroy(); },
    );
    return b;
  });
  const ok = (): Branch[] => branches.filter((b) => b.res !== undefined);
  const running = (): Branch[] => branches.filter((b) => !b.done && !b.pt.destroyed && !b.pt.writableEnded);
  const cut = (b: Branch, why: string): void => {
    if (b.done) return;
    b.ac.abort(err('ECANCELED', why));
    if (!b.pt.destroyed) b.pt.destroy();
  };
  const fail = (e: unknown): never => {
    for (const b of branches) cut(b, 'the fresh dput failed');
    throw e;
  };

  // 1. The tee.
  let size = 0;
  let crc = 0;
  try {
    for await (const chunk of body as AsyncIterable<Buffer>) {
      size += chunk.length;
      crc = crc32c(chunk, crc);
      hash.update(chunk);
      const live = running();
      if (live.length < need) break;
      const full = live.filter((b) => !b.pt.write(chunk));
      if (full.length > 0) await drained(full, live.length, need, o.stallMs, cut);
    }
  } catch (e) {
    // The source failed (client gone, body refused): every member's body is cut, nothing lands.
    fail(e);
  }
  if (running().length + ok().length < need) {
    if (!body.readableEnded) body.resume();
    await Promise.all(branches.map((b) => { cut(b, 'fewer than a majority can take the body'); return b.settled; }));
    return fail(refusal(setId, branches, need));
  }
  for (const b of running()) b.pt.end();

  // 2–3. A majority, then at most graceMs for the rest.
  await new Promise<void>((resolve) => {
    let timer: NodeJS.Timeout | undefined;
    const check = (): void => {
      if (branches.every((b) => b.done)) { clearTimeout(timer); resolve(); return; }
      if (ok().length >= need && timer === undefined) {
        timer = setTimeout(() => { for (const b of branches) cut(b, `no answer within ${o.graceMs} ms after a majority`); resolve(); }, o.graceMs);
      }
    };
    for (const b of branches) void b.settled.then(check);
    check();
  });
  const good = ok();
  if (good.length < need) {
    await Promise.all(branches.map((b) => b.settled));
    return fail(refusal(setId, branches, need));
  }
  // 4. The members that lack it, in a pending record committed before the dput answers.
  const missing = branches.filter((b) => b.res === undefined).map((b) => b.m.id);
  if (missing.length > 0) await o.pending({ gfid: req.gfid, size, crc32c: crc >>> 0, missing }, ctx);
  return good[0]!.res!;
}

/**
 * Waits until every member in `full` has room again; one that stays full for `stallMs` is cut
 * off, provided a majority of those still running is not among the stalled.
 */
async function drained(full: Branch[], live: number, need: number, stallMs: number, cut: (b: Branch, why: string) => void): Promise<void> {
  const waits = full.map((b) => new Promise<void>((resolve) => {
    const done = (): void => { b.pt.off('drain', done); b.pt.off('close', done); resolve(); };
    b.pt.once('drain', done);
    b.pt.once('close', done);
  }));
  let timer: NodeJS.Timeout | undefined;
  const stalled = new Promise<'stalled'>((resolve) => { timer = setTimeout(() => resolve('stalled'), stallMs); });
  const all = Promise.all(waits).then(() => 'drained' as const);
  for (;;) {
    const r = await Promise.race([all, stalled]);
    clearTimeout(timer);
    if (r === 'drained') return;
    const still = full.filter((b) => !b.done && !b.pt.destroyed && b.pt.writableNeedDrain);
    if (live - still.length >= need) {
      for (const b of still) cut(b, `took no byte for ${stallMs} ms`);
      return;
    }
    // Too many stalled to go on without them: wait on (each member's own liveness ends it).
    await all;
    return;
  }
}

/** The error of a fresh dput fewer than a majority took: a refusal all agree on, else EAGAIN. */
function refusal(setId: string, branches: readonly Branch[], need: number): Error {
  const hard = branches.map((b) => b.error).filter((e) => e !== undefined && !transient(e));
  if (hard.length > 0) return hard[0] as Error;
  const why = branches.map((b) => `${b.m.id}: ${b.res ? 'ok' : (b.error as Error | undefined)?.message ?? 'cut off'}`).join('; ');
  return err('EAGAIN', `fresh dput on replica set ${setId}: fewer than ${need} members took the body (${why})`);
}
