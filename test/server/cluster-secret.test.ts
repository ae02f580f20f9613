/**
 * Issue 14, deployment defaults: the cluster secret. Every example secret printed in the
 * project's files is refused; a new volume (a brick directory formatted, `dht2 volume create`,
 * the first `dht2 local`) needs 32 bytes and the refusal says how to make one; an existing volume
 * with a 16-31 byte secret starts with a warning pointing to the rotation steps. All through the
 * real `dht2` processes.
 */
import assert from 'node:assert/strict';
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { existsSync } from 'node:fs';
import { readdir, readFile, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { promisify } from 'node:util';
import { DHT2_BIN, spawnBrick } from '../../brick/spawn.js';
import { EXAMPLE_SECRETS } from '../../dht2-core/protocol/index.js';
import { SECRET, tmpDir } from '../helpers/tmp.js';

const run = promisify(execFile);
const ROOT = new URL('../../../', import.meta.url);

/** `DHT2_CLUSTER_SECRET=VALUE` (or `: VALUE`) written literally in the README, docs, env example and compose files. */
async function documentedSecrets(): Promise<Map<string, string>> {
  const files = ['README.md', '.env.example', 'docker-compose.yml', 'docker-compose.host.yml', 'Dockerfile',
    ...(await readdir(new URL('docs/', ROOT))).map((f) => `docs/${f}`)];
  const found = new Map<string, string>();
  for (const f of files) {
    const text = await readFile(new URL(f, ROOT), 'utf8');
    for (const m of text.matchAll(/DHT2_CLUSTER_SECRET\s*[=:]\s*["']?([A-Za-z0-9_+=-][^\s"'`$]*)/g)) found.set(m[1]!, f);
    // And any value the docs call an example secret in prose: `change-me…`.
    for (const m of text.matchAll(/`(change-?me[^`\s]*)`/gi)) found.set(m[1]!, f);
  }
  return found;
}

const MAKE_ONE = /make one with `openssl rand -hex 32`/;

/** Expects the brick process to refuse to start with a message matching `re`; one that starts anyway is stopped. */
async function refusedBrick(o: Parameters<typeof spawnBrick>[0], re: RegExp, what: string): Promise<void> {
  const b = await spawnBrick(o).catch((e: Error) => e);
  if (!(b instanceof Error)) {
    await b.stop();
    assert.fail(`${what}: the brick started`);
  }
  assert.match(b.message, re, what);
}

/** Waits for a child to exit, killing it after `ms` (a start that should have been refused must not hang the run). */
async function exitOf(child: ChildProcess, ms = 60_000): Promise<number | null> {
  const timer = setTimeout(() => child.kill('SIGTERM'), ms);
  try {
    if (child.exitCode !== null) return child.exitCode;
    const [code] = await once(child, 'exit') as [number | null];
    return code;
  } finally {
    clearTimeout(timer);
  }
}

describe('cluster secret (issue 14)', function () {
  this.timeout(120_000);
  let tmp: Awaited<ReturnType<typeof tmpDir>>;
  before(async () => { tmp = await tmpDir('secret'); });
  after(async () => { await tmp.cleanup(); });

  it('every example secret of the README, docs, .env.example and compose files is refused, on a new brick and on an existing one', async () => {
    const documented = await documentedSecrets();
    const examples = new Set([...EXAMPLE_SECRETS, ...documented.keys()]);
    // The compose example of the review, whatever the files say today.
    assert.ok(examples.has('change-me-use-openssl-rand-hex-24'));
    const existing = join(tmp.path, 'existing');
    await (await spawnBrick({ dir: existing, role: 'ds', secret: SECRET, volumeId: 'ex' })).stop();
    for (const example of examples) {
      const where = documented.get(example) ?? 'EXAMPLE_SECRETS';
      const fresh = join(tmp.path, `fresh-${Math.random().toString(36).slice(2)}`);
      await refusedBrick({ dir: fresh, role: 'ds', secret: example }, /an example value from the documentation.*make one with `openssl rand -hex 32`/,
        `${example} (${where}) on a new brick`);
      assert.equal(existsSync(join(fresh, '.dht2')), false, 'nothing formatted');
      await refusedBrick({ dir: existing, role: 'ds', secret: example, volumeId: 'ex' },
        /an example value from the documentation.*rotate it \(docs\/VOLUME-FILE\.md/, `${example} (${where}) on an existing brick`);
    }
  });

  it('a new brick directory needs 32 bytes: a 31-byte secret is refused before anything is written, with how to make one', async () => {
    const dir = join(tmp.path, 'new31');
    const short = 'x'.repeat(31);
    await refusedBrick({ dir, role: 'mds', secret: short, volumeId: 'n' },
      /the cluster secret is 31 bytes; a new volume needs at least 32: make one with `openssl rand -hex 32`/, 'a 31-byte secret on a new brick');
    assert.equal(existsSync(join(dir, '.dht2')), false);
    // Bytes, not characters: 16 two-byte characters are 32 bytes.
    const b = await spawnBrick({ dir, role: 'mds', secret: 'é'.repeat(16), volumeId: 'n' });
    await b.stop();
  });

  it('an existing brick with a 20-byte secret starts, and logs a warning that says how to rotate it', async () => {
    const dir = join(tmp.path, 'old20');
    await (await spawnBrick({ dir, role: 'ds', secret: SECRET, volumeId: 'o' })).stop();
    const lines: string[] = [];
    const b = await spawnBrick({ dir, role: 'ds', secret: 'twenty-bytes-secret!', volumeId: 'o', onLog: (l) => lines.push(l) });
    await b.stop();
    const warn = lines.map((l) => JSON.parse(l) as { level: number; msg: string }).find((r) => r.level === 40);
    assert.ok(warn, `a warning among: ${lines.join('\n')}`);
    assert.match(warn.msg, /the cluster secret is 20 bytes, shorter than the 32 a new volume needs/);
    assert.match(warn.msg, /rotate it \(docs\/VOLUME-FILE\.md, "Rotating the cluster secret"\)/);
  });

  it('dht2 volume create refuses a short or example secret and writes nothing; --allow-short-secret takes a short one with a warning', async () => {
    const out = join(tmp.path, 'created.json');
    const create = (secret: string, ...more: string[]) => run(process.execPath, [DHT2_BIN, 'volume', 'create', '--no-check', '--name', 'c', '--volume-id', 'c',
      '--mds', 'mds0=http://127.0.0.1:1', '--ds', 'ds0=http://127.0.0.1:2', '-o', out, ...more], { env: { ...process.env, DHT2_CLUSTER_SECRET: secret } });
    await assert.rejects(create('twenty-bytes-secret!'), (e: { code: number; stderr: string }) =>
      e.code === 1 && /dht2: EINVAL: the cluster secret is 20 bytes; a new volume needs at least 32/.test(e.stderr) && MAKE_ONE.test(e.stderr));
    assert.equal(existsSync(out), false);
    await assert.rejects(create('change-me-use-openssl-rand-hex-24', '--allow-short-secret'), /an example value from the documentation/);
    assert.equal(existsSync(out), false);
    const ok = await create('twenty-bytes-secret!', '--allow-short-secret');
    assert.match(ok.stderr, /dht2: warning: the cluster secret is 20 bytes/);
    assert.ok(existsSync(out));
    const good = await run(process.execPath, [DHT2_BIN, 'volume', 'create', '--no-check', '--name', 'c', '--volume-id', 'c',
      '--mds', 'mds0=http://127.0.0.1:1', '--ds', 'ds0=http://127.0.0.1:2', '-o', out], { env: { ...process.env, DHT2_CLUSTER_SECRET: SECRET } });
    assert.equal(good.stderr, '');
  });

  it('the gateway of an existing volume with a short secret starts and logs the warning', async () => {
    const short = 'twenty-bytes-secret!';
    const dirs = { mds0: join(tmp.path, 'gw-mds0'), ds0: join(tmp.path, 'gw-ds0') };
    await (await spawnBrick({ dir: dirs.mds0, role: 'mds', secret: SECRET, volumeId: 'gw', args: ['--brick-id', 'mds0'] })).stop();
    await (await spawnBrick({ dir: dirs.ds0, role: 'ds', secret: SECRET, volumeId: 'gw', args: ['--brick-id', 'ds0'] })).stop();
    const mds = await spawnBrick({ dir: dirs.mds0, role: 'mds', secret: short, volumeId: 'gw', args: ['--brick-id', 'mds0'] });
    const ds = await spawnBrick({ dir: dirs.ds0, role: 'ds', secret: short, volumeId: 'gw', args: ['--brick-id', 'ds0'] });
    try {
      const volfile = join(tmp.path, 'gw.json');
      await writeFile(join(tmp.path, 'gw.secret'), short + '\n');
      await writeFile(volfile, JSON.stringify({ format: 1, name: 'gw', volumeId: 'gw', buckets: 65536, secret: { file: 'gw.secret' },
        mds: [{ id: 'mds0', url: mds.url }], ds: [{ id: 'ds0', url: ds.url }] }));
      const gw = spawn(process.execPath, [DHT2_BIN, 'gateway', '--volfile', volfile, '--port', '0'], { stdio: ['ignore', 'pipe', 'pipe'] });
      const records: Array<{ level: number; msg: string; url?: string }> = [];
      let stderr = '';
      gw.stderr!.on('data', (d: Buffer) => { stderr += d.toString(); });
      const listening = new Promise<string>((resolve, reject) => {
        createInterface({ input: gw.stdout! }).on('line', (l) => {
          const r = JSON.parse(l) as { level: number; msg: string; url?: string };
          records.push(r);
          if (r.msg === 'gateway listening') resolve(r.url!);
        });
        gw.once('exit', (c) => reject(new Error(`gateway exited ${c}: ${stderr}`)));
      });
      try {
        const url = await listening;
        assert.equal((await fetch(`${url}/-/ready`)).status, 200, 'the volume serves');
        const warn = records.find((r) => r.level === 40);
        assert.match(warn?.msg ?? '', /the cluster secret is 20 bytes.*rotate it/);
      } finally {
        gw.kill('SIGTERM');
        await exitOf(gw);
      }
    } finally {
      await mds.stop();
      await ds.stop();
    }
  });

  it('dht2 local makes a 32-byte secret on the first start, refuses a short hand-written one for a new folder', async () => {
    const data = join(tmp.path, 'local-short');
    const { mkdir } = await import('node:fs/promises');
    await mkdir(data);
    await writeFile(join(data, 'cluster.secret'), 'twenty-bytes-secret!\n');
    const port = 20000 + Math.floor(Math.random() * 8000);
    const child = spawn(process.execPath, [DHT2_BIN, 'local'], {
      env: { ...process.env, DHT2_DATA_DIR: data, DHT2_PORT: String(port), DHT2_BRICK_PORT_BASE: String(port + 1) },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    child.stdout!.on('data', (d: Buffer) => { out += d.toString(); });
    child.stderr!.on('data', (d: Buffer) => { out += d.toString(); });
    assert.equal(await exitOf(child), 1, out);
    assert.match(out, /dht2: EINVAL: .*cluster\.secret: the cluster secret is 20 bytes; a new volume needs at least 32/);
    assert.match(out, MAKE_ONE);
    assert.doesNotMatch(out, /brick started/);
    // A fresh folder: the secret it makes is 32 random bytes (64 hex digits), readable by its owner only.
    const fresh = join(tmp.path, 'local-fresh');
    const started = spawn(process.execPath, [DHT2_BIN, 'local'], {
      env: { ...process.env, DHT2_DATA_DIR: fresh, DHT2_PORT: String(port), DHT2_BRICK_PORT_BASE: String(port + 1) },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out2 = '';
    started.stdout!.on('data', (d: Buffer) => { out2 += d.toString(); });
    started.stderr!.on('data', (d: Buffer) => { out2 += d.toString(); });
    try {
      for (let i = 0; i < 300 && !out2.includes('DHT2 Gateway is ready') && started.exitCode === null; i++) await new Promise((r) => setTimeout(r, 100));
      assert.match(out2, /DHT2 Gateway is ready/);
      assert.match((await readFile(join(fresh, 'cluster.secret'), 'utf8')), /^[0-9a-f]{64}\n$/);
      assert.equal((await stat(join(fresh, 'cluster.secret'))).mode & 0o777, 0o600);
    } finally {
      started.kill('SIGTERM');
      await exitOf(started);
    }
  });
});
