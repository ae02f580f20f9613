/** dht2-core: the DHT2 client library (Volume API, layout, protocol, brick RPC). */
export { Volume, type VolumeStatFs, type OpenVolumeOptions } from './volume.js';
export type {
  MkdirOptions, CreateOptions, WriteFileOptions, ReadRange, RenameOptions, ReaddirOptions, ReaddirPage, FsckOptions, FsckReport,
} from './volume.js';
export { Layout } from './layout.js';
export { Dht2Error, type Errno, ERRNOS, isErr, isErrno } from './errors.js';
export { ROOT_GFID, BUCKET_COUNT, newGfid, gfidBucket, checkName, compareNames } from './gfid.js';
export type { Attrs, DirEntry, SetAttrs, InodeType } from './protocol/fops.js';
export type { BrickFops, CallContext } from './protocol/layer.js';
export { BrickClient } from './rpc/brick-client.js';
export { CountingFops } from './layers/counting.js';
export { loadVolumeFile, parseVolumeFile, writeVolumeFile, resolveSecret, type VolumeFile } from './volfile.js';
