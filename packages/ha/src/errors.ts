import { HadbError, errorGuard, throwIfAborted as ioThrowIfAborted, type ConfigChecker, configChecker } from '@hadb/io';

/** Stable codes of {@link HaError}. Match on these, never on messages. */
export type HaErrorCode =
  /** A write reached a node that is not the leader and could not be forwarded. Retryable. */
  | 'HADB_HA_NOT_LEADER'
  /** This node's term ended while the call was pending: refused, nothing committed. Retryable. */
  | 'HADB_HA_FENCED'
  /** No leader is known (no lease, an expired lease, or a lease without an address). Retryable. */
  | 'HADB_HA_NO_LEADER'
  /**
   * A forwarded request failed on every attempt (transport errors, 5xx, 421). The write may or may
   * not have run; retrying with the same idempotency token is safe.
   */
  | 'HADB_HA_FORWARD_FAILED'
  /** The leader refused the forwarding secret (401). */
  | 'HADB_HA_UNAUTHORIZED'
  /** A follower has no local copy yet (nothing shipped, or still restoring). Retryable. */
  | 'HADB_HA_NOT_READY'
  /** The leader is running as many forwarded requests as it admits (503). Retryable. */
  | 'HADB_HA_OVERLOADED'
  /** A forwarding request or response broke the protocol. */
  | 'HADB_HA_PROTOCOL'
  /** Shipping to storage failed; the changes stay unshipped and the next ship retries them. Retryable. */
  | 'HADB_HA_SHIP_FAILED'
  /**
   * The leader shipped nothing for `shipStallTimeoutMs` while it had unshipped commits (storage
   * unreachable or every ship failing): reported as an `error` event, after which the leader hands
   * its lease to another node. Writes waiting for `shipped` fail with `HADB_HA_SHIP_FAILED`.
   */
  | 'HADB_HA_SHIP_STALLED'
  /**
   * A follower finished no pull for `pullTimeoutMs` (a request that never answers): reported as an
   * `error` event; the follower loop is restarted.
   */
  | 'HADB_HA_PULL_STALLED'
  /** The operation's `AbortSignal` fired. */
  | 'HADB_HA_ABORTED'
  /**
   * The database path is held by another node (its `<path>.hadb-lock` names a live owner):
   * nothing was touched.
   */
  | 'HADB_HA_LOCKED'
  /**
   * Another live process uses this node's `instanceId` for the same database (possibly on another
   * host); nothing was touched. A restart after a crash waits one lease TTL instead.
   */
  | 'HADB_HA_DUPLICATE_INSTANCE'
  /** The node was used after `close()`. */
  | 'HADB_HA_CLOSED'
  /** An option is invalid (reported at construction). */
  | 'HADB_HA_INVALID_CONFIG';

const RETRYABLE: ReadonlySet<string> = new Set([
  'HADB_HA_NOT_LEADER',
  'HADB_HA_FENCED',
  'HADB_HA_NO_LEADER',
  'HADB_HA_FORWARD_FAILED',
  'HADB_HA_NOT_READY',
  'HADB_HA_OVERLOADED',
  'HADB_HA_SHIP_FAILED',
]);

/**
 * The error of the HA layer. `retryable` says whether repeating the same call (with the same
 * idempotency token, for writes) may succeed.
 */
export class HaError extends HadbError<HaErrorCode> {
  override readonly name = 'HaError';
  readonly retryable: boolean;

  constructor(code: HaErrorCode, message: string, options: { cause?: unknown; retryable?: boolean } = {}) {
    super(code, message, { cause: options.cause });
    this.retryable = options.retryable ?? RETRYABLE.has(code);
  }
}

/** True for an {@link HaError}, optionally with the given code (works across duplicate installs). */
export const isHaError = errorGuard<HaError>('HaError');

/** Builds `HADB_HA_ABORTED`. */
export const haAborted = (message: string, cause?: unknown): HaError =>
  new HaError('HADB_HA_ABORTED', message, { cause });

/** Throws `HADB_HA_ABORTED` (or the signal's hadb-error reason) if `signal` has fired. */
export function throwIfAborted(signal: AbortSignal | undefined): void {
  ioThrowIfAborted(signal, haAborted);
}

/** Option checks throwing `HADB_HA_INVALID_CONFIG`. */
export const checkConfig: ConfigChecker = configChecker((message) => new HaError('HADB_HA_INVALID_CONFIG', message));
