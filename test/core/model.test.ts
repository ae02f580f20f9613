/**
 * Model-based test: seeded random sequences of mkdir/writeFile/write/rename/link/unlink/rmdir/
 * readdir/read run against a real volume (2 MDS + 3 DS) and against a small in-memory POSIX
 * model; every result (value or errno) and the final tree must agree. Reproduce a failure with
 * DHT2_MODEL_SEED=<seed> npm test.
 */
import assert from 'node:assert/strict';
import { Readable } from 'node:stream';
import { Dht2Error } from '../../dht2-core/protocol/errors.js';
import type { Volume } from '../../dht2-core/volume.js';
import { text } from '../helpers/assert-errno.js';
import { startCluster, type TestCluster } from '../helpers/cluster.js';
import { rng } from '../helpers/rng.js';


interface FileInode { data: Buffer; nlink: number }
type Node = { kind: 'dir'; children: Map<string, Node> } | { kind: 'file'; ino: FileInode };

class ModelError extends Error {
  constructor(readonly errno: string) { super(errno); }
}

/** The reference: POSIX semantics on an in-memory tree, with the error order of the Volume API. */
class Model {
  root: Node = { kind: 'dir', children: new Map() };

  private walk(parts: string[]): Node {
    let cur = this.root;
    for (const p of parts) {
      if (cur.kind !== 'dir') throw new ModelError('ENOTDIR');
      const n = cur.children.get(p);
      if (!n) throw new ModelError('ENOENT');
      cur = n;
    }
    return cur;
  }

  private parent(path: string): { dir: Extract<Node, { kind: 'dir' }>; name: string } {
    const parts = path.split('/').filter(Boolean);
    const name = parts.pop()!;
    const dir = this.walk(parts);
    if (dir.kind !== 'dir') throw new ModelError('ENOTDIR');
    return { dir, name };
  }

  get(path: string): Node {
    return this.walk(path.split('/').filter(Boolean));
  }

  mkdir(path: string): void {
    const { dir, name } = this.parent(path);
    if (dir.children.has(name)) throw new ModelError('EEXIST');
    dir.children.set(name, { kind: 'dir', children: new Map() });
  }

  writeFile(path: string, data: Buffer): void {
    const { dir, name } = this.parent(path);
    const old = dir.children.get(name);
    if (old?.kind === 'dir') throw new ModelError('EISDIR');
    if (old?.kind === 'file') old.ino.nlink--;
    dir.children.set(name, { kind: 'file', ino: { data, nlink: 1 } });
  }

  write(path: string, offset: number, data: Buffer): void {
    const n = this.get(path);
    if (n.kind === 'dir') throw new ModelError('EISDIR');
    const len = Math.max(n.ino.data.length, offset + data.length);
    const buf = Buffer.alloc(len);
    n.ino.data.copy(buf);
    data.copy(buf, offset);
    n.ino.data = buf;
  }

  unlink(path: string): void {
    const { dir, name } = this.parent(path);
    const n = dir.children.get(name);
    if (!n) throw new ModelError('ENOENT');
    if (n.kind === 'dir') throw new ModelError('EISDIR');
    n.ino.nlink--;
    dir.children.delete(name);
  }

  rmdir(path: string): void {
    const { dir, name } = this.parent(path);
    const n = dir.children.get(name);
    if (!n) throw new ModelError('ENOENT');
    if (n.kind !== 'dir') throw new ModelError('ENOTDIR');
    if (n.children.size > 0) throw new ModelError('ENOTEMPTY');
    dir.children.delete(name);
  }

  link(from: string, to: string): void {
    const n = this.get(from);
    if (n.kind === 'dir') throw new ModelError('EPERM');
    const { dir, name } = this.parent(to);
    if (dir.children.has(name)) throw new ModelError('EEXIST');
    n.ino.nlink++;
    dir.children.set(name, n);
  }

  rename(from: string, to: string): void {
    const s = this.parent(from);
    const d = this.parent(to);
    const n = s.dir.children.get(s.name);
    if (!n) throw new ModelError('ENOENT');
    if (n.kind === 'dir' && s.dir !== d.dir && this.isUnder(d.dir, n)) throw new ModelError('EINVAL');
    const old = d.dir.children.get(d.name);
    if (old === n || (old?.kind === 'file' && n.kind === 'file' && old.ino === n.ino)) return;
    if (old) {
      if (n.kind === 'dir' && old.kind !== 'dir') throw new ModelError('ENOTDIR');
      if (n.kind !== 'dir' && old.kind === 'dir') throw new ModelError('EISDIR');
      if (old.kind === 'dir' && old.children.size > 0) throw new ModelError('ENOTEMPTY');
      if (old.kind === 'file') old.ino.nlink--;
    }
    s.dir.children.delete(s.name);
    d.dir.children.set(d.name, n);
  }

  private isUnder(dir: Node, anc: Node): boolean {
    if (dir === anc) return true;
    if (anc.kind !== 'dir') return false;
    for (const c of anc.children.values()) if (this.isUnder(dir, c)) return true;
    return false;
  }

  readdir(path: string): string[] {
    const n = this.get(path);
    if (n.kind !== 'dir') throw new ModelError('ENOTDIR');
    return [...n.children.keys()].sort((a, b) => Buffer.compare(Buffer.from(a), Buffer.from(b)));
  }

