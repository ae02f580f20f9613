/**
 * The Volume API: a DHT2 volume of many bricks seen as one POSIX-like namespace, by path and
 * by GFID. Every method is async, takes an optional CallContext (request id, abort signal,
 * deadline) and throws Dht2Error carrying the errno and the path. The composite FOP orders
 * and their crash stories are in dht2-core/fops/*.ts and docs/ARCHITECTURE.md.
 */
import type { Readable } from 'node:stream';
import {
  checkClusterSecret, err, layoutDigest, ROOT_GFID, type Attrs, type BrickFops, type CallContext, type FopReq, type FopRes, type ReplStatus,
  type SetAttrs,
} from './protocol/index.js';
import { Layout } from './layout.js';
import { BrickClient } from './rpc/brick-client.js';
import {
  identityProblem, loadVolumeFile, replicaOf, resolveSecret, seedLayout, volumeBricks, volumeSets, type VolumeFile,
} from './volfile.js';
import { ReplicaSetFops, type ReplicaMember } from './layers/replica-set.js';
import { VolumeCore, atPath, type KnownDir } from './fops/core.js';
import * as entry from './fops/entry.js';
import * as data from './fops/data.js';
import * as dirobj from './fops/dirobj.js';
import { rename, type RenameOptions } from './fops/rename.js';
import { readdir, readdirAt, type ReaddirOptions, type ReaddirPage } from './fops/readdir.js';
import { fsck, type FsckOptions, type FsckReport } from './fops/fsck.js';
import { readFile } from 'node:fs/promises';
import { dirname, isAbsolute, resolve as resolvePath } from 'node:path';

export type { MkdirOptions, CreateOptions } from './fops/entry.js';
export type { WriteFileOptions, ReadRange } from './fops/data.js';
export type { RenameOptions } from './fops/rename.js';
export type { ReaddirOptions, ReaddirPage } from './fops/readdir.js';
export type { FsckOptions, FsckReport } from './fops/fsck.js';
export type { KnownDir } from './fops/core.js';

/** Capacity summed over the bricks: bytes from the DSs, inodes from the MDSs. */
export interface VolumeStatFs {
  sizeBytes: number;
  freeBytes: number;
  availBytes: number;
  files: number;
  freeFiles: number;
}

export interface OpenVolumeOptions {
  /** Per-call deadline for brick RPCs, ms. */
  timeoutMs?: number;
  /** Check every brick's identity against the volume file (default true). */
  checkBricks?: boolean;
  /** Stacks layers over each brick's client (metrics, fault injection); identity checks still use the client. */
  wrap?: (brick: { role: 'mds' | 'ds'; id: string; url: string }, fops: BrickFops) => BrickFops;
  env?: NodeJS.ProcessEnv;
}

/** One brick of an opened volume: its place in the volume file and its HTTP/2 client. */
interface OpenedBrick {
  role: 'mds' | 'ds';
  id: string;
  url: string;
  set: string;
  client: BrickClient;
}

/** A replica set as a gateway sees it (`Volume.setStatus`, ARCHITECTURE.md §10.8). */
export interface SetStatus {
  id: string;
  role: 'mds' | 'ds';
  /** More than one member: a primary orders its FOPs. */
  replicated: boolean;
  /** A member answered as primary with a valid lease (so a majority hears it), or the set of one is up. */
  available: boolean;
  primary?: string;
  term?: number;
  /** What makes the set degraded: members down, lagging, diverged; empty when healthy. */
  degraded: string[];
  members: Array<{
    id: string;
    up: boolean;
    role?: ReplStatus['role'];
    lastIndex?: number;
    commitIndex?: number;
    appliedIndex?: number;
    state?: ReplStatus['state'];
    /** A rebuild by full copy under way (§10.13). */
    rebuild?: ReplStatus['rebuild'];
    /** Opened without a vote file and an empty log: a new or wiped brick (§10.13). */
    wiped?: boolean;
    /** The first index of its log (the head before it was truncated, §10.13). */
    firstIndex?: number;
    /** Its primary no longer holds the entries it lacks: only a full copy repairs it (§10.13). */
    needsCopy?: boolean;
    problem?: string;
  }>;
  /** A DS set: the pending fresh copies by member lacking them, as its primary counts them (§10.7). */
  pending?: Record<string, number>;
  /** Failovers the gateway's replica-set layer has followed since it started. */
  failovers: number;
}

