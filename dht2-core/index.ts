/**
 * dht2-core: the DHT2 client library (Volume API, layout, protocol, brick RPC).
 *
 * The one door into dht2-core for server/, bin/ and bench/ (checked by .dependency-cruiser.cjs
 * in `npm test`); brick/ comes in through ./protocol/index.ts instead.
 */

// The Volume: paths, directories, files and fsck over a volume of bricks.
export { Volume, rebuildPercent, type VolumeStatFs, type OpenVolumeOptions, type SetStatus } from './volume.js';
export type {
  MkdirOptions, CreateOptions, WriteFileOptions, ReadRange, RenameOptions, ReaddirOptions, ReaddirPage, FsckOptions, FsckReport,
  KnownDir,
} from './volume.js';
export { Layout } from './layout.js';

// The volume file and the cluster secret that signs every brick FOP.
export {
  loadVolumeFile, parseVolumeFile, writeVolumeFile, resolveSecret, replicaOf, replicaProblem, seedLayout, volumeBricks, volumeSets,
  type VolumeFile, type VolumeFileV1, type VolumeFileV2, type VolumeSet,
} from './volfile.js';
export { installLayout } from './layout-install.js';
export { ReplicaSetFops, type ReplicaMember, type ReplicaSetOptions } from './layers/replica-set.js';
export { checkClusterSecret, MIN_NEW_SECRET_BYTES, type SecretCheck } from './protocol/index.js';

// Errors: one class carrying a wire errno.
export { Dht2Error, err, type Errno, ERRNOS, isErr, isErrno } from './protocol/index.js';

// GFIDs and names as the bricks store them.
export { ROOT_GFID, BUCKET_COUNT, NAME_MAX, newGfid, gfidBucket, checkName, compareNames } from './protocol/index.js';

// The FOP vocabulary a caller meets in Volume results, and the layer interface bricks and wrappers share.
export type { Attrs, DirEntry, SetAttrs, InodeType } from './protocol/index.js';
export type { BrickFops, CallContext } from './protocol/index.js';

// The comparison of a replica set's members that fsck runs per set (ARCHITECTURE.md §10.12).
export {
  compareReplicas, formatReplicaReport, type ReplicaReport, type ReplicaDiff, type ReplicaState,
  type ReplicaMemberCounts, type CompareOptions,
} from './fops/replica-compare.js';
export type { DigestItem, DigestPage } from './protocol/index.js';

// Brick RPC and the layers stacked over it.
export { BrickClient } from './rpc/brick-client.js';
export { CountingFops } from './layers/counting.js';
export { ObservedFops, type FopObserver } from './layers/observed.js';

// Stream and randomness helpers the gateway shares with the brick.
export { readSmall, drainChecked } from './protocol/index.js';
export { randomPooled } from './protocol/index.js';
