/**
 * The S3 listing walk against an in-memory tree: exact results against a brute-force reference
 * (all keys, sorted by Buffer.compare, grouped, filtered, cut) over seeded random trees, paging
 * with `next`, and the cost of a page (readdir calls and entries read) on large and deep trees.
 * Reproduce a property failure with LIST_WALK_SEED=<seed>.
 */
import assert from 'node:assert/strict';
import { compareUtf8, cursorAtOrAfter, listKeys, type ListEntry, type ListIo, type ListParams, type ListResult } from '../../../server/objects/list-walk.js';
import { rng } from '../../helpers/rng.js';


function byteCmp(a: string, b: string): number {
  return Buffer.compare(Buffer.from(a, 'utf8'), Buffer.from(b, 'utf8'));
}

type Kind = 'file' | 'dir' | 'symlink';

/**
 * A POSIX-like tree with dht2-core's readdir contract (pages of names > after, UTF-8 byte order,
 * ENOENT/ENOTDIR as an empty eof page) that counts what a listing costs.
 */
class MemTree implements ListIo {
  private readonly dirs = new Map<string, Map<string, Kind>>([['', new Map()]]);
  private readonly markers = new Set<string>();
  /** Directories that carry an object at their own name (S3 key `a` beside `a/b`). */
  private readonly carried = new Set<string>();
  /** As the gateway does: a file in the way of a directory becomes a directory carrying it, and a file written at a directory is carried. */
  adopt = false;
  private sorted = new Map<string, { bufs: Buffer[]; entries: ListEntry[] }>();
  calls = 0;
  entriesRead = 0;
  markerCalls = 0;
  /** When set, pages hold at most this many entries whatever the limit (short pages are legal). */
  pageCap: number | undefined;

  private static valid(parts: string[]): boolean {
    return parts.every((p) => p !== '' && p !== '.' && p !== '..');
  }

  /** mkdir -p; false (and no change) if a component is a file. */
  mkdirp(path: string): boolean {
    if (path === '') return true;
    const parts = path.split('/');
    if (!MemTree.valid(parts)) return false;
    for (let i = 0; i < parts.length; i++) {
      const parent = parts.slice(0, i).join('/');
      const kind = this.dirs.get(parent)?.get(parts[i]!);
      if (kind !== undefined && kind !== 'dir' && !(this.adopt && kind === 'file')) return false;
    }
    for (let i = 0; i < parts.length; i++) {
      const parent = parts.slice(0, i).join('/');
      const here = parts.slice(0, i + 1).join('/');
      if (this.dirs.get(parent)!.get(parts[i]!) === 'file') this.carried.add(here);
      this.dirs.get(parent)!.set(parts[i]!, 'dir');
      if (!this.dirs.has(here)) this.dirs.set(here, new Map());
    }
    this.sorted.clear();
    return true;
  }

  addFile(path: string, kind: 'file' | 'symlink' = 'file'): boolean {
    const cut = path.lastIndexOf('/');
    const dir = cut < 0 ? '' : path.slice(0, cut);
    const name = path.slice(cut + 1);
    if (!MemTree.valid([name])) return false;
    if (this.adopt && kind === 'file' && this.dirs.get(dir)?.get(name) === 'dir') {
      this.carried.add(dir === '' ? name : `${dir}/${name}`);
      this.sorted.clear();
      return true;
    }
    if (this.dirs.get(dir)?.get(name) === 'dir' || this.dirs.has(path)) return false;
    if (this.dirs.get(dir)?.has(name)) return false;
    if (!this.dirs.has(dir) && !this.mkdirp(dir)) return false;
    this.dirs.get(dir)!.set(name, kind);
    this.sorted.clear();
    return true;
  }

  addMarker(dir: string): boolean {
    if (dir === '' || !this.mkdirp(dir)) return false;
    this.markers.add(dir);
    return true;
  }

  isCarried(path: string): boolean {
    return this.carried.has(path);
  }

  /** Every S3 key of the tree, by brute force. */
  allKeys(): Array<{ key: string; kind: Kind }> {
    const out: Array<{ key: string; kind: Kind }> = [];
    for (const [dir, names] of this.dirs) {
      for (const [name, kind] of names) if (kind !== 'dir') out.push({ key: dir === '' ? name : `${dir}/${name}`, kind });
    }
    for (const d of this.markers) out.push({ key: `${d}/`, kind: 'dir' });
    for (const d of this.carried) out.push({ key: d, kind: 'file' });
    return out;
  }

