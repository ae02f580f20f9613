/** Volume files: the documented shape, refusals with clear messages, identity checks, the CLI. */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { DHT2_BIN } from '../../brick/spawn.js';
import { Volume } from '../../dht2-core/volume.js';
import { loadVolumeFile, parseVolumeFile, resolveSecret, type VolumeFileV1 } from '../../dht2-core/volfile.js';
import { rejectsErrno } from '../helpers/assert-errno.js';
import { startCluster, type TestCluster } from '../helpers/cluster.js';
import { SECRET } from '../helpers/tmp.js';

const run = promisify(execFile);

describe('volume files', function () {
  this.timeout(60_000);
  let c: TestCluster;
  let good: VolumeFileV1;
  before(async () => {
    c = await startCluster();
    good = JSON.parse(await readFile(c.volfile, 'utf8')) as VolumeFileV1;
  });
  after(async () => { await c.stop(); });

  it('accepts the file the cluster wrote and opens the volume, checking every brick', async () => {
    assert.deepEqual(await loadVolumeFile(c.volfile), good);
    assert.equal(await resolveSecret(good, c.volfile), SECRET);
    const v = await Volume.open(c.volfile);
    assert.deepEqual((await v.brickHealth()).map((b) => [b.id, b.up, b.problem]), [
      ['mds0', true, undefined], ['mds1', true, undefined], ['ds0', true, undefined], ['ds1', true, undefined], ['ds2', true, undefined],
    ]);
    await v.close();
  });

  it('refuses malformed files and bricks named twice, saying what is wrong', async () => {
    const bad = join(c.dir, 'bad.json');
    await writeFile(bad, '{ "format": 1, ');
    assert.match((await rejectsErrno(loadVolumeFile(bad), 'EINVAL')).message, /not valid JSON/);
    assert.match((await rejectsErrno(loadVolumeFile(join(c.dir, 'missing.json')), 'ENOENT')).message, /cannot read volume file/);
    assert.throws(() => parseVolumeFile({ ...good, buckets: 1024 }), /buckets/);
    assert.throws(() => parseVolumeFile({ ...good, mds: [] }), /mds/);
    assert.throws(() => parseVolumeFile({ ...good, extra: 1 }), /extra|Unrecognized/i);
    assert.throws(() => parseVolumeFile({ ...good, ds: [...good.ds, good.ds[0]] }), /named twice/);
    assert.throws(() => parseVolumeFile({ ...good, ds: [{ id: 'dsX', url: good.mds[0]!.url }] }), /named twice/);
    assert.throws(() => parseVolumeFile({ ...good, mds: [{ id: 'm', url: 'ftp://x:1' }] }), /url|URL/);
    await rejectsErrno(resolveSecret({ ...good, secret: { env: 'DHT2_NO_SUCH_VAR' } }, c.volfile, {}), 'EINVAL');
  });

  it('refuses a volume file that disagrees with a brick\'s identity', async () => {
    const swapped = join(c.dir, 'swapped.json');
    await writeFile(swapped, JSON.stringify({ ...good, mds: good.ds.slice(0, 2), ds: [...good.mds, good.ds[2]] }));
    assert.match((await rejectsErrno(Volume.open(swapped), 'EINVAL')).message, /is a ds brick, but the volume file lists it as mds/);
    const otherVol = join(c.dir, 'other.json');
    await writeFile(otherVol, JSON.stringify({ ...good, volumeId: 'someothervol' }));
    assert.match((await rejectsErrno(Volume.open(otherVol), 'EINVAL')).message, /belongs to volume testvol/);
  });

  it('dht2 volume create writes a checked volume file; dht2 fsck reports and repairs', async () => {
    const out = join(c.dir, 'made.json');
    const args = ['volume', 'create', '--name', 'made', '--volume-id', 'testvol', '--secret-file', 'secret', '-o', out,
      '--mds', ...good.mds.map((b) => `${b.id}=${b.url}`), '--ds', ...good.ds.map((b) => `${b.id}=${b.url}`)];
    const made = await run(process.execPath, [DHT2_BIN, ...args]);
    assert.match(made.stdout, /wrote .*made.json: volume made \(testvol\), 2 MDS, 3 DS/);
    assert.equal((await loadVolumeFile(out)).mds.length, 2);
    await assert.rejects(run(process.execPath, [DHT2_BIN, 'volume', 'create', '--name', 'x', '--volume-id', 'wrong', '--secret-file', 'secret', '-o', join(c.dir, 'w.json'),
      '--mds', `mds0=${good.mds[0]!.url}`, '--ds', `ds0=${good.ds[0]!.url}`]), /belongs to volume testvol/);
    // An orphan data object for fsck to find (its age is past a zero grace).
    const { newGfid } = await import('../../dht2-core/protocol/gfid.js');
    const orphan = newGfid();
    await c.dsCount[c.volume.layout.dsOf(orphan)]!.call('dcreate', { gfid: orphan });
    const report = JSON.parse((await run(process.execPath, [DHT2_BIN, 'fsck', '--volfile', out, '--grace', '0', '--json'])).stdout) as { orphanData: string[] };
    assert.deepEqual(report.orphanData, [orphan]);
    const text = (await run(process.execPath, [DHT2_BIN, 'fsck', '--volfile', out, '--grace', '0', '--repair'])).stdout;
    assert.match(text, /orphan data objects: 1/);
    assert.match(text, /repaired/);
    const again = JSON.parse((await run(process.execPath, [DHT2_BIN, 'fsck', '--volfile', out, '--grace', '0', '--json'])).stdout) as { orphanData: string[] };
    assert.deepEqual(again.orphanData, []);
  });
});
