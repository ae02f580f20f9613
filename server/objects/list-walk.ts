/**
 * S3 ListObjects / ListObjectsV2 over a directory tree, one page at a time.
 *
 * The gateway stores key `a/b/c` of bucket `b` as the file `/b/a/b/c`. A listing must come back
 * in S3's order — UTF-8 binary order of whole keys ("List results are always returned in UTF-8
 * binary order", https://docs.aws.amazon.com/AmazonS3/latest/userguide/ListingKeysUsingAPIs.html)
 * — while a directory reads back in pages sorted by bare *name* (dht2-core `readdir`, one range
 * scan of the MDS name index per page). The two orders differ in one place: every key under
 * directory `a` starts with `a/`, so the directory sorts as `a/` (0x2f) and not as `a`. The names
 * `a-b` (0x2d) and `a.txt` (0x2e) come after `a` in the directory but before everything under
 * `a/` in the listing; `a0` (0x30) comes after both. So a directory met in a page is held back
 * (a small stack, see `children`) until the names it must let pass — those that start with its
 * name and a byte below `/` — have gone by.
 *
 * Cost: a page must cost O(page), never O(directory) or O(bucket). Nothing here reads a whole
 * directory to sort it; a listing that starts at a key descends to it with `after` cursors
 * (one page per level) and reads forward from there. See `listKeys` for the bound.
 *
 * Everything is I/O-injected (`ListIo`) so the algorithm is testable against an in-memory tree.
 */

/** One name of a directory page. `info` is carried through untouched (a DirEntry, attributes…). */
export interface ListEntry {
  name: string;
  type: 'file' | 'dir' | 'symlink';
  info?: unknown;
  /**
   * Directories only: the object the directory carries at its own name (key `a` beside `a/b`,
   * dht2-core fops/dirobj.ts). It sorts as the bare name, where the directory's page meets it.
   */
  object?: ListEntry;
}

export interface ListIo {
  /**
   * One page of directory `dirPath` ('' = bucket root, else 'a/b' without leading or trailing
   * slash): names > `after` (exclusive; any string, not only an existing name), at most `limit`
   * of them, sorted by UTF-8 bytes. ENOENT/ENOTDIR must come back as `{ entries: [], eof: true }`.
   */
  readdir(dirPath: string, after: string | undefined, limit: number): Promise<{ entries: ListEntry[]; eof: boolean }>;
  /**
   * Whether directory `dirPath` (never '') carries an explicit directory-marker object, the key
   * `dirPath + '/'`. It may answer the marker's entry instead of `true` (its `info` then reaches
   * the Contents item: the directory the prefix points into is never read from its parent, so
   * this is the only way its marker gets attributes).
   */
  isMarker(dirPath: string): Promise<boolean | ListEntry>;
}

export interface ListParams {
  /** Only keys that start with this (may end mid-name, at a slash, or be ''). */
  prefix: string;
  /** Roll keys up at the first occurrence of this after the prefix; '' or undefined = none. */
  delimiter?: string;
  /** Exclusive lower bound: StartAfter, Marker, or a decoded continuation token (`next`). */
  startAfter?: string;
  /** 0..1000; Contents and CommonPrefixes together. */
  maxKeys: number;
}

export interface ListContent {
  key: string;
  /**
   * The file or symlink behind the key. For a directory-marker key (`dir/`): the entry `isMarker`
   * answered, else the directory's own entry when the walk read it from its parent, else
   * `{ name, type: 'dir' }` (the directory the prefix points into, whose parent is not read).
   */
  entry: ListEntry;
}

export interface ListResult {
  contents: ListContent[];
  commonPrefixes: string[];
  isTruncated: boolean;
  /**
   * Set only when `isTruncated`: the last key or common prefix returned, to pass back as
   * `startAfter` (ListObjects NextMarker; the payload of a ListObjectsV2 continuation token).
   */
  next?: string;
}

