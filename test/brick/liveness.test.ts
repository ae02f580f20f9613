/**
 * Liveness by HTTP/2 PING (dht2-core/rpc/session.ts, ARCHITECTURE.md §10.8): a brick frozen with
 * SIGSTOP keeps its connection open, so without PINGs a call waits for the 30 s idle deadline.
 * With liveness on, the call fails with EHOSTDOWN within the PING window (not sent again to the
 * same brick), and the client reconnects once the brick runs again; a brick that is alive but
 * slow to answer is not cut.
 */
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { setTimeout as delay } from 'node:timers/promises';
import { spawnBrick, type BrickProcess } from '../../brick/spawn.js';
import { BrickClient } from '../../dht2-core/index.js';
import { ROOT_GFID } from '../../dht2-core/protocol/index.js';
import { rejectsErrno } from '../helpers/assert-errno.js';
import { startH2Mitm, type H2Mitm } from '../helpers/h2-mitm.js';
import { SECRET, tmpDir } from '../helpers/tmp.js';

const LIVENESS = { quietMs: 500, pingTimeoutMs: 1500 };

describe('brick client liveness (HTTP/2 PING)', function () {
  this.timeout(60_000);
  let dir: Awaited<ReturnType<typeof tmpDir>>;
  let brick: BrickProcess;
  let mitm: H2Mitm;

  before(async () => {
    dir = await tmpDir('liveness');
    brick = await spawnBrick({ dir: join(dir.path, 'mds'), role: 'mds', secret: SECRET, volumeId: 'lv' });
    mitm = await startH2Mitm(brick.url);
  });
  afterEach(() => {
    // Never leave a stopped brick behind a failed assertion.
    process.kill(brick.pid, 'SIGCONT');
  });
  after(async () => {
    await mitm.close();
    await brick.stop();
    await dir.cleanup();
  });

  it('fails a call to a frozen brick with EHOSTDOWN within the PING window, then reconnects', async () => {
    const c = new BrickClient({ url: brick.url, secret: SECRET, timeoutMs: 30_000, liveness: LIVENESS });
    try {
      await c.call('getattr', { gfid: ROOT_GFID });
      process.kill(brick.pid, 'SIGSTOP');
      const t0 = performance.now();
      const e = await rejectsErrno(c.call('getattr', { gfid: ROOT_GFID }), 'EHOSTDOWN');
      const took = performance.now() - t0;
      assert.ok(took >= LIVENESS.pingTimeoutMs && took < LIVENESS.quietMs + LIVENESS.pingTimeoutMs + 1500, `failed after ${Math.round(took)} ms`);
      assert.match(e.message, /did not answer a PING within 1500 ms \(frozen or cut off\)/);
      process.kill(brick.pid, 'SIGCONT');
      // A new connection to the brick, which runs again.
      assert.equal((await c.call('getattr', { gfid: ROOT_GFID })).gfid, ROOT_GFID);
    } finally {
      process.kill(brick.pid, 'SIGCONT');
      await c.close();
    }
  });

  it('without liveness the same call waits for the brick (the idle deadline of replica-1 volumes)', async () => {
    const c = new BrickClient({ url: brick.url, secret: SECRET, timeoutMs: 30_000 });
    try {
      await c.call('getattr', { gfid: ROOT_GFID });
      process.kill(brick.pid, 'SIGSTOP');
      const call = c.call('getattr', { gfid: ROOT_GFID });
      await delay(LIVENESS.quietMs + LIVENESS.pingTimeoutMs + 1000);
      process.kill(brick.pid, 'SIGCONT');
      assert.equal((await call).gfid, ROOT_GFID, 'the call completed once the brick ran again');
    } finally {
      await c.close();
    }
  });

  it('does not cut a call whose connection answers PINGs while the FOP takes long', async () => {
    // Through a proxy that answers PINGs itself while the brick behind it is stopped: the call
    // stays quiet for 3 s, the PINGs are answered, and the call completes.
    const c = new BrickClient({ url: mitm.url, secret: SECRET, timeoutMs: 30_000, liveness: LIVENESS });
    try {
      await c.call('getattr', { gfid: ROOT_GFID });
      process.kill(brick.pid, 'SIGSTOP');
      const t0 = performance.now();
      const call = c.call('getattr', { gfid: ROOT_GFID });
      await delay(3000);
      process.kill(brick.pid, 'SIGCONT');
      assert.equal((await call).gfid, ROOT_GFID);
      assert.ok(performance.now() - t0 >= 3000);
    } finally {
      await c.close();
    }
  });
});
