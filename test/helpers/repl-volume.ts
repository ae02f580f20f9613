/**
 * A replicated volume of six real brick processes, one MDS set (m1–m3) and one DS set (d1–d3) of
 * three, opened as a `Volume`, for the heal and truncation tests (ARCHITECTURE.md §10.13): members
 * are stopped, wiped and started again by the tests themselves (`proc` undefined while stopped),
 * and what the tests ask of it is here: each member's `rstatus`, its set's primary, the files
 * written and read back, the replicas' digests compared once caught up (`compareReplicas`), and
 * the `dht2` CLI on the volume file.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { setTimeout as delay } from 'node:timers/promises';
import { promisify } from 'node:util';
import { DHT2_BIN, spawnBrick, type BrickProcess } from '../../brick/spawn.js';
import { BrickClient, compareReplicas, installLayout, Volume } from '../../dht2-core/index.js';
import { parseVolumeFile, writeVolumeFile, type VolumeFile } from '../../dht2-core/volfile.js';
import type { ReplStatus } from '../../dht2-core/protocol/index.js';
import { rng } from './rng.js';
import { SECRET, tmpDir } from './tmp.js';

const run = promisify(execFile);

export async function bytesOf(stream: AsyncIterable<Buffer>): Promise<Buffer> {
  const parts: Buffer[] = [];
  for await (const c of stream) parts.push(c);
  return Buffer.concat(parts);
}

export interface Member {
  id: string;
  role: 'mds' | 'ds';
  dir: string;
  port: number;
  /** Undefined while the test has it stopped. */
  proc: BrickProcess | undefined;
}

export interface ReplVolumeOptions {
  /** The volume's name and id. */
  volume: string;
  /** Prefix of the temporary folder. */
  tmp: string;
  /** Seed of the file contents (test/helpers/rng.ts). */
  seed: number;
  /** Environment of every brick (DHT2_REPL_* and the like), added to by `spawn`'s. */
  env?: Record<string, string>;
  /** Each log line of each brick (a variable named by `logVar` also prints them). */
  onLog?: (m: Member, line: string) => void;
  /** An environment variable that, when set, prints every brick's log lines (debugging). */
  logVar?: string;
}

export class ReplVolume {
  members: Member[] = [];
  volfile = '';
  vf!: VolumeFile;
  v!: Volume;
  /** What was written through `put`, by path, as it should read back. */
  readonly files = new Map<string, Buffer>();
  readonly rand: () => number;
  private dir: Awaited<ReturnType<typeof tmpDir>> | undefined;
  private readonly clients = new Map<string, BrickClient>();

  constructor(readonly o: ReplVolumeOptions) {
    this.rand = rng(o.seed);
  }

  /** Starts the six bricks, installs the layout, waits for both primaries, opens the volume. */
  async start(): Promise<void> {
    const dir = this.dir = await tmpDir(this.o.tmp);
    this.members = [
      ...[1, 2, 3].map((i) => ({ id: `m${i}`, role: 'mds' as const, dir: join(dir.path, `m${i}`), port: 0, proc: undefined })),
      ...[1, 2, 3].map((i) => ({ id: `d${i}`, role: 'ds' as const, dir: join(dir.path, `d${i}`), port: 0, proc: undefined })),
    ];
    await Promise.all(this.members.map((m) => this.spawn(m)));
    await writeFile(join(dir.path, 'secret'), SECRET + '\n');
    this.vf = parseVolumeFile({
      format: 2, name: this.o.volume, volumeId: this.o.volume, buckets: 65536, secret: { file: 'secret' }, replica: 3,
      mds: [{ id: 'mds-0', bricks: this.setOf('mds').map((m) => ({ id: m.id, url: m.proc!.url })) }],
      ds: [{ id: 'ds-0', bricks: this.setOf('ds').map((m) => ({ id: m.id, url: m.proc!.url })) }],
    }, 'test');
    this.volfile = join(dir.path, 'volume.json');
    await writeVolumeFile(this.volfile, this.vf);
    await installLayout(this.vf, SECRET);
    await this.primaryOf('mds');
    await this.primaryOf('ds');
    this.v = await Volume.open(this.volfile);
  }

  async stop(): Promise<void> {
    await this.v?.close();
    for (const c of this.clients.values()) await c.close();
    await Promise.all(this.members.map((m) => m.proc?.stop()));
    await this.dir?.cleanup();
  }

  /** Starts member `m` (on `port` when given: a restart keeps its URL), with `env` and `args` (flags of `dht2 brick`) added. */
  async spawn(m: Member, port?: number, env?: Record<string, string>, args: string[] = []): Promise<void> {
    const all = { ...this.o.env, ...env };
    m.proc = await spawnBrick({
      dir: m.dir, role: m.role, secret: SECRET, volumeId: this.o.volume, args: ['--brick-id', m.id, ...args],
      ...(Object.keys(all).length > 0 ? { env: all } : {}), ...(port ? { port } : {}),
      onLog: (l) => {
        if (this.o.logVar && process.env[this.o.logVar]) console.log(m.id, l);
        this.o.onLog?.(m, l);
      },
    });
    m.port = m.proc.port;
  }