/** Longest name a volume holds (dht2-core NAME_MAX, bytes of UTF-8). */
export const NAME_MAX_BYTES = 255;

/**
 * A string greater, in UTF-8 bytes, than any continuation of a name that fits NAME_MAX: 64 ×
 * U+10FFFF is 256 bytes of F4 8F BF BF, the largest UTF-8 sequence, so a valid continuation of at
 * most 255 bytes is either a proper prefix of it or smaller at its first difference. `x + TAIL`
 * is therefore a cursor "past every name that starts with x"; it is only ever sent as a cursor,
 * which the brick compares as bytes (name-index `name > ?`), never created as a name.
 */
const TAIL = '\u{10FFFF}'.repeat(64);

const SLASH = 0x2f;
/** First page read from a directory: most directories a walk passes through give up few entries. */
const FIRST_PAGE = 32;
/** How much each further page of one directory grows. */
const GROWTH = 4;
/** Largest page asked for (dht2-core allows 10000; 1000 is one S3 page). */
const MAX_PAGE = 1000;
/** Subdirectories whose emptiness is probed at once for CommonPrefixes. */
const PROBE_WINDOW = 8;

/**
 * Compares two strings in UTF-8 byte order (= code point order) without encoding them. JS `<`
 * compares UTF-16 code units, which puts U+E000..U+FFFF after surrogate pairs (U+10000 and up),
 * the reverse of UTF-8; only at the first differing unit does that need fixing.
 */
export function compareUtf8(a: string, b: string): number {
  const n = Math.min(a.length, b.length);
  for (let i = 0; i < n; i++) {
    let x = a.charCodeAt(i);
    let y = b.charCodeAt(i);
    if (x === y) continue;
    if (x >= 0xd800 && y >= 0xd800) {
      // Surrogates (D800-DFFF) stand for code points above FFFF: move them above E000-FFFF.
      x = x >= 0xe000 ? x - 0x800 : x + 0x2000;
      y = y >= 0xe000 ? y - 0x800 : y + 0x2000;
    }
    return x - y;
  }
  return a.length - b.length;
}

/**
 * A readdir cursor that starts a page at `name` inclusive, since dht2-core's `after` is
 * exclusive: the greatest string below every name >= `name`. With the last code point c of
 * `name` and the rest t, that is t + (c-1) + TAIL: no name of at most NAME_MAX bytes lies between
 * it and `name` (see TAIL). c-1 skips the surrogate block and NUL (neither is in a name).
 */
export function cursorAtOrAfter(name: string): string | undefined {
  if (name === '') return undefined;
  const last = name.codePointAt(name.length - 1);
  // A trailing low surrogate belongs to a pair: step back over both units.
  const cut = last !== undefined && last >= 0xdc00 && last <= 0xdfff && name.length >= 2 ? name.length - 2 : name.length - 1;
  const t = name.slice(0, cut);
  const c = name.codePointAt(cut) ?? 0;
  // No name holds NUL, so nothing lies between t and t + U+0001; an empty t means "from the start".
  if (c <= 1) return t === '' ? undefined : t;
  let p = c - 1;
  if (p >= 0xd800 && p <= 0xdfff) p = 0xd7ff;
  return t + String.fromCodePoint(p) + TAIL;
}

/** Whether `n` can be one path component of the volume (dht2-core checkName), so worth a lookup. */
function isName(n: string): boolean {
  return n !== '' && n !== '.' && n !== '..' && !n.includes('/') && !n.includes('\0')
    && Buffer.byteLength(n, 'utf8') <= NAME_MAX_BYTES && n.isWellFormed();
}

function join(dir: string, name: string): string {
  return dir === '' ? name : `${dir}/${name}`;
}

/** The entry of a marker key: what isMarker answered, else the directory's own, else a bare one. */
function markerEntry(m: true | ListEntry, self: ListEntry | undefined, dir: string): ListEntry {
  return m === true ? self ?? { name: dir.slice(dir.lastIndexOf('/') + 1), type: 'dir' } : m;
}

