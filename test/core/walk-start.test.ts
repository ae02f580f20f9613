/** Where a path walk starts when the caller already resolved a directory (dht2-core fops/core.ts startOf). */
import assert from 'node:assert/strict';
import { startOf } from '../../dht2-core/fops/core.js';
import { ROOT_GFID } from '../../dht2-core/protocol/gfid.js';

describe('dht2-core walk start', () => {
  const bucket = { path: '/b', gfid: '00010000-0000-0000-0000-000000000002' };

  it('starts at a known directory on the way, with the names below it', () => {
    assert.deepEqual(startOf(['b', 'f', 'g'], bucket), { gfid: bucket.gfid, rest: ['f', 'g'] });
    assert.deepEqual(startOf(['b'], bucket), { gfid: bucket.gfid, rest: [] });
  });

  it('starts at the root otherwise: no known directory, another one, or a name that only begins like it', () => {
    assert.deepEqual(startOf(['b', 'f']), { gfid: ROOT_GFID, rest: ['b', 'f'] });
    assert.deepEqual(startOf(['c', 'f'], bucket), { gfid: ROOT_GFID, rest: ['c', 'f'] });
    assert.deepEqual(startOf(['bb', 'f'], bucket), { gfid: ROOT_GFID, rest: ['bb', 'f'] });
    assert.deepEqual(startOf([], bucket), { gfid: ROOT_GFID, rest: [] });
  });
});
