/**
 * Log entries without the log (ARCHITECTURE.md §10.4, §10.6): a script of FOPs planned and
 * applied on one store, each kept as (fop, req, out, at, blob) so that the same entries can be
 * applied to other stores, twice, or again after a crash.
 */
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { PosixStore } from '../../brick/posix2/store.js';
import type { Step } from './fop-script.js';

export interface Entry {
  fop: Step['fop'];
  req: unknown;
  out: unknown;
  at: number;
  /** Upload FOPs: the body, kept in a file (a log blob). */
  blob?: string;
}

/** Plans and applies every step on `s` (a primary), keeping each as an entry; answers too. */
export async function planEntries(s: PosixStore, script: Step[], blobDir: string): Promise<{ entries: Entry[]; answers: unknown[] }> {
  const entries: Entry[] = [];
  const answers: unknown[] = [];
  for (const [i, st] of script.entries()) {
    const e: Entry = { fop: st.fop, req: st.req, out: undefined, at: st.at };
    if (st.body) {
      e.blob = join(blobDir, `blob.${i}`);
      await writeFile(e.blob, st.body);
    }
    e.out = await s.plan(st.fop as never, st.req as never, { at: st.at }, blobArg(e));
    answers.push(await applyEntry(s, e));
    entries.push(e);
  }
  return { entries, answers };
}

export async function applyEntry(s: PosixStore, e: Entry): Promise<unknown> {
  return s.apply(e.fop as never, e.req as never, e.out as never, { at: e.at }, blobArg(e));
}

function blobArg(e: Entry): { path: string } | undefined {
  return e.blob === undefined ? undefined : { path: e.blob };
}
