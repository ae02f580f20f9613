/**
 * Errors raised by the S3 authentication layer.
 *
 * The codes are the ones Amazon S3 itself returns (Amazon S3 API Reference, "Error responses" /
 * "List of error codes"), so the gateway can put `code` straight into the `<Code>` element of the
 * XML error body and `httpStatus` into the response status line.
 */

/** Every error code this layer can raise. */
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

/** HTTP status S3 uses for each code ("List of error codes" in the S3 API Reference). */
export const S3_AUTH_HTTP_STATUS: Readonly<Record<S3AuthCode, number>> = Object.freeze({
  AccessDenied: 403,
  InvalidAccessKeyId: 403,
  SignatureDoesNotMatch: 403,
  RequestTimeTooSkewed: 403,
  AuthorizationHeaderMalformed: 400,
  AuthorizationQueryParametersError: 400,
  ExpiredToken: 400,
  XAmzContentSHA256Mismatch: 400,
  BadDigest: 400,
  InvalidDigest: 400,
  IncompleteBody: 400,
  InvalidRequest: 400,
  InvalidArgument: 400,
  MissingSecurityHeader: 400,
  NotImplemented: 501,
});

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

  /** The HTTP status S3 answers with for this code. */
  get httpStatus(): number {
    return S3_AUTH_HTTP_STATUS[this.code];
  }
}

/** Type guard usable on anything caught or received in a stream 'error' event. */
export function isS3AuthError(err: unknown): err is S3AuthError {
  return err instanceof S3AuthError;
}
