import { type DeadlineErrors, type ErrorFactory, HadbError, errorGuard } from '@hadb/io';

/** Stable codes of {@link StorageError}. Match on these, never on messages. */
export type StorageErrorCode =
  /** A key, prefix or database name failed the safety rules of `key-safety.ts`. */
  | 'HADB_STORAGE_INVALID_KEY'
  /** Transient failure (network, 5xx, throttling): the operation may be retried. */
  | 'HADB_STORAGE_UNAVAILABLE'
  /** A write's outcome is unknown: it may or may not have been applied. Resolve by re-reading. */
  | 'HADB_STORAGE_AMBIGUOUS'
  /**
   * A request did not finish within its deadline (the backend's `requestTimeoutMs`); it was
   * aborted. Retryable. A write that timed out may or may not have been applied: backends report a
   * conditional write whose outcome stays unknown as `HADB_STORAGE_AMBIGUOUS` (with the timeout as
   * its cause); an idempotent write (`put`, `delete`) may simply be repeated.
   */
  | 'HADB_STORAGE_TIMEOUT'
  /** Credentials were refused (401/403). Not retryable. */
  | 'HADB_STORAGE_AUTH'
  /** The request was malformed or refused for a reason that retrying will not fix (4xx). */
  | 'HADB_STORAGE_REJECTED'
  /** The backend cannot honour a requested guarantee (for example atomic conditional writes). */
  | 'HADB_STORAGE_UNSUPPORTED'
  /** One or more keys of a batch operation failed; see `failedKeys`. */
  | 'HADB_STORAGE_PARTIAL_FAILURE'
  /** Local I/O failed (disk full, permissions). */
  | 'HADB_STORAGE_IO'
  /** The server answered in a way the protocol does not allow. */
  | 'HADB_STORAGE_PROTOCOL'
  /** The operation's `AbortSignal` fired. */
  | 'HADB_STORAGE_ABORTED'
  /** The backend was used after `close()`. */
  | 'HADB_STORAGE_CLOSED'
  /** A backend's options are invalid (reported by its constructor or `open()`). */
  | 'HADB_STORAGE_INVALID_CONFIG';

/** Options of {@link StorageError}. */
export interface StorageErrorOptions {
  readonly cause?: unknown;
  /** HTTP status, when the failure came from an HTTP response. */
  readonly status?: number;
  /** Keys that failed, for batch operations. */
  readonly failedKeys?: readonly string[];
}

/**
 * The one error type thrown by storage backends. A CAS conflict is never an error: it is a
 * `CasResult` with `success: false`. Messages never contain credentials.
 */
export class StorageError extends HadbError<StorageErrorCode> {
  override readonly name = 'StorageError';
  readonly status: number | undefined;
  readonly failedKeys: readonly string[];

  constructor(code: StorageErrorCode, message: string, options: StorageErrorOptions = {}) {
    super(code, message, options);
    this.status = options.status;
    this.failedKeys = options.failedKeys ?? [];
  }
}

/** True for a {@link StorageError}, optionally with the given code (works across duplicate installs). */
export const isStorageError = errorGuard<StorageError>('StorageError');

/**
 * The `HADB_STORAGE_ABORTED` factory backends pass to `@hadb/io`'s `throwIfAborted`, `raceAbort`
 * and `abortable`.
 */
export const storageAborted: ErrorFactory = (message, cause) =>
  new StorageError('HADB_STORAGE_ABORTED', message, { cause });

/**
 * The errors backends pass to `@hadb/io`'s `withTimeout` for their request deadlines:
 * `HADB_STORAGE_TIMEOUT` and `HADB_STORAGE_ABORTED`.
 */
export const STORAGE_DEADLINE: DeadlineErrors = Object.freeze({
  timeout: (message: string, cause?: unknown) => new StorageError('HADB_STORAGE_TIMEOUT', message, { cause }),
  aborted: storageAborted,
});

/** The `HADB_STORAGE_INVALID_CONFIG` factory backends pass to `@hadb/io`'s `configChecker`. */
export const storageInvalidConfig: ErrorFactory = (message, cause) =>
  new StorageError('HADB_STORAGE_INVALID_CONFIG', message, { cause });
