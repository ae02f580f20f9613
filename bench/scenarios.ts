/**
 * The registry of benchmark scenarios: name -> function producing result rows. `bench/run.ts`
 * runs the ones named on the command line (all of them, in this order, when none is named).
 * Add a scenario by adding one entry here.
 */
import { brickScenario } from './brick.js';
import { coreScenario } from './core.js';
import { fsScenario } from './file-api.js';
import type { Row } from './report.js';
import { replicaScenario } from './replica.js';
import { largeScenario } from './s3-large.js';
import { listScenario } from './s3-list.js';
import { smallScenario } from './s3-small.js';

export type Scenario = () => Promise<Row[]>;

export const SCENARIOS: Readonly<Record<string, Scenario>> = {
  brick: brickScenario,
  core: coreScenario,
  small: smallScenario,
  large: largeScenario,
  list: listScenario,
  fs: fsScenario,
  replica: replicaScenario,
};

/** Names that stand for several scenarios: `s3` is what `npm run bench -- s3` measured before issue 6 split it. */
export const ALIASES: Readonly<Record<string, readonly string[]>> = {
  s3: ['small', 'large'],
};

export function scenarioNames(): string[] {
  return Object.keys(SCENARIOS);
}

/**
 * The scenarios to run for command-line names (aliases expanded, duplicates dropped, in the
 * order given; every scenario when none is given), or the unknown names.
 */
export function resolveScenarios(names: readonly string[]): { run: string[]; unknown: string[] } {
  if (names.length === 0) return { run: scenarioNames(), unknown: [] };
  const run: string[] = [];
  const unknown: string[] = [];
  for (const n of names) {
    const expanded = Object.hasOwn(ALIASES, n) ? ALIASES[n]! : [n];
    for (const e of expanded) {
      if (!Object.hasOwn(SCENARIOS, e)) unknown.push(e);
      else if (!run.includes(e)) run.push(e);
    }
  }
  return { run, unknown };
}