/** The position of an entry in key order relative to its directory: a directory sorts as `name/`. */
function sortKey(e: ListEntry): string {
  return e.type === 'dir' ? `${e.name}/` : e.name;
}

/** Whether directory `d` must wait for name `n`: n starts with d and a byte below '/'. */
function holdsBack(d: string, n: string): boolean {
  return n.length > d.length && n.charCodeAt(d.length) < SLASH && n.startsWith(d);
}

/** How many more results the listing can still take (+1 for the truncation probe); sizes pages. */
interface Budget { want: number }

function pageLimit(prev: number, budget: Budget): number {
  // The first page of a directory is small, since a walk that only passes through (a deep
  // descent, a resumed page, a directory of few keys) uses few of its entries. Later pages grow
  // ×4 (a directory that used a whole page is likely to use more: a flat 1000-key page costs 4
  // calls), but never past what the listing still wants (or 32), so the unused tail of a page is
  // at most 4× what its directory gave up plus 32.
  const growth = prev === 0 ? FIRST_PAGE : prev * GROWTH;
  return Math.min(MAX_PAGE, growth, Math.max(FIRST_PAGE, budget.want));
}

/**
 * The directories among the names of `dir` that precede `bound` but sort after it: for each
 * proper prefix m of `bound` followed by a byte below '/', a directory named m sorts as `m/`,
 * after `bound`. Reading from m would pass over every name between m and `bound` (possibly the
 * whole directory), so each candidate is one lookup page of size 1 instead. Candidates are the
 * few positions of ' !"#$%&'()*+,-.' in one name; they come back shortest first, the order of
 * the hold-back stack.
 */
async function heldBackBefore(io: ListIo, dir: string, namePrefix: string, bound: string): Promise<ListEntry[]> {
  const names: string[] = [];
  for (let j = Math.max(1, namePrefix.length); j < bound.length; j++) {
    if (bound.charCodeAt(j) < SLASH) {
      const m = bound.slice(0, j);
      if (isName(m)) names.push(m);
    }
  }
  const found = await Promise.all(names.map(async (m) => {
    const page = await io.readdir(dir, cursorAtOrAfter(m), 1);
    const e = page.entries[0];
    return e !== undefined && e.name === m && e.type === 'dir' ? e : undefined;
  }));
  return found.filter((e): e is ListEntry => e !== undefined);
}

/**
 * The entries of `dir` whose names start with `namePrefix`, in key order (sort key `name/` for
 * directories), restricted to sort keys > `bound` when given. Pages are read lazily; a directory
 * is pushed on `held` until the next name no longer starts with it and a byte below '/', then
 * popped (innermost first: `a-` waits for `a-b`, `a` waits for both and for `a.txt`).
 */
async function* children(io: ListIo, dir: string, namePrefix: string, bound: string | undefined, budget: Budget): AsyncGenerator<ListEntry> {
  // Every name with sort key > bound is a name >= bound, except the held-back directories that
  // precede it; with no bound the range starts at the prefix.
  let after = cursorAtOrAfter(bound ?? namePrefix);
  const held = bound === undefined ? [] : await heldBackBefore(io, dir, namePrefix, bound);
  let limit = 0;
  let page: ListEntry[] = [];
  let i = 0;
  let eof = false;
  for (;;) {
    if (i === page.length) {
      if (eof) break;
      limit = pageLimit(limit, budget);
      const r = await io.readdir(dir, after, limit);
      page = r.entries;
      i = 0;
      // An empty page that claims more would loop forever: treat it as the end.
      eof = r.eof || page.length === 0;
      if (page.length > 0) after = page[page.length - 1]!.name;
      continue;
    }
    const e = page[i++]!;
    // Names are sorted, so the first one outside the prefix ends the range (and nothing held
    // back waits for it: a held directory starts with the prefix, so do the names it waits for).
    if (!e.name.startsWith(namePrefix)) break;
    if (bound !== undefined && compareUtf8(sortKey(e), bound) <= 0) continue;
    while (held.length > 0 && !holdsBack(held[held.length - 1]!.name, e.name)) yield held.pop()!;
    if (e.type === 'dir') {
      // Its carried object is key `name`, in place right here (the directory itself waits as `name/`).
      if (e.object && (bound === undefined || compareUtf8(e.name, bound) > 0)) yield e.object;
      held.push(e);
    } else {
      yield e;
    }
  }
  while (held.length > 0) yield held.pop()!;
}

