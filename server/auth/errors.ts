/**
 * Errors raised by the S3 authentication layer.
 *
 * The codes are the ones Amazon S3 itself returns (Amazon S3 API Reference, "Error responses" /
 * "List of error codes"), so the gateway can put `code` straight into the `<Code>` element of the
 * XML error body and take the response status from the S3 table.
 */

/**
 * Every error code this layer can raise. They are S3 codes (s3ErrorOf hands them to S3Error,
 * so the compiler checks that), and their HTTP status is the one in the S3 table
 * (server/s3/errors.ts `S3_ERRORS`), not restated here.
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
}

/** Type guard usable on anything caught or received in a stream 'error' event. */
export function isS3AuthError(err: unknown): err is S3AuthError {
  return err instanceof S3AuthError;
}
