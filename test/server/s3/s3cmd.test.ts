/** s3cmd (Debian's package, installed by .ci/run): SigV4 and SigV2, multipart, signurl (SigV2 presigned). */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { ACCESS_KEY, SECRET_KEY, startGateway, type TestGateway } from '../../helpers/gateway.js';
import { tmpDir } from '../../helpers/tmp.js';

const run = promisify(execFile);

describe('S3 with s3cmd', function () {
  this.timeout(120_000);
  let t: TestGateway;
  let work: Awaited<ReturnType<typeof tmpDir>>;
  before(async () => {
    t = await startGateway();
    work = await tmpDir('s3cmd');
  });
  after(async () => {
    await t.stop();
    await work.cleanup();
  });

  async function s3cmd(...args: string[]): Promise<string> {
    const host = new URL(t.url).host;
    const base = ['--config=/dev/null', `--access_key=${ACCESS_KEY}`, `--secret_key=${SECRET_KEY}`, `--host=${host}`, `--host-bucket=${host}`, '--no-ssl', '--no-progress'];
    return (await run('s3cmd', [...base, ...args], { maxBuffer: 16 * 1024 * 1024 })).stdout;
  }

  it('mb, put (multipart at 15 MiB chunks), ls, get, signurl, SigV2, del -r, rb', async () => {
    const big = randomBytes(20 * 1024 * 1024);
    await writeFile(join(work.path, 'big'), big);
    await writeFile(join(work.path, 'small.txt'), 'small');
    await s3cmd('mb', 's3://s3cmd-bucket');
    await s3cmd('put', join(work.path, 'small.txt'), 's3://s3cmd-bucket/dir/small.txt');
    await s3cmd('put', join(work.path, 'big'), 's3://s3cmd-bucket/big');
    const ls = await s3cmd('ls', '-r', 's3://s3cmd-bucket');
    assert.match(ls, /20971520\s+s3:\/\/s3cmd-bucket\/big/);
    assert.match(ls, /5\s+s3:\/\/s3cmd-bucket\/dir\/small\.txt/);
    await s3cmd('get', '--force', 's3://s3cmd-bucket/big', join(work.path, 'big.back'));
    assert.ok((await readFile(join(work.path, 'big.back'))).equals(big));
    const url = (await s3cmd('signurl', 's3://s3cmd-bucket/dir/small.txt', '+300')).trim();
    assert.equal(await (await fetch(url)).text(), 'small');
    assert.match(await s3cmd('--signature-v2', 'ls', 's3://s3cmd-bucket'), /DIR\s+s3:\/\/s3cmd-bucket\/dir\//);
    await s3cmd('del', '-r', '--force', 's3://s3cmd-bucket');
    await s3cmd('rb', 's3://s3cmd-bucket');
    assert.doesNotMatch(await s3cmd('ls'), /s3cmd-bucket/);
  });
});
