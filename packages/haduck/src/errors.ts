import { HADB_ERROR_BRAND } from '@hadb/storage';

/** Stable codes of {@link HaDuckError}. Match on these, never on messages. */
export type HaDuckErrorCode =
  /** A write reached a node that is not the leader and could not be forwarded (or forwarding is off). */
  | 'HADUCK_NOT_LEADER'
  /** This node lost its lease while a write was pending: the write was refused, nothing was committed. */
  | 'HADUCK_FENCED'
  /** No leader could be found (no lease, expired lease, or a lease without an address). Retryable. */
  | 'HADUCK_NO_LEADER'
  /** A forwarded request failed on every attempt (transport errors, 5xx, 421). The write may or may not have run; retrying with the same token is safe. */
  | 'HADUCK_FORWARD_FAILED'
  /** The leader refused the forwarding secret (401). */
  | 'HADUCK_UNAUTHORIZED'
  /** DuckDB rejected the statement (syntax, constraint, type error). Not retryable. */
  | 'HADUCK_SQL'
  /** A follower has no local copy yet (nothing shipped, or still restoring). Retryable. */
  | 'HADUCK_NOT_READY'
  /** `query()` was given a statement that is not read-only; use `execute()`. */
  | 'HADUCK_NOT_READ_ONLY'
  /** A parameter or wire value cannot be encoded or decoded. */
  | 'HADUCK_INVALID_VALUE'
  /** A forwarding request or response broke the protocol. */
  | 'HADUCK_PROTOCOL'
  /** Shipping a checkpoint to storage failed; the data stays dirty and is retried. */
  | 'HADUCK_SHIP_FAILED'
  /** The operation's `AbortSignal` fired, or a deadline passed. */
  | 'HADUCK_ABORTED'
  /** The database was used after `close()`. */
  | 'HADUCK_CLOSED';

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
      (code === 'HADUCK_NOT_LEADER' ||
        code === 'HADUCK_NO_LEADER' ||
        code === 'HADUCK_NOT_READY' ||
        code === 'HADUCK_FORWARD_FAILED' ||
        code === 'HADUCK_FENCED' ||
        code === 'HADUCK_SHIP_FAILED');
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

/** Wraps a DuckDB exception as `HADUCK_SQL`, keeping DuckDB's message (it never contains secrets). */
export function sqlError(cause: unknown): HaDuckError {
  if (isHaDuckError(cause)) return cause;
  const message = cause instanceof Error ? cause.message : String(cause);
  return new HaDuckError('HADUCK_SQL', message, { cause });
}

/** Throws `HADUCK_ABORTED` if the signal fired. */
export function throwIfAborted(signal: AbortSignal | undefined): void {
  if (signal?.aborted) throw new HaDuckError('HADUCK_ABORTED', 'operation aborted', { cause: signal.reason });
}
