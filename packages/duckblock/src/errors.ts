/** Brand shared by every hadb error class (same symbol as `@hadb/storage`'s `HADB_ERROR_BRAND`). */
const HADB_ERROR_BRAND: unique symbol = Symbol.for('hadb.error') as never;

/** Stable codes of {@link DuckblockError}. Match on these, never on messages. */
export type DuckblockErrorCode =
  /** The file is not an (unencrypted) DuckDB database duckblock can address. */
  | 'DUCKBLOCK_NOT_DUCKDB'
  /** A segment failed to decode or its checksum did not verify (corrupt or truncated download). */
  | 'DUCKBLOCK_CORRUPT_SEGMENT'
  /** A segment's `prev_checksum` does not continue the follower's chain. Nothing was applied. */
  | 'DUCKBLOCK_CHAIN_BROKEN'
  /** The next sequence number is missing and no snapshot covers it. Nothing was skipped. */
  | 'DUCKBLOCK_GAP'
  /** A segment's key and header disagree, or two segments claim the same sequence number. */
  | 'DUCKBLOCK_SEQ_MISMATCH'
  /** A segment was written under an epoch older than one this node already accepted. */
  | 'DUCKBLOCK_FENCED'
  /** Another writer already stored a segment at the sequence number this leader tried to write. */
  | 'DUCKBLOCK_SEQ_CONFLICT'
  /** The file changed while the leader read it (a checkpoint ran during the read): retry under the lock. */
  | 'DUCKBLOCK_TORN_READ'
  /** No replication state exists for the database (nothing to pull, or not added). */
  | 'DUCKBLOCK_NOT_FOUND'
  /** The local position or apply journal is unreadable. */
  | 'DUCKBLOCK_BAD_STATE'
  /**
   * The local file is not the state its position records (changed outside replication), or the
   * local position does not match storage. Nothing was written.
   */
  | 'DUCKBLOCK_DIVERGED'
  /** A prepared checkpoint was replaced by a later one before its upload started (nothing is lost). */
  | 'DUCKBLOCK_SUPERSEDED'
  /** The operation's `AbortSignal` fired. */
  | 'DUCKBLOCK_ABORTED'
  /** The replicator was used after `close()`/`remove()`. */
  | 'DUCKBLOCK_CLOSED';

/**
 * The error type of `@hadb/duckblock`. Storage failures propagate as `StorageError` and
 * changeset decode failures are wrapped as `DUCKBLOCK_CORRUPT_SEGMENT` with the original as
 * `cause`. Messages never contain credentials.
 */
export class DuckblockError extends Error {
  readonly [HADB_ERROR_BRAND] = true;
  override readonly name = 'DuckblockError';
  readonly code: DuckblockErrorCode;

  constructor(code: DuckblockErrorCode, message: string, options: { cause?: unknown } = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.code = code;
  }
}

/** True for a {@link DuckblockError}, optionally with the given code. */
export function isDuckblockError(value: unknown, code?: DuckblockErrorCode): value is DuckblockError {
  return (
    typeof value === 'object' &&
    value !== null &&
    (value as Record<symbol, unknown>)[HADB_ERROR_BRAND] === true &&
    (value as Error).name === 'DuckblockError' &&
    (code === undefined || (value as DuckblockError).code === code)
  );
}

/** Throws `DUCKBLOCK_ABORTED` if `signal` has fired. */
export function throwIfAborted(signal: AbortSignal | undefined): void {
  if (signal?.aborted) throw new DuckblockError('DUCKBLOCK_ABORTED', 'operation aborted', { cause: signal.reason });
}
