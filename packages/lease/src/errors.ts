import { type DeadlineErrors, type ErrorFactory, HadbError, errorGuard } from '@hadb/io';

/** Stable codes of {@link LeaseError}. */
export type LeaseErrorCode =
  /** The lease store could not be reached or answered with a transient failure. */
  | 'HADB_LEASE_UNAVAILABLE'
  /** A conditional write's outcome is unknown (timeout after sending). Resolve by re-reading. */
  | 'HADB_LEASE_AMBIGUOUS'
  /**
   * A read or delete did not finish within the store's deadline (`requestTimeoutMs`) and was
   * aborted. Retryable. A compare-and-swap write that times out is `HADB_LEASE_AMBIGUOUS` instead
   * (its outcome is unknown), with this error as its cause.
   */
  | 'HADB_LEASE_TIMEOUT'
  /** Credentials were refused. */
  | 'HADB_LEASE_AUTH'
  /** A lease record could not be parsed, or a field is outside its bounds (see `LEASE_LIMITS`). */
  | 'HADB_LEASE_CORRUPT'
  /** A lease store's options are invalid (reported by its constructor or `open()`). */
  | 'HADB_LEASE_INVALID_CONFIG'
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
export class LeaseError extends HadbError<LeaseErrorCode> {
  override readonly name = 'LeaseError';
}

/** True for a {@link LeaseError}, optionally with the given code (works across duplicate installs). */
export const isLeaseError = errorGuard<LeaseError>('LeaseError');

/** The `HADB_LEASE_ABORTED` factory lease stores pass to `@hadb/io`'s `throwIfAborted` and `raceAbort`. */
export const leaseAborted: ErrorFactory = (message, cause) => new LeaseError('HADB_LEASE_ABORTED', message, { cause });

/** The `HADB_LEASE_INVALID_CONFIG` factory lease stores pass to `@hadb/io`'s `configChecker`. */
export const leaseInvalidConfig: ErrorFactory = (message, cause) =>
  new LeaseError('HADB_LEASE_INVALID_CONFIG', message, { cause });

/**
 * The errors lease stores pass to `@hadb/io`'s `withTimeout` for their request deadlines:
 * `HADB_LEASE_TIMEOUT` and `HADB_LEASE_ABORTED`.
 */
export const LEASE_DEADLINE: DeadlineErrors = Object.freeze({
  timeout: (message: string, cause?: unknown) => new LeaseError('HADB_LEASE_TIMEOUT', message, { cause }),
  aborted: leaseAborted,
});