type Item = { kind: 'key'; key: string; entry: ListEntry } | { kind: 'prefix'; prefix: string };

/**
 * Where a listing of prefix P starting after key B begins: P names directory `dir` (up to its last
 * slash) and a name prefix; B, when it lies in P's range, becomes a bound relative to `dir`.
 * Returns undefined when nothing can match (B past the range, or a prefix whose directory part
 * can be no path of the volume: '//', '.', '..', a leading slash).
 */
function start(prefix: string, startAfter: string | undefined): { dir: string; namePrefix: string; rel: string | undefined } | undefined {
  const cut = prefix.lastIndexOf('/');
  const dir = cut < 0 ? '' : prefix.slice(0, cut);
  const namePrefix = prefix.slice(cut + 1);
  // A slash at 0 leaves an empty first component: no key can start with it.
  if (cut >= 0 && !dir.split('/').every(isName)) return undefined;
  let rel: string | undefined;
  if (startAfter !== undefined && compareUtf8(startAfter, prefix) >= 0) {
    // A bound at or past the prefix that does not start with it lies past every key that does.
    if (!startAfter.startsWith(prefix)) return undefined;
    rel = dir === '' ? startAfter : startAfter.slice(dir.length + 1);
  }
  return { dir, namePrefix, rel };
}

/**
 * Every key under `dir` (names restricted to `namePrefix`) in key order, after the relative
 * bound `rel` (exclusive) when given. A directory's keys are its marker (`dir/`, the smallest)
 * then its children's; a bound `n1/rest` resumes inside child n1 (one page per level of descent)
 * and then continues with the children that sort after `n1/`.
 */
async function* dirKeys(io: ListIo, dir: string, self: ListEntry | undefined, namePrefix: string, rel: string | undefined, budget: Budget): AsyncGenerator<Item> {
  let bound: string | undefined;
  if (rel === undefined) {
    const m = namePrefix === '' && dir !== '' ? await io.isMarker(dir) : false;
    if (m !== false) yield { kind: 'key', key: `${dir}/`, entry: markerEntry(m, self, dir) };
  } else {
    const slash = rel.indexOf('/');
    if (slash >= 0) {
      const n1 = rel.slice(0, slash);
      // n1 may be a file or absent: readdir then answers an empty eof page.
      if (isName(n1)) yield* dirKeys(io, join(dir, n1), undefined, '', rel.slice(slash + 1), budget);
      bound = `${n1}/`;
    } else {
      bound = rel;
    }
  }
  for await (const e of children(io, dir, namePrefix, bound, budget)) {
    if (e.type === 'dir') yield* dirKeys(io, join(dir, e.name), e, '', undefined, budget);
    else yield { kind: 'key', key: join(dir, e.name), entry: e };
  }
}

/**
 * Whether the subtree of `dir` holds at least one key. S3 has no directories: a CommonPrefix
 * exists only because some key starts with it, so an empty directory (or one holding only empty
 * directories) must not show. One small page usually answers (a file); the marker is asked only
 * when that page has none; empty subdirectories cost a walk of themselves.
 */
