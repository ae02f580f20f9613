/**
 * Fixed sequences of mutating FOPs, each with its own `at`, covering every mutating FOP of a
 * role: what the determinism tests (ARCHITECTURE.md §10.6) drive two stores with. The GFIDs are
 * drawn once per script, so two stores given one script get the same requests.
 */
import { Readable } from 'node:stream';
import { newGfid, ROOT_GFID, type ControlFop, type FopReq, type UploadFop } from '../../dht2-core/protocol/index.js';
import type { PosixStore } from '../../brick/posix2/store.js';

export interface Step {
  fop: ControlFop | UploadFop;
  req: FopReq<ControlFop> | FopReq<UploadFop>;
  /** Upload FOPs: the body. */
  body?: Buffer;
  /** The FOP's time, ms (a log entry's `at`). */
  at: number;
}

/** Far from now, so a stored time that came from the clock instead shows. */
export const T0 = 1_000_000_000_000;

function timed(steps: Array<Omit<Step, 'at'>>): Step[] {
  return steps.map((s, i) => ({ ...s, at: T0 + i * 1000 + i }));
}

const b64 = (s: string): string => Buffer.from(s).toString('base64');

/** Every mutating MDS FOP, the root made by an `icreate` first (§10.6: not on first read). */
export function mdsScript(): Step[] {
  const [A, F, S, H1, H2, C, D, E, L] = Array.from({ length: 9 }, () => newGfid());
  const s = <F extends ControlFop>(fop: F, req: FopReq<F>): Omit<Step, 'at'> => ({ fop, req });
  return timed([
    s('icreate', { gfid: ROOT_GFID, type: 'dir', mode: 0o755 }),
    s('create', { parent: ROOT_GFID, name: 'a', gfid: A!, type: 'dir' }),
    s('create', { parent: A!, name: 'f', gfid: F!, type: 'file', mode: 0o640, xattrs: { k0: b64('zero'), k1: b64('one') } }),
    s('create', { parent: ROOT_GFID, name: 's', gfid: S!, type: 'symlink', target: 'a/f' }),
    s('setattr', { gfid: F!, set: { size: 10, mtimeMs: 5000, uid: 7 } }),
    s('setattr', { gfid: F!, set: { sizeAtLeast: 20 } }),
    s('setxattr', { gfid: F!, name: 'k2', value: b64('two') }),
    s('removexattr', { gfid: F!, name: 'k0' }),
    s('link', { gfid: F!, parent: ROOT_GFID, name: 'f2' }),
    s('ilink', { gfid: F! }),
    s('namelink', { parent: ROOT_GFID, name: 'f3', gfid: F!, type: 'file' }),
    s('namedel', { parent: ROOT_GFID, name: 'f3', gfid: F! }),
    s('iunlink', { gfid: F! }),
    s('rename', { parent: A!, name: 'f', newParent: ROOT_GFID, newName: 'g' }),
    s('create', { parent: ROOT_GFID, name: 'h', gfid: H1!, type: 'file' }),
    s('create', { parent: ROOT_GFID, name: 'h', gfid: H2!, type: 'file', replace: true, size: 3 }),
    s('icreate', { gfid: C!, type: 'file', size: 5 }),
    s('objset', { gfid: A!, obj: C!, expect: null }),
    s('icreate', { gfid: D!, type: 'dir', parent: ROOT_GFID, obj: H2! }),
    s('nameswap', { parent: ROOT_GFID, name: 'h', from: H2!, to: D!, type: 'dir' }),
    s('create', { parent: ROOT_GFID, name: 'e', gfid: E!, type: 'dir' }),
    s('imark', { gfid: E!, dying: true }),
    s('imark', { gfid: E!, dying: false }),
    s('rmdir', { parent: ROOT_GFID, name: 'e' }),
    s('unlink', { parent: ROOT_GFID, name: 'f2' }),
    s('objset', { gfid: A!, obj: null, expect: C! }),
    s('iunlink', { gfid: C! }),
    s('create', { parent: A!, name: 'l', gfid: L!, type: 'file' }),
    s('rename', { parent: ROOT_GFID, name: 'g', newParent: A!, newName: 'l' }),
    s('setattr', { gfid: A!, set: { mode: 0o700 } }),
  ]);
}

/** Every mutating DS FOP, uploads included. */
export function dsScript(): Step[] {
  const [X, Y, Z, W, P1, P2, Q] = Array.from({ length: 7 }, () => newGfid());
  const s = <F extends ControlFop>(fop: F, req: FopReq<F>): Omit<Step, 'at'> => ({ fop, req });
  const u = <F extends UploadFop>(fop: F, req: FopReq<F>, body: string): Omit<Step, 'at'> => ({ fop, req, body: Buffer.from(body) });
  return timed([
    s('dcreate', { gfid: X! }),
    u('dwrite', { gfid: X!, offset: 0 }, 'hello'),
    u('dwrite', { gfid: X!, offset: 0, append: true }, ' world'),
    u('dwrite', { gfid: X!, offset: 20 }, 'past the end'),
    u('dput', { gfid: Y! }, 'the quick brown fox'),
    s('dtruncate', { gfid: Y!, size: 9 }),
    s('dcopy', { src: Y!, gfid: Z! }),
    s('dcopy', { src: X!, gfid: W!, offset: 1, length: 3 }),
    u('dwrite', { gfid: P1!, offset: 0, create: true }, 'part one,'),
    u('dwrite', { gfid: P2!, offset: 0, create: true }, 'part two'),
    s('dconcat', { gfid: Q!, parts: [P1!, P2!], removeParts: true }),
    u('dput', { gfid: Y! }, 'replaced'),
    s('dunlink', { gfid: W! }),
  ]);
}

/** Runs one step through `call`/`upload` (plan then apply, a set of one) with the step's own time. */
export async function runStep(s: PosixStore, st: Step): Promise<unknown> {
  const ctx = { at: st.at };
  if (st.body) return s.uploadWith(st.fop as UploadFop, st.req as FopReq<UploadFop>, Readable.from([st.body]), ctx);
  return s.callWith(st.fop as ControlFop, st.req as FopReq<ControlFop>, ctx);
}
