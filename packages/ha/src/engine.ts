/**
 * What a database supplies to run highly available on {@link HaNode}: its engine. Everything else
 * — the lease and roles (through `@hadb/core`), retiring and opening engines on role changes, the
 * ship schedule, write routing with idempotency tokens, the forwarding protocol, strong reads,
 * stats and events — is the HA layer's.
 *
 * Type parameters: `W` a write request (for SQL: a statement or a batch), `R` a read request,
 * `WR` a write's result, `RR` a read's result.
 */
import type { FollowerBehavior, Replicator } from '@hadb/core';
import type { Clock, Logger, OpOptions } from '@hadb/io';
import type { FollowerWaker } from './notice/leader-waker.js';

/** What a follower just applied (reported by the engine's follower behavior). */
export interface AppliedInfo {
  /** Position (sequence) reached. */
  readonly seq: bigint;
  /** `segment`: an incremental step; `snapshot`: a full restore. */
  readonly kind: 'segment' | 'snapshot';
  /** Wall ms at which the applied change was committed on the leader, when the engine knows it (gives exact lag). */
  readonly commitMs?: number | undefined;
}

/** Handed to {@link EngineFactory}: the node's settings and the hooks the engine must call. */
export interface EngineContext {
  /** Database name (lease scope and storage namespace). */
  readonly db: string;
  /** The local database file. */
  readonly path: string;
  readonly clock: Clock;
  readonly logger: Logger;
  /**
   * The engine's follower side (its replicator's pull and its {@link FollowerBehavior}) must call
   * this after every applied step, before applying the next; the HA layer refreshes the follower's
   * read side (see {@link FollowerSide.refresh}) and counts it. Also call it for the steps of the
   * replicator's join-time `pull`.
   */
  onApplied(info: AppliedInfo): Promise<void>;
  /**
   * Reports a failure the engine cannot throw to a caller — e.g. its follower loop met a corrupt
   * object in storage and stopped applying — as the node's `error` event. Optional for engines
   * built outside a node.
   */
  readonly onError?: ((error: unknown) => void) | undefined;
  /**
   * What the follower loop awaits between storage polls: the leader's notice of new segments (a
   * long poll over the forwarding endpoint), or the poll interval while no leader answers. Use it
   * directly, or wrap the loop's context with `wakeOnNotice`. Absent for engines built outside a node.
   */
  readonly leaderWaker?: FollowerWaker | undefined;
}

/** Builds the engine of one node. Called once by `HaNode.open`. */
export type EngineFactory<W, R, WR, RR> = (context: EngineContext) => HaEngine<W, R, WR, RR>;

/** The database engine: replication, the two roles' sides, and the wire codec. */
export interface HaEngine<W, R, WR, RR> {
  /**
   * Ships and restores the database (the `@hadb/core` contract, fencing rules included). The HA
   * layer hands it to the coordinator unchanged.
   */
  readonly replicator: Replicator;
  /**
   * Follows the leader (the `@hadb/core` contract). The HA layer wraps it so it never touches the
   * file while a leader side is open or retiring.
   */
  readonly followerBehavior: FollowerBehavior;
  /** How writes, reads and results travel between nodes (see {@link WireCodec}). */
  readonly wire: WireCodec<W, R, WR, RR>;
  /**
   * True when the follower loop reports every pull's outcome through `FollowerContext.metrics`
   * (as core's contract asks): the HA layer then restarts a loop whose pull hangs (`pullTimeoutMs`)
   * from its very first pull. Otherwise a loop is watched only once it has reported an outcome.
   */
  readonly reportsPulls?: boolean | undefined;
  /**
   * Makes the local copy safe to follow from, before either side opens it: at start and after a
   * leader side retired. A copy holding changes that were never shipped (a leader killed between
   * commit and ship) must be set aside, never deleted and never followed from. Never called while
   * a side has the file open. `options.signal` fires when the node closes (or its open is
   * cancelled): stop promptly (storage requests and long copies included) and reject, leaving
   * nothing half-written — the file where it was, and a set-aside copy either complete or absent;
   * the next start prepares it again.
   */
  prepareLocalCopy(options?: OpOptions): Promise<void>;
  /**
   * Opens the leader side (read-write) on the local file, which replication just brought to the
   * durable head. Rejecting makes the node hand its lease to another node.
   */
  openLeader(context: LeaderContext): Promise<LeaderSide<W, R, WR, RR>>;
  /** Creates the follower side (read-only); {@link FollowerSide.start} opens it. */
  openFollower(): FollowerSide<R, RR>;
  /**
   * True for an error that is the caller's fault (a bad statement, a constraint, a bad value):
   * answered 400 to a forwarding follower and never retried. Its `code` travels on the wire and
   * {@link WireCodec.decodeError} rebuilds it on the other side.
   */
  isClientError(error: unknown): boolean;
}

/** Handed to {@link HaEngine.openLeader}. */
export interface LeaderContext {
  /**
   * Throws `HADB_HA_CLOSED` / `HADB_HA_FENCED` / `HADB_HA_NOT_LEADER` unless this node may write
   * now. Call it under the write lock before every write and again before its commit.
   */
  checkWrite(): void;
  /**
   * Throws `HADB_HA_FENCED` / `HADB_HA_NOT_LEADER` once this node's term is over. Call it under the
   * write lock before the checkpoint of every ship, so a fenced leader never ships (a closing node
   * still ships its last commits).
   */
  checkTerm(): void;
  /** Call right after every commit, under the write lock (commit counting for `shipped` waits). */
  committed(): void;
}

