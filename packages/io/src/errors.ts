import { abortReason } from './abort.js';
import { HadbError, errorGuard } from './hadb-error.js';

/** Stable codes of {@link IoError}. Match on these, never on messages. */
export type IoErrorCode =
  /** The operation's `AbortSignal` fired (during an attempt, a backoff sleep or a queue wait). */
  | 'HADB_IO_ABORTED'
  /** A circuit breaker is open and refused the request without trying it. */
  | 'HADB_IO_CIRCUIT_OPEN'
  /** An option passed to a constructor or function is invalid. */
  | 'HADB_IO_INVALID_CONFIG';

/** Errors raised by `@hadb/io` itself. Errors of the wrapped operation are rethrown unchanged. */
export class IoError extends HadbError<IoErrorCode> {
  override readonly name = 'IoError';
}

/** True for an {@link IoError}, optionally with the given code (works across duplicate installs). */
export const isIoError = errorGuard<IoError>('IoError');

/** The `HADB_IO_ABORTED` error for a fired signal (or its reason when that is a hadb error). */
export function abortedError(signal: AbortSignal): Error {
  return abortReason(signal, (message, cause) => new IoError('HADB_IO_ABORTED', message, { cause }));
}