/** How far a rebuild's copy is, in % of the source's objects (copied or found equal), 0 to 100. */
export function rebuildPercent(r: NonNullable<ReplStatus['rebuild']>): number {
  if (r.phase === 'replay') return 100;
  const done = r.copiedObjects + r.skippedObjects;
  return r.totalObjects > 0 ? Math.min(100, Math.floor((done / r.totalObjects) * 100)) : 0;
}

/** A member lagging the primary's commit index by more than this is degraded (§10.8). */
const LAG_DEGRADED = 1000;

/** Liveness of the members of replicated sets (session.ts): a frozen primary is left within ~2 s (§10.8). */
const REPLICA_LIVENESS = { quietMs: 500, pingTimeoutMs: 1500 };

export class Volume {
  private readonly core: VolumeCore;
  /** The HTTP/2 clients under any layers (health checks talk to them directly). */
  private bricks: OpenedBrick[] = [];
  /** The replica-set layers of replicated sets, by set id. */
  private replicaSets = new Map<string, ReplicaSetFops>();
  /** Set by open() when the cluster secret is accepted but too short for a new volume: log it. */
  secretWarning: string | undefined;

  /** A volume over the given brick layers (clients, or in-process stores in tests). */
  constructor(mds: readonly BrickFops[], ds: readonly BrickFops[], readonly file?: VolumeFile) {
    const layout = file ? new Layout(seedLayout(file)) : Layout.uniform(mds.length, ds.length);
    this.core = new VolumeCore(layout, mds, ds);
  }

  /**
   * Opens the volume a volume file describes: one HTTP/2 client per brick, identities checked;
   * a replicated set (format 2, ARCHITECTURE.md §10.2) becomes one ReplicaSetFops over its
   * members, and each member is checked to hold the volume's layout.
   */
  static async open(volfilePath: string, o: OpenVolumeOptions = {}): Promise<Volume> {
    const vf = await loadVolumeFile(volfilePath);
    const secret = await resolveSecret(vf, volfilePath, o.env);
    // Opening a volume file never makes a volume: an existing volume's rule, with its warning.
    const { warning: secretWarning } = checkClusterSecret(secret, { newVolume: false });
    const ca = vf.tlsCa ? await readFile(isAbsolute(vf.tlsCa) ? vf.tlsCa : resolvePath(dirname(volfilePath), vf.tlsCa)) : undefined;
    // Every FOP names the layout epoch it was placed with (ARCHITECTURE.md §10.9).
    // Only a replicated volume's bricks hold the layout (a replica-1 volume's is computed from its
    // file, §10.14): a member that lost it refuses FOPs placed with it (brick/server.ts).
    const layoutEpoch = replicaOf(vf) > 1 ? seedLayout(vf).epoch : undefined;
    const bricks: OpenedBrick[] = [];
    const replicaSets = new Map<string, ReplicaSetFops>();
    const sets = volumeSets(vf).map((s) => {
      const replicated = s.bricks.length > 1;
      const members: ReplicaMember[] = s.bricks.map((b) => {
        const client = new BrickClient({
          url: b.url, secret, brickId: b.id, timeoutMs: o.timeoutMs, tls: ca ? { ca } : undefined, layoutEpoch,
          liveness: replicated ? REPLICA_LIVENESS : undefined,
        });
        bricks.push({ role: s.role, id: b.id, url: b.url, set: s.id, client });
        return { id: b.id, fops: o.wrap ? o.wrap({ role: s.role, id: b.id, url: b.url }, client) : client };
      });
      if (!replicated) return { role: s.role, fops: members[0]!.fops };
      const rs = new ReplicaSetFops(s.id, members);
      replicaSets.set(s.id, rs);
      return { role: s.role, fops: rs as BrickFops };
    });
    const vol = new Volume(sets.filter((s) => s.role === 'mds').map((s) => s.fops), sets.filter((s) => s.role === 'ds').map((s) => s.fops), vf);
    vol.bricks = bricks;
    vol.replicaSets = replicaSets;
    vol.secretWarning = secretWarning;
    if (o.checkBricks ?? true) {
      try {
        const health = await vol.brickHealth();
        // A replicated set serves with a majority of its members (ARCHITECTURE.md §10.12): a
        // gateway starts with a member down, never with one that answers as someone else.
        const problems = replicaSets.size === 0
          ? health.map((h) => h.problem)
          : [
            ...health.filter((h) => h.up).map((h) => h.problem),
            ...volumeSets(vf).map((s) => {
              const up = health.filter((h) => h.set === s.id && h.up).length;
              return up * 2 > s.bricks.length ? undefined
                : `set ${s.id} has ${up} of its ${s.bricks.length} members reachable, not a majority (${health.filter((h) => h.set === s.id && !h.up).map((h) => h.problem).join('; ')})`;
            }),
          ];
        const named = problems.filter((p): p is string => p !== undefined);
        if (named.length > 0) throw err('EINVAL', `volume ${vf.name}: ${named.join('; ')}`);
      } catch (e) {
        await vol.close();
        throw e;
      }
    }
    return vol;
  }

