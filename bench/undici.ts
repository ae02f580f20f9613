/**
 * undici for the benchmarks, without a side effect on Node's own fetch. Importing the undici
 * package installs its Agent as the process-wide dispatcher when none is set yet (undici
 * lib/global.js, `Symbol.for('undici.globalDispatcher.1')`), and Node 20's built-in fetch uses
 * that same slot; undici 7's Agent then refuses requests Node 20's fetch makes ("invalid
 * content-length header"), so a test process that had loaded bench code broke every later
 * fetch. So Node's fetch is used once first (a `data:` URL, nothing leaves the process), which
 * makes Node fill the slot with its own Agent; undici then leaves it alone, and bench code
 * always passes its own dispatcher.
 */
import type * as Undici from 'undici';

const SLOT = Symbol.for('undici.globalDispatcher.1');
const slots = globalThis as unknown as Record<symbol, unknown>;
if (slots[SLOT] === undefined) await (await fetch('data:,')).arrayBuffer();
const undici: typeof Undici = await import('undici');

export const { Agent, Pool, request } = undici;
export type Agent = Undici.Agent;
export type Pool = Undici.Pool;
export type { Dispatcher } from 'undici';