async function hasKey(io: ListIo, dir: string): Promise<boolean> {
  let after: string | undefined;
  let limit = 8;
  let first = true;
  for (;;) {
    const r = await io.readdir(dir, after, limit);
    if (r.entries.some((e) => e.type !== 'dir' || e.object)) return true;
    if (first && await io.isMarker(dir) !== false) return true;
    first = false;
    for (const e of r.entries) if (await hasKey(io, join(dir, e.name))) return true;
    if (r.eof || r.entries.length === 0) return false;
    after = r.entries[r.entries.length - 1]!.name;
    limit = Math.min(MAX_PAGE, limit * 2);
  }
}

/**
 * Delimiter '/': everything a page can hold is one directory level — files of the prefix's
 * directory are Contents (and its marker, when the prefix ends at the slash), each subdirectory
 * is one CommonPrefix `dir/name/` once `hasKey` says it is not empty. Nothing is descended into.
 * A few emptiness probes run at once (in order of the listing, never past what it still wants).
 */
async function* slashLevel(io: ListIo, prefix: string, startAfter: string | undefined, budget: Budget): AsyncGenerator<Item> {
  const s = start(prefix, startAfter);
  if (!s) return;
  let bound: string | undefined;
  if (s.rel === undefined) {
    const m = s.namePrefix === '' && s.dir !== '' ? await io.isMarker(s.dir) : false;
    if (m !== false) yield { kind: 'key', key: `${s.dir}/`, entry: markerEntry(m, undefined, s.dir) };
  } else {
    // A bound inside a subdirectory lies inside its CommonPrefix, which is not greater than it,
    // so the whole group is skipped (see listKeys).
    const slash = s.rel.indexOf('/');
    bound = slash >= 0 ? `${s.rel.slice(0, slash)}/` : s.rel;
  }
  const it = children(io, s.dir, s.namePrefix, bound, budget);
  const queue: Array<{ e: ListEntry; probe: Promise<boolean> | undefined }> = [];
  let done = false;
  try {
    for (;;) {
      while (!done && queue.length < Math.max(1, Math.min(PROBE_WINDOW, budget.want))) {
        const r = await it.next();
        if (r.done) { done = true; break; }
        const e = r.value;
        const probe = e.type === 'dir' ? hasKey(io, join(s.dir, e.name)) : undefined;
        // A probe left behind when the page fills must not surface as an unhandled rejection;
        // the ones awaited below still throw.
        probe?.catch(() => undefined);
        queue.push({ e, probe });
      }
      const q = queue.shift();
      if (!q) return;
      if (q.probe === undefined) yield { kind: 'key', key: join(s.dir, q.e.name), entry: q.e };
      else if (await q.probe) yield { kind: 'prefix', prefix: `${join(s.dir, q.e.name)}/` };
    }
  } finally {
    await it.return(undefined);
  }
}

/**
 * Any other delimiter, or none: the keys in order, each rolled up at the first delimiter after
 * the prefix. After a CommonPrefix the walk restarts past every key that starts with it (one
 * descent), so a group costs one key read, not its size.
 */
async function* groupedKeys(io: ListIo, prefix: string, delimiter: string | undefined, startAfter: string | undefined, budget: Budget): AsyncGenerator<Item> {
  let from = startAfter;
  if (delimiter !== undefined && from !== undefined && from.startsWith(prefix)) {
    // A bound inside a group: the group's CommonPrefix is not greater than it, so skip it all.
    const i = from.indexOf(delimiter, prefix.length);
    if (i >= 0) from = from.slice(0, i + delimiter.length) + TAIL;
  }
  for (;;) {
    const s = start(prefix, from);
    if (!s) return;
    let restart: string | undefined;
    for await (const item of dirKeys(io, s.dir, undefined, s.namePrefix, s.rel, budget)) {
      if (item.kind === 'key' && delimiter !== undefined) {
        const i = item.key.indexOf(delimiter, prefix.length);
        if (i >= 0) {
          const cp = item.key.slice(0, i + delimiter.length);
          yield { kind: 'prefix', prefix: cp };
          restart = cp + TAIL;
          break;
        }
      }
      yield item;
    }
    if (restart === undefined) return;
    from = restart;
  }
}

