import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { StaticCredentials, loadCredentialsFile, parseCredentials } from '../../../server/auth/index.js';

describe('auth/credentials', () => {
  let dir: string;
  before(() => {
    dir = mkdtempSync(join(tmpdir(), 'auth-creds-'));
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  function file(content: string): string {
    const p = join(dir, `c${Math.random().toString(36).slice(2)}.json`);
    writeFileSync(p, content);
    return p;
  }

  it('loads a valid file', () => {
    const store = loadCredentialsFile(
      file(JSON.stringify({ keys: [{ accessKeyId: 'AKIDONE', secretAccessKey: 's1' }, { accessKeyId: 'AKIDTWO', secretAccessKey: 'wJal/+ secret ü' }] })),
    );
    assert.equal(store.secretFor('AKIDONE'), 's1');
    assert.equal(store.secretFor('AKIDTWO'), 'wJal/+ secret ü');
    assert.equal(store.secretFor('AKIDTHREE'), undefined);
    assert.equal(store.secretFor('__proto__'), undefined);
    assert.equal(store.size, 2);
  });

  it('reports clear errors', () => {
    const cases: Array<[string, RegExp]> = [
      ['not json', /not valid JSON/],
      ['[]', /"keys" array/],
      ['{"keys": []}', /non-empty array/],
      ['{"keys": [1]}', /keys\[0\]: expected an object/],
      ['{"keys": [{"accessKeyId": "AK/ID", "secretAccessKey": "s"}]}', /keys\[0\]: accessKeyId/],
      ['{"keys": [{"accessKeyId": "AKID:X", "secretAccessKey": "s"}]}', /keys\[0\]: accessKeyId/],
      ['{"keys": [{"accessKeyId": "AKIDONE"}]}', /keys\[0\]: secretAccessKey/],
      ['{"keys": [{"accessKeyId": "AKIDONE", "secretAccessKey": ""}]}', /secretAccessKey must be a non-empty string/],
      ['{"keys": [{"accessKeyId": "AKIDONE", "secretAccessKey": "a"}, {"accessKeyId": "AKIDONE", "secretAccessKey": "b"}]}', /keys\[1\]: duplicate/],
    ];
    for (const [content, re] of cases) {
      const p = file(content);
      assert.throws(() => loadCredentialsFile(p), (e: unknown) => e instanceof Error && re.test(e.message) && e.message.includes(p), content);
    }
    assert.throws(() => loadCredentialsFile(join(dir, 'missing.json')), /cannot read credentials file/);
  });

  it('StaticCredentials from a Map; parseCredentials from parsed JSON', () => {
    const s = new StaticCredentials(new Map([['AKIDMAP', 'secret']]));
    assert.equal(s.secretFor('AKIDMAP'), 'secret');
    assert.throws(() => new StaticCredentials([['bad id', 'x']]), /accessKeyId/);
    assert.equal(parseCredentials({ keys: [{ accessKeyId: 'AKIDJSON', secretAccessKey: 'x' }] }).secretFor('AKIDJSON'), 'x');
  });
});
