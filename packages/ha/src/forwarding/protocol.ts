import { HaError, type HaErrorCode } from '../errors.js';

/**
 * The forwarding protocol (HTTP/1.1, JSON bodies). An engine's operation `op` is
 * `POST {basePath}/{op}` with the request encoded by the engine's wire codec as a JSON object:
 *
 * - a write also carries `"idempotency_token"` (8-128 of `[A-Za-z0-9._:-]`) and `"durability"`
 *   (`"committed"`, the default, or `"shipped"`: answer only once the write is in storage);
 * - a read is answered by the leader, seeing every committed write.
 *
 * 200 answers carry the encoded result. Errors are `{"error": {"code", "message"}}` with status 421
 * (not leader — re-checked under the write lock; also while closing), 401 (missing or wrong bearer
 * secret), 400 (the engine's client errors and protocol errors; not retryable), 413 (body too
 * large; the connection is closed), 503 (shipping failed, not ready, no leader, overloaded;
 * retryable) or 500. A 401 also closes the connection without reading the body. The client
 * follows no redirects (a 3xx is `HADB_HA_PROTOCOL`).
 *
 * One operation belongs to the HA layer, not the engine: `POST /_hadb/v1/wait_head` with
 * `{"after": string | null, "hold_ms": 0-60000}`, a follower's long poll for new segments. The
 * leader answers `{"head": string}` (an opaque token that changes after every ship that stored
 * bytes) once its head differs from `after`, or after `hold_ms` with the same head; 421 on a node
 * that does not lead. Same bearer secret as every other request.
 */

/** Path of the head long poll (see the protocol above). */
export const HEAD_WAIT_PATH = '/_hadb/v1/wait_head';

/** Longest hold a head long poll may ask for, ms. */
export const MAX_HEAD_HOLD_MS = 60_000;

/** Validates a head long poll's body; `HADB_HA_PROTOCOL` when malformed. */
export function parseHeadWait(body: Record<string, unknown>): {
  readonly after: string | null;
  readonly holdMs: number;
} {
  const { after, hold_ms: holdMs } = body;
  if (after !== null && (typeof after !== 'string' || after.length > 128))
    throw new HaError('HADB_HA_PROTOCOL', 'wait_head: "after" must be a string of at most 128 characters or null');
  if (typeof holdMs !== 'number' || !Number.isSafeInteger(holdMs) || holdMs < 0 || holdMs > MAX_HEAD_HOLD_MS)
    throw new HaError('HADB_HA_PROTOCOL', `wait_head: "hold_ms" must be an integer in 0-${MAX_HEAD_HOLD_MS}`);
  return { after, holdMs };
}

/** `durability` of a write: acknowledge at commit, or only once shipped to storage. */
export type Durability = 'committed' | 'shipped';

/** A short fixed retry schedule (four attempts at 0, +100, +400, +1600 ms) for `forwardRetryDelaysMs`; the default is a time budget. */
export const DEFAULT_FORWARD_DELAYS_MS: readonly number[] = Object.freeze([0, 100, 400, 1600]);

/** Idempotency tokens: 8-128 characters of `[A-Za-z0-9._:-]`. */
export const TOKEN_PATTERN = /^[A-Za-z0-9._:-]{8,128}$/;

/** HTTP status of an HA error code (server side). */
export function statusFor(code: HaErrorCode): number {
  switch (code) {
    case 'HADB_HA_NOT_LEADER':
    case 'HADB_HA_FENCED':
    case 'HADB_HA_CLOSED':
      return 421;
    case 'HADB_HA_UNAUTHORIZED':
      return 401;
    case 'HADB_HA_PROTOCOL':
      return 400;
    case 'HADB_HA_SHIP_FAILED':
    case 'HADB_HA_NOT_READY':
    case 'HADB_HA_OVERLOADED':
    case 'HADB_HA_NO_LEADER':
      return 503;
    default:
      return 500;
  }
}

const HA_CODES = new Set<string>([
  'HADB_HA_NOT_LEADER',
  'HADB_HA_FENCED',
  'HADB_HA_NO_LEADER',
  'HADB_HA_FORWARD_FAILED',
  'HADB_HA_UNAUTHORIZED',
  'HADB_HA_NOT_READY',
  'HADB_HA_OVERLOADED',
  'HADB_HA_PROTOCOL',
  'HADB_HA_SHIP_FAILED',
  'HADB_HA_ABORTED',
  'HADB_HA_CLOSED',
]);

/**
 * Rebuilds a typed error from an error answer (client side): the HA layer's own codes, or (400)
 * the engine's client error through `decodeError`.
 */
export function errorFromBody(
  status: number,
  body: unknown,
  decodeError: (code: string, message: string) => Error | undefined,
): Error {
  const err = (body as { error?: { code?: unknown; message?: unknown } } | null)?.error;
  const code = typeof err?.code === 'string' ? err.code : undefined;
  const message = typeof err?.message === 'string' ? err.message : `leader answered HTTP ${status}`;
  if (status === 401) return new HaError('HADB_HA_UNAUTHORIZED', 'the leader refused the forwarding secret');
  if (status === 421) return new HaError('HADB_HA_NOT_LEADER', message);
  if (code !== undefined && HA_CODES.has(code)) return new HaError(code as HaErrorCode, message);
  if (status === 400 && code !== undefined) {
    const engineError = decodeError(code, message);
    if (engineError !== undefined) return engineError;
  }
  if (status >= 500) return new HaError('HADB_HA_FORWARD_FAILED', message);
  return new HaError('HADB_HA_PROTOCOL', message);
}

/** Whether a forwarded call that failed with `err` may be retried (421, 5xx, transport, not ready). */
export function isRetryableForward(err: HaError): boolean {
  return (
    err.retryable &&
    (err.code === 'HADB_HA_NOT_LEADER' ||
      err.code === 'HADB_HA_FENCED' ||
      err.code === 'HADB_HA_NO_LEADER' ||
      err.code === 'HADB_HA_FORWARD_FAILED' ||
      err.code === 'HADB_HA_SHIP_FAILED' ||
      err.code === 'HADB_HA_NOT_READY' ||
      err.code === 'HADB_HA_OVERLOADED')
  );
}
