import { HADB_ERROR_BRAND } from '@hadb/storage';

/** Stable codes of {@link HaDuckError}. Match on these, never on messages. */
export type HaDuckErrorCode =
  /** A write reached a node that is not the leader and could not be forwarded (or forwarding is off). */
  | 'HADB_HADUCK_NOT_LEADER'
  /** This node lost its lease while a write was pending: the write was refused, nothing was committed. */
  | 'HADB_HADUCK_FENCED'
  /** No leader could be found (no lease, expired lease, or a lease without an address). Retryable. */
  | 'HADB_HADUCK_NO_LEADER'
  /** A forwarded request failed on every attempt (transport errors, 5xx, 421). The write may or may not have run; retrying with the same token is safe. */
  | 'HADB_HADUCK_FORWARD_FAILED'
  /** The leader refused the forwarding secret (401). */
  | 'HADB_HADUCK_UNAUTHORIZED'
  /** DuckDB rejected the statement (syntax, constraint, type error). Not retryable. */
  | 'HADB_HADUCK_SQL'
  /** A follower has no local copy yet (nothing shipped, or still restoring). Retryable. */
  | 'HADB_HADUCK_NOT_READY'
  /** `query()` was given a statement that is not read-only; use `execute()`. */
  | 'HADB_HADUCK_NOT_READ_ONLY'
  /** A parameter or wire value cannot be encoded or decoded. */
  | 'HADB_HADUCK_INVALID_VALUE'
  /** A forwarding request or response broke the protocol. */
  | 'HADB_HADUCK_PROTOCOL'
  /** Shipping a checkpoint to storage failed; the data stays dirty and is retried. */
  | 'HADB_HADUCK_SHIP_FAILED'
  /** The operation's `AbortSignal` fired, or a deadline passed. */
  | 'HADB_HADUCK_ABORTED'
  /** The database was used after `close()`. */
  | 'HADB_HADUCK_CLOSED';

/**
 * The one error type thrown by `@hadb/haduck`. `retryable` says whether repeating the same call
 * (with the same idempotency token, for writes) may succeed.
 */
export class HaDuckError extends Error {
  readonly [HADB_ERROR_BRAND] = true;
  override readonly name = 'HaDuckError';
  readonly code: HaDuckErrorCode;
  readonly retryable: boolean;

  constructor(code: HaDuckErrorCode, message: string, options: { cause?: unknown; retryable?: boolean } = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.code = code;
    this.retryable =
      options.retryable ??
      (code === 'HADB_HADUCK_NOT_LEADER' ||
        code === 'HADB_HADUCK_NO_LEADER' ||
        code === 'HADB_HADUCK_NOT_READY' ||
        code === 'HADB_HADUCK_FORWARD_FAILED' ||
        code === 'HADB_HADUCK_FENCED' ||
        code === 'HADB_HADUCK_SHIP_FAILED');
  }
}

/** True for a {@link HaDuckError}, optionally with the given code (works across duplicate installs). */
export function isHaDuckError(value: unknown, code?: HaDuckErrorCode): value is HaDuckError {
  return (
    typeof value === 'object' &&
    value !== null &&
    (value as Record<symbol, unknown>)[HADB_ERROR_BRAND] === true &&
    (value as Error).name === 'HaDuckError' &&
    (code === undefined || (value as HaDuckError).code === code)
  );
}

/** Wraps a DuckDB exception as `HADB_HADUCK_SQL`, keeping DuckDB's message (it never contains secrets). */
export function sqlError(cause: unknown): HaDuckError {
  if (isHaDuckError(cause)) return cause;
  const message = cause instanceof Error ? cause.message : String(cause);
  return new HaDuckError('HADB_HADUCK_SQL', message, { cause });
}

/** Throws `HADB_HADUCK_ABORTED` if the signal fired. */
export function throwIfAborted(signal: AbortSignal | undefined): void {
  if (signal?.aborted) throw new HaDuckError('HADB_HADUCK_ABORTED', 'operation aborted', { cause: signal.reason });
}
