import { HadbError, errorGuard, type ErrorFactory } from '@hadb/io';

/** Stable codes of {@link WalstreamError}. Match on these, never on messages. */
export type WalstreamErrorCode =
  /** An option is invalid (reported at construction or at the call, never clamped). */
  | 'HADB_WALSTREAM_INVALID_CONFIG'
  /** The operation's `AbortSignal` fired. */
  | 'HADB_WALSTREAM_ABORTED'
  /** Used after `close()`. */
  | 'HADB_WALSTREAM_CLOSED'
  /** A deadline passed. */
  | 'HADB_WALSTREAM_TIMEOUT'
  /** The database is not (and cannot be put) in WAL mode, or is not a SQLite file. */
  | 'HADB_WALSTREAM_NOT_WAL'
  /** Downloaded bytes failed verification: decode error, checksum or chain mismatch, bad page size. */
  | 'HADB_WALSTREAM_CORRUPT'
  /** Nothing in storage to restore for the database (or nothing at or before the target). */
  | 'HADB_WALSTREAM_NOT_FOUND'
  /** A changeset the restore needs is missing (a gap in the chain and no snapshot covers it). */
  | 'HADB_WALSTREAM_GAP'
  /** The restore target already exists and `ifNotExists` was not set (or the file is in use). */
  | 'HADB_WALSTREAM_EXISTS'
  /** The restored file failed SQLite's `quick_check` / `integrity_check`. Nothing was installed. */
  | 'HADB_WALSTREAM_INTEGRITY'
  /** Another writer stored a changeset at the sequence this replicator tried to write. */
  | 'HADB_WALSTREAM_CONFLICT'
  /**
   * This writer is deposed: storage holds a changeset of an equal or higher writer epoch at the
   * sequence it tried to write (its term was tripped). Nothing of it was stored there.
   */
  | 'HADB_WALSTREAM_FENCED'
  /** A changeset was refused because it was written under an epoch older than one already applied. */
  | 'HADB_WALSTREAM_STALE_EPOCH'
  /** The database was added twice, or is not known. */
  | 'HADB_WALSTREAM_DUPLICATE'
  /** Storage or file-system failure that may pass (retried by the background loop). */
  | 'HADB_WALSTREAM_UNAVAILABLE';

/**
 * The error type of `@hadb/walstream`. Storage errors from the backend propagate as
 * `StorageError`; changeset decode and chain failures are wrapped as `HADB_WALSTREAM_CORRUPT`
 * with the original as `cause`. Messages never contain credentials.
 */
export class WalstreamError extends HadbError<WalstreamErrorCode> {
  override readonly name = 'WalstreamError';
}

/** True for a {@link WalstreamError}, optionally with the given code (works across duplicate installs). */
export const isWalstreamError = errorGuard<WalstreamError>('WalstreamError');

/** Factory for `HADB_WALSTREAM_ABORTED` (for `throwIfAborted`, `raceAbort`, `withTimeout`). */
export const abortedError: ErrorFactory = (message, cause) =>
  new WalstreamError('HADB_WALSTREAM_ABORTED', message, { cause });
/** Factory for `HADB_WALSTREAM_TIMEOUT`. */
export const timeoutError: ErrorFactory = (message, cause) =>
  new WalstreamError('HADB_WALSTREAM_TIMEOUT', message, { cause });
/** Factory for `HADB_WALSTREAM_INVALID_CONFIG`. */
export const configError: ErrorFactory = (message, cause) =>
  new WalstreamError('HADB_WALSTREAM_INVALID_CONFIG', message, { cause });
/** Factory for `HADB_WALSTREAM_CORRUPT`. */
export const corruptError = (message: string, cause?: unknown): WalstreamError =>
  new WalstreamError('HADB_WALSTREAM_CORRUPT', message, { cause });
