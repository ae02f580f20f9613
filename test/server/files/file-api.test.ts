/** The REST file API with curl-like requests (fetch) against a gateway over real bricks. */
import assert from 'node:assert/strict';
import { ACCESS_KEY, SECRET_KEY, startGateway, type TestGateway } from '../../helpers/gateway.js';

describe('REST file API (/fs/)', function () {
  this.timeout(120_000);
  let t: TestGateway;
  const auth = { authorization: `Basic ${Buffer.from(`${ACCESS_KEY}:${SECRET_KEY}`).toString('base64')}` };
  const fs = (p: string, init: RequestInit = {}) => fetch(`${t.url}/fs${p}`, { ...init, headers: { ...auth, ...(init.headers ?? {}) } });
  before(async () => { t = await startGateway(); });
  after(async () => { await t.stop(); });

  it('refuses requests without or with wrong credentials (401, JSON error)', async () => {
    const r = await fetch(`${t.url}/fs/`);
    assert.equal(r.status, 401);
    assert.equal(r.headers.get('www-authenticate'), 'Basic realm="dht2"');
    assert.equal(((await r.json()) as { error: string }).error, 'EACCES');
    const w = await fetch(`${t.url}/fs/`, { headers: { authorization: `Basic ${Buffer.from(`${ACCESS_KEY}:nope`).toString('base64')}` } });
    assert.equal(w.status, 401);
  });

  it('mkdir, PUT with parents, GET, Range, stat, listing, create-only, DELETE', async () => {
    assert.equal((await fs('/docs?mkdir=1', { method: 'PUT' })).status, 201);
    const put = await fs('/docs/2026/notes.txt?parents=1', { method: 'PUT', body: 'hello, file api' });
    assert.equal(put.status, 201);
    assert.equal(((await put.json()) as { size: number }).size, 15);
    const get = await fs('/docs/2026/notes.txt');
    assert.equal(get.status, 200);
    assert.equal(await get.text(), 'hello, file api');
    const etag = get.headers.get('etag')!;
    assert.equal((await fs('/docs/2026/notes.txt', { headers: { 'if-none-match': etag } })).status, 304);
    const part = await fs('/docs/2026/notes.txt', { headers: { range: 'bytes=7-' } });
    assert.equal(part.status, 206);
    assert.equal(part.headers.get('content-range'), 'bytes 7-14/15');
    assert.equal(await part.text(), 'file api');
    assert.equal((await fs('/docs/2026/notes.txt', { headers: { range: 'bytes=99-' } })).status, 416);
    const st = (await (await fs('/docs/2026/notes.txt?stat=1')).json()) as { type: string; size: number; mode: string; gfid: string };
    assert.deepEqual([st.type, st.size, st.mode], ['file', 15, '0644']);
    const list = (await (await fs('/docs/2026/?detail=1')).json()) as { entries: Array<{ name: string; size: number }> };
    assert.deepEqual(list.entries.map((e) => [e.name, e.size]), [['notes.txt', 15]]);
    const again = await fs('/docs/2026/notes.txt?create-only=1', { method: 'PUT', body: 'x' });
    assert.equal(again.status, 409);
    assert.equal(((await again.json()) as { error: string }).error, 'EEXIST');
    const missing = await fs('/docs/nope.txt');
    assert.equal(missing.status, 404);
    assert.deepEqual(await missing.json(), { error: 'ENOENT', message: '/docs/nope.txt: no entry nope.txt', path: '/docs/nope.txt' });
    assert.equal((await fs('/docs/nothere/x.txt', { method: 'PUT', body: 'x' })).status, 404);
    const notEmpty = await fs('/docs', { method: 'DELETE' });
    assert.equal(notEmpty.status, 409);
    assert.equal(((await notEmpty.json()) as { error: string }).error, 'ENOTEMPTY');
    assert.equal((await fs('/docs?recursive=1', { method: 'DELETE' })).status, 204);
    assert.equal((await fs('/docs')).status, 404);
  });

  it('pages a directory listing with a cursor, sorted by bytes', async () => {
    await fs('/pages?mkdir=1', { method: 'PUT' });
    for (const n of ['b', 'a', 'é', 'a-b', 'Z']) await fs(`/pages/${encodeURIComponent(n)}`, { method: 'PUT', body: n });
    const names: string[] = [];
    let cursor: string | undefined;
    for (;;) {
      const page = (await (await fs(`/pages/?limit=2${cursor ? `&cursor=${encodeURIComponent(cursor)}` : ''}`)).json()) as { entries: Array<{ name: string }>; cursor?: string };
      names.push(...page.entries.map((e) => e.name));
      if (!page.cursor) break;
      cursor = page.cursor;
    }
    assert.deepEqual(names, ['Z', 'a', 'a-b', 'b', 'é']);
  });

  it('lists a tree with ?recursive: depth first, relative names, paged with a cursor that resumes inside subdirectories', async () => {
    for (const p of ['a/x.txt', 'a/b/y.txt', 'a-b', 'c/d/e/f.txt', 'z.txt']) assert.equal((await fs(`/tree/${p}?parents=1`, { method: 'PUT', body: p })).status, 201);
    assert.equal((await fs('/tree/empty?mkdir=1', { method: 'PUT' })).status, 201);
    const all = ['a', 'a/b', 'a/b/y.txt', 'a/x.txt', 'a-b', 'c', 'c/d', 'c/d/e', 'c/d/e/f.txt', 'empty', 'z.txt'];
    const whole = (await (await fs('/tree/?recursive=1')).json()) as { path: string; entries: Array<{ name: string; type: string }>; cursor?: string };
    assert.deepEqual(whole.entries.map((e) => e.name), all);
    assert.equal(whole.cursor, undefined);
    assert.deepEqual(whole.entries.filter((e) => e.type === 'dir').map((e) => e.name), ['a', 'a/b', 'c', 'c/d', 'c/d/e', 'empty']);
    for (const limit of [1, 2, 3]) {
      const names: string[] = [];
      let cursor: string | undefined;
      for (let i = 0; i < 20; i++) {
        const page = (await (await fs(`/tree/?recursive&limit=${limit}${cursor ? `&cursor=${encodeURIComponent(cursor)}` : ''}`)).json()) as { entries: Array<{ name: string }>; cursor?: string };
        names.push(...page.entries.map((e) => e.name));
        cursor = page.cursor;
        if (!cursor) break;
      }
      assert.deepEqual(names, all, `limit ${limit}`);
    }
    const detail = (await (await fs('/tree/c/?recursive=1&detail=1')).json()) as { path: string; entries: Array<{ name: string; size: number; type: string }> };
    assert.equal(detail.path, '/tree/c/');
    assert.deepEqual(detail.entries.map((e) => [e.name, e.type, e.size]), [['d', 'dir', 0], ['d/e', 'dir', 0], ['d/e/f.txt', 'file', 11]]);
    // A cursor whose directory was removed meanwhile: the walk goes on after it.
    assert.equal((await fs('/tree/a?recursive=1', { method: 'DELETE' })).status, 204);
    const after = (await (await fs(`/tree/?recursive=1&cursor=${encodeURIComponent('a/b/y.txt')}`)).json()) as { entries: Array<{ name: string }> };
    assert.deepEqual(after.entries.map((e) => e.name), ['a-b', 'c', 'c/d', 'c/d/e', 'c/d/e/f.txt', 'empty', 'z.txt']);
  });

  it('one namespace: an object PUT through S3 is a file here, a file PUT here is an object there', async () => {
    await t.aws('s3', 'mb', 's3://shared-ns');
    const f = `${t.cluster.dir}/s3.txt`;
    const { writeFile } = await import('node:fs/promises');
    await writeFile(f, 'written through s3');
    await t.aws('s3', 'cp', f, 's3://shared-ns/dir/s3.txt');
    assert.equal(await (await fs('/shared-ns/dir/s3.txt')).text(), 'written through s3');
    await fs('/shared-ns/dir/from-fs.txt', { method: 'PUT', body: 'written through /fs/' });
    const ls = await t.aws('s3', 'ls', 's3://shared-ns/dir/');
    assert.match(ls, /from-fs\.txt/);
    assert.match(ls, /s3\.txt/);
    assert.equal(await t.aws('s3', 'cp', 's3://shared-ns/dir/from-fs.txt', '-'), 'written through /fs/');
  });
});