  get layout(): Layout {
    return this.core.layout;
  }

  /** The replica count of the volume file (1 without one). */
  get replica(): number {
    return this.file ? replicaOf(this.file) : 1;
  }

  /**
   * Each brick of the volume file: reachable or not, and whether its identity matches; a member
   * of a replicated set must also hold the volume's layout (ARCHITECTURE.md §10.9).
   */
  async brickHealth(): Promise<Array<{ role: 'mds' | 'ds'; id: string; url: string; set: string; up: boolean; problem?: string }>> {
    const vf = this.file;
    if (!vf) throw err('EINVAL', 'volume was not opened from a volume file');
    const seed = this.replica > 1 ? layoutDigest(seedLayout(vf)) : undefined;
    const list = this.bricks.length > 0
      ? this.bricks
      : volumeBricks(vf).map((b) => ({ role: b.role, id: b.id, url: b.url, set: b.set, client: undefined }));
    return Promise.all(list.map(async ({ role, id, url, set, client }) => {
      const base = { role, id, url, set };
      if (!client) return { ...base, up: true };
      let h;
      try {
        h = await client.health();
      } catch (e) {
        return { ...base, up: false, problem: `brick ${url} is unreachable: ${(e as Error).message}` };
      }
      const problem = identityProblem(vf, role, { id, url }, h) ?? (seed ? await layoutProblem(client, url, seed) : undefined);
      return problem ? { ...base, up: true, problem } : { ...base, up: true };
    }));
  }

  /**
   * HTTP/2 streams open toward each brick of the volume file right now. Every stream the
   * gateway opens is closed on every path (reply read, error, client gone), so at rest this is
   * 0 everywhere; a count that stays up is a leak (issue 14). Empty for a volume not opened
   * from a volume file.
   */
  brickStreams(): Array<{ role: 'mds' | 'ds'; id: string; open: number }> {
    return this.bricks.map((b) => ({ role: b.role, id: b.id, open: b.client.openStreams }));
  }

