/** Formatting a brick directory and refusing one that is not ours. */
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { once } from 'node:events';
import { readFile, writeFile, mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { BOOT_ID_PATH, lockBrickDir } from '../../brick/posix2/format.js';
import { PosixStore } from '../../brick/posix2/store.js';
import { spawnBrick } from '../../brick/spawn.js';
import { rejectsErrno } from '../helpers/assert-errno.js';
import { procState } from '../helpers/proc.js';
import { SECRET, tmpDir } from '../helpers/tmp.js';

describe('brick format and identity', () => {
  let dir: Awaited<ReturnType<typeof tmpDir>>;
  beforeEach(async () => { dir = await tmpDir('fmt'); });
  afterEach(async () => { await dir.cleanup(); });

  it('formats a new directory with an identity file and opens it again', async () => {
    const b = join(dir.path, 'b');
    const s = await PosixStore.open({ dir: b, role: 'mds', volumeId: 'v1', brickId: 'm0' });
    await s.close();
    const id = JSON.parse(await readFile(join(b, '.dht2', 'identity.json'), 'utf8')) as Record<string, unknown>;
    assert.equal(id.volumeId, 'v1');
    assert.equal(id.brickId, 'm0');
    assert.equal(id.role, 'mds');
    assert.equal(id.format, 2);
    const again = await PosixStore.open({ dir: b, role: 'mds', volumeId: 'v1' });
    assert.equal(again.identity.brickId, 'm0');
    await again.close();
  });

  it('refuses another volume, another role, a newer format, a foreign non-empty directory, a second server', async () => {
    const b = join(dir.path, 'b');
    await (await PosixStore.open({ dir: b, role: 'ds', volumeId: 'v1' })).close();
    assert.match((await rejectsErrno(PosixStore.open({ dir: b, role: 'ds', volumeId: 'v2' }), 'EINVAL')).message, /belongs to volume v1/);
    assert.match((await rejectsErrno(PosixStore.open({ dir: b, role: 'mds', volumeId: 'v1' }), 'EINVAL')).message, /is a ds brick/);
    const idPath = join(b, '.dht2', 'identity.json');
    const id = JSON.parse(await readFile(idPath, 'utf8')) as Record<string, unknown>;
    await writeFile(idPath, JSON.stringify({ ...id, format: 99 }));
    assert.match((await rejectsErrno(PosixStore.open({ dir: b, role: 'ds' }), 'EINVAL')).message, /newer/);
    await writeFile(idPath, JSON.stringify(id));
    const foreign = join(dir.path, 'foreign');
    await mkdir(foreign);
    await writeFile(join(foreign, 'precious.txt'), 'x');
    assert.match((await rejectsErrno(PosixStore.open({ dir: foreign, role: 'ds' }), 'EINVAL')).message, /not empty/);
    const s = await PosixStore.open({ dir: b, role: 'ds', volumeId: 'v1' });
    try {
      await rejectsErrno(PosixStore.open({ dir: b, role: 'ds', volumeId: 'v1' }), 'EBUSY');
    } finally {
      await s.close();
    }
    await rejectsErrno(PosixStore.open({ dir: b, role: 'ds', volumeId: 'bad id!' }), 'EINVAL');
    // A brick whose identity file was lost is not formatted over its data.
    const s2 = await PosixStore.open({ dir: b, role: 'ds', volumeId: 'v1' });
    await s2.call('dcreate', { gfid: '0123abcd-0000-4000-8000-000000000001' });
    await s2.close();
    const { rm } = await import('node:fs/promises');
    await rm(idPath);
    assert.match((await rejectsErrno(PosixStore.open({ dir: b, role: 'ds', volumeId: 'v1' }), 'EINVAL')).message, /holds brick data but no/);
  });

  it('the brick process exits with a clear message for a directory of another volume', async () => {
    const b = join(dir.path, 'b');
    const first = await spawnBrick({ dir: b, role: 'mds', secret: SECRET, volumeId: 'v1' });
    await first.stop();
    await assert.rejects(spawnBrick({ dir: b, role: 'mds', secret: SECRET, volumeId: 'v2' }), /belongs to volume v1, not v2/);
    await assert.rejects(spawnBrick({ dir: b, role: 'mds', secret: 'short' }), /the cluster secret is 5 bytes; it must be at least 16/);
  });

  it('issue 13: a lock naming a zombie process (state Z, not yet reaped) is stale', async () => {
    // `sleep` never waits for children, so the backgrounded `sleep 0.3` stays a zombie of the
    // exec'd `sleep 30` until that one dies. (A `sleep 0` could end before the exec, and bash
    // reaped it then: no zombie, seen once under load.)
    const parent = spawn('bash', ['-c', 'sleep 0.3 & echo $!; exec sleep 30'], { stdio: ['ignore', 'pipe', 'ignore'] });
    try {
      const [line] = (await once(parent.stdout!, 'data')) as [Buffer];
      const zombie = Number(line.toString().trim());
      for (let i = 0; i < 150 && procState(zombie) !== 'Z'; i++) await new Promise((r) => setTimeout(r, 20));
      assert.equal(procState(zombie), 'Z', `process ${zombie} is a zombie`);
      const b = join(dir.path, 'b');
      await mkdir(join(b, '.dht2'), { recursive: true });
      await writeFile(join(b, '.dht2', 'lock'), String(zombie));
      const lock = await lockBrickDir(b);
      assert.equal((await readFile(join(b, '.dht2', 'lock'), 'utf8')).split('\n')[0], String(process.pid));
      await lock.release();
    } finally {
      parent.kill('SIGKILL');
    }
  });

  it('ON-DISK-FORMAT §2.2, §6.5: the lock records the boot id; a stale lock of another boot is reported and its mark carried until cleared', async () => {
    const boot = (await readFile(BOOT_ID_PATH, 'utf8')).trim();
    const b = join(dir.path, 'b');
    await mkdir(join(b, '.dht2'), { recursive: true });
    const path = join(b, '.dht2', 'lock');
    const dead = spawnSync('true').pid!; // a pid that has exited
    // A process crash (same boot): stale, nothing lost from the page cache.
    await writeFile(path, `${dead}\n${boot}\n`);
    let lock = await lockBrickDir(b);
    assert.equal(lock.rebooted, false);
    assert.equal(await readFile(path, 'utf8'), `${process.pid}\n${boot}\n`);
    await lock.release();
    // Another boot: reported, and the mark carried by the new lock, across a crash before it is cleared.
    await writeFile(path, `${dead}\n00000000-0000-0000-0000-000000000000\n`);
    lock = await lockBrickDir(b);
    assert.equal(lock.rebooted, true);
    assert.equal(await readFile(path, 'utf8'), `${process.pid}\n${boot}\nrebooted\n`);
    // Released before the mark was acted on (an open that failed, a stop first): the lock stays, mark and all.
    await lock.release();
    assert.equal(await readFile(path, 'utf8'), `${process.pid}\n${boot}\nrebooted\n`);
    lock = await lockBrickDir(b);
    assert.equal(lock.rebooted, true, 'the next start still finds the mark');
    await lock.release();
    await writeFile(path, `${dead}\n${boot}\nrebooted\n`); // as a crash before the mark was cleared leaves it
    lock = await lockBrickDir(b);
    assert.equal(lock.rebooted, true);
    await lock.clearRebooted();
    assert.equal(await readFile(path, 'utf8'), `${process.pid}\n${boot}\n`);
    await lock.release();
    await assert.rejects(readFile(path, 'utf8'), /ENOENT/, 'a lock whose mark was cleared goes at release');
    // An older lock (a pid only) says nothing of a reboot.
    await writeFile(path, String(dead));
    lock = await lockBrickDir(b);
    assert.equal(lock.rebooted, false);
    await lock.release();
  });

  it('issue 13: a start waits a little for an owner that is exiting, and gives up on one that is not', async () => {
    const b = join(dir.path, 'b');
    await mkdir(join(b, '.dht2'), { recursive: true });
    const owner = spawn('sleep', ['1'], { stdio: 'ignore' });
    const exited = once(owner, 'exit');
    try {
      await writeFile(join(b, '.dht2', 'lock'), String(owner.pid));
      const lock = await lockBrickDir(b);
      assert.equal((await readFile(join(b, '.dht2', 'lock'), 'utf8')).split('\n')[0], String(process.pid));
      await lock.release();
    } finally {
      owner.kill('SIGKILL');
      await exited;
    }
    const busy = spawn('sleep', ['30'], { stdio: 'ignore' });
    try {
      await writeFile(join(b, '.dht2', 'lock'), String(busy.pid));
      const t0 = Date.now();
      assert.match((await rejectsErrno(lockBrickDir(b, 300), 'EBUSY')).message, new RegExp(`already served by process ${busy.pid}`));
      assert.ok(Date.now() - t0 >= 300, 'it waited before giving up');
    } finally {
      busy.kill('SIGKILL');
    }
  });
});