/**
 * One page of S3 ListObjects / ListObjectsV2
 * (https://docs.aws.amazon.com/AmazonS3/latest/API/API_ListObjectsV2.html,
 * https://docs.aws.amazon.com/AmazonS3/latest/API/API_ListObjects.html):
 *
 * - keys are file and symlink paths relative to the bucket, plus `dir/` for a directory that
 *   `isMarker`; a directory is no key by itself, and only a prefix with a key below it exists;
 * - the keys that start with `prefix`, in UTF-8 binary order; with a delimiter, a key that holds
 *   it after the prefix rolls up into the CommonPrefix ending at its first occurrence, and "each
 *   rolled-up result counts as only one return against the MaxKeys value";
 * - only results greater than `startAfter`: keys > startAfter, and "CommonPrefixes is filtered out
 *   from results if it is not lexicographically greater than the StartAfter value" (ListObjectsV2,
 *   Delimiter). So a bound inside a group skips the whole group — after CommonPrefix `p/` is
 *   returned, continuing from `p/` skips everything under it, which is what makes `next` (the
 *   V1 NextMarker: "the last common prefix or key") a correct continuation;
 * - `isTruncated` only when another result exists (one more is probed); MaxKeys 0 returns nothing
 *   and is not truncated (as S3 answers; ceph s3-tests test_bucket_list_maxkeys_zero).
 *
 * Cost, in entries read (P = maxKeys + 1, D = depth of the prefix's directory plus the
 * descent to `startAfter`, E = empty directories stepped over):
 * - every entry read is consumed — a key returned, a directory entered, an empty directory
 *   (S3 shows no prefix for it, and nothing tells it apart without a look) — or it is in the
 *   unused tail of the last page of a directory still open when the page fills; that tail is at
 *   most 4× what the directory gave up plus 32 (see pageLimit), and at most D + 1 directories
 *   are open;
 * - resuming at `startAfter` is one page per level of the descent plus one lookup page of one
 *   entry per byte below '/' in the bound's name at that level (heldBackBefore);
 * - so a page is O(P + 32·D + E) entries with no delimiter or '/', in O(log P + D) readdir calls
 *   for a flat directory; with '/', each CommonPrefix adds one emptiness probe (usually one page
 *   of ≤ 8 entries, plus an isMarker when it holds no file); with another delimiter each
 *   CommonPrefix restarts the walk past its group (O(32·D) entries), so O(P·32·D) at worst.
 * Never O(directory) or O(bucket): no directory is read further than the page needs.
 */
export async function listKeys(io: ListIo, p: ListParams): Promise<ListResult> {
  if (!Number.isInteger(p.maxKeys) || p.maxKeys < 0) throw new RangeError(`maxKeys must be a non-negative integer, got ${p.maxKeys}`);
  const out: ListResult = { contents: [], commonPrefixes: [], isTruncated: false };
  if (p.maxKeys === 0) return out;
  const delimiter = p.delimiter === '' ? undefined : p.delimiter;
  const budget: Budget = { want: p.maxKeys + 1 };
  const items = delimiter === '/'
    ? slashLevel(io, p.prefix, p.startAfter, budget)
    : groupedKeys(io, p.prefix, delimiter, p.startAfter, budget);
  let taken = 0;
  let last: string | undefined;
  for await (const item of items) {
    if (taken === p.maxKeys) {
      out.isTruncated = true;
      out.next = last;
      break;
    }
    if (item.kind === 'key') {
      out.contents.push({ key: item.key, entry: item.entry });
      last = item.key;
    } else {
      out.commonPrefixes.push(item.prefix);
      last = item.prefix;
    }
    taken++;
    budget.want--;
  }
  return out;
}
