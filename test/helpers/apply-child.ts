/**
 * A child process that applies planned entries to a store, one after the other, printing
 * `applying <i>` before each: the crash tests of apply (test/brick/plan-apply.test.ts) run it
 * with DHT2_CRASH_AT set, so it SIGKILLs itself inside an apply (brick/posix2/crash.ts), and then
 * apply again from the entry it died in, as a member does after a crash from its applied mark
 * (ARCHITECTURE.md §10.4 rule 5).
 *
 * Usage: node apply-child.js <entries.json>   ({ dir, role, entries: Entry[] })
 */
import { readFile } from 'node:fs/promises';
import { PosixStore } from '../../brick/posix2/store.js';
import type { Entry } from './plan-entries.js';
import { applyEntry } from './plan-entries.js';

const file = process.argv[2];
if (!file) throw new Error('usage: apply-child <entries.json>');
const { dir, role, entries } = JSON.parse(await readFile(file, 'utf8')) as { dir: string; role: 'mds' | 'ds'; entries: Entry[] };
const s = await PosixStore.open({ dir, role, volumeId: 'v', brickId: 'b' });
for (const [i, e] of entries.entries()) {
  process.stdout.write(`applying ${i}\n`);
  await applyEntry(s, e);
}
await s.close();
process.stdout.write('done\n');
