import type { Clock, OpOptions } from '@hadb/io';
import type { EpochGate } from './epoch-gate.js';
import type { Logger } from '@hadb/io';
import type { Replicator } from './replicator.js';

/** The newest durable segment in storage for one database. */
export interface DurableHead {
  /** Sequence of the newest durable segment (`0n` when nothing has been written). */
  readonly position: bigint;
  /** Epoch of the term that wrote it (0 when nothing has been written or it is unknown). */
  readonly epoch: number;
}

/**
 * How a follower reports progress. The coordinator reads it to decide whether this node may be
 * promoted: only a follower whose reported position is at least the durable head is.
 */
export interface FollowerProgress {
  /** Last reported position (sequence of the last applied segment). */
  readonly position: bigint;
  /** Last value passed to {@link setCaughtUp}. */
  readonly caughtUp: boolean;
  /**
   * The local copy now contains every segment up to and including `position`. Positions never go
   * back: a lower value throws `HADB_CORE_INVALID_ARGUMENT`. Report after the apply is durable.
   */
  report(position: bigint): void;
  /**
   * Whether the last poll found no newer segment than {@link position} (that is, the follower is at
   * the durable head). Set it `false` as soon as a newer segment is seen and not yet applied.
   */
  setCaughtUp(caughtUp: boolean): void;
}

/** Counters a follower loop updates (exported as `hadb_follower_pulls_*_total`). */
export interface FollowerMetrics {
  pullSucceeded(): void;
  pullFailed(): void;
  pullNoNewData(): void;
}

/** Everything {@link FollowerBehavior.runFollowerLoop} gets. */
export interface FollowerContext {
  readonly db: string;
  /** Local database file. */
  readonly path: string;
  /** The coordinator's key prefix (behaviours configured with their own prefix may ignore it). */
  readonly prefix: string;
  readonly replicator: Replicator;
  /** How often to poll storage for new segments. */
  readonly pollIntervalMs: number;
  /** Use it for every sleep, so the loop also runs under a virtual clock. */
  readonly clock: Clock;
  /** Aborts when the loop must stop (promotion, leave). The loop must then resolve promptly. */
  readonly signal: AbortSignal;
  readonly progress: FollowerProgress;
  /** Admit each segment's epoch here before applying it; refuse the segment if it throws. */
  readonly epochGate: EpochGate;
  readonly metrics: FollowerMetrics;
  readonly logger: Logger;
}

/** Everything {@link FollowerBehavior.catchupOnPromotion} gets. */
export interface CatchupContext {
  readonly db: string;
  readonly path: string;
  readonly prefix: string;
  readonly replicator: Replicator;
  /** The last position this node reported. */
  readonly position: bigint;
  readonly epochGate: EpochGate;
  readonly clock: Clock;
  /** Aborts on timeout (`replicatorTimeoutMs`), when the new term ends, or on leave. */
  readonly signal: AbortSignal;
  readonly logger: Logger;
}

/**
 * What a follower does for one database: apply the leader's segments, report progress, and close
 * the gap to the durable head when promoted. Engines implement it next to their replicator.
 */
export interface FollowerBehavior {
  /**
   * Polls storage every `pollIntervalMs`, verifies and applies new segments in order (admitting
   * each epoch through `epochGate`), and reports progress. Runs until `ctx.signal` aborts, then
   * resolves. A rejection is logged and the loop is restarted after one poll interval.
   */
  runFollowerLoop(ctx: FollowerContext): Promise<void>;
  /**
   * Called right after this node won the lease and before it may write: applies everything up to
   * the durable head and returns the position reached. The coordinator then compares it with
   * {@link durableHead} and refuses the promotion (`HADB_CORE_NOT_CAUGHT_UP`) if it is behind.
   */
  catchupOnPromotion(ctx: CatchupContext): Promise<bigint>;
  /**
   * The newest durable segment in storage (one `list` or a probe of the next keys). Must not be
   * served from a cache that could be behind storage. An empty history is `{ position: 0n, epoch: 0 }`.
   */
  durableHead(db: string, options?: OpOptions): Promise<DurableHead>;
}
