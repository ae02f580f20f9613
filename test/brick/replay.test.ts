/**
 * An attacker between the gateway and a data brick (test/helpers/h2-mitm.ts, a real HTTP/2
 * proxy in front of a real brick process): a captured brick request is never accepted twice,
 * also after the brick restarts, and a data body changed on the way, or sent without its MAC
 * trailer, is refused before any of it becomes visible (docs/PROTOCOL.md §3).
 */
import assert from 'node:assert/strict';
import { readFile, readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { spawnBrick, type BrickProcess } from '../../brick/spawn.js';
import { tmpDir as brickTmpDir } from '../../brick/posix2/format.js';
import { handlePath } from '../../brick/posix2/handles.js';
import { newGfid } from '../../dht2-core/gfid.js';
import { BrickClient } from '../../dht2-core/rpc/brick-client.js';
import { rejectsErrno, text } from '../helpers/assert-errno.js';
import { replay, startH2Mitm, type CapturedRequest, type H2Mitm } from '../helpers/h2-mitm.js';
import { SECRET, tmpDir } from '../helpers/tmp.js';

const body = (s: string): Readable => Readable.from([Buffer.from(s)]);

describe('brick requests: no replay, no tampered body', function () {
  this.timeout(120_000);
  let dir: Awaited<ReturnType<typeof tmpDir>>;
  let brickDir: string;
  let brick: BrickProcess;
  let mitm: H2Mitm;
  let c: BrickClient;

  const content = (gfid: string): Promise<string> => readFile(handlePath(brickDir, gfid), 'utf8');
  const tmpFiles = (): Promise<string[]> => readdir(brickTmpDir(brickDir));
  const last = (fop: string): CapturedRequest => {
    const r = mitm.captured.filter((q) => q.headers[':path']?.endsWith(`/${fop}`)).at(-1);
    assert.ok(r, `no ${fop} captured`);
    return r;
  };

  before(async () => {
    dir = await tmpDir('replay');
    brickDir = join(dir.path, 'ds');
    brick = await spawnBrick({ dir: brickDir, role: 'ds', secret: SECRET, volumeId: 'rv' });
    mitm = await startH2Mitm(brick.url);
    c = new BrickClient({ url: mitm.url, secret: SECRET });
  });
  afterEach(() => {
    mitm.tamper = undefined;
    mitm.dropTrailers = false;
  });
  after(async () => {
    await c.close();
    await mitm.close();
    await brick.stop();
    await dir.cleanup();
  });

  it('refuses a captured request replayed, before and after the brick restarts', async () => {
    const g = newGfid();
    await c.upload('dput', { gfid: g }, body('first'));
    const put = last('dput');
    await c.call('dunlink', { gfid: g });
    const unlink = last('dunlink');
    await c.upload('dput', { gfid: g }, body('second'));

    for (const when of ['before the restart', 'after the restart']) {
      const u = await replay(brick.url, unlink);
      assert.ok(u.status === 401 || u.status === 403, `dunlink replayed ${when}: ${u.status} ${u.body}`);
      assert.match(u.body, /"errno":"EACCES"/);
      const p = await replay(brick.url, put);
      assert.ok(p.status === 401 || p.status === 403, `dput replayed ${when}: ${p.status} ${p.body}`);
      assert.equal(await content(g), 'second', `a replay ${when} changed the object`);
      if (when === 'before the restart') {
        await brick.stop();
        brick = await spawnBrick({ dir: brickDir, role: 'ds', secret: SECRET, port: brick.port });
      }
    }
    assert.deepEqual(await tmpFiles(), []);
    // The client goes on. Its connection to the proxy outlived the brick: its first request
    // after the restart, signed for the old boot, is refused with the new epoch and sent again.
    assert.equal(await text((await c.download('dread', { gfid: g })).body), 'second');
    await c.upload('dput', { gfid: g }, body('third'));
    assert.equal(await content(g), 'third');
    // A client on a new connection learns the new boot in its hello, for a streamed upload too.
    const fresh = new BrickClient({ url: mitm.url, secret: SECRET });
    try {
      await fresh.upload('dput', { gfid: g }, body('fourth'));
      assert.equal(await content(g), 'fourth');
    } finally {
      await fresh.close();
    }
  });

  it('refuses unapplied an upload signed for a boot that is gone, as ENOTCONN (may be sent again)', async () => {
    const g = newGfid();
    await c.upload('dput', { gfid: g }, body('before'));
    await brick.stop();
    brick = await spawnBrick({ dir: brickDir, role: 'ds', secret: SECRET, port: brick.port });
    // The upload's body cannot be sent twice: refused unapplied, as ENOTCONN (the gateway's 503).
    const e = await rejectsErrno(c.upload('dput', { gfid: g }, body('after')), 'ENOTCONN');
    assert.match(e.message, /send it again/);
    assert.equal(await content(g), 'before');
    await c.upload('dput', { gfid: g }, body('after'));
    assert.equal(await content(g), 'after');
  });

  it('refuses a dput whose body was changed on the way and keeps the old object', async () => {
    const g = newGfid();
    await c.upload('dput', { gfid: g }, body('original content'));
    mitm.tamper = (b) => { const t = Buffer.from(b); t[0] = t[0]! ^ 1; return t; };
    await rejectsErrno(c.upload('dput', { gfid: g }, body('replacement body')), 'EACCES');
    assert.equal(await content(g), 'original content');
    assert.deepEqual(await tmpFiles(), []);
  });

  it('refuses in-place writes and appends whose body was changed on the way, before any byte lands', async () => {
    const g = newGfid();
    await c.upload('dput', { gfid: g }, body('0123456789'));
    mitm.tamper = (b) => { const t = Buffer.from(b); t[t.length - 1] = t[t.length - 1]! ^ 1; return t; };
    await rejectsErrno(c.upload('dwrite', { gfid: g, offset: 2 }, body('ABCD')), 'EACCES');
    await rejectsErrno(c.upload('dwrite', { gfid: g, offset: 0, append: true }, body('tail')), 'EACCES');
    assert.equal(await content(g), '0123456789');
    const fresh = newGfid();
    await rejectsErrno(c.upload('dwrite', { gfid: fresh, offset: 0, create: true }, body('new object')), 'EACCES');
    await assert.rejects(content(fresh), { code: 'ENOENT' }, 'a refused create-write left an object');
    assert.deepEqual(await tmpFiles(), []);
    mitm.tamper = undefined;
    await c.upload('dwrite', { gfid: g, offset: 2 }, body('ABCD'));
    await c.upload('dwrite', { gfid: g, offset: 0, append: true }, body('!'));
    assert.equal(await content(g), '01ABCD6789!');
  });

  it('refuses a data body without its MAC trailer', async () => {
    const g = newGfid();
    await c.upload('dput', { gfid: g }, body('kept'));
    mitm.dropTrailers = true;
    await rejectsErrno(c.upload('dput', { gfid: g }, body('lost')), 'EACCES');
    await rejectsErrno(c.upload('dwrite', { gfid: g, offset: 0 }, body('LOST')), 'EACCES');
    assert.equal(await content(g), 'kept');
    assert.deepEqual(await tmpFiles(), []);
  });
});
