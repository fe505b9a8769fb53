import { HaDuckError, type HaDuckErrorCode } from '../errors.js';

/**
 * The forwarding protocol (HTTP/1.1, JSON bodies, values in the tagged wire encoding of
 * `values.ts`):
 *
 * - `POST /haduck/v1/execute` `{"sql", "params"?, "idempotency_token", "durability"?}`
 *   → 200 `{"rows_changed": n}`
 * - `POST /haduck/v1/batch` `{"statements": [{"sql", "params"?}], "idempotency_token", "durability"?}`
 *   → 200 `{"rows_changed": n}` (one transaction)
 * - `POST /haduck/v1/query` `{"sql", "params"?}` → 200 `{"columns", "column_types", "rows"}`
 *
 * `durability` is `"committed"` (default) or `"shipped"` (answer only once the write is in storage).
 * Errors are `{"error": {"code", "message"}}` with status 421 (not leader — re-checked under the
 * write lock; also when it is closing), 401 (missing or wrong bearer secret), 400 (SQL, value or
 * protocol error, not retryable), 413 (body too large), 503 (shipping failed or not ready,
 * retryable) or 500.
 */
export const PATHS = {
  execute: '/haduck/v1/execute',
  batch: '/haduck/v1/batch',
  query: '/haduck/v1/query',
} as const;

/** `durability` of a write: acknowledge at commit, or only once shipped to storage. */
export type Durability = 'committed' | 'shipped';

/** HTTP status for an error code (server side). */
export function statusFor(code: HaDuckErrorCode): number {
  switch (code) {
    case 'HADB_HADUCK_NOT_LEADER':
    case 'HADB_HADUCK_FENCED':
    case 'HADB_HADUCK_CLOSED':
      return 421;
    case 'HADB_HADUCK_UNAUTHORIZED':
      return 401;
    case 'HADB_HADUCK_SQL':
    case 'HADB_HADUCK_NOT_READ_ONLY':
    case 'HADB_HADUCK_INVALID_VALUE':
    case 'HADB_HADUCK_PROTOCOL':
      return 400;
    case 'HADB_HADUCK_SHIP_FAILED':
    case 'HADB_HADUCK_NOT_READY':
    case 'HADB_HADUCK_NO_LEADER':
      return 503;
    default:
      return 500;
  }
}

const KNOWN_CODES = new Set<string>([
  'HADB_HADUCK_NOT_LEADER',
  'HADB_HADUCK_FENCED',
  'HADB_HADUCK_NO_LEADER',
  'HADB_HADUCK_FORWARD_FAILED',
  'HADB_HADUCK_UNAUTHORIZED',
  'HADB_HADUCK_SQL',
  'HADB_HADUCK_NOT_READY',
  'HADB_HADUCK_NOT_READ_ONLY',
  'HADB_HADUCK_INVALID_VALUE',
  'HADB_HADUCK_PROTOCOL',
  'HADB_HADUCK_SHIP_FAILED',
  'HADB_HADUCK_ABORTED',
  'HADB_HADUCK_CLOSED',
]);

/** Rebuilds a typed error from an error body (client side). */
export function errorFromBody(status: number, body: unknown): HaDuckError {
  const err = (body as { error?: { code?: unknown; message?: unknown } } | null)?.error;
  const code = typeof err?.code === 'string' && KNOWN_CODES.has(err.code) ? (err.code as HaDuckErrorCode) : undefined;
  const message = typeof err?.message === 'string' ? err.message : `leader answered HTTP ${status}`;
  if (status === 401) return new HaDuckError('HADB_HADUCK_UNAUTHORIZED', 'the leader refused the forwarding secret');
  if (status === 421) return new HaDuckError('HADB_HADUCK_NOT_LEADER', message);
  if (code !== undefined) return new HaDuckError(code, message);
  if (status >= 500) return new HaDuckError('HADB_HADUCK_FORWARD_FAILED', message);
  return new HaDuckError('HADB_HADUCK_PROTOCOL', message);
}

/** Whether a forwarded request that failed with `err` may be retried (421, 5xx, transport). */
export function isRetryableForward(err: HaDuckError): boolean {
  return (
    err.retryable &&
    (err.code === 'HADB_HADUCK_NOT_LEADER' ||
      err.code === 'HADB_HADUCK_FENCED' ||
      err.code === 'HADB_HADUCK_NO_LEADER' ||
      err.code === 'HADB_HADUCK_FORWARD_FAILED' ||
      err.code === 'HADB_HADUCK_SHIP_FAILED' ||
      err.code === 'HADB_HADUCK_NOT_READY')
  );
}