  read(path: string): string {
    const n = this.get(path);
    if (n.kind === 'dir') throw new ModelError('EISDIR');
    return n.ino.data.toString('latin1');
  }
}

type Outcome = { ok: unknown } | { errno: string };

async function outcome(fn: () => Promise<unknown> | unknown): Promise<Outcome> {
  try {
    return { ok: await fn() };
  } catch (e) {
    if (e instanceof ModelError || e instanceof Dht2Error) return { errno: e.errno };
    throw e;
  }
}

async function tree(v: Volume, path: string): Promise<unknown> {
  const out: Record<string, unknown> = {};
  for (const e of (await v.readdir(path, { limit: 10000 })).entries) {
    const p = `${path === '/' ? '' : path}/${e.name}`;
    out[e.name] = e.type === 'dir'
      ? await tree(v, p)
      : { data: await text((await v.openRead(p)).body).then((s) => Buffer.from(s).toString('latin1')), nlink: (await v.stat(p)).nlink };
  }
  return out;
}

function modelTree(n: Node): unknown {
  if (n.kind === 'file') return { data: n.ino.data.toString('latin1'), nlink: n.ino.nlink };
  const out: Record<string, unknown> = {};
  for (const k of [...n.children.keys()].sort((a, b) => Buffer.compare(Buffer.from(a), Buffer.from(b)))) out[k] = modelTree(n.children.get(k)!);
  return out;
}

describe('dht2-core model-based test against real bricks', function () {
  this.timeout(300_000);
  let c: TestCluster;
  before(async () => { c = await startCluster(); });
  after(async () => { await c.stop(); });

  const seeds = process.env.DHT2_MODEL_SEED ? [Number(process.env.DHT2_MODEL_SEED)] : [1, 2, 3];
  for (const seed of seeds) {
    it(`seed ${seed}: 300 random FOPs agree with the POSIX model`, async () => {
      const v = c.volume;
      const base = `/model-${seed}`;
      await v.mkdir(base);
      const m = new Model();
      m.mkdir(base);
      const r = rng(seed);
      const pick = <T>(xs: readonly T[]): T => xs[Math.floor(r() * xs.length)]!;
      const names = ['a', 'b', 'c', 'é'];
      // Mostly paths that exist (or one name below them), so FOPs succeed as often as they fail.
      const existing = (): string[] => {
        const out: string[] = [];
        const walk = (n: Node, p: string): void => {
          out.push(p);
          if (n.kind === 'dir') for (const [k, c] of n.children) walk(c, `${p}/${k}`);
        };
        walk(m.get(base), base);
        return out;
      };
      const path = (): string => {
        const x = r();
        if (x < 0.45) {
          const e = existing().slice(1);
          if (e.length > 0) return pick(e);
        }
        if (x < 0.85) return `${pick(existing())}/${pick(names)}`;
        const depth = 1 + Math.floor(r() * 3);
        return base + Array.from({ length: depth }, () => `/${pick(names)}`).join('');
      };
      const data = (): string => Array.from({ length: Math.floor(r() * 12) }, () => pick(['x', 'y', 'z', '0'])).join('');
      const log: string[] = [];
      for (let step = 0; step < 300; step++) {
        const op = pick(['mkdir', 'mkdir', 'write', 'write', 'pwrite', 'rename', 'rename', 'link', 'unlink', 'rmdir', 'readdir', 'read'] as const);
        const p = path();
        const q = path();
        const s = data();
        const off = Math.floor(r() * 8);
        let got: Outcome;
        let want: Outcome;
        switch (op) {
          case 'mkdir': want = await outcome(() => m.mkdir(p)); got = await outcome(() => v.mkdir(p).then(() => undefined)); break;
          case 'write': want = await outcome(() => m.writeFile(p, Buffer.from(s))); got = await outcome(() => v.writeFile(p, Readable.from([Buffer.from(s)])).then(() => undefined)); break;
          case 'pwrite': want = await outcome(() => m.write(p, off, Buffer.from(s))); got = await outcome(() => v.write(p, off, Readable.from([Buffer.from(s)])).then(() => undefined)); break;
          case 'rename': want = await outcome(() => m.rename(p, q)); got = await outcome(() => v.rename(p, q).then(() => undefined)); break;
          case 'link': want = await outcome(() => m.link(p, q)); got = await outcome(() => v.link(p, q).then(() => undefined)); break;
          case 'unlink': want = await outcome(() => m.unlink(p)); got = await outcome(() => v.unlink(p)); break;
          case 'rmdir': want = await outcome(() => m.rmdir(p)); got = await outcome(() => v.rmdir(p)); break;
          case 'readdir': want = await outcome(() => m.readdir(p)); got = await outcome(async () => (await v.readdir(p)).entries.map((e) => e.name)); break;
          case 'read': want = await outcome(() => m.read(p)); got = await outcome(async () => Buffer.from(await text((await v.openRead(p)).body)).toString('latin1')); break;
        }
        log.push(`${step}: ${op} ${p}${['rename', 'link'].includes(op) ? ` ${q}` : ''} -> ${JSON.stringify(want)}`);
        assert.deepEqual(got, want, `seed ${seed} step ${step}: ${op} ${p} ${q}\n${log.slice(-15).join('\n')}`);
      }
      assert.deepEqual(await tree(v, base), modelTree(m.get(base)), `seed ${seed}: final trees differ`);
    });
  }
});
