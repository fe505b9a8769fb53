import { HadbError, configChecker, errorGuard, type ConfigChecker } from '@hadb/io';

/**
 * Stable codes of {@link HaDuckError}: DuckDB's own failures. The HA layer's failures (not leader,
 * fenced, forwarding, closed, …) are `HaError`s of `@hadb/ha` (`HADB_HA_*`), re-exported here.
 * Match on codes, never on messages.
 */
export type HaDuckErrorCode =
  /** DuckDB rejected the statement (syntax, constraint, type error). Not retryable. */
  | 'HADB_HADUCK_SQL'
  /** `query()` was given a statement that is not read-only; use `execute()`. */
  | 'HADB_HADUCK_NOT_READ_ONLY'
  /**
   * A statement kind `execute()`/`batch()` never run (transaction control, `SET`/`RESET`,
   * `PRAGMA`, `ATTACH`/`DETACH`, `INSTALL`/`LOAD`, `COPY`, `EXPORT`/`IMPORT DATABASE`, `CALL`
   * including `CHECKPOINT`, `PREPARE`/`EXECUTE`) or a statement naming haduck's own `_haduck`
   * schema. Use `transaction()` on the leader for transactions.
   */
  | 'HADB_HADUCK_REFUSED_STATEMENT'
  /** A request exceeded a limit (`limits.maxStatements`, `limits.maxResultRows`). */
  | 'HADB_HADUCK_LIMIT'
  /** A statement ran longer than `limits.statementTimeoutMs` and was interrupted (nothing committed). */
  | 'HADB_HADUCK_TIMEOUT'
  /** A parameter or wire value cannot be encoded or decoded. */
  | 'HADB_HADUCK_INVALID_VALUE'
  /** An option of `HaDuck.open` is invalid (reported at construction). */
  | 'HADB_HADUCK_INVALID_CONFIG';

/** The caller's errors: answered 400 over forwarding, never retried. */
export const CLIENT_ERROR_CODES: ReadonlySet<string> = new Set([
  'HADB_HADUCK_SQL',
  'HADB_HADUCK_NOT_READ_ONLY',
  'HADB_HADUCK_REFUSED_STATEMENT',
  'HADB_HADUCK_LIMIT',
  'HADB_HADUCK_TIMEOUT',
  'HADB_HADUCK_INVALID_VALUE',
]);

/** True for the caller's errors (see {@link CLIENT_ERROR_CODES}). */
export function isDuckClientError(err: unknown): boolean {
  return isHaDuckError(err) && CLIENT_ERROR_CODES.has(err.code);
}

/** DuckDB's errors as thrown by `@hadb/haduck`. None is retryable. */
export class HaDuckError extends HadbError<HaDuckErrorCode> {
  override readonly name = 'HaDuckError';
  readonly retryable = false;
}

/** True for a {@link HaDuckError}, optionally with the given code (works across duplicate installs). */
export const isHaDuckError = errorGuard<HaDuckError>('HaDuckError');

/** Wraps a DuckDB exception as `HADB_HADUCK_SQL`, keeping DuckDB's message (it never contains secrets). */
export function sqlError(cause: unknown): Error {
  if (isHaDuckError(cause)) return cause;
  const message = cause instanceof Error ? cause.message : String(cause);
  return new HaDuckError('HADB_HADUCK_SQL', message, { cause });
}

/** Option checks throwing `HADB_HADUCK_INVALID_CONFIG`. */
export const checkConfig: ConfigChecker = configChecker(
  (message) => new HaDuckError('HADB_HADUCK_INVALID_CONFIG', message),
);
