/**
 * Errors raised by the S3 authentication layer.
 *
 * The codes are the ones Amazon S3 itself returns (Amazon S3 API Reference, "Error responses" /
 * "List of error codes"), so the gateway can put `code` straight into the `<Code>` element of the
 * XML error body and take the response status from the S3 table.
 */

import { S3_ERRORS } from '../s3/codes.js';

/**
 * Every error code this layer can raise. They are S3 codes (s3ErrorOf hands them to S3Error,
 * so the compiler checks that), and their HTTP status is the one in the S3 table
 * (server/s3/codes.ts `S3_ERRORS`), not restated here.
 */
export type S3AuthCode =
  | 'AccessDenied'
  | 'InvalidAccessKeyId'
  | 'SignatureDoesNotMatch'
  | 'RequestTimeTooSkewed'
  | 'AuthorizationHeaderMalformed'
  | 'AuthorizationQueryParametersError'
  | 'ExpiredToken'
  | 'XAmzContentSHA256Mismatch'
  | 'BadDigest'
  | 'InvalidDigest'
  | 'IncompleteBody'
  | 'InvalidRequest'
  | 'InvalidArgument'
  | 'MissingSecurityHeader'
  | 'NotImplemented';

/**
 * An authentication / payload-integrity failure.
 *
 * `details` carries the extra elements S3 adds to some error bodies (for SignatureDoesNotMatch:
 * AWSAccessKeyId, StringToSign, SignatureProvided, CanonicalRequest; for RequestTimeTooSkewed:
 * RequestTime, ServerTime, MaxAllowedSkewMilliseconds). SDKs print them, which makes signature
 * mismatches debuggable from the client side. They never contain the secret or a valid signature.
 */
export class S3AuthError extends Error {
  readonly details: Readonly<Record<string, string>>;

  constructor(
    readonly code: S3AuthCode,
    message: string,
    details: Record<string, string> = {},
  ) {
    super(message);
    this.name = 'S3AuthError';
    this.details = details;
  }

  /** The HTTP status S3 answers this code with. */
  get status(): number {
    return S3_ERRORS[this.code][0];
  }
}

/** Type guard usable on anything caught or received in a stream 'error' event. */
export function isS3AuthError(err: unknown): err is S3AuthError {
  return err instanceof S3AuthError;
}

/**
 * The body-verification or signature error behind `e`, if any: a PUT whose body fails its
 * checksum reaches the handler as the volume's ECANCELED with the verifier's error as cause.
 */
export function authErrorIn(e: unknown): S3AuthError | undefined {
  for (let c: unknown = e, depth = 0; c && depth < 8; c = (c as { cause?: unknown }).cause, depth++) {
    if (isS3AuthError(c)) return c;
  }
  return undefined;
}
