import { HadbError, configChecker, errorGuard, throwIfAborted as ioThrowIfAborted, type ConfigChecker } from '@hadb/io';

/** Stable codes of {@link DuckblockError}. Match on these, never on messages. */
export type DuckblockErrorCode =
  /** The file is not an (unencrypted) DuckDB database duckblock can address. */
  | 'HADB_DUCKBLOCK_NOT_DUCKDB'
  /** A segment failed to decode or its checksum did not verify (corrupt or truncated download). */
  | 'HADB_DUCKBLOCK_CORRUPT'
  /** A segment's `prev_checksum` does not continue the follower's chain. Nothing was applied. */
  | 'HADB_DUCKBLOCK_CHAIN_BROKEN'
  /** The next sequence number is missing and no snapshot covers it. Nothing was skipped. */
  | 'HADB_DUCKBLOCK_GAP'
  /** A segment's key and header disagree, or two segments claim the same sequence number. */
  | 'HADB_DUCKBLOCK_SEQ_MISMATCH'
  /** A segment was written under an epoch older than one this node already accepted. */
  | 'HADB_DUCKBLOCK_FENCED'
  /** Another writer already stored a segment at the sequence number this leader tried to write. */
  | 'HADB_DUCKBLOCK_SEQ_CONFLICT'
  /** The file changed while the leader read it (a checkpoint ran during the read): retry under the lock. */
  | 'HADB_DUCKBLOCK_TORN_READ'
  /** No replication state exists for the database (nothing to pull, or not added). */
  | 'HADB_DUCKBLOCK_NOT_FOUND'
  /** The local position or apply journal is unreadable. */
  | 'HADB_DUCKBLOCK_BAD_STATE'
  /**
   * The local file is not the state its position records (changed outside replication), or the
   * local position does not match storage. Nothing was written.
   */
  | 'HADB_DUCKBLOCK_DIVERGED'
  /** A prepared checkpoint was replaced by a later one before its upload started (nothing is lost). */
  | 'HADB_DUCKBLOCK_SUPERSEDED'
  /** The operation's `AbortSignal` fired. */
  | 'HADB_DUCKBLOCK_ABORTED'
  /** The replicator was used after `close()`/`remove()`. */
  | 'HADB_DUCKBLOCK_CLOSED'
  /** An option is invalid (reported at construction, never clamped). */
  | 'HADB_DUCKBLOCK_INVALID_CONFIG';

/**
 * The error type of `@hadb/duckblock`. Storage failures propagate as `StorageError` and
 * changeset decode failures are wrapped as `HADB_DUCKBLOCK_CORRUPT` with the original as
 * `cause`. Messages never contain credentials.
 */
export class DuckblockError extends HadbError<DuckblockErrorCode> {
  override readonly name = 'DuckblockError';
}

/** True for a {@link DuckblockError}, optionally with the given code (works across duplicate installs). */
export const isDuckblockError = errorGuard<DuckblockError>('DuckblockError');

/** Builds `HADB_DUCKBLOCK_ABORTED`. */
export const duckblockAborted = (message: string, cause?: unknown): DuckblockError =>
  new DuckblockError('HADB_DUCKBLOCK_ABORTED', message, { cause });

/** Throws `HADB_DUCKBLOCK_ABORTED` (or the signal's hadb-error reason) if `signal` has fired. */
export function throwIfAborted(signal: AbortSignal | undefined): void {
  ioThrowIfAborted(signal, duckblockAborted);
}

/** Option checks throwing `HADB_DUCKBLOCK_INVALID_CONFIG`. */
export const checkConfig: ConfigChecker = configChecker(
  (message) => new DuckblockError('HADB_DUCKBLOCK_INVALID_CONFIG', message),
);
