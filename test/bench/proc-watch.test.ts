/** bench/proc-watch.ts: naming the benchmark's child processes and reading their peak RSS (VmHWM). */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { ProcessWatch, processLabel } from '../../bench/proc-watch.js';
import { readStatusKiB } from '../../bench/util.js';
import { tmpDir } from '../helpers/tmp.js';

const NODE = process.execPath;

describe('bench process watch', () => {
  it('names bricks, the gateway, s3rver and the sink from their command lines, and skips other programs', () => {
    assert.equal(processLabel([NODE, '/x/dist/bin/dht2.js', 'brick', '--dir', '/t/sync-mds', '--role', 'mds']), 'brick sync-mds');
    assert.equal(processLabel([NODE, '/x/dist/bin/dht2.js', 'brick', '--dir', '/t/d/mds0', '--role', 'mds', '--no-sync', '--brick-id', 'mds0']), 'brick mds0 (no-sync)');
    assert.equal(processLabel([NODE, '/x/dist/bin/dht2.js', 'gateway', '--volfile', 'v.json']), 'gateway');
    assert.equal(processLabel([NODE, '--openssl-legacy-provider', '/n/s3rver/bin/s3rver.js', '-d', '/t']), 's3rver');
    assert.equal(processLabel([NODE, '/x/dist/bench/http-sink.js']), 'http sink');
    assert.equal(processLabel(['sync']), undefined);
    assert.equal(processLabel(['/bin/sh', '-c', 'true']), undefined);
  });

  it('reads VmRSS and VmHWM, the high-water mark never below the current RSS', () => {
    const rss = readStatusKiB(process.pid, 'VmRSS');
    const hwm = readStatusKiB(process.pid, 'VmHWM');
    assert.ok(rss !== undefined && hwm !== undefined && rss > 0 && hwm >= rss);
    assert.equal(readStatusKiB(2 ** 30, 'VmRSS'), undefined);
  });

  it('finds a node child, keeps its peak after it exits, and forgets it on reset', async () => {
    const dir = await tmpDir('dht2-bench-watch');
    const script = join(dir.path, 'alloc.mjs');
    await writeFile(script, 'const b = Buffer.alloc(64 * 1024 * 1024, 1);\nsetTimeout(() => console.log(b.length), 400);\n');
    const watch = new ProcessWatch(20, 20).start();
    const child = spawn(NODE, [script], { stdio: 'ignore' });
    try {
      await once(child, 'exit');
      const peaks = watch.peaks();
      const mine = peaks.find((p) => p.pid === child.pid);
      assert.ok(mine, `child ${child.pid} not seen in ${JSON.stringify(peaks)}`);
      assert.equal(mine.process, 'alloc.mjs');
      assert.ok(mine.peakRssMiB >= 64, `peak ${mine.peakRssMiB} MiB below the 64 MiB the child touched`);
      watch.reset();
      assert.deepEqual(watch.peaks().filter((p) => p.pid === child.pid), []);
    } finally {
      watch.stop();
      await dir.cleanup();
    }
  });
});
