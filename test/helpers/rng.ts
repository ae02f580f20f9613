/** The seeded PRNG lives with the load generators (bench/rng.ts), which use it too. */
export { rng } from '../../bench/rng.js';