  /**
   * Each set as the gateway sees it (ARCHITECTURE.md §10.8): for a replicated set, every
   * member's `rstatus`; available when a member is primary with a valid lease. A set of one is
   * available when its brick answers. Names what makes a set degraded.
   */
  async setStatus(ctx?: CallContext): Promise<SetStatus[]> {
    const vf = this.file;
    if (!vf) throw err('EINVAL', 'volume was not opened from a volume file');
    return Promise.all(volumeSets(vf).map(async (s): Promise<SetStatus> => {
      const clients = s.bricks.map((b) => ({ id: b.id, client: this.bricks.find((x) => x.id === b.id)?.client }));
      const rs = this.replicaSets.get(s.id);
      if (!rs) {
        const c = clients[0]!;
        const up = c.client ? await c.client.health().then(() => true, () => false) : true;
        return {
          id: s.id, role: s.role, replicated: false, available: up, degraded: up ? [] : [`brick ${c.id} is down`],
          members: [{ id: c.id, up }], failovers: 0,
        };
      }
      const views = await Promise.all(clients.map(async ({ id, client }) => {
        try {
          return { id, view: await client!.call('rstatus', {}, { ...ctx, timeoutMs: 2000 }) };
        } catch (e) {
          return { id, problem: (e as Error).message };
        }
      }));
      const primary = views.find((v) => v.view?.role === 'primary' && v.view.leaseValid)?.view;
      const needsCopy = new Set(primary?.members?.filter((m) => m.needsCopy === true).map((m) => m.id));
      const degraded: string[] = [];
      for (const v of views) {
        if (!v.view) degraded.push(`member ${v.id} is down`);
        else if (v.view.state !== 'ok') degraded.push(`member ${v.id} is ${v.view.state}`);
        else if (v.view.rebuild) degraded.push(`member ${v.id} is being rebuilt: ${rebuildPercent(v.view.rebuild)} %`);
        else if (needsCopy.has(v.id)) degraded.push(`member ${v.id} needs a full copy: the primary's log no longer holds the entries it lacks`);
        else if (primary && primary.commitIndex - v.view.appliedIndex > LAG_DEGRADED) {
          degraded.push(`member ${v.id} is ${primary.commitIndex - v.view.appliedIndex} entries behind`);
        }
      }
      if (!primary) degraded.push('no primary');
      // Pending fresh copies (§10.7), as the primary's replicated state counts them.
      const pending = primary?.pending;
      for (const [m, n] of Object.entries(pending ?? {})) if (n > 0) degraded.push(`member ${m} lacks ${n} fresh object(s) (pending heal)`);
      return {
        id: s.id, role: s.role, replicated: true, available: primary !== undefined,
        ...(primary ? { primary: primary.brick, term: primary.term } : {}),
        ...(pending ? { pending } : {}),
        degraded,
        members: views.map((v) => v.view
          ? {
            id: v.id, up: true, role: v.view.role, lastIndex: v.view.lastIndex, commitIndex: v.view.commitIndex, appliedIndex: v.view.appliedIndex, state: v.view.state,
            ...(v.view.rebuild ? { rebuild: v.view.rebuild } : {}), ...(v.view.wiped ? { wiped: true } : {}),
            ...(v.view.firstIndex !== undefined ? { firstIndex: v.view.firstIndex } : {}), ...(needsCopy.has(v.id) ? { needsCopy: true } : {}),
          }
          : { id: v.id, up: false, problem: v.problem }),
        failovers: rs.failovers,
      };
    }));
  }

  /** A call to one member itself, not through its set (heal start, ARCHITECTURE.md §10.13). */
  async memberCall<F extends 'rrebuild' | 'rstatus' | 'digest' | 'layoutset'>(brickId: string, fop: F, req: FopReq<F>, ctx?: CallContext): Promise<FopRes<F>> {
    const c = this.bricks.find((x) => x.id === brickId)?.client;
    if (!c) throw err('ENOENT', `no brick ${brickId} in this volume`);
    return c.call(fop, req, { ...ctx, timeoutMs: ctx?.timeoutMs ?? 10_000 });
  }

  /** One member's own client (the replica comparison of fsck reads each member's digest, §10.12). */
  memberFops(brickId: string): BrickFops {
    const c = this.bricks.find((x) => x.id === brickId)?.client;
    if (!c) throw err('ENOENT', `no brick ${brickId} in this volume`);
    return c;
  }

  /** Installs the volume's layout on one member again (a wiped brick starts without it, §10.13). */
  async reinstallLayout(brickId: string): Promise<void> {
    if (!this.file) throw err('EINVAL', 'volume was not opened from a volume file');
    await this.memberCall(brickId, 'layoutset', { layout: seedLayout(this.file) });
  }

  // ------------------------------------------------------------------ namespace by path

  /**
   * The GFID of the directory `path`, by name entries alone (one `entry` round trip per name,
   * never a second hop to the directory's own MDS); ENOTDIR when a name on the way is not one.
   */
  async dirGfid(path: string, ctx?: CallContext, from?: KnownDir): Promise<string> {
    return atPath(path, async () => (await this.core.resolveDir(path, ctx, from)).gfid);
  }

