import type { OpOptions } from '@hadb/io';
import type { WriteFence } from './fence.js';

/** Options of every replicator call. */
export interface ReplicatorCallOptions extends OpOptions {
  /**
   * Aborts the call (the coordinator aborts after `replicatorTimeoutMs`, on `leave`, and when the
   * term ends). An aborted call must leave no half-written object visible.
   */
  readonly signal?: AbortSignal | undefined;
}

/** One leader term, handed to {@link Replicator.startLineage} and {@link Replicator.continueLineage}. */
export interface LeaderTerm {
  readonly db: string;
  /** The fencing token, equal to `fence.epoch`; strictly increasing across terms. */
  readonly epoch: number;
  /** This node's instance id (as in the lease record). */
  readonly instanceId: string;
  /** The lease session of this term (as in the lease record); fresh per term. */
  readonly sessionId: string;
  /**
   * The term's write permission. Call `fence.check()` immediately before every durable write, pass
   * `fence.signal` to storage writes, and call `fence.trip()` on evidence of a newer term.
   */
  readonly fence: WriteFence;
}

/**
 * Ships a database's changes to storage while this node leads, and restores/catches up a local
 * copy. One replicator instance serves every database the coordinator joins, keyed by `db`.
 *
 * Fencing rules every implementation must follow (they are what make failover lose nothing):
 * 1. Every segment is written with `putIfAbsent` at its sequence key (see `fencedPutIfAbsent`), so
 *    a sequence is written at most once, by exactly one term.
 * 2. `term.fence.check()` runs immediately before each durable write; `term.epoch` is stamped into
 *    each segment (header, metadata or sidecar) so followers can run an `EpochGate`.
 * 3. A `putIfAbsent` conflict at sequence N is resolved by reading N: written by this term (an
 *    earlier attempt that timed out) ⇒ success; by a lower epoch ⇒ a late write of the previous
 *    term: apply it and continue at N+1; by an equal or higher epoch ⇒ `term.fence.trip()` and stop.
 * 4. `continueLineage` claims the term's first sequence (for example by writing an empty segment)
 *    before it resolves, so no older term can append after the new term starts taking writes.
 * 5. A write is acknowledged to its caller only after its segment is durable in storage.
 */
export interface Replicator {
  /**
   * Starts replicating `db` (local file at `path`) as leader on a node that joined as leader. May
   * write a snapshot. Resolves once replication is running and (rule 4) the term's first sequence
   * is claimed. Rejecting aborts the join (the lease is released).
   */
  startLineage(db: string, path: string, term: LeaderTerm, options?: ReplicatorCallOptions): Promise<void>;
  /**
   * Starts replicating after a promotion: continues the existing sequence (the follower has just
   * caught up to the durable head), without a new snapshot, so followers keep polling the next key.
   * Same resolution rules as {@link startLineage}. Rejecting aborts the promotion (the lease is released).
   */
  continueLineage(db: string, path: string, term: LeaderTerm, options?: ReplicatorCallOptions): Promise<void>;
  /**
   * Brings the local copy at `path` up to the durable head (restore on an empty node, incremental
   * catch-up otherwise). Returns the position (last applied sequence, `0n` for an empty history)
   * reached. Idempotent. Verifies everything it downloads.
   */
  pull(db: string, path: string, options?: ReplicatorCallOptions): Promise<bigint>;
  /**
   * Stops replicating `db` and forgets the term. Writes not yet durable are abandoned (their
   * callers must see an error). Idempotent; an unknown `db` is not an error.
   */
  remove(db: string, options?: ReplicatorCallOptions): Promise<void>;
  /**
   * Resolves once every write accepted so far for `db` is durable in storage (used before a
   * handoff). Rejects if that cannot be achieved (for example the term is fenced).
   */
  sync(db: string, options?: ReplicatorCallOptions): Promise<void>;
}
