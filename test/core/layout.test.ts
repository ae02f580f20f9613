/**
 * The versioned layout (ARCHITECTURE.md §10.9): placement is a lookup in bucket ranges, the
 * layout seeded from a volume file places every GFID where the formula of earlier versions did,
 * and layouts that break the rules are refused with a message naming the problem.
 */
import assert from 'node:assert/strict';
import { Layout } from '../../dht2-core/layout.js';
import { evenRanges, layoutDigest, parseLayoutDoc, type LayoutDoc } from '../../dht2-core/protocol/index.js';
import { seedLayout, type VolumeFile } from '../../dht2-core/volfile.js';
import { Dht2Error } from '../../dht2-core/protocol/errors.js';

const hex4 = (n: number): string => n.toString(16).padStart(4, '0');
/** A GFID whose bucket (top 16 bits) is `bucket` and whose low 16 bits are `low`. */
const gfidOf = (bucket: number, low: number): string => `${hex4(bucket)}0000-0000-4000-8000-00000000${hex4(low)}`;

function refused(doc: unknown, message: RegExp): void {
  assert.throws(() => parseLayoutDoc(doc), (e: unknown) => e instanceof Dht2Error && e.errno === 'EINVAL' && message.test(e.message));
}

function volfile(mds: number, ds: number): VolumeFile {
  const brick = (role: string, i: number) => ({ id: `${role}-b${i}`, url: `http://127.0.0.1:${role === 'mds' ? 9100 + i : 9200 + i}` });
  return {
    format: 1, name: 'v', volumeId: 'vol-1', buckets: 65536, secret: { env: 'X' },
    mds: Array.from({ length: mds }, (_, i) => brick('mds', i)), ds: Array.from({ length: ds }, (_, i) => brick('ds', i)),
  };
}

describe('layout', () => {
  it('a layout seeded from a volume file places every bucket and every low half where the formula did', () => {
    for (let m = 1; m <= 7; m++) {
      const l = new Layout(seedLayout(volfile(m, 8 - m)));
      const d = 8 - m;
      for (let v = 0; v < 65536; v++) {
        // The formula of every version before layouts (ARCHITECTURE.md §3).
        assert.equal(l.mdsOfBucket(v), Math.floor((v * m) / 65536));
        if (v % 7 === 0) assert.equal(l.mdsOf(gfidOf(v, 0)), Math.floor((v * m) / 65536));
        if (v % 5 === 0) assert.equal(l.dsOf(gfidOf(0, v)), Math.floor((v * d) / 65536));
      }
    }
  });

  it('names sets after the bricks of the volume file, at epoch 1', () => {
    const doc = seedLayout(volfile(2, 3));
    assert.equal(doc.epoch, 1);
    assert.deepEqual(doc.sets.map((s) => [s.id, s.role, s.members]), [
      ['mds-b0', 'mds', ['mds-b0']], ['mds-b1', 'mds', ['mds-b1']],
      ['ds-b0', 'ds', ['ds-b0']], ['ds-b1', 'ds', ['ds-b1']], ['ds-b2', 'ds', ['ds-b2']],
    ]);
    assert.equal(doc.bricks['ds-b2'], 'http://127.0.0.1:9202');
    assert.deepEqual(doc.mdsRanges, [{ first: 0, last: 32767, set: 'mds-b0' }, { first: 32768, last: 65535, set: 'mds-b1' }]);
  });

  it('placement follows the ranges, not a formula: uneven ranges and sets of three', () => {
    const doc: LayoutDoc = {
      epoch: 4, volumeId: 'v', buckets: 65536,
      sets: [
        { id: 'mds-0', role: 'mds', members: ['a1', 'a2', 'a3'] },
        { id: 'mds-1', role: 'mds', members: ['b1', 'b2', 'b3'] },
        { id: 'ds-0', role: 'ds', members: ['c1', 'c2', 'c3'] },
      ],
      bricks: Object.fromEntries(['a1', 'a2', 'a3', 'b1', 'b2', 'b3', 'c1', 'c2', 'c3'].map((id, i) => [id, `http://127.0.0.1:${9000 + i}`])),
      // mds-1 owns a band in the middle only: as after a range was moved to it.
      mdsRanges: [{ first: 0, last: 99, set: 'mds-0' }, { first: 100, last: 199, set: 'mds-1' }, { first: 200, last: 65535, set: 'mds-0' }],
      dsRanges: [{ first: 0, last: 65535, set: 'ds-0' }],
    };
    const l = new Layout(doc);
    assert.deepEqual([0, 99, 100, 150, 199, 200, 65535].map((b) => l.mdsOfBucket(b)), [0, 0, 1, 1, 1, 0, 0]);
    assert.equal(l.dsOf(gfidOf(7, 0xffff)), 0);
    assert.equal(l.epoch, 4);
    assert.deepEqual(l.mdsSets, ['mds-0', 'mds-1']);
  });

  it('refuses layouts that break the rules, naming the problem', () => {
    const ok = (): LayoutDoc => JSON.parse(JSON.stringify(seedLayout(volfile(2, 2)))) as LayoutDoc;
    let d = ok();
    d.mdsRanges[1]!.first = 32769;
    refused(d, /mdsRanges must cover 0-65535 in order; 32769-65535 does not start at 32768/);
    d = ok();
    d.dsRanges[1]!.last = 65534;
    refused(d, /dsRanges stop at 65534/);
    d = ok();
    d.dsRanges[0]!.set = 'mds-b0';
    refused(d, /dsRanges names mds-b0, which is not a ds set/);
    d = ok();
    d.sets[0]!.members.push('ds-b0');
    refused(d, /2 members; a set needs an odd count/);
    d = ok();
    d.sets[0]!.members.push('ds-b0', 'x');
    refused(d, /brick ds-b0 is a member of both mds-b0 and ds-b0|brick x of set mds-b0 has no URL/);
    d = ok();
    d.sets[1]!.id = 'mds-b0';
    refused(d, /set mds-b0 is named twice/);
    d = ok();
    (d as { buckets: number }).buckets = 1024;
    refused(d, /buckets/);
  });

  it('the digest is of the content, whatever the key order', () => {
    const a = seedLayout(volfile(1, 3));
    // The same document with every object's keys in reverse order.
    const reversed = (v: unknown): unknown => Array.isArray(v) ? v.map(reversed)
      : v !== null && typeof v === 'object' ? Object.fromEntries(Object.entries(v).reverse().map(([k, x]) => [k, reversed(x)])) : v;
    const b = reversed(a) as LayoutDoc;
    assert.notEqual(JSON.stringify(a), JSON.stringify(b));
    assert.equal(layoutDigest(a), layoutDigest(b));
    assert.match(layoutDigest(a), /^[0-9a-f]{64}$/);
    assert.notEqual(layoutDigest(a), layoutDigest({ ...a, epoch: 2 }));
    assert.deepEqual(evenRanges(['x', 'y', 'z']).map((r) => [r.first, r.last]), [[0, 21845], [21846, 43690], [43691, 65535]]);
  });
});
