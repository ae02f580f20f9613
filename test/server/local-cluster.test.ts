/**
 * `dht2 local` (what `npm start` runs) as a user starts it: the banner with the endpoint and
 * credentials, the README's aws-cli and curl examples against it, a brick that dies being
 * restarted, data kept across a restart, and SIGTERM stopping every child.
 */
import assert from 'node:assert/strict';
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { DHT2_BIN } from '../../brick/spawn.js';
import { tmpDir } from '../helpers/tmp.js';

const run = promisify(execFile);

/** Starts `dht2 local` and resolves once its banner says it is ready. */
async function startLocal(dataDir: string, port: number, brickBase: number): Promise<{ child: ChildProcess; out: () => string }> {
  const child = spawn(process.execPath, [DHT2_BIN, 'local'], {
    env: { ...process.env, DHT2_DATA_DIR: dataDir, DHT2_PORT: String(port), DHT2_BRICK_PORT_BASE: String(brickBase), DHT2_LOG_LEVEL: 'info' },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  child.stdout!.on('data', (d: Buffer) => { out += d.toString(); });
  child.stderr!.on('data', (d: Buffer) => { out += d.toString(); });
  await new Promise<void>((resolve, reject) => {
    const t = setInterval(() => { if (out.includes('DHT2 Gateway is ready')) { clearInterval(t); resolve(); } }, 100);
    child.once('exit', (c) => { clearInterval(t); reject(new Error(`dht2 local exited ${c}: ${out}`)); });
  });
  return { child, out: () => out };
}

/** Pids of every brick process the cluster started, from its 'brick started' log lines. */
function brickPids(out: string): number[] {
  return [...out.matchAll(/\{[^\n]*"msg":"brick started"[^\n]*\}/g)].map((m) => (JSON.parse(m[0]) as { pid: number }).pid);
}

const alive = (pid: number) => { try { process.kill(pid, 0); return true; } catch { return false; } };

describe('dht2 local (npm start)', function () {
  this.timeout(180_000);
  let tmp: Awaited<ReturnType<typeof tmpDir>>;
  before(async () => { tmp = await tmpDir('local'); });
  after(async () => { await tmp.cleanup(); });

  it('prints endpoint and credentials, serves the README examples, restarts a dead brick, keeps data, stops cleanly', async () => {
    const port = 20000 + Math.floor(Math.random() * 8000);
    const data = join(tmp.path, 'data');
    const first = await startLocal(data, port, port + 1);
    const url = `http://127.0.0.1:${port}`;
    assert.match(first.out(), new RegExp(`DHT2 Gateway is ready: ${url}`));
    assert.match(first.out(), /access key: dht2admin/);
    assert.match(first.out(), /aws --endpoint-url http:\/\/127\.0\.0\.1:\d+ s3 mb s3:\/\/demo/);
    const env = { ...process.env, AWS_ACCESS_KEY_ID: 'dht2admin', AWS_SECRET_ACCESS_KEY: 'dht2admin-secret', AWS_DEFAULT_REGION: 'us-east-1', AWS_CONFIG_FILE: '/dev/null', AWS_SHARED_CREDENTIALS_FILE: '/dev/null' };
    const aws = (...a: string[]) => run('aws', ['--endpoint-url', url, ...a], { env }).then((r) => r.stdout);
    const curl = (...a: string[]) => run('curl', ['-sS', '-f', '-u', 'dht2admin:dht2admin-secret', ...a]).then((r) => r.stdout);
    // The README's "Try it" commands.
    const readme = join(tmp.path, 'README.md');
    await writeFile(readme, await readFile(new URL('../../../README.md', import.meta.url)));
    await aws('s3', 'mb', 's3://demo');
    await aws('s3', 'cp', readme, 's3://demo/docs/README.md');
    assert.match(await aws('s3', 'ls', '--recursive', 's3://demo/'), /docs\/README\.md/);
    assert.equal(await curl(`${url}/fs/demo/docs/README.md`), await readFile(readme, 'utf8'));
    const notes = join(tmp.path, 'notes.txt');
    await writeFile(notes, 'today');
    await curl('-T', notes, `${url}/fs/demo/notes/today.txt?parents=1`);
    assert.match(await curl(`${url}/fs/demo/?detail=1`), /"name":"notes"/);
    assert.match(await run('curl', ['-sS', `${url}/-/ready`]).then((r) => r.stdout), /"status":"ready"/);
    // A brick that dies is reported and restarted.
    const pids = brickPids(first.out());
    assert.equal(pids.length, 5);
    process.kill(pids[3]!, 'SIGKILL');
    for (let i = 0; i < 100 && !/brick died; restarting/.test(first.out()); i++) await new Promise((r) => setTimeout(r, 100));
    assert.match(first.out(), /brick died; restarting/);
    for (let i = 0; i < 100 && brickPids(first.out()).length < 6; i++) await new Promise((r) => setTimeout(r, 100));
    assert.equal(brickPids(first.out()).length, 6, 'a new brick process started');
    assert.equal(await curl(`${url}/fs/demo/notes/today.txt`), 'today');
    // SIGTERM stops the gateway and every brick.
    const all = brickPids(first.out());
    first.child.kill('SIGTERM');
    await new Promise((r) => first.child.once('exit', r));
    for (let i = 0; i < 50 && all.some(alive); i++) await new Promise((r) => setTimeout(r, 100));
    assert.deepEqual(all.filter(alive), [], 'every brick stopped');
    // A second start on the same folder serves the same data.
    const second = await startLocal(data, port, port + 1);
    try {
      assert.equal(await curl(`${url}/fs/demo/notes/today.txt`), 'today');
      assert.match(await aws('s3', 'ls', 's3://demo/docs/'), /README\.md/);
    } finally {
      second.child.kill('SIGTERM');
      await new Promise((r) => second.child.once('exit', r));
    }
  });
});
