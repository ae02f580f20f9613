/**
 * A request refused for any reason changes nothing on disk: a file-API PATCH whose body fails
 * its SigV4 payload check (x-amz-content-sha256, checked once the whole body is in) answers 400
 * and leaves the file's bytes as they were, read back through the API and from the data
 * brick's own directory. Bodies of 2 MiB, so that most of one has gone on to the brick before
 * the check fails at its end.
 */
import assert from 'node:assert/strict';
import { readFile, readdir } from 'node:fs/promises';
import http from 'node:http';
import { join } from 'node:path';
import aws4 from 'aws4';
import { tmpDir as brickTmpDir } from '../../../brick/posix2/format.js';
import { handlePath } from '../../../brick/posix2/handles.js';
import { ACCESS_KEY, SECRET_KEY, startGateway, type TestGateway } from '../../helpers/gateway.js';

const SIZE = 2 * 1024 * 1024;

describe('file API: a PATCH refused for its payload hash changes nothing', function () {
  this.timeout(60_000);
  let t: TestGateway;
  const basic = { authorization: `Basic ${Buffer.from(`${ACCESS_KEY}:${SECRET_KEY}`).toString('base64')}` };
  before(async () => { t = await startGateway(); });
  after(async () => { await t.stop(); });

  /** The bytes of a data object, read from whichever data brick holds it. */
  async function onDisk(gfid: string): Promise<Buffer> {
    for (let i = 0; i < t.cluster.ds.length; i++) {
      const b = await readFile(handlePath(join(t.cluster.dir, `ds${i}`), gfid)).catch(() => undefined);
      if (b) return b;
    }
    throw new Error(`no data object ${gfid} on any data brick`);
  }

  /** A PATCH signed (SigV4) for `signed` whose body is `sent` instead. */
  function forgedPatch(path: string, signed: Buffer, sent: Buffer): Promise<{ status: number; body: string }> {
    const { host, port } = new URL(t.url);
    const o = aws4.sign({ host, method: 'PATCH', path, body: signed, service: 's3', region: 'us-east-1' }, { accessKeyId: ACCESS_KEY, secretAccessKey: SECRET_KEY });
    return new Promise((resolve, reject) => {
      const req = http.request({ host: '127.0.0.1', port, method: 'PATCH', path, headers: o.headers as http.OutgoingHttpHeaders }, (res) => {
        let body = '';
        res.on('data', (c: Buffer) => { body += c.toString(); });
        res.on('end', () => resolve({ status: res.statusCode!, body }));
      });
      req.on('error', reject);
      req.end(sent);
    });
  }

  for (const [mode, query] of [['a write at an offset', 'offset=4096'], ['an append', 'append=1']] as const) {
    it(`refuses ${mode} whose body fails x-amz-content-sha256 and keeps every byte`, async () => {
      const dir = `/fs/refused-${query.split('=')[0]}`;
      assert.equal((await fetch(`${t.url}${dir}?mkdir=1`, { method: 'PUT', headers: basic })).status, 201);
      const original = Buffer.alloc(SIZE, 'o');
      const put = await fetch(`${t.url}${dir}/f.bin`, { method: 'PUT', body: original, headers: basic });
      assert.equal(put.status, 201);
      const { gfid } = (await put.json()) as { gfid: string };

      const r = await forgedPatch(`${dir}/f.bin?${query}`, Buffer.alloc(SIZE, 's'), Buffer.alloc(SIZE, 'x'));
      assert.equal(r.status, 400, r.body);
      assert.match(r.body, /XAmzContentSHA256Mismatch/);

      const got = Buffer.from(await (await fetch(`${t.url}${dir}/f.bin`, { headers: basic })).arrayBuffer());
      assert.ok(got.equals(original), `the file changed through the API: ${got.length} bytes, ${got.indexOf('x')} first x`);
      const disk = await onDisk(gfid);
      assert.ok(disk.equals(original), `the data object changed on disk: ${disk.length} bytes, ${disk.indexOf('x')} first x`);
      const stat = (await (await fetch(`${t.url}${dir}/f.bin?stat=1`, { headers: basic })).json()) as { size: number };
      assert.equal(stat.size, SIZE);
      for (let i = 0; i < t.cluster.ds.length; i++) {
        // The staged body is gone once the brick saw the request fail.
        for (let n = 0; n < 50 && (await readdir(brickTmpDir(join(t.cluster.dir, `ds${i}`)))).length > 0; n++) await new Promise((res) => setTimeout(res, 20));
        assert.deepEqual(await readdir(brickTmpDir(join(t.cluster.dir, `ds${i}`))), [], `temp files left on ds${i}`);
      }
    });
  }
});