  /** Attributes of `path`; `want` names xattrs to return in `attrs.xattrs` in the same round trip. */
  stat(path: string, ctx?: CallContext, want?: string[]): Promise<Attrs> {
    return atPath(path, () => this.core.resolve(path, ctx, want));
  }

  mkdir(path: string, o?: entry.MkdirOptions, ctx?: CallContext): Promise<Attrs> {
    return atPath(path, () => entry.mkdir(this.core, path, o, ctx));
  }

  /** `mkdir -p path` (with `adopt`, files on the way become directories carrying them); answers the GFID only. */
  async mkdirPath(path: string, o: Omit<entry.MkdirOptions, 'parents'> = {}, ctx?: CallContext, from?: KnownDir): Promise<string> {
    return atPath(path, async () => (await entry.mkdirPath(this.core, path, o, ctx, from)).gfid);
  }

  create(path: string, o?: entry.CreateOptions, ctx?: CallContext): Promise<Attrs> {
    return atPath(path, () => entry.create(this.core, path, o, ctx));
  }

  symlink(target: string, path: string, ctx?: CallContext): Promise<Attrs> {
    return atPath(path, () => entry.symlink(this.core, target, path, ctx));
  }

  readlink(path: string, ctx?: CallContext): Promise<string> {
    return atPath(path, () => entry.readlink(this.core, path, ctx));
  }

  unlink(path: string, ctx?: CallContext): Promise<void> {
    return atPath(path, () => entry.unlink(this.core, path, ctx));
  }

  /** Removes the non-directory `name` of the directory `parent` (EISDIR for a directory). */
  unlinkAt(parent: string, name: string, ctx?: CallContext): Promise<void> {
    return atPath(name, () => entry.unlinkAt(this.core, parent, name, ctx));
  }

  rmdir(path: string, ctx?: CallContext): Promise<void> {
    return atPath(path, () => entry.rmdir(this.core, path, ctx));
  }

  link(existing: string, path: string, ctx?: CallContext): Promise<Attrs> {
    return atPath(path, () => entry.link(this.core, existing, path, ctx));
  }

  rename(from: string, to: string, o?: RenameOptions, ctx?: CallContext): Promise<Attrs> {
    return atPath(from, () => rename(this.core, from, to, o, ctx));
  }

  setattr(path: string, set: SetAttrs, ctx?: CallContext): Promise<Attrs> {
    return atPath(path, async () => {
      const a = await this.core.resolve(path, ctx);
      return this.core.mds(a.gfid).call('setattr', { gfid: a.gfid, set }, ctx);
    });
  }

  readdir(path: string, o?: ReaddirOptions, ctx?: CallContext): Promise<ReaddirPage> {
    return atPath(path, () => readdir(this.core, path, o, ctx));
  }

  // ------------------------------------------------------------------ data

  /** Replaces or creates a file from a stream, atomically (readers see old or new). */
  writeFile(path: string, body: Readable, o?: data.WriteFileOptions, ctx?: CallContext): Promise<Attrs> {
    return atPath(path, () => data.writeFile(this.core, path, body, o, ctx));
  }

  /** Opens a file for reading: attributes, the DS's data stat and the byte stream. */
  openRead(path: string, r?: data.ReadRange, ctx?: CallContext): ReturnType<typeof data.openRead> {
    return atPath(path, () => data.openRead(this.core, path, r, ctx));
  }

  /**
   * Reads the file with these attributes (from stat) without resolving its path again: one
   * round trip to its DS. A file whose data was never written reads as empty.
   */
  async readAt(a: Attrs, r: data.ReadRange = {}, ctx?: CallContext): Promise<Readable> {
    return data.readGfid(this.core, a, r, ctx);
  }

  /**
   * The object a directory carries at its own name (S3 key `a` beside `a/b`, see
   * fops/dirobj.ts), with the wanted xattrs; undefined when it carries none.
   */
  carriedObject(dir: Attrs, ctx?: CallContext, want?: string[]): Promise<Attrs | undefined> {
    return dirobj.carriedObject(this.core, dir, ctx, want);
  }

