/**
 * The errno -> HTTP status table of the file API, each row provoked for real through supertest
 * against a gateway over real bricks: ENOENT 404, EEXIST 409, ENOTEMPTY 409, ENOTDIR and
 * EISDIR 409, EINVAL 400, EACCES 403 (a signature that does not verify, and bricks refusing a
 * gateway with the wrong cluster secret), ENOSPC 507 (an xattr larger than the bricks' ext4
 * holds), and 503 while the data bricks are stopped.
 */
import assert from 'node:assert/strict';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { pino } from 'pino';
import request from 'supertest';
import { runGateway } from '../../../server/main.js';
import { ACCESS_KEY, SECRET_KEY, startGateway, type TestGateway } from '../../helpers/gateway.js';

type Json = Record<string, any>;

describe('REST file API: each errno answers its HTTP status (supertest)', function () {
  this.timeout(120_000);
  let t: TestGateway;
  const fs = () => request(t.url);
  /** Asserts the status, the JSON error shape and the errno of a reply. */
  const errno = (res: request.Response, status: number, code: string, path?: string) => {
    assert.equal(res.status, status, `${res.status} ${res.text}`);
    assert.match(res.headers['content-type'] ?? '', /^application\/json/);
    assert.deepEqual(Object.keys(res.body as Json), ['error', 'message', 'path']);
    assert.equal((res.body as Json).error, code);
    if (path) assert.equal((res.body as Json).path, path);
  };
  /** A brick is unreachable: 503 with one of the retry-later errnos. */
  const unavailable = (res: request.Response) => {
    assert.equal(res.status, 503, res.text);
    assert.match((res.body as Json).error as string, /^(EHOSTDOWN|ENOTCONN|ETIMEDOUT|EAGAIN)$/);
  };
  /** A file's bytes as text. */
  const content = async (path: string) => ((await fs().get(path).auth(ACCESS_KEY, SECRET_KEY).responseType('blob').expect(200)).body as Buffer).toString();

  before(async () => {
    t = await startGateway();
    await fs().put('/fs/e/dir/f.txt?parents=1').auth(ACCESS_KEY, SECRET_KEY).send('hello').expect(201);
  });
  after(async () => { await t?.stop(); });

  it('ENOENT 404', async () => {
    errno(await fs().get('/fs/e/missing.txt').auth(ACCESS_KEY, SECRET_KEY), 404, 'ENOENT', '/e/missing.txt');
    errno(await fs().put('/fs/e/no/such/f.txt').auth(ACCESS_KEY, SECRET_KEY).send('x'), 404, 'ENOENT');
    errno(await fs().delete('/fs/e/missing.txt').auth(ACCESS_KEY, SECRET_KEY), 404, 'ENOENT', '/e/missing.txt');
  });

  it('EEXIST 409: create-only, mkdir, overwrite=0; 412 for If-None-Match: *', async () => {
    errno(await fs().put('/fs/e/dir/f.txt?create-only=1').auth(ACCESS_KEY, SECRET_KEY).send('x'), 409, 'EEXIST');
    errno(await fs().put('/fs/e/dir/f.txt').set('if-none-match', '*').auth(ACCESS_KEY, SECRET_KEY).send('x'), 412, 'EEXIST');
    errno(await fs().put('/fs/e/dir?mkdir=1').auth(ACCESS_KEY, SECRET_KEY), 409, 'EEXIST');
    await fs().put('/fs/e/g.txt').auth(ACCESS_KEY, SECRET_KEY).send('g').expect(201);
    errno(await fs().post('/fs/e/g.txt?op=rename&to=/e/dir/f.txt&overwrite=0').auth(ACCESS_KEY, SECRET_KEY), 409, 'EEXIST');
    assert.equal(await content('/fs/e/dir/f.txt'), 'hello');
  });

  it('ENOTEMPTY 409, ENOTDIR 409, EISDIR 409', async () => {
    errno(await fs().delete('/fs/e/dir').auth(ACCESS_KEY, SECRET_KEY), 409, 'ENOTEMPTY', '/e/dir');
    errno(await fs().get('/fs/e/dir/f.txt/below').auth(ACCESS_KEY, SECRET_KEY), 409, 'ENOTDIR');
    errno(await fs().put('/fs/e/dir/f.txt/below').auth(ACCESS_KEY, SECRET_KEY).send('x'), 409, 'ENOTDIR');
    errno(await fs().put('/fs/e/dir').auth(ACCESS_KEY, SECRET_KEY).send('x'), 409, 'EISDIR');
    errno(await fs().patch('/fs/e/dir?append=1').auth(ACCESS_KEY, SECRET_KEY).send('x'), 409, 'EISDIR');
  });

  it('EINVAL 400: from the operation and from validation against openapi.yaml', async () => {
    errno(await fs().put('/fs/e/dir/').auth(ACCESS_KEY, SECRET_KEY).send('x'), 400, 'EINVAL', '/e/dir/');
    errno(await fs().delete('/fs/').auth(ACCESS_KEY, SECRET_KEY), 400, 'EINVAL', '/');
    errno(await fs().post('/fs/e/dir?op=rename&to=/e/dir/inside').auth(ACCESS_KEY, SECRET_KEY), 400, 'EINVAL');
    errno(await fs().patch('/fs/e/dir/f.txt').auth(ACCESS_KEY, SECRET_KEY).send('x'), 400, 'EINVAL');
    errno(await fs().get('/fs/e/dir/?limit=many').auth(ACCESS_KEY, SECRET_KEY), 400, 'EINVAL', '/e/dir/');
  });

  it('EACCES 401/403: credentials, a signature that does not verify, bricks refusing the gateway', async () => {
    const none = await fs().get('/fs/e/dir/f.txt');
    errno(none, 401, 'EACCES');
    assert.equal(none.headers['www-authenticate'], 'Basic realm="dht2"');
    errno(await fs().get('/fs/e/dir/f.txt').set('authorization', `AWS4-HMAC-SHA256 Credential=${ACCESS_KEY}/20260101/us-east-1/s3/aws4_request, SignedHeaders=host, Signature=${'0'.repeat(64)}`), 403, 'EACCES');
    // A second gateway over the same bricks with the wrong cluster secret: every FOP is refused by the bricks.
    const vf = JSON.parse(await readFile(t.cluster.volfile, 'utf8')) as Json;
    await writeFile(join(t.cluster.dir, 'wrong.secret'), 'not-the-cluster-secret-0123456789\n');
    await writeFile(join(t.cluster.dir, 'wrong.json'), JSON.stringify({ ...vf, secret: { file: 'wrong.secret' } }));
    const other = await runGateway({
      volfile: join(t.cluster.dir, 'wrong.json'), port: 0, host: '127.0.0.1', region: 'us-east-1', accessKey: ACCESS_KEY, secretKey: SECRET_KEY, logger: pino({ level: 'silent' }),
    });
    try {
      errno(await request(other.url).get('/fs/e/dir/f.txt').auth(ACCESS_KEY, SECRET_KEY), 403, 'EACCES', '/e/dir/f.txt');
      errno(await request(other.url).put('/fs/e/new.txt').auth(ACCESS_KEY, SECRET_KEY).send('x'), 403, 'EACCES');
    } finally {
      await other.close(100);
    }
    errno(await fs().get('/fs/e/new.txt').auth(ACCESS_KEY, SECRET_KEY), 404, 'ENOENT');
  });

  it('ENOSPC 507: an xattr value the bricks\' filesystem cannot hold (ext4: about 4 KiB per inode)', async () => {
    await fs().put('/fs/e/dir/f.txt?xattr=user.small').auth(ACCESS_KEY, SECRET_KEY).send('fits').expect(204);
    errno(await fs().put('/fs/e/dir/f.txt?xattr=user.large').auth(ACCESS_KEY, SECRET_KEY).send(Buffer.alloc(60_000, 'v')), 507, 'ENOSPC', '/e/dir/f.txt');
    errno(await fs().get('/fs/e/dir/f.txt?xattr=user.large').auth(ACCESS_KEY, SECRET_KEY), 404, 'ENODATA');
  });

  it('503 while the data bricks are stopped; served again once they are back', async () => {
    await Promise.all(t.cluster.ds.map((b) => b.kill()));
    try {
      unavailable(await fs().get('/fs/e/dir/f.txt').auth(ACCESS_KEY, SECRET_KEY));
      unavailable(await fs().put('/fs/e/dir/new.txt').auth(ACCESS_KEY, SECRET_KEY).send('x'));
      // Names and attributes live on the metadata bricks, which are up.
      assert.equal(((await fs().get('/fs/e/dir/f.txt?stat=1').auth(ACCESS_KEY, SECRET_KEY).expect(200)).body as Json).size, 5);
    } finally {
      for (let i = 0; i < t.cluster.ds.length; i++) await t.cluster.restart('ds', i);
    }
    assert.equal(await content('/fs/e/dir/f.txt'), 'hello');
  });
});
