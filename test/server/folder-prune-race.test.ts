/**
 * PUTs racing DELETEs that prune the folders they write into, over a replica-3 volume with two
 * MDS sets (so folders are remote directories, removed by a dying mark then a namedel, entry.ts
 * removeRemoteDir). A PUT whose folder went meanwhile makes it again (data.ts nameData): it never
 * answers 404 NoSuchKey, which S3 never says to a write. The whole-cluster test of issue 16 caught
 * it once in CI; replicated FOPs are slower, which widens the window: the walk that makes the
 * folder again could find the same dying directory, and the write gave up after one try.
 */
import assert from 'node:assert/strict';
import { CreateBucketCommand } from '@aws-sdk/client-s3';
import type { RunningGateway } from '../../server/main.js';
import { ACCESS_KEY, SECRET_KEY, runTestGateway } from '../helpers/gateway.js';
import { HistoryRecorder, recordingS3Client } from '../helpers/history.js';
import { ReplCluster } from '../helpers/repl-cluster.js';
import { rng } from '../helpers/rng.js';
import { tmpDir } from '../helpers/tmp.js';

const BUCKET = 'prune';

describe('PUT racing the folder pruning of DELETE (replica 3, two MDS sets)', function () {
  this.timeout(180_000);
  let tmp: { path: string; cleanup(): Promise<void> };
  let cluster: ReplCluster;
  const gws: RunningGateway[] = [];

  before(async () => {
    tmp = await tmpDir('prune-race');
    cluster = new ReplCluster({ dir: tmp.path, mdsSets: 2 });
    await cluster.start();
    gws.push(await runTestGateway(cluster.volfile), await runTestGateway(cluster.volfile));
    const s3 = recordingS3Client(gws[0]!.url, ACCESS_KEY, SECRET_KEY);
    await s3.send(new CreateBucketCommand({ Bucket: BUCKET }));
    s3.destroy();
  });
  after(async () => {
    for (const g of gws) await g.close(1000);
    await cluster?.stop();
    await tmp?.cleanup();
  });

  it('eight clients PUT and DELETE keys in shared nested folders for 15 s: no write answers NoSuchKey, the history is linearizable', async () => {
    const h = new HistoryRecorder({ timeoutMs: 20_000 });
    const keys = ['a/b/s0', 'a/b/s1', 'a/s2', 'a/b/c/s3', 'x/s4', 'x/y/s5'];
    const clients = [0, 1, 2, 3, 4, 5, 6, 7].map((i) => ({ c: recordingS3Client(gws[i % 2]!.url, ACCESS_KEY, SECRET_KEY), i }));
    const end = performance.now() + 15_000;
    await Promise.all(clients.map(async ({ c, i }) => {
      const s3 = h.s3(c, `c${i}@gw${i % 2}`, BUCKET);
      const r = rng(2000 + i);
      let n = 0;
      while (performance.now() < end) {
        const key = keys[Math.floor(r() * keys.length)]!;
        if (r() < 0.5) await s3.putObject(key, `c${i}.${n++}`);
        else await s3.deleteObject(key);
      }
      c.destroy();
    }));
    assert.deepEqual(h.unexpected.map((u) => `${u.op.client} ${u.op.op} ${u.op.key}: ${u.error}`), []);
    const puts = h.ops.filter((o) => o.op === 'put' && o.output?.status === 'ok').length;
    const deletes = h.ops.filter((o) => o.op === 'delete' && o.output?.status === 'ok').length;
    assert.ok(puts > 200 && deletes > 200, `${puts} PUTs and ${deletes} DELETEs acknowledged`);
    const lin = h.check();
    assert.equal(lin.ok, true, lin.ok === false ? lin.explanation : JSON.stringify(lin));
  });
});