  /** Removes the object directory `path` carries; false when it carries none. */
  dropCarriedObject(path: string, ctx?: CallContext): Promise<boolean> {
    return atPath(path, async () => {
      const a = await this.core.resolve(path, ctx);
      if (a.type !== 'dir') throw err('ENOTDIR', 'not a directory');
      return dirobj.dropDirObject(this.core, a.gfid, ctx);
    });
  }

  /** Appends `body` at the end of the file; concurrent appends never overwrite or interleave. */
  append(path: string, body: Readable, ctx?: CallContext): Promise<Attrs> {
    return atPath(path, () => data.append(this.core, path, body, ctx));
  }

  /**
   * Turns the directory at `path`, empty but carrying an object, back into that plain file;
   * false when it is not such a directory (entries, xattrs of its own, nothing carried).
   */
  uncarry(path: string, ctx?: CallContext): Promise<boolean> {
    return atPath(path, async () => {
      const { parent, name } = await this.core.resolveParent(path, ctx);
      return dirobj.uncarry(this.core, parent.gfid, name, await this.core.lookupAt(parent.gfid, name, ctx), ctx);
    });
  }

  write(path: string, offset: number, body: Readable, ctx?: CallContext): Promise<Attrs> {
    return atPath(path, () => data.write(this.core, path, offset, body, ctx));
  }

  truncate(path: string, size: number, ctx?: CallContext): Promise<Attrs> {
    return atPath(path, () => data.truncate(this.core, path, size, ctx));
  }

  // ------------------------------------------------------------------ xattrs (values are Buffers)

  async getxattr(path: string, name: string, ctx?: CallContext): Promise<Buffer> {
    return atPath(path, async () => {
      const a = await this.core.resolve(path, ctx);
      return Buffer.from((await this.core.mds(a.gfid).call('getxattr', { gfid: a.gfid, name }, ctx)).value, 'base64');
    });
  }

  async setxattr(path: string, name: string, value: Buffer, flag?: 'create' | 'replace', ctx?: CallContext): Promise<void> {
    return atPath(path, async () => {
      const a = await this.core.resolve(path, ctx);
      await this.core.mds(a.gfid).call('setxattr', { gfid: a.gfid, name, value: value.toString('base64'), flag }, ctx);
    });
  }

  async listxattr(path: string, ctx?: CallContext): Promise<string[]> {
    return atPath(path, async () => {
      const a = await this.core.resolve(path, ctx);
      return (await this.core.mds(a.gfid).call('listxattr', { gfid: a.gfid }, ctx)).names;
    });
  }

  async removexattr(path: string, name: string, ctx?: CallContext): Promise<void> {
    return atPath(path, async () => {
      const a = await this.core.resolve(path, ctx);
      await this.core.mds(a.gfid).call('removexattr', { gfid: a.gfid, name }, ctx);
    });
  }

  // ------------------------------------------------------------------ by GFID

  getattr(gfid: string, ctx?: CallContext): Promise<Attrs> {
    return this.core.getattr(gfid, ctx);
  }

  /** The xattr `name` of the inode `gfid` itself, whatever name now points at it (ENODATA without one). */
  async getxattrOf(gfid: string, name: string, ctx?: CallContext): Promise<Buffer> {
    return Buffer.from((await this.core.mds(gfid).call('getxattr', { gfid, name }, ctx)).value, 'base64');
  }

  /** Sets the xattr `name` of the inode `gfid` itself. */
  async setxattrOf(gfid: string, name: string, value: Buffer, flag?: 'create' | 'replace', ctx?: CallContext): Promise<void> {
    await this.core.mds(gfid).call('setxattr', { gfid, name, value: value.toString('base64'), flag }, ctx);
  }

  lookup(parent: string, name: string, ctx?: CallContext): Promise<Attrs> {
    return atPath(name, () => this.core.lookupAt(parent, name, ctx));
  }

  /** Creates an empty file in the directory `parent`: one round trip to the parent's MDS. */
  createAt(parent: string, name: string, o: entry.CreateOptions = {}, ctx?: CallContext): Promise<Attrs> {
    return atPath(name, () => entry.createAt(this.core, parent, name, { type: 'file', ...o }, ctx));
  }