  member(id: string): Member {
    const m = this.members.find((x) => x.id === id);
    if (!m) throw new Error(`no member ${id}`);
    return m;
  }

  client(id: string): BrickClient {
    let c = this.clients.get(id);
    if (!c) {
      c = new BrickClient({ url: `http://127.0.0.1:${this.member(id).port}`, secret: SECRET, brickId: id, timeoutMs: 10_000 });
      this.clients.set(id, c);
    }
    return c;
  }

  status(id: string): Promise<ReplStatus | undefined> {
    return this.client(id).call('rstatus', {}, { timeoutMs: 2000 }).catch(() => undefined);
  }

  setOf(role: 'mds' | 'ds'): Member[] {
    return this.members.filter((m) => m.role === role);
  }

  /** The member of the set that is primary with a valid lease (among `among` when given), polled. */
  async primaryOf(role: 'mds' | 'ds', within = 10_000, among?: string[]): Promise<string> {
    const end = Date.now() + within;
    while (Date.now() < end) {
      for (const m of this.setOf(role)) {
        if (among && !among.includes(m.id)) continue;
        const s = m.proc ? await this.status(m.id) : undefined;
        if (s?.role === 'primary' && s.leaseValid) return m.id;
      }
      await delay(50);
    }
    throw new Error(`no primary in the ${role} set within ${within} ms`);
  }

  /** `n` bytes of the seeded generator. */
  body(n: number): Buffer {
    return Buffer.from(Array.from({ length: n }, () => Math.floor(this.rand() * 256)));
  }

  async put(path: string, b: Buffer): Promise<void> {
    await this.v.writeFile(path, Readable.from([b]));
    this.files.set(path, b);
  }

  /** Every file `put` wrote reads back through the volume as written. */
  async readAll(): Promise<void> {
    for (const [path, b] of this.files) {
      const r = await this.v.openRead(path);
      assert.ok((await bytesOf(r.body)).equals(b), `${path} reads back as written`);
    }
  }

  /** Every running member of the set is rebuilt (no rebuild under way) and has applied its primary's commit index. */
  async caughtUp(role: 'mds' | 'ds', within = 20_000): Promise<void> {
    const ids = this.setOf(role).filter((m) => m.proc).map((m) => m.id);
    const end = Date.now() + within;
    for (;;) {
      const st = await Promise.all(ids.map((id) => this.status(id)));
      const p = st.find((s) => s?.role === 'primary');
      if (p && st.every((s) => s && !s.rebuild && s.appliedIndex === p.commitIndex)) return;
      if (Date.now() > end) throw new Error(`not caught up: ${JSON.stringify(st.map((s) => s && [s.brick, s.role, s.firstIndex, s.appliedIndex, s.commitIndex, s.rebuild?.phase]))}`);
      await delay(50);
    }
  }

  /** Once caught up, the running members' digests are equal; answers the number of handles. */
  async equalDigests(role: 'mds' | 'ds'): Promise<number> {
    await this.caughtUp(role);
    const ids = this.setOf(role).filter((m) => m.proc).map((m) => m.id);
    const r = await compareReplicas(ids.map((id) => ({ id, fops: this.client(id) })));
    assert.equal(r.missing + r.differs, 0, `replicas of the ${role} set differ: ${JSON.stringify(r.diffs.slice(0, 5))}`);
    return r.handles;
  }

  /** `dht2 <args> --volfile <the volume>` as a user runs it. */
  async cli(...args: string[]): Promise<{ code: number; out: string }> {
    try {
      const r = await run(process.execPath, [DHT2_BIN, ...args, '--volfile', this.volfile], { timeout: 90_000 });
      return { code: 0, out: r.stdout };
    } catch (e) {
      const x = e as { code?: number; stdout?: string; stderr?: string };
      return { code: x.code ?? -1, out: `${x.stdout ?? ''}${x.stderr ?? ''}` };
    }
  }

  /** The set's primary is stopped (and started again) until the election falls on `id`. */
  async makePrimary(id: string, attempts = 8): Promise<void> {
    const r = this.member(id);
    for (let attempt = 0; attempt < attempts; attempt++) {
      const p = await this.primaryOf(r.role);
      if (p === r.id) return;
      const pm = this.member(p);
      await pm.proc!.stop();
      pm.proc = undefined;
      await this.primaryOf(r.role, 10_000, this.setOf(r.role).filter((m) => m !== pm).map((m) => m.id));
      await this.spawn(pm, pm.port);
    }
    assert.equal(await this.primaryOf(r.role), r.id, `${r.id} was elected primary of its set`);
  }
}
