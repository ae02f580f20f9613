/** rclone (Debian's package, installed by .ci/run) against the gateway: copy, ls, check, delete. */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdir, writeFile } from 'node:fs/promises';
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { ACCESS_KEY, SECRET_KEY, startGateway, type TestGateway } from '../../helpers/gateway.js';
import { tmpDir } from '../../helpers/tmp.js';

const run = promisify(execFile);

describe('S3 with rclone', function () {
  this.timeout(120_000);
  let t: TestGateway;
  let work: Awaited<ReturnType<typeof tmpDir>>;
  before(async () => {
    t = await startGateway();
    work = await tmpDir('rclone');
  });
  after(async () => {
    await t.stop();
    await work.cleanup();
  });

  async function rclone(...args: string[]): Promise<string> {
    const env: NodeJS.ProcessEnv = {
      ...process.env,
      RCLONE_CONFIG_D_TYPE: 's3', RCLONE_CONFIG_D_PROVIDER: 'Other', RCLONE_CONFIG_D_ENDPOINT: t.url,
      RCLONE_CONFIG_D_ACCESS_KEY_ID: ACCESS_KEY, RCLONE_CONFIG_D_SECRET_ACCESS_KEY: SECRET_KEY, RCLONE_CONFIG_D_FORCE_PATH_STYLE: 'true',
      RCLONE_CONFIG: '/dev/null',
    };
    delete env.AWS_CA_BUNDLE; // rclone's S3 client refuses a custom CA bundle on a plain-HTTP endpoint
    return (await run('rclone', ['-q', ...args], { env, maxBuffer: 16 * 1024 * 1024 })).stdout;
  }

  it('copies a tree up (with a 12 MiB file in multipart chunks), lists and checks it, deletes it', async () => {
    const src = join(work.path, 'src');
    await mkdir(join(src, 'x', 'y'), { recursive: true });
    await writeFile(join(src, 'a.txt'), 'a');
    await writeFile(join(src, 'x', 'y', 'deep.txt'), 'deep');
    await writeFile(join(src, 'big.bin'), randomBytes(12 * 1024 * 1024));
    await rclone('mkdir', 'd:rclone-bucket');
    await rclone('copy', '--s3-upload-cutoff', '5M', '--s3-chunk-size', '5M', src, 'd:rclone-bucket/t');
    const ls = (await rclone('ls', 'd:rclone-bucket')).trim().split('\n').map((l) => l.trim()).sort();
    assert.deepEqual(ls, ['1 t/a.txt', '12582912 t/big.bin', '4 t/x/y/deep.txt']);
    await rclone('check', src, 'd:rclone-bucket/t');
    await rclone('delete', 'd:rclone-bucket/t');
    assert.equal((await rclone('ls', 'd:rclone-bucket')).trim(), '');
    await rclone('rmdir', 'd:rclone-bucket');
    assert.doesNotMatch(await rclone('lsd', 'd:'), /rclone-bucket/);
  });
});
