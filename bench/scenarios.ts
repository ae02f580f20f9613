/**
 * The registry of benchmark scenarios: name -> function producing result rows. `bench/run.ts`
 * runs the ones named on the command line (all of them when none is named). Add a scenario
 * (core, s3, fs, …) by adding one entry here.
 */
import { brickScenario } from './brick.js';
import { coreScenario } from './core.js';
import { s3Scenario } from './s3.js';
import type { Row } from './report.js';

export type Scenario = () => Promise<Row[]>;

export const SCENARIOS: Readonly<Record<string, Scenario>> = {
  brick: brickScenario,
  core: coreScenario,
  s3: s3Scenario,
};

export function scenarioNames(): string[] {
  return Object.keys(SCENARIOS);
}