  resetCounters(): void {
    this.calls = 0;
    this.entriesRead = 0;
    this.markerCalls = 0;
  }

  private page(dir: string): { bufs: Buffer[]; entries: ListEntry[] } | undefined {
    let s = this.sorted.get(dir);
    if (s) return s;
    const names = this.dirs.get(dir);
    if (!names) return undefined;
    const rows = [...names].map(([name, type]) => {
      const entry: ListEntry = { name, type, info: { dir } };
      if (this.carried.has(dir === '' ? name : `${dir}/${name}`)) entry.object = { name, type: 'file', info: { dir } };
      return { buf: Buffer.from(name, 'utf8'), entry };
    });
    rows.sort((a, b) => Buffer.compare(a.buf, b.buf));
    s = { bufs: rows.map((r) => r.buf), entries: rows.map((r) => r.entry) };
    this.sorted.set(dir, s);
    return s;
  }

  async readdir(dirPath: string, after: string | undefined, limit: number): Promise<{ entries: ListEntry[]; eof: boolean }> {
    this.calls++;
    assert.ok(limit >= 1 && limit <= 10000, `limit ${limit}`);
    assert.ok(!dirPath.startsWith('/') && !dirPath.endsWith('/') && !dirPath.includes('//'), `dirPath ${dirPath}`);
    const s = this.page(dirPath);
    if (!s) return { entries: [], eof: true };
    let lo = 0;
    if (after !== undefined) {
      const a = Buffer.from(after, 'utf8');
      let hi = s.bufs.length;
      while (lo < hi) {
        const mid = (lo + hi) >> 1;
        if (Buffer.compare(s.bufs[mid]!, a) > 0) hi = mid;
        else lo = mid + 1;
      }
    }
    const n = Math.min(limit, this.pageCap ?? limit);
    const entries = s.entries.slice(lo, lo + n).map((e) => ({ ...e }));
    this.entriesRead += entries.length;
    return { entries, eof: lo + n >= s.entries.length };
  }

  async isMarker(dirPath: string): Promise<boolean> {
    this.markerCalls++;
    assert.notEqual(dirPath, '');
    return this.markers.has(dirPath);
  }
}

interface Expected { contents: string[]; commonPrefixes: string[]; isTruncated: boolean; next?: string }

/** S3 by definition: filter by prefix, sort, roll up, keep results > startAfter, cut at maxKeys. */
function reference(keys: string[], p: ListParams): Expected {
  const d = p.delimiter === '' ? undefined : p.delimiter;
  const sorted = keys.filter((k) => k.startsWith(p.prefix)).sort(byteCmp);
  const items: Array<{ v: string; cp: boolean }> = [];
  for (const k of sorted) {
    const i = d === undefined ? -1 : k.indexOf(d, p.prefix.length);
    if (i < 0) { items.push({ v: k, cp: false }); continue; }
    const cp = k.slice(0, i + d!.length);
    const last = items[items.length - 1];
    if (!last || !last.cp || last.v !== cp) items.push({ v: cp, cp: true });
  }
  const after = p.startAfter;
  const live = after === undefined ? items : items.filter((x) => byteCmp(x.v, after) > 0);
  if (p.maxKeys === 0) return { contents: [], commonPrefixes: [], isTruncated: false };
  const page = live.slice(0, p.maxKeys);
  const out: Expected = {
    contents: page.filter((x) => !x.cp).map((x) => x.v),
    commonPrefixes: page.filter((x) => x.cp).map((x) => x.v),
    isTruncated: live.length > p.maxKeys,
  };
  if (out.isTruncated) out.next = page[page.length - 1]!.v;
  return out;
}

function summary(r: ListResult): Expected {
  const s: Expected = { contents: r.contents.map((c) => c.key), commonPrefixes: r.commonPrefixes, isTruncated: r.isTruncated };
  if (r.next !== undefined) s.next = r.next;
  return s;
}

