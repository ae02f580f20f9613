/**
 * The object layer's front door (docs/ARCHITECTURE.md "Packages"): what the S3 API and the file
 * API use of objects. Both call this, never each other.
 */
export { ObjectLayer, type BucketRef, type ObjectInfo, type OpenResult, type WriteConditions } from './layer.js';
export { Uploads, UPLOADS_DIR, MIN_PART, MAX_PARTS, type Upload, type StoredPart } from './uploads.js';
export { ObjectError, OBJECT_ERROR_KINDS, isObjectError, type ObjectErrorKind } from './errors.js';
export { evaluateConditions, etagListMatches, parseRange, type Conditions, type ConditionResult, type ByteRange } from './conditions.js';
export { md5Tap, through } from './body.js';
export {
  META_XATTR, META_VERSION, DEFAULT_CONTENT_TYPE, STORED_HEADERS, STORED_META_MAX, asHeaderBytes, checkedHeaderValue, decodeMeta,
  encodeMeta, etagOf, metaFromHeaders, metaHeaders, metaOfStored, type ObjectMeta,
} from './meta.js';
export {
  RESERVED_NAMES, MAX_KEY_BYTES, checkBucketAccessName, checkBucketName, isBucketName, isReservedPath, keyPath, missingBucket,
  refuseReservedWrite, type KeyPath,
} from './names.js';
export { compareUtf8, cursorAtOrAfter, type ListParams, type ListResult, type ListEntry } from './list-walk.js';