/** A ship's outcome. */
export interface ShipReport {
  /** Bytes sent to storage (0 when nothing changed). */
  readonly bytes: number;
  /**
   * A follow-up step failed although the shipped changes are durable (for example a snapshot):
   * reported as `lastShipError` until the next ship.
   */
  readonly warning?: string | undefined;
}

/** Options of {@link LeaderSide.ship}. */
export interface ShipOptions extends OpOptions {
  /**
   * Call under the write lock at the moment the changes to ship are fixed (right before the
   * engine's checkpoint), with no commit possible until the capture is done: every commit counted
   * by {@link LeaderContext.committed} before it is covered by this ship.
   */
  readonly capturePoint: () => void;
  /**
   * Pipelining (optional): call once the changes are captured and their upload is queued, to let
   * the next ship's checkpoint and capture run while this upload is in flight. An engine that
   * calls it keeps its uploads in ship order (a later upload starts only after this one settled,
   * at the next sequence, never racing it) and makes a later capture after a failed upload include
   * the failed one's changes. The HA layer acknowledges ships in order and acknowledges no commit
   * of a later ship once an earlier one failed (a further ship does). Never called: ships run one
   * at a time.
   */
  readonly captured?: (() => void) | undefined;
}

/** Options of {@link LeaderSide.write}. */
export interface EngineWriteOptions extends OpOptions {
  /**
   * The write's idempotency token: run the write and record the token with its result in the
   * engine's token table in one transaction; a token already recorded returns the stored result
   * without running again. The token table is part of the database, so it ships and survives a
   * failover. Absent: run without recording.
   */
  readonly token?: string | undefined;
}

/** The leader's database: read-write, one writer at a time. */
export interface LeaderSide<W, R, WR, RR> {
  /**
   * Runs `write` as one transaction under the engine's write lock (see {@link LeaderContext} for
   * the checks and the commit count). Errors are the engine's own (client errors per
   * {@link HaEngine.isClientError}), or the HA layer's from `checkWrite`.
   */
  write(write: W, options: EngineWriteOptions): Promise<WR>;
  /** Runs a read-only request, seeing every committed write. Never blocked by a ship's upload. */
  read(read: R, options: OpOptions): Promise<RR>;
  /**
   * Makes everything committed before {@link ShipOptions.capturePoint} durable in storage: under
   * the write lock `checkTerm()`, `capturePoint()`, checkpoint and capture; the upload outside
   * the lock where the engine can. Resolves once the capture is durable. Rejects when the term
   * ended (nothing captured) or storage failed (the changes stay unshipped; the next ship retries).
   * The HA layer never runs two ships of one leader side at once, except that once a ship called
   * {@link ShipOptions.captured} the next one may start.
   */
  ship(options: ShipOptions): Promise<ShipReport>;
  /** Engine-specific counters (summed into `stats().engine` across leader terms). */
  counters(): Readonly<Record<string, number>>;
  /**
   * Stops accepting writes (later calls reject with `HADB_HA_CLOSED`) and closes the database,
   * releasing every handle on the file. No ship is attempted: the HA layer ships first when it can.
   * Idempotent.
   */
  close(): Promise<void>;
}

/** A follower's read side over its local copy. */
export interface FollowerSide<R, RR> {
  /** Opens the current version if one exists (idempotent). */
  start(): Promise<void>;
  /** Runs a read-only request on the current version; `HADB_HA_NOT_READY` before one exists. */
  read(read: R, options: OpOptions): Promise<RR>;
  /**
   * Makes reads see the version just applied (called by the HA layer after each applied step);
   * the time it blocks reads is reported as the read pause.
   */
  refresh(): Promise<void>;
  /** Closes the read side; waits for running reads. Idempotent. */
  close(): Promise<void>;
}

/**
 * The wire form of an engine's requests and results (JSON). Each request has an operation name:
 * it is sent as `POST {basePath}/{op}` with the encoded request as a JSON object (writes also carry
 * `idempotency_token` and `durability`, reserved field names); the answer is the encoded result.
 */
export interface WireCodec<W, R, WR, RR> {
  /** URL prefix, e.g. `/haduck/v1`. */
  readonly basePath: string;
  /** Operation names of writes and reads. */
  readonly writeOps: readonly string[];
  readonly readOps: readonly string[];
  encodeWrite(write: W): { readonly op: string; readonly body: Record<string, unknown> };
  /** Throws `HADB_HA_PROTOCOL` (or an engine client error) for a malformed body. */
  decodeWrite(op: string, body: Record<string, unknown>): W;
  encodeWriteResult(result: WR): unknown;
  decodeWriteResult(json: unknown): WR;
  encodeRead(read: R): { readonly op: string; readonly body: Record<string, unknown> };
  decodeRead(op: string, body: Record<string, unknown>): R;
  encodeReadResult(result: RR): unknown;
  decodeReadResult(json: unknown): RR;
  /** Rebuilds an engine client error from its wire `code` and `message`; `undefined` if unknown. */
  decodeError(code: string, message: string): Error | undefined;
}
