/**
 * S3 request authentication: SigV4 (header, presigned, aws-chunked streaming), SigV2 (header,
 * presigned) and body verification. Import from here.
 *
 * Typical use in the gateway:
 *   const auth = authenticate({ method, rawPath, rawQuery, headers }, creds);   // throws S3AuthError
 *   const { stream, decodedLength } = payloadVerifier(auth.payload, headers);   // throws S3AuthError
 *   await pipeline(req, stream, ...maybe contentMd5Verifier(md5)..., sink);     // rejects with S3AuthError
 *   // commit only after pipeline resolved
 */
export { S3AuthError, authErrorIn, isS3AuthError, type S3AuthCode } from './errors.js';
export {
  StaticCredentials,
  loadCredentialsFile,
  parseCredentials,
  type CredentialStore,
  type CredentialsFileKey,
} from './credentials.js';
export type { AuthRequest, AuthResult, ChunkSigningContext, PayloadKind, PayloadMode } from './types.js';
export { authenticate } from './authenticate.js';
export { authenticateV4Query, MAX_PRESIGNED_EXPIRES_SECONDS } from './presigned.js';
export {
  authenticateV4Header,
  deriveSigningKey,
  STREAMING_SIGNED,
  STREAMING_SIGNED_TRAILER,
  STREAMING_UNSIGNED_TRAILER,
  UNSIGNED_PAYLOAD,
} from './sigv4.js';
export { authorize, authorizeAll, type Identity, type S3Action, type S3Permission } from './permissions.js';
export { authenticateV2Header, authenticateV2Query, SIGV2_SUBRESOURCES } from './sigv2.js';
export { authenticatePostForm, missingField, type PostAuthResult, type PostFields } from './post-signature.js';
export {
  payloadVerifier,
  contentMd5Verifier,
  PayloadVerifier,
  MAX_LINE_BYTES,
  type PayloadVerification,
} from './payload.js';
export { CHECKSUM_ALGORITHMS, checksumBase64, type ChecksumAlgorithm } from './checksums.js';
