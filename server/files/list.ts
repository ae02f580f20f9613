/**
 * Directory listings of the REST file API: one page of a directory (`GET /fs/dir/`), or with
 * `recursive` one page of the whole tree below it, depth first (a directory, then what is in
 * it, then its next sibling), each directory's entries in byte order. A recursive entry's
 * `name` is its path relative to the listed directory (`2026/notes.txt`); the cursor is the
 * last such name, and a walk resumes from it by descending along its components.
 */
import { isErr, type DirEntry, type Volume } from '../../dht2-core/index.js';
import { RESERVED_NAMES } from '../objects/index.js';
import { statJson } from './http.js';

export interface ListOptions {
  /** Most entries in the page (1 to 10000). */
  limit: number;
  /** The `cursor` of the previous page. */
  cursor?: string;
  /** Every entry's attributes (readdirp). */
  detail: boolean;
  /** The whole tree below the directory. */
  recursive: boolean;
}

/** `{path, entries, cursor?}` for the directory `dir` (its gfid) at `path`. */
export async function listing(v: Volume, path: string, dir: string, o: ListOptions): Promise<Record<string, unknown>> {
  const entryJson = (e: DirEntry, name: string) => (e.attrs ? { name, ...statJson(e.attrs) } : { name, type: e.type });
  // The root's reserved names (server/objects/names.ts, /.dht2) are never listed nor walked into.
  const visible = path.replace(/\/+/g, '') === '' ? (name: string) => !RESERVED_NAMES.has(name) : () => true;
  if (!o.recursive) {
    const page = await v.readdirGfid(dir, { after: o.cursor, limit: o.limit, plus: o.detail });
    return {
      path,
      entries: page.entries.filter((e) => visible(e.name)).map((e) => entryJson(e, e.name)),
      ...(page.eof ? {} : { cursor: page.entries.at(-1)?.name }),
    };
  }
  const entries: Array<Record<string, unknown>> = [];
  const walk = tree(v, dir, '', o.detail, o.cursor ? o.cursor.split('/') : [], visible);
  for await (const { entry, name } of walk) {
    if (entries.length === o.limit) {
      await walk.return(undefined);
      return { path, entries, cursor: entries.at(-1)!.name };
    }
    entries.push(entryJson(entry, name));
  }
  return { path, entries };
}

const gone = (e: unknown) => isErr(e, 'ENOENT', 'ENOTDIR', 'ESTALE');

/**
 * The entries below the directory `dir`, depth first, names prefixed with `prefix`. `resume` is
 * the cursor's components: the walk starts right after that entry (which was listed, but what
 * is below it was not). A directory removed during the walk is skipped.
 */
async function* tree(v: Volume, dir: string, prefix: string, detail: boolean, resume: string[], visible: (name: string) => boolean = () => true): AsyncGenerator<{ entry: DirEntry; name: string }> {
  let after: string | undefined;
  if (resume.length > 0) {
    const [first, ...rest] = resume as [string, ...string[]];
    after = first;
    const sub = await v.lookup(dir, first).catch((e: unknown) => { if (gone(e)) return undefined; throw e; });
    if (sub?.type === 'dir' && visible(first)) yield* tree(v, sub.gfid, `${prefix}${first}/`, detail, rest);
  }
  for (;;) {
    const page = await v.readdirGfid(dir, { after, limit: 1000, plus: detail }).catch((e: unknown) => {
      if (prefix !== '' && gone(e)) return { entries: [], eof: true };
      throw e;
    });
    for (const entry of page.entries) {
      if (!visible(entry.name)) continue;
      yield { entry, name: `${prefix}${entry.name}` };
      if (entry.type === 'dir') yield* tree(v, entry.gfid, `${prefix}${entry.name}/`, detail, []);
    }
    if (page.eof || page.entries.length === 0) return;
    after = page.entries.at(-1)!.name;
  }
}