async function pageAll(io: ListIo, p: ListParams): Promise<{ contents: string[]; commonPrefixes: string[]; pages: number }> {
  const contents: string[] = [];
  const commonPrefixes: string[] = [];
  let startAfter = p.startAfter;
  for (let pages = 1; ; pages++) {
    const q: ListParams = { ...p };
    if (startAfter === undefined) delete q.startAfter; else q.startAfter = startAfter;
    const r = await listKeys(io, q);
    contents.push(...r.contents.map((c) => c.key));
    commonPrefixes.push(...r.commonPrefixes);
    assert.ok(r.contents.length + r.commonPrefixes.length <= p.maxKeys);
    if (!r.isTruncated) return { contents, commonPrefixes, pages };
    assert.equal(r.contents.length + r.commonPrefixes.length, p.maxKeys, 'a truncated page is full');
    assert.ok(r.next !== undefined);
    startAfter = r.next;
    assert.ok(pages < 10000, 'paging does not end');
  }
}

describe('S3 list walk', function () {
  describe('order helpers', () => {
    it('compareUtf8 agrees with Buffer.compare, also across surrogate pairs and U+E000..U+FFFF', () => {
      const r = rng(7);
      const alphabet = ['a', '-', '/', '.', '0', 'é', '\uE000', '\uFFFF', 'ｚ', '😀', '\u{10FFFF}', '\u{10000}', ' ', '\u0001', '\u07FF', '\u0800'];
      const word = () => Array.from({ length: Math.floor(r() * 5) }, () => alphabet[Math.floor(r() * alphabet.length)]!).join('');
      for (let i = 0; i < 20000; i++) {
        const a = word();
        const b = r() < 0.3 ? a + word() : word();
        assert.equal(Math.sign(compareUtf8(a, b)), Math.sign(byteCmp(a, b)), `${JSON.stringify(a)} vs ${JSON.stringify(b)}`);
      }
    });

    it('cursorAtOrAfter(s) lets through exactly the names >= s, up to NAME_MAX bytes', () => {
      const r = rng(11);
      const alphabet = ['a', 'b', '-', '.', '0', '\u0001', '\u007F', '\u0080', 'é', '\uD7FF', '\uE000', '\uFFFF', '😀', '\u{10FFFE}', '\u{10FFFF}'];
      const word = (n: number) => Array.from({ length: 1 + Math.floor(r() * n) }, () => alphabet[Math.floor(r() * alphabet.length)]!).join('');
      const fill = (s: string, ch: string) => { while (Buffer.byteLength(s + ch) <= 255) s += ch; return s; };
      for (let i = 0; i < 20000; i++) {
        const s = word(4);
        const names = [word(4), s + word(2), s.slice(0, -1), fill(s.slice(0, Math.max(0, s.length - 1)), '\u{10FFFF}')];
        // The largest names just below s: its last code point decremented, then the maximum bytes.
        const cps = Array.from(s);
        const lastCp = cps[cps.length - 1]!.codePointAt(0)!;
        if (lastCp > 1) {
          let p = lastCp - 1;
          if (p >= 0xd800 && p <= 0xdfff) p = 0xd7ff;
          const below = cps.slice(0, -1).join('') + String.fromCodePoint(p);
          names.push(fill(below, '\u{10FFFF}'), fill(fill(below, '\u{10FFFF}'), '\uFFFF'), fill(fill(fill(below, '\u{10FFFF}'), '\uFFFF'), '\u07FF'));
        }
        const c = cursorAtOrAfter(s);
        for (const n of names) {
          if (n === '' || Buffer.byteLength(n) > 255) continue;
          const passes = c === undefined || byteCmp(n, c) > 0;
          assert.equal(passes, byteCmp(n, s) >= 0, `${JSON.stringify(n)} vs ${JSON.stringify(s)}`);
        }
      }
      assert.equal(cursorAtOrAfter(''), undefined);
    });
  });

  describe('semantics', () => {
    function tree(keys: string[], emptyDirs: string[] = []): MemTree {
      const t = new MemTree();
      for (const k of keys) assert.ok(k.endsWith('/') ? t.addMarker(k.slice(0, -1)) : t.addFile(k), k);
      for (const d of emptyDirs) assert.ok(t.mkdirp(d), d);
      return t;
    }
    const keysOf = (r: ListResult) => r.contents.map((c) => c.key);

    it('a directory sorts as name/: a-b and a.txt before a/…, a0 after', async () => {
      const t = tree(['a0', 'a/x', 'a.txt', 'a-b', 'a-/y', 'a-c', 'b']);
      const r = await listKeys(t, { prefix: '', maxKeys: 1000 });
      assert.deepEqual(keysOf(r), ['a-/y', 'a-b', 'a-c', 'a.txt', 'a/x', 'a0', 'b']);
      assert.equal(r.isTruncated, false);
      const s = await listKeys(t, { prefix: '', delimiter: '/', maxKeys: 1000 });
      assert.deepEqual(keysOf(s), ['a-b', 'a-c', 'a.txt', 'a0', 'b']);
      assert.deepEqual(s.commonPrefixes, ['a-/', 'a/']);
    });

    it('UTF-8 byte order, not UTF-16: U+FF5A before 😀, é after z', async () => {
      const keys = ['😀', 'ｚ', 'z', 'é', 'e', ' x', '+%', 'dir/😀', 'dir/ｚ'];
      const t = tree(keys);
      const r = await listKeys(t, { prefix: '', maxKeys: 1000 });
      assert.deepEqual(keysOf(r), [...keys].sort(byteCmp));
      assert.deepEqual(keysOf(r).slice(-2), ['ｚ', '😀']);
    });

    it('markers: key dir/ sorts before its children; shown as Contents under prefix dir/', async () => {
      const t = tree(['d/', 'd/x', 'e/', 'f/g/']);
      assert.deepEqual(keysOf(await listKeys(t, { prefix: '', maxKeys: 10 })), ['d/', 'd/x', 'e/', 'f/g/']);
      const r = await listKeys(t, { prefix: 'd/', delimiter: '/', maxKeys: 10 });
      assert.deepEqual(keysOf(r), ['d/', 'd/x']);
      assert.equal(r.contents[0]!.entry.type, 'dir');
      const top = await listKeys(t, { prefix: '', delimiter: '/', maxKeys: 10 });
      assert.deepEqual(top.commonPrefixes, ['d/', 'e/', 'f/']);
    });

    it('empty directories are no prefixes, nor are directories of empty directories', async () => {
      const t = tree(['full/x', 'marked/'], ['empty', 'nested/a/b', 'nested/c', 'full/sub']);
      const r = await listKeys(t, { prefix: '', delimiter: '/', maxKeys: 10 });
      assert.deepEqual(r.commonPrefixes, ['full/', 'marked/']);
      assert.deepEqual(keysOf(await listKeys(t, { prefix: '', maxKeys: 10 })), ['full/x', 'marked/']);
      assert.deepEqual(await listKeys(t, { prefix: 'nested/', delimiter: '/', maxKeys: 10 }), { contents: [], commonPrefixes: [], isTruncated: false });
      // A trailing empty directory must not make the page look truncated.
      const one = await listKeys(t, { prefix: '', delimiter: '/', maxKeys: 2 });
      assert.equal(one.isTruncated, false);
    });

    it('prefix ending mid-name and at a slash', async () => {
      const t = tree(['photos/2026/a.jpg', 'photos/2026/b.jpg', 'photos/20.jpg', 'photos/2-x', 'photos/3.jpg', 'photos/20/', 'photos2']);
      const r = await listKeys(t, { prefix: 'photos/20', delimiter: '/', maxKeys: 10 });
      assert.deepEqual(keysOf(r), ['photos/20.jpg']);
      assert.deepEqual(r.commonPrefixes, ['photos/20/', 'photos/2026/']);
      assert.deepEqual(keysOf(await listKeys(t, { prefix: 'photos/20', maxKeys: 10 })),
        ['photos/20.jpg', 'photos/20/', 'photos/2026/a.jpg', 'photos/2026/b.jpg']);
      const s = await listKeys(t, { prefix: 'photos/', delimiter: '/', maxKeys: 10 });
      assert.deepEqual(keysOf(s), ['photos/2-x', 'photos/20.jpg', 'photos/3.jpg']);
      assert.deepEqual(s.commonPrefixes, ['photos/20/', 'photos/2026/']);
      assert.deepEqual(keysOf(await listKeys(t, { prefix: 'photos', delimiter: '/', maxKeys: 10 })), ['photos2']);
    });

    it('startAfter inside a group or equal to a returned CommonPrefix skips the group', async () => {
      const t = tree(['asdf', 'boo/bar', 'boo/baz/xyzzy', 'cquux/thud', 'cquux/bla']);
      const p1 = await listKeys(t, { prefix: '', delimiter: '/', maxKeys: 1 });
      assert.deepEqual(summary(p1), { contents: ['asdf'], commonPrefixes: [], isTruncated: true, next: 'asdf' });
      const p2 = await listKeys(t, { prefix: '', delimiter: '/', maxKeys: 1, startAfter: p1.next! });
      assert.deepEqual(summary(p2), { contents: [], commonPrefixes: ['boo/'], isTruncated: true, next: 'boo/' });
      const p3 = await listKeys(t, { prefix: '', delimiter: '/', maxKeys: 1, startAfter: p2.next! });
      assert.deepEqual(summary(p3), { contents: [], commonPrefixes: ['cquux/'], isTruncated: false });
      const inGroup = await listKeys(t, { prefix: '', delimiter: '/', maxKeys: 5, startAfter: 'boo/bar' });
      assert.deepEqual(inGroup.commonPrefixes, ['cquux/']);
      // Without a delimiter the same bound resumes inside the directory.
      assert.deepEqual(keysOf(await listKeys(t, { prefix: '', maxKeys: 5, startAfter: 'boo/bar' })), ['boo/baz/xyzzy', 'cquux/bla', 'cquux/thud']);
      // Other delimiters: the same rule.
      const dash = tree(['a-1', 'a-2', 'a/b-c', 'b-1', 'b']);
      const d1 = await listKeys(dash, { prefix: '', delimiter: '-', maxKeys: 10 });
      assert.deepEqual(summary(d1), { contents: ['b'], commonPrefixes: ['a-', 'a/b-', 'b-'], isTruncated: false });
      const d2 = await listKeys(dash, { prefix: '', delimiter: '-', maxKeys: 10, startAfter: 'a-1' });
      assert.deepEqual(summary(d2), { contents: ['b'], commonPrefixes: ['a/b-', 'b-'], isTruncated: false });
    });

    it('maxKeys 0: nothing, not truncated, no reads; startAfter past the prefix: nothing', async () => {
      const t = tree(['a', 'b']);
      t.resetCounters();
      assert.deepEqual(await listKeys(t, { prefix: '', maxKeys: 0 }), { contents: [], commonPrefixes: [], isTruncated: false });
      assert.equal(t.calls, 0);
      assert.deepEqual(keysOf(await listKeys(t, { prefix: 'a', maxKeys: 5, startAfter: 'a0' })), []);
      assert.deepEqual(keysOf(await listKeys(t, { prefix: 'b', maxKeys: 5, startAfter: 'a0' })), ['b']);
      await assert.rejects(listKeys(t, { prefix: '', maxKeys: -1 }), RangeError);
    });

    it('prefixes and bounds that name no path ("//", ".", "..") find nothing and read nothing outside', async () => {
      const t = tree(['a/b', 'b']);
      for (const prefix of ['/a', 'a//', '../', 'a/../', './a']) {
        assert.deepEqual(keysOf(await listKeys(t, { prefix, maxKeys: 5 })), [], prefix);
      }
      assert.deepEqual(keysOf(await listKeys(t, { prefix: '', maxKeys: 5, startAfter: '../x' })), ['a/b', 'b']);
      assert.deepEqual(keysOf(await listKeys(t, { prefix: '', maxKeys: 5, startAfter: 'a/../x' })), ['a/b', 'b']);
    });

    it('a marker entry answered by isMarker reaches Contents; else the directory\'s own entry', async () => {
      const t = tree(['d/', 'd/x', 'e/']);
      const io: ListIo = {
        readdir: (dir, after, limit) => t.readdir(dir, after, limit),
        isMarker: async (dir) => (await t.isMarker(dir)) && dir === 'd' ? { name: 'd', type: 'dir', info: 'marker-attrs' } : t.isMarker(dir),
      };
      const r = await listKeys(io, { prefix: 'd/', delimiter: '/', maxKeys: 5 });
      assert.deepEqual(r.contents.map((c) => [c.key, c.entry.info]), [['d/', 'marker-attrs'], ['d/x', { dir: 'd' }]]);
      const all = await listKeys(t, { prefix: '', maxKeys: 5 });
      assert.deepEqual(all.contents.map((c) => [c.key, c.entry.type, c.entry.info]), [['d/', 'dir', { dir: '' }], ['d/x', 'file', { dir: 'd' }], ['e/', 'dir', { dir: '' }]]);
      const bare = await listKeys(t, { prefix: 'e/', maxKeys: 5 });
      assert.deepEqual(bare.contents.map((c) => c.entry), [{ name: 'e', type: 'dir' }]);
    });

    it('symlinks are keys, not descended', async () => {
      const t = new MemTree();
      t.addFile('l', 'symlink');
      t.addFile('m/x');
      const r = await listKeys(t, { prefix: '', maxKeys: 5 });
      assert.deepEqual(r.contents.map((c) => [c.key, c.entry.type]), [['l', 'symlink'], ['m/x', 'file']]);
    });
  });

  describe('property: random trees against the brute-force reference', () => {
    const baseSeed = Number(process.env.LIST_WALK_SEED ?? 20260501);
    const alphabet = ['-', '.', '/', '/', '0', 'a', 'a', 'é', ' ', 'ｚ', '😀'];
    const delimiters = [undefined, '/', '/', '/', '-', '.', 'é', ' ', 'a/', '/a', '-.', '😀', ''];

    it('listKeys equals the reference for random prefix/delimiter/startAfter/maxKeys, and paging with next covers it exactly', async function () {
      this.timeout(120000);
      let queries = 0;
      const seen = { contents: 0, prefixes: 0, truncated: 0, mixed: 0, heldBack: 0, boundInside: 0, carried: 0 };
      for (let n = 0; n < 400; n++) {
        const seed = baseSeed + n;
        const r = rng(seed);
        const pick = <T>(xs: readonly T[]): T => xs[Math.floor(r() * xs.length)]!;
        const word = (max: number) => Array.from({ length: Math.floor(r() * (max + 1)) }, () => pick(alphabet)).join('');
        const t = new MemTree();
        // Half the trees let `a` and `a/b` coexist (a directory carries the object at its name).
        t.adopt = r() < 0.5;
        // Short pages put held-back directories and the names they wait for on different pages.
        t.pageCap = pick([undefined, undefined, 1, 2, 3]);
        const size = 1 + Math.floor(r() * 40);
        for (let i = 0; i < size; i++) {
          const k = word(7);
          if (k === '') continue;
          if (k.endsWith('/')) t.addMarker(k.slice(0, -1));
          else if (r() < 0.15) t.mkdirp(k);
          else t.addFile(k, r() < 0.1 ? 'symlink' : 'file');
        }
        const all = t.allKeys();
        const keys = all.map((x) => x.key);
        const kinds = new Map(all.map((x) => [x.key, x.kind]));
        const somePrefixOf = (k: string) => Array.from(k).slice(0, Math.floor(r() * (Array.from(k).length + 1))).join('');
        for (let q = 0; q < 15; q++) {
          const base = keys.length > 0 ? pick(keys) : '';
          const prefix = pick([() => '', () => somePrefixOf(base), () => somePrefixOf(base), () => word(3)])();
          const startAfter = pick([() => undefined, () => undefined, () => base, () => somePrefixOf(base), () => word(4), () => base + word(2), () => prefix + word(3)])();
          const delimiter = pick(delimiters);
          const maxKeys = pick([0, 1, 2, 3, 4, 7, 1000]);
          const p: ListParams = { prefix, maxKeys };
          if (delimiter !== undefined) p.delimiter = delimiter;
          if (startAfter !== undefined) p.startAfter = startAfter;
          const ctx = `seed ${seed} ${JSON.stringify(p)} keys ${JSON.stringify([...keys].sort(byteCmp))}`;
          const got = await listKeys(t, p);
          assert.deepEqual(summary(got), reference(keys, p), ctx);
          for (const c of got.contents) assert.equal(c.entry.type, kinds.get(c.key), ctx);
          queries++;
          if (got.contents.length > 0) seen.contents++;
          if (got.contents.some((c) => t.isCarried(c.key))) seen.carried++;
          if (got.commonPrefixes.length > 0) seen.prefixes++;
          if (got.isTruncated) seen.truncated++;
          if (got.contents.length > 0 && got.commonPrefixes.length > 0) seen.mixed++;
          // Directory-wise order (compare path components) differs from key order exactly when a
          // directory had to be held back behind names like `a-b`, `a.c`, `a b`.
          const ks = got.contents.map((c) => c.key);
          const byComponents = [...ks].sort((a, b) => {
            const x = a.split('/'), y = b.split('/');
            for (let i = 0; i < Math.min(x.length, y.length); i++) { const c = byteCmp(x[i]!, y[i]!); if (c !== 0) return c; }
            return x.length - y.length;
          });
          if (ks.join('\n') !== byComponents.join('\n')) seen.heldBack++;
          if (startAfter !== undefined && keys.some((k) => k.startsWith(startAfter) && k !== startAfter)) seen.boundInside++;
          if (maxKeys > 0 && maxKeys < 10) {
            const full = reference(keys, { ...p, maxKeys: 1e9 });
            const paged = await pageAll(t, p);
            assert.deepEqual({ contents: paged.contents, commonPrefixes: paged.commonPrefixes }, { contents: full.contents, commonPrefixes: full.commonPrefixes }, `paging ${ctx}`);
          }
        }
      }
      assert.ok(queries >= 6000);
      // The random cases do reach every situation (counts for seed 20260501 are in the hundreds).
      for (const [what, n] of Object.entries(seen)) assert.ok(n >= 50, `only ${n} queries with ${what}: ${JSON.stringify(seen)}`);
      if (process.env.LIST_WALK_VERBOSE) console.log(queries, seen);
    });
  });

  describe('cost: a page reads O(page), not O(directory) or O(bucket)', function () {
    this.timeout(120000);
    const N = 100_000;
    const pad = (i: number) => String(i).padStart(6, '0');
    let big: MemTree;
    before(() => {
      big = new MemTree();
      for (let i = 0; i < N; i++) big.addFile(`d/f${pad(i)}`);
      // Names that sort between directory `d/f0` and its children, and a directory that waits.
      big.addFile('d/f0/inner');
      big.addFile('d/f0-x');
      big.addFile('d/f0.y');
    });

    it('first page of 1000 in a directory of 100,000', async () => {
      big.resetCounters();
      const r = await listKeys(big, { prefix: 'd/', maxKeys: 1000 });
      assert.equal(r.contents.length, 1000);
      assert.deepEqual(r.contents.slice(0, 4).map((c) => c.key), ['d/f0-x', 'd/f0.y', 'd/f0/inner', 'd/f000000']);
      assert.equal(r.isTruncated, true);
      assert.ok(big.entriesRead <= 1200, `read ${big.entriesRead}`);
      assert.ok(big.calls <= 10, `calls ${big.calls}`);
    });

    it('a page in the middle via startAfter, with and without delimiter', async () => {
      for (const delimiter of [undefined, '/', '-']) {
        big.resetCounters();
        const p: ListParams = { prefix: 'd/', startAfter: `d/f${pad(50_000)}`, maxKeys: 1000 };
        if (delimiter) p.delimiter = delimiter;
        const r = await listKeys(big, p);
        assert.equal(r.contents[0]!.key, `d/f${pad(50_001)}`);
        assert.equal(r.contents[999]!.key, `d/f${pad(51_000)}`);
        assert.equal(r.next, `d/f${pad(51_000)}`);
        assert.ok(big.entriesRead <= 1200, `${delimiter} read ${big.entriesRead}`);
        assert.ok(big.calls <= 10, `${delimiter} calls ${big.calls}`);
      }
    });

    it('the last page, and a prefix ending mid-name, in the big directory', async () => {
      big.resetCounters();
      const last = await listKeys(big, { prefix: '', startAfter: `d/f${pad(N - 10)}`, maxKeys: 1000 });
      assert.equal(last.contents.length, 9);
      assert.equal(last.isTruncated, false);
      assert.ok(big.entriesRead <= 100, `read ${big.entriesRead}`);
      big.resetCounters();
      const mid = await listKeys(big, { prefix: 'd/f0712', maxKeys: 1000 });
      assert.equal(mid.contents.length, 100);
      assert.equal(mid.contents[0]!.key, 'd/f071200');
      // readdir has no upper cursor: the page that crosses the range's end is read whole, but
      // pages grow from 32, so that costs about the range, not the directory.
      assert.ok(big.entriesRead <= 300, `read ${big.entriesRead}`);
    });

    it('a directory held back by 100,000 names that sort before its children', async () => {
      const t = new MemTree();
      for (let i = 0; i < N; i++) t.addFile(`a-${pad(i)}`);
      for (let i = 0; i < 50; i++) t.addFile(`a/${pad(i)}`);
      t.addFile('a0');
      t.resetCounters();
      const first = await listKeys(t, { prefix: '', maxKeys: 1000 });
      assert.equal(first.contents[999]!.key, `a-${pad(999)}`);
      assert.ok(t.entriesRead <= 1200, `read ${t.entriesRead}`);
      // Resume just before the directory's turn: it is found by lookup, not by rereading a-*.
      t.resetCounters();
      const turn = await listKeys(t, { prefix: '', startAfter: `a-${pad(N - 2)}`, maxKeys: 1000 });
      assert.deepEqual(turn.contents.map((c) => c.key), [`a-${pad(N - 1)}`, ...Array.from({ length: 50 }, (_, i) => `a/${pad(i)}`), 'a0']);
      assert.ok(t.entriesRead <= 200, `read ${t.entriesRead}`);
      assert.ok(t.calls <= 10, `calls ${t.calls}`);
      // Resume inside the directory: continue after it without passing over a-*.
      t.resetCounters();
      const inside = await listKeys(t, { prefix: '', startAfter: `a/${pad(48)}`, maxKeys: 1000 });
      assert.deepEqual(inside.contents.map((c) => c.key), [`a/${pad(49)}`, 'a0']);
      assert.ok(t.entriesRead <= 100, `read ${t.entriesRead}`);
      // With '/': the directory is one CommonPrefix after all of a-*.
      t.resetCounters();
      const slash = await listKeys(t, { prefix: '', delimiter: '/', startAfter: `a-${pad(N - 2)}`, maxKeys: 1000 });
      assert.deepEqual(summary(slash), { contents: [`a-${pad(N - 1)}`, 'a0'], commonPrefixes: ['a/'], isTruncated: false });
      assert.ok(t.entriesRead <= 100, `read ${t.entriesRead}`);
    });

    it('CommonPrefixes over 20,000 subdirectories: one small probe each', async () => {
      const t = new MemTree();
      for (let i = 0; i < 20_000; i++) t.addFile(`p/s${pad(i)}/x${i % 7 === 0 ? '' : '/deeper'}`);
      t.resetCounters();
      const r = await listKeys(t, { prefix: 'p/', delimiter: '/', maxKeys: 1000 });
      assert.equal(r.commonPrefixes.length, 1000);
      assert.equal(r.commonPrefixes[999], `p/s${pad(999)}/`);
      assert.ok(t.entriesRead <= 4000, `read ${t.entriesRead}`);
      assert.ok(t.calls <= 2200, `calls ${t.calls}`);
      t.resetCounters();
      const mid = await listKeys(t, { prefix: 'p/', delimiter: '/', startAfter: `p/s${pad(10_000)}/x`, maxKeys: 1000 });
      assert.equal(mid.commonPrefixes[0], `p/s${pad(10_001)}/`);
      assert.ok(t.entriesRead <= 4000, `read ${t.entriesRead}`);
    });

    it('deep tree: descending 100 levels of 2,000-entry directories reads O(page + depth)', async () => {
      const t = new MemTree();
      const depth = 100;
      let dir = '';
      for (let l = 0; l < depth; l++) {
        dir = dir === '' ? 'd' : `${dir}/d`;
        for (let i = 0; i < 2000; i++) t.addFile(`${dir}/f${pad(i)}`);
      }
      t.resetCounters();
      // Key order: d/d/…/d/f… at the deepest level first, since 'd/' < 'f'.
      const first = await listKeys(t, { prefix: '', maxKeys: 1000 });
      assert.equal(first.contents[0]!.key, `${dir}/f${pad(0)}`);
      assert.ok(t.entriesRead <= 1000 + depth * 40, `read ${t.entriesRead}`);
      assert.ok(t.calls <= depth * 3 + 20, `calls ${t.calls}`);
      // Resume in the middle of a level half-way up.
      const level50 = Array.from({ length: 50 }, () => 'd').join('/');
      t.resetCounters();
      const mid = await listKeys(t, { prefix: '', startAfter: `${level50}/f${pad(1500)}`, maxKeys: 1000 });
      assert.equal(mid.contents[0]!.key, `${level50}/f${pad(1501)}`);
      assert.equal(mid.contents[499]!.key, `${level50.slice(0, -2)}/f${pad(0)}`);
      assert.ok(t.entriesRead <= 1000 + depth * 40, `read ${t.entriesRead}`);
      assert.ok(t.calls <= depth * 3 + 20, `calls ${t.calls}`);
      // With '/' at the deepest level's parent: one CommonPrefix and the files.
      t.resetCounters();
      const s = await listKeys(t, { prefix: `${level50}/`, delimiter: '/', maxKeys: 3 });
      assert.deepEqual(summary(s), { contents: [`${level50}/f${pad(0)}`, `${level50}/f${pad(1)}`], commonPrefixes: [`${level50}/d/`], isTruncated: true, next: `${level50}/f${pad(1)}` });
      assert.ok(t.entriesRead <= 40, `read ${t.entriesRead}`);
    });
  });
});
