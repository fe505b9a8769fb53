import { HADB_ERROR_BRAND } from '@hadb/storage';

/** Stable codes of {@link LeaseError}. */
export type LeaseErrorCode =
  /** The lease store could not be reached or answered with a transient failure. */
  | 'HADB_LEASE_UNAVAILABLE'
  /** A conditional write's outcome is unknown (timeout after sending). Resolve by re-reading. */
  | 'HADB_LEASE_AMBIGUOUS'
  /** Credentials were refused. */
  | 'HADB_LEASE_AUTH'
  /** A lease record could not be parsed. */
  | 'HADB_LEASE_INVALID_RECORD'
  /** An etag of the wrong form was passed (for example a non-numeric revision). */
  | 'HADB_LEASE_INVALID_ETAG'
  /** The server does not provide the atomic compare-and-swap a lease store needs. */
  | 'HADB_LEASE_UNSUPPORTED'
  /** A key or scope failed the safety rules. */
  | 'HADB_LEASE_INVALID_KEY'
  /** The operation's `AbortSignal` fired. */
  | 'HADB_LEASE_ABORTED'
  /** The store was used after `close()`. */
  | 'HADB_LEASE_CLOSED';

/** The one error type thrown by lease stores. CAS conflicts are `{ success: false }`, not errors. */
export class LeaseError extends Error {
  readonly [HADB_ERROR_BRAND] = true;
  override readonly name = 'LeaseError';
  readonly code: LeaseErrorCode;

  constructor(code: LeaseErrorCode, message: string, options: { cause?: unknown } = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.code = code;
  }
}

/** True for a {@link LeaseError}, optionally with the given code (works across duplicate installs). */
export function isLeaseError(value: unknown, code?: LeaseErrorCode): value is LeaseError {
  return (
    typeof value === 'object' &&
    value !== null &&
    (value as Record<symbol, unknown>)[HADB_ERROR_BRAND] === true &&
    (value as Error).name === 'LeaseError' &&
    (code === undefined || (value as LeaseError).code === code)
  );
}
