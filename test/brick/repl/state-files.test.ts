/** The vote state and the applied mark (docs/ON-DISK-FORMAT.md §6.2, §6.5), byte for byte. */
import assert from 'node:assert/strict';
import { mkdir, readFile, readdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { observeFsyncs } from '../../../brick/posix2/fsutil.js';
import { appliedPath, readApplied, writeApplied } from '../../../brick/repl/applied.js';
import { crc32c } from '../../../brick/repl/bin.js';
import { replDir } from '../../../brick/repl/paths.js';
import { readVote, votePath, writeVote } from '../../../brick/repl/vote.js';
import { rejectsErrno } from '../../helpers/assert-errno.js';
import { tmpDir } from '../../helpers/tmp.js';

describe('replication state files (ON-DISK-FORMAT.md §6.2, §6.5)', () => {
  let t: Awaited<ReturnType<typeof tmpDir>>;
  let dir: string;
  beforeEach(async () => {
    t = await tmpDir('repl-state');
    dir = t.path;
    await mkdir(join(dir, '.dht2', 'tmp'), { recursive: true });
    await mkdir(replDir(dir), { recursive: true });
  });
  afterEach(async () => {
    observeFsyncs(undefined);
    await t.cleanup();
  });

  it('vote: missing is undefined; written whole, tmp fsynced, renamed, repl/ fsynced; read back', async () => {
    assert.equal(await readVote(dir), undefined);
    const fsyncs: string[] = [];
    observeFsyncs((p) => fsyncs.push(p));
    await writeVote(dir, { term: 7, votedFor: 'mds-0-b1' });
    observeFsyncs(undefined);
    assert.equal(fsyncs.length, 2);
    assert.match(fsyncs[0]!, /[.]dht2\/tmp\/vote\.[0-9a-f]{16}$/);
    assert.equal(fsyncs[1], replDir(dir));
    assert.deepEqual(await readdir(join(dir, '.dht2', 'tmp')), []);
    assert.deepEqual(await readVote(dir), { term: 7, votedFor: 'mds-0-b1' });

    // The bytes of §6.2.
    const b = await readFile(votePath(dir));
    assert.equal(b.length, 16 + 8 + 4);
    assert.equal(b.toString('latin1', 0, 4), 'D2VT');
    assert.equal(b.readUInt16LE(4), 1);
    assert.equal(b.readUInt16LE(6), 8);
    assert.equal(b.readBigUInt64LE(8), 7n);
    assert.equal(b.toString('utf8', 16, 24), 'mds-0-b1');
    assert.equal(b.readUInt32LE(24), crc32c(b.subarray(0, 24)));

    // A new term without a vote, then a vote in it, then a long UTF-8 id.
    await writeVote(dir, { term: 2 ** 40 });
    assert.deepEqual(await readVote(dir), { term: 2 ** 40 });
    assert.equal((await readFile(votePath(dir))).length, 20);
    const id = 'é'.repeat(64);
    await writeVote(dir, { term: 2 ** 40, votedFor: id });
    assert.deepEqual(await readVote(dir), { term: 2 ** 40, votedFor: id });
    await rejectsErrno(writeVote(dir, { term: 9, votedFor: 'x'.repeat(129) }), 'EINVAL');
    await rejectsErrno(writeVote(dir, { term: -1 }), 'EINVAL');
    assert.deepEqual(await readVote(dir), { term: 2 ** 40, votedFor: id });
  });

  it('vote: a file that fails its checks is EIO, never "no vote"', async () => {
    await writeVote(dir, { term: 3, votedFor: 'b2' });
    const good = await readFile(votePath(dir));
    const variants: Array<[string, Buffer]> = [
      ['bad CRC', Buffer.concat([good.subarray(0, good.length - 1), Buffer.from([good[good.length - 1]! ^ 1])])],
      ['a flipped term bit', (() => { const b = Buffer.from(good); b[8] ^= 0x10; return b; })()],
      ['cut short', good.subarray(0, good.length - 3)],
      ['empty', Buffer.alloc(0)],
      ['trailing bytes', Buffer.concat([good, Buffer.from('x')])],
      ['another magic', Buffer.concat([Buffer.from('D2AP'), good.subarray(4)])],
    ];
    for (const [why, bytes] of variants) {
      await writeFile(votePath(dir), bytes);
      const e = await rejectsErrno(readVote(dir), 'EIO');
      assert.match(e.message, /corrupt vote state/, why);
    }
  });

  it('applied mark: 32 bytes, tmp fsynced and renamed, repl/ not fsynced; bad is EIO', async () => {
    assert.equal(await readApplied(dir), undefined);
    const fsyncs: string[] = [];
    observeFsyncs((p) => fsyncs.push(p));
    await writeApplied(dir, { index: 412_301, term: 7 });
    observeFsyncs(undefined);
    assert.equal(fsyncs.length, 1);
    assert.match(fsyncs[0]!, /[.]dht2\/tmp\/applied\.[0-9a-f]{16}$/);
    assert.deepEqual(await readApplied(dir), { index: 412_301, term: 7 });
    const b = await readFile(appliedPath(dir));
    assert.equal(b.length, 32);
    assert.equal(b.toString('latin1', 0, 4), 'D2AP');
    assert.equal(b.readUInt16LE(4), 1);
    assert.equal(b.readUInt16LE(6), 0);
    assert.equal(b.readBigUInt64LE(8), 412_301n);
    assert.equal(b.readBigUInt64LE(16), 7n);
    assert.equal(b.readUInt32LE(28), crc32c(b.subarray(0, 28)));
    await writeApplied(dir, { index: 412_302, term: 8 });
    assert.deepEqual(await readApplied(dir), { index: 412_302, term: 8 });

    const bad = Buffer.from(b);
    bad[12] ^= 1;
    await writeFile(appliedPath(dir), bad);
    await rejectsErrno(readApplied(dir), 'EIO');
    await writeFile(appliedPath(dir), b.subarray(0, 31));
    await rejectsErrno(readApplied(dir), 'EIO');
    await rejectsErrno(writeApplied(dir, { index: 1.5, term: 1 }), 'EINVAL');
  });
});
