/**
 * The import rules between the tiers (issue 15, item 4), checked on the TypeScript sources by
 * `npm run deps`, which `npm test` runs before mocha. Package `exports` would not stop a relative
 * import, so this is the check that does.
 *
 *   server/, bin/, bench/  ->  dht2-core/index.ts             (the front door)
 *   dht2-core/*            ->  dht2-core/protocol/index.ts    (the leaf's door)
 *   brick/                 ->  dht2-core/protocol/index.ts
 *   dht2-core/protocol/*   ->  itself, node builtins, npm packages only
 *   server/s3/, server/files/ -> server/objects/index.ts     (the object layer's door; never each other)
 *   server/objects/        ->  dht2-core/index.ts only        (no API, no auth, no HTTP)
 *
 * Tests: test/core (dht2-core's tests) and test/helpers (the model checker, hook layers, cluster
 * helpers every tier's tests share) may name dht2-core internals; every other test reaches
 * dht2-core through one of its two doors. brick/, server/ and bench/ have no front door yet, so
 * the tests of one tier may name the files of another (test/server spawns bricks).
 */

/** Both of dht2-core's doors. */
const DOORS = '^dht2-core/(index|protocol/index)[.]ts$';

module.exports = {
  forbidden: [
    {
      name: 'protocol-is-a-leaf',
      comment: 'dht2-core/protocol/ imports only its own files, node builtins and npm packages.',
      severity: 'error',
      from: { path: '^dht2-core/protocol/' },
      to: { pathNot: ['^dht2-core/protocol/', '(^|/)node_modules/'], dependencyTypesNot: ['core'] },
    },
    {
      name: 'brick-through-protocol-door',
      comment: 'brick/ imports dht2-core only through dht2-core/protocol/index.ts (the local-cluster launcher, which writes volume files, through the front door).',
      severity: 'error',
      from: { path: '^brick/', pathNot: '^brick/local-cluster[.]ts$' },
      to: { path: '^dht2-core/', pathNot: '^dht2-core/protocol/index[.]ts$' },
    },
    {
      name: 'core-through-protocol-door',
      comment: 'The rest of dht2-core imports the protocol leaf only through its index.ts.',
      severity: 'error',
      from: { path: '^dht2-core/', pathNot: '^dht2-core/protocol/' },
      to: { path: '^dht2-core/protocol/', pathNot: '^dht2-core/protocol/index[.]ts$' },
    },
    {
      name: 'front-door-only',
      comment: 'server/, bin/ and bench/ import dht2-core only through dht2-core/index.ts.',
      severity: 'error',
      from: { path: '^(server|bin|bench)/' },
      to: { path: '^dht2-core/', pathNot: '^dht2-core/index[.]ts$' },
    },
    {
      name: 'core-is-below-the-rest',
      comment: 'dht2-core is a library: it never imports the gateway, the brick, the CLI, benchmarks or tests.',
      severity: 'error',
      from: { path: '^dht2-core/' },
      to: { path: '^(server|brick|bin|bench|test)/' },
    },
    {
      name: 'brick-is-below-the-rest',
      comment: 'The brick process never imports the gateway, the CLI, benchmarks or tests.',
      severity: 'error',
      from: { path: '^brick/' },
      to: { path: '^(server|bin|bench|test)/' },
    },
    {
      name: 'server-not-brick',
      comment: 'The gateway talks to bricks over the wire only: it imports neither brick/ nor the CLI, benchmarks or tests.',
      severity: 'error',
      from: { path: '^server/' },
      to: { path: '^(brick|bin|bench|test)/' },
    },
    {
      name: 'launcher-through-front-door',
      comment: 'brick/local-cluster.ts (run by bin, bench and tests, not by a brick) imports dht2-core through index.ts.',
      severity: 'error',
      from: { path: '^brick/local-cluster[.]ts$' },
      to: { path: '^dht2-core/', pathNot: '^dht2-core/index[.]ts$' },
    },
    {
      name: 'objects-through-door',
      comment: 'The S3 API and the file API use the object layer through server/objects/index.ts.',
      severity: 'error',
      from: { path: '^server/(s3|files)/' },
      to: { path: '^server/objects/', pathNot: '^server/objects/index[.]ts$' },
    },
    {
      name: 'apis-apart',
      comment: 'The S3 API and the file API never import each other: what they share is the object layer (server/objects/) or auth.',
      severity: 'error',
      from: { path: '^server/files/' },
      to: { path: '^server/s3/' },
    },
    {
      name: 'apis-apart-s3',
      comment: 'The S3 API never imports the file API.',
      severity: 'error',
      from: { path: '^server/s3/' },
      to: { path: '^server/files/' },
    },
    {
      name: 'objects-below-the-apis',
      comment: 'The object layer knows no API: it imports neither S3, the file API, auth nor HTTP plumbing.',
      severity: 'error',
      from: { path: '^server/objects/' },
      to: { path: '^server/', pathNot: '^server/objects/' },
    },
    {
      name: 'no-tests-in-production',
      comment: 'Nothing outside test/ imports test/.',
      severity: 'error',
      from: { pathNot: '^test/' },
      to: { path: '^test/' },
    },
    {
      name: 'tests-through-doors',
      comment: 'Tests other than test/core and test/helpers reach dht2-core through its doors.',
      severity: 'error',
      from: { path: '^test/', pathNot: '^test/(core|helpers)/' },
      to: { path: '^dht2-core/', pathNot: DOORS },
    },
    {
      name: 'no-circular',
      comment: 'No import cycles between modules (type-only imports vanish at run time, so they may close one).',
      severity: 'error',
      from: {},
      to: { circular: true, viaOnly: { dependencyTypesNot: ['type-only'] } },
    },
    {
      name: 'not-to-unresolvable',
      comment: 'Every relative import names a file that exists.',
      severity: 'error',
      from: {},
      to: { couldNotResolve: true },
    },
  ],
  options: {
    // `import type` counts: a type-only import still couples the tiers.
    tsPreCompilationDeps: true,
    tsConfig: { fileName: 'tsconfig.json' },
    doNotFollow: { path: 'node_modules' },
    exclude: { path: '^(dist|node_modules)/' },
    enhancedResolveOptions: {
      exportsFields: ['exports'],
      conditionNames: ['import', 'require', 'node', 'default', 'types'],
      mainFields: ['module', 'main', 'types', 'typings'],
    },
    skipAnalysisNotInRules: true,
  },
};
