import { HadbError, configChecker, errorGuard, type ConfigChecker } from '@hadb/io';

/**
 * Stable codes of {@link HaQLiteError}: SQLite's own failures and haqlite's checks. The HA layer's
 * failures (not leader, fenced, forwarding, closed, …) are `HaError`s of `@hadb/ha` (`HADB_HA_*`),
 * re-exported here. Match on codes, never on messages.
 */
export type HaQLiteErrorCode =
  /** SQLite rejected the statement (syntax, constraint, type). Not retryable. */
  | 'HADB_HAQLITE_SQL'
  /** `query()` was given a statement that writes; use `execute()`. */
  | 'HADB_HAQLITE_NOT_READ_ONLY'
  /** A parameter or wire value cannot be encoded or decoded. */
  | 'HADB_HAQLITE_INVALID_VALUE'
  /**
   * An interactive transaction (`BEGIN` on a Hrana stream, `client.transaction()` of
   * `@libsql/client`) was started on a follower that knows no leader or cannot reach it (a
   * follower otherwise relays the stream to the leader). Nothing ran; retry once a leader is up.
   */
  | 'HADB_HAQLITE_TRANSACTION_ON_FOLLOWER'
  /**
   * A synchronous leader-local call (`executeSync`, `batchSync`, `transactionSync`) found a
   * transaction open on the leader's connection — an interactive `transaction()`, or (between its
   * statements, within microtasks) a write with an idempotency token, such as one forwarded by a
   * follower. It cannot wait for it: retry after it, or use the async API (which queues).
   */
  | 'HADB_HAQLITE_BUSY'
  /** An option of `HaQLite.open` or `serve` is invalid (reported at construction). */
  | 'HADB_HAQLITE_INVALID_CONFIG';

/** The caller's errors: answered 400 over forwarding, never retried. */
export const CLIENT_ERROR_CODES: ReadonlySet<string> = new Set([
  'HADB_HAQLITE_SQL',
  'HADB_HAQLITE_NOT_READ_ONLY',
  'HADB_HAQLITE_INVALID_VALUE',
]);

/** SQLite's and haqlite's errors. None is retryable. */
export class HaQLiteError extends HadbError<HaQLiteErrorCode> {
  override readonly name = 'HaQLiteError';
  readonly retryable = false;
}

/** True for a {@link HaQLiteError}, optionally with the given code (works across duplicate installs). */
export const isHaQLiteError = errorGuard<HaQLiteError>('HaQLiteError');

/** True for the caller's errors (see {@link CLIENT_ERROR_CODES}). */
export function isSqliteClientError(err: unknown): boolean {
  return isHaQLiteError(err) && CLIENT_ERROR_CODES.has(err.code);
}

/** Wraps a SQLite exception as `HADB_HAQLITE_SQL`, keeping SQLite's message (it never contains secrets). */
export function sqlError(cause: unknown): Error {
  if (isHaQLiteError(cause)) return cause;
  const message = cause instanceof Error ? cause.message : String(cause);
  const sqliteCode = (cause as { code?: unknown } | null)?.code;
  const err = new HaQLiteError('HADB_HAQLITE_SQL', message, { cause });
  if (typeof sqliteCode === 'string') Object.defineProperty(err, 'sqliteCode', { value: sqliteCode, enumerable: true });
  return err;
}

/** Option checks throwing `HADB_HAQLITE_INVALID_CONFIG`. */
export const checkConfig: ConfigChecker = configChecker(
  (message) => new HaQLiteError('HADB_HAQLITE_INVALID_CONFIG', message),
);