  mkdirAt(parent: string, name: string, o?: entry.MkdirOptions, ctx?: CallContext): Promise<Attrs> {
    return atPath(name, () => entry.mkdirAt(this.core, parent, name, o, ctx));
  }

  writeFileAt(parent: string, name: string, body: Readable, o?: data.WriteFileOptions, ctx?: CallContext): Promise<Attrs> {
    return atPath(name, () => data.writeFileAt(this.core, parent, name, body, o, ctx));
  }

  /** Server-side copy of the file with attributes `src` to `parent/name` (same DS, no bytes through the client). */
  copyAt(src: Attrs, parent: string, name: string, o?: data.WriteFileOptions, ctx?: CallContext): Promise<Attrs> {
    return atPath(name, () => data.copyAt(this.core, src, parent, name, o, ctx));
  }

  /** A new file at `parent/name` made of the data of `parts` (files whose data share one DS). */
  concatAt(parent: string, name: string, parts: readonly string[], o?: data.WriteFileOptions, ctx?: CallContext): Promise<Attrs> {
    return atPath(name, () => data.concatAt(this.core, parent, name, parts, o, ctx));
  }

  readdirGfid(gfid: string, o?: ReaddirOptions, ctx?: CallContext): Promise<ReaddirPage> {
    return readdirAt(this.core, gfid, o, ctx);
  }

  get rootGfid(): string {
    return ROOT_GFID;
  }

  // ------------------------------------------------------------------ volume-wide

  /** statfs of every brick, by role and position (for status pages); unreachable bricks give their error. */
  async brickStatfs(ctx?: CallContext): Promise<Array<{ role: 'mds' | 'ds'; index: number; statfs?: import('./protocol/index.js').StatFs; error?: string }>> {
    const all = [
      ...this.core.mdsBricks.map((b, index) => ({ role: 'mds' as const, index, b })),
      ...this.core.dsBricks.map((b, index) => ({ role: 'ds' as const, index, b })),
    ];
    return Promise.all(all.map(async ({ role, index, b }) => {
      try {
        return { role, index, statfs: await b.call('statfs', {}, ctx) };
      } catch (e) {
        return { role, index, error: (e as Error).message };
      }
    }));
  }

  async statfs(ctx?: CallContext): Promise<VolumeStatFs> {
    const out: VolumeStatFs = { sizeBytes: 0, freeBytes: 0, availBytes: 0, files: 0, freeFiles: 0 };
    await Promise.all([
      ...this.core.dsBricks.map(async (b) => {
        const s = await b.call('statfs', {}, ctx);
        out.sizeBytes += s.blocks * s.bsize;
        out.freeBytes += s.bfree * s.bsize;
        out.availBytes += s.bavail * s.bsize;
      }),
      ...this.core.mdsBricks.map(async (b) => {
        const s = await b.call('statfs', {}, ctx);
        out.files += s.files;
        out.freeFiles += s.ffree;
      }),
    ]);
    return out;
  }

  fsck(o?: FsckOptions, ctx?: CallContext): Promise<FsckReport> {
    return fsck(this.core, o, ctx);
  }

  async close(): Promise<void> {
    await Promise.all([...this.core.mdsBricks, ...this.core.dsBricks].map((b) => b.close()));
  }

  /** The set id of each MDS and DS set, in layout order (for status pages). */
  setIds(): { mds: readonly string[]; ds: readonly string[] } {
    return { mds: this.core.layout.mdsSets, ds: this.core.layout.dsSets };
  }
}

/** Whether a member of a replicated set holds the volume's layout (ARCHITECTURE.md §10.9). */
async function layoutProblem(client: BrickClient, url: string, digest: string): Promise<string | undefined> {
  try {
    const got = await client.call('layoutget', {});
    if (got.state.digest === digest) return undefined;
    return `brick ${url} holds layout epoch ${got.state.epoch} (${got.state.digest.slice(0, 12)}), not the volume file's (${digest.slice(0, 12)})`;
  } catch (e) {
    if ((e as { errno?: string }).errno === 'ENOENT') {
      return `brick ${url} holds no layout: install it with \`dht2 volume create --replica\` (it writes the volume file and installs its layout)`;
    }
    return `brick ${url}: layout unreadable: ${(e as Error).message}`;
  }
}
