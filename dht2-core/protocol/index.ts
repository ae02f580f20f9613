/**
 * The brick protocol: the FOP vocabulary, its wire form and what both ends of it share.
 *
 * A leaf: the files in this folder import only each other, node builtins and npm packages.
 * brick/ (which serves the protocol) and the rest of dht2-core (which speaks it) come in through
 * this file only; server/, bin/ and bench/ use ../index.ts. .dependency-cruiser.cjs checks all
 * three in `npm test`.
 */

// The FOP table (one entry per FOP: kind, role, request and reply schemas) and its types.
export * from './fops.js';
// The layer interface the brick store, the RPC client and every wrapper implement.
export * from './layer.js';
// HTTP/2 wire form: headers, request signing, size limits, errno to status.
export * from './wire.js';
// Errors: the wire's errno names and the one error class that carries them.
export * from './errors.js';
// GFIDs and entry names as the bricks store them.
export * from './gfid.js';
// What a cluster secret (the key that signs every FOP) must be.
export * from './cluster-secret.js';
// Reading small bodies (FOP arguments) with a hard limit.
export * from './read-small.js';
// Pooled random bytes for GFIDs and nonces.
export * from './random-pool.js';
// The versioned layout of replica sets and bucket ranges (ARCHITECTURE.md §10.9).
export * from './layout-doc.js';
