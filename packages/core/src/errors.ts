import { HadbError, errorGuard, type DeadlineErrors } from '@hadb/io';

/** Stable codes of {@link CoordinatorError}. Match on these, never on messages. */
export type CoordinatorErrorCode =
  /** A write was attempted on a node that is not the leader of that database. */
  | 'HADB_CORE_NOT_LEADER'
  /**
   * The leader's term is over (its fence deadline passed, the lease was lost, or a newer term was
   * detected). Nothing may be written under this term any more.
   */
  | 'HADB_CORE_FENCED'
  /** Promotion was refused: the local copy is behind the durable head in storage. */
  | 'HADB_CORE_NOT_CAUGHT_UP'
  /** An {@link EpochGate} refused a segment written under an epoch older than one already accepted. */
  | 'HADB_CORE_STALE_EPOCH'
  /** Options are inconsistent (for example a renew interval that does not fit inside the TTL). */
  | 'HADB_CORE_INVALID_CONFIG'
  /** A value passed to the API is out of range (for example a negative position). */
  | 'HADB_CORE_INVALID_ARGUMENT'
  /** The database has not been joined on this coordinator. */
  | 'HADB_CORE_UNKNOWN_DB'
  /** The database is already joined on this coordinator. */
  | 'HADB_CORE_ALREADY_JOINED'
  /** `join` could not complete (the replicator failed, or restoring did not reach the durable head). */
  | 'HADB_CORE_JOIN_FAILED'
  /** A replicator or follower call exceeded `replicatorTimeoutMs`. */
  | 'HADB_CORE_TIMEOUT'
  /** The operation's `AbortSignal` fired, or the database was left while waiting. */
  | 'HADB_CORE_ABORTED'
  /** The coordinator was used after `close()`. */
  | 'HADB_CORE_CLOSED'
  /** A node-registry entry could not be parsed. */
  | 'HADB_CORE_INVALID_RECORD'
  /** Another live process already uses this node's `instanceId` for the database (see `InstanceClaim`). */
  | 'HADB_CORE_DUPLICATE_INSTANCE';

/** The one error type thrown by `@hadb/core`. */
export class CoordinatorError extends HadbError<CoordinatorErrorCode> {
  override readonly name = 'CoordinatorError';
}

/** True for a {@link CoordinatorError}, optionally with the given code (works across duplicate installs). */
export const isCoordinatorError = errorGuard<CoordinatorError>('CoordinatorError');

/** Builds `HADB_CORE_ABORTED` (for io's `throwIfAborted` / `raceAbort`). */
export const coreAborted = (message: string, cause?: unknown): CoordinatorError =>
  new CoordinatorError('HADB_CORE_ABORTED', message, { cause });

/** The errors of core's deadlines (io's `withTimeout`): `HADB_CORE_TIMEOUT` / `HADB_CORE_ABORTED`. */
export const CORE_DEADLINE: DeadlineErrors = Object.freeze({
  timeout: (message: string, cause?: unknown) => new CoordinatorError('HADB_CORE_TIMEOUT', message, { cause }),
  aborted: coreAborted,
});
