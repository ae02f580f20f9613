/**
 * The object layer's front door (docs/ARCHITECTURE.md "Packages"): what the S3 API and the file
 * API use of objects. Both call this, never each other.
 */
export { ObjectLayer, type BucketRef, type ObjectInfo, type OpenResult, type WriteConditions } from './layer.js';
export { UPLOADS_DIR, type Uploads, type Upload, type StoredPart } from './uploads.js';
export { ObjectError, OBJECT_ERROR_KINDS, type ObjectErrorKind } from './errors.js';
export { evaluateConditions, parseRange, type Conditions, type ConditionResult, type ByteRange } from './conditions.js';
export { md5Tap, through } from './body.js';
export {
  EMPTY_MD5, META_XATTR, META_VERSION, DEFAULT_CONTENT_TYPE, STORED_HEADERS, asHeaderBytes, checkedHeaderValue, decodeMeta,
  encodeMeta, etagOf, metaFromHeaders, metaHeaders, metaOfStored, type ObjectMeta,
} from './meta.js';
export {
  RESERVED_NAMES, checkBucketAccessName, checkBucketName, isBucketName, isReservedPath, keyPath, missingBucket,
  refuseReservedWrite, type KeyPath,
} from './names.js';
export { compareUtf8, cursorAtOrAfter, type ListParams, type ListResult, type ListEntry } from './list-walk.js';
