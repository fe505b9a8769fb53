/** Brand shared by every hadb error class (the same `Symbol.for` key as `@hadb/storage`). */
const HADB_ERROR_BRAND: unique symbol = Symbol.for('hadb.error') as never;

/** Stable codes of {@link IoError}. Match on these, never on messages. */
export type IoErrorCode =
  /** The operation's `AbortSignal` fired (during an attempt, a backoff sleep or a queue wait). */
  | 'HADB_IO_ABORTED'
  /** A circuit breaker is open and refused the request without trying it. */
  | 'HADB_IO_CIRCUIT_OPEN';

/** Errors raised by `@hadb/io` itself. Errors of the wrapped operation are rethrown unchanged. */
export class IoError extends Error {
  readonly [HADB_ERROR_BRAND] = true;
  override readonly name = 'IoError';
  readonly code: IoErrorCode;

  constructor(code: IoErrorCode, message: string, options: { cause?: unknown } = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.code = code;
  }
}

/** True for an {@link IoError}, optionally with the given code (works across duplicate installs). */
export function isIoError(value: unknown, code?: IoErrorCode): value is IoError {
  return (
    typeof value === 'object' &&
    value !== null &&
    (value as Record<symbol, unknown>)[HADB_ERROR_BRAND] === true &&
    (value as Error).name === 'IoError' &&
    (code === undefined || (value as IoError).code === code)
  );
}

/** True for any branded hadb error (StorageError, LeaseError, IoError, ...), across duplicate installs. */
export function isHadbError(value: unknown): value is Error & { code: string } {
  return (
    typeof value === 'object' &&
    value !== null &&
    (value as Record<symbol, unknown>)[HADB_ERROR_BRAND] === true &&
    typeof (value as { code?: unknown }).code === 'string'
  );
}

/** The `HADB_IO_ABORTED` error for a fired signal, with the signal's reason as `cause`. */
export function abortedError(signal: AbortSignal): IoError {
  return new IoError('HADB_IO_ABORTED', 'operation aborted', { cause: signal.reason });
}
