/**
 * Issue 13: a brick started by spawnBrick stops when the process that started it dies, even by
 * SIGKILL: at once and cleanly when idle, within ORPHAN_GRACE_MS when a request holds it up.
 */
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { PassThrough } from 'node:stream';
import { fileURLToPath } from 'node:url';
import { ORPHAN_GRACE_MS } from '../../brick/supervisor-pipe.js';
import { BrickClient } from '../../dht2-core/index.js';
import { running } from '../helpers/proc.js';
import { SECRET, tmpDir } from '../helpers/tmp.js';

const SPAWN_JS = fileURLToPath(new URL('../../brick/spawn.js', import.meta.url));

/** A supervisor of one brick in its own process, so that the test can SIGKILL it. */
async function startSupervisor(dir: string): Promise<{ supervisor: ChildProcess; pid: number; url: string }> {
  const script = `
    const { spawnBrick } = await import(${JSON.stringify(SPAWN_JS)});
    const b = await spawnBrick({ dir: ${JSON.stringify(dir)}, role: 'ds', secret: ${JSON.stringify(SECRET)}, volumeId: 'sup' });
    console.log(JSON.stringify({ pid: b.pid, url: b.url }));
    setInterval(() => undefined, 60_000);`;
  const supervisor = spawn(process.execPath, ['--input-type=module', '-e', script], { stdio: ['ignore', 'pipe', 'inherit'] });
  const [line] = (await once(supervisor.stdout!, 'data')) as [Buffer];
  return { supervisor, ...(JSON.parse(line.toString()) as { pid: number; url: string }) };
}

/** Milliseconds until `pid` no longer runs (gone, or a zombie nobody reaped yet); throws after `limitMs`. */
async function goneWithin(pid: number, limitMs: number): Promise<number> {
  const t0 = Date.now();
  while (running(pid)) {
    if (Date.now() - t0 > limitMs) {
      process.kill(pid, 'SIGKILL'); // nothing left behind by a failing run
      assert.fail(`brick ${pid} still runs ${limitMs} ms after its supervisor died`);
    }
    await new Promise((r) => setTimeout(r, 20));
  }
  return Date.now() - t0;
}

describe('issue 13: bricks do not outlive their supervisor', function () {
  this.timeout(30_000);
  let tmp: Awaited<ReturnType<typeof tmpDir>>;
  beforeEach(async () => { tmp = await tmpDir('sup'); });
  afterEach(async () => { await tmp.cleanup(); });

  it('an idle brick closes at once when its supervisor is SIGKILLed, and gives its lock back', async () => {
    const dir = join(tmp.path, 'b');
    const { supervisor, pid } = await startSupervisor(dir);
    supervisor.kill('SIGKILL');
    await goneWithin(pid, 2000);
    assert.equal(existsSync(join(dir, '.dht2', 'lock')), false, 'a clean close removes the lock');
  });

  it('a brick held up by a request in flight exits anyway after ORPHAN_GRACE_MS', async () => {
    const { supervisor, pid, url } = await startSupervisor(join(tmp.path, 'b'));
    const client = new BrickClient({ url, secret: SECRET, timeoutMs: 20_000 });
    // An upload whose body never ends: the server's graceful close would wait for it.
    const body = new PassThrough();
    body.write(Buffer.alloc(1024));
    const upload = client.upload('dput', { gfid: '0123abcd-0000-4000-8000-000000000001' }, body).catch((e: unknown) => e);
    try {
      await new Promise((r) => setTimeout(r, 300));
      supervisor.kill('SIGKILL');
      const ms = await goneWithin(pid, ORPHAN_GRACE_MS + 2000);
      assert.ok(ms >= ORPHAN_GRACE_MS - 500, `it waited for the request before giving up (${ms} ms)`);
      assert.ok(await upload instanceof Error);
    } finally {
      body.destroy();
      await client.close();
    }
  });
});
