import type { EventEmitter } from 'node:events';
import {
  alertOf,
  coordinatorSource,
  EventThrottle,
  startAdminServer,
  type AdminEvent,
  type AdminServer,
  type CoordinatorAdminSource,
  type CoordinatorLike,
  type EngineAdminOptions,
  type ReplicationStats,
} from '@hadb/admin';
import { describeError, isHadbError, type Clock, type Logger } from '@hadb/io';
import type { AppliedInfo } from './engine.js';
import type { HaStats } from './stats.js';

/** What {@link NodeAdmin} reads from its node. */
export interface NodeAdminOptions {
  readonly admin: EngineAdminOptions;
  readonly db: string;
  readonly nodeId: string;
  readonly address: string;
  readonly clock: Clock;
  readonly logger: Logger;
  /** The node's counters (`HaNode.stats()`). */
  readonly stats: () => HaStats;
  /** True while the node leads and every counted commit is shipped. */
  readonly idle: () => boolean;
}

/** The events {@link NodeAdmin} counts (a subset of `HaNodeEvents`). */
interface CountedEvents {
  applied: [info: AppliedInfo];
  shipped: [info: { readonly bytes: number }];
  unauthorized: [info: { readonly via: string }];
}

/** Events held while the server is not started yet (a join-time restore happens before). */
const MAX_PENDING = 100;

/**
 * A node's admin server: a `coordinatorSource` fed from the node's counters, started once the node
 * has joined, closed first on close. Counts shipped bytes and segments, the last ship time, applied
 * segments and commit times (when the engine reports them), and failures by `HADB_*` code.
 * Reports as events: `HADB_HA_SHIP_FAILED` as `ship_failed`; a full snapshot applied as
 * `restore_completed`; a refused client token (`unauthorized` node event) and failures that mean
 * corruption, an open breaker or refused credentials (`alertOf`) as `auth_failure`,
 * `corruption_detected`, `circuit_breaker_open`, at most once a minute each. Events before the
 * server starts (a join-time restore) are held and sent once it has.
 */
export class NodeAdmin {
  readonly #o: NodeAdminOptions;
  #shippedBytes = 0;
  #shippedSegments = 0;
  #lastShipAtMs: number | undefined;
  #lastAppliedCommitMs: number | undefined;
  readonly #errors: Record<string, number> = {};
  #source: CoordinatorAdminSource | undefined;
  #server: AdminServer | undefined;
  #off: (() => void) | undefined;
  readonly #throttle: EventThrottle;
  #pending: AdminEvent[] | undefined = [];
  #lastError: unknown;

  constructor(options: NodeAdminOptions) {
    this.#o = options;
    this.#throttle = new EventThrottle(options.clock);
  }

  /** Starts counting the node's `shipped` and `applied` events. */
  listen(events: EventEmitter): void {
    const e = events as unknown as EventEmitter<CountedEvents>;
    const onShipped = (info: { readonly bytes: number }): void => {
      this.#shippedBytes += info.bytes;
      this.#shippedSegments++;
      this.#lastShipAtMs = this.#o.clock.wallMs();
    };
    const onApplied = (info: AppliedInfo): void => {
      if (typeof info.commitMs === 'number') this.#lastAppliedCommitMs = info.commitMs;
      if (info.kind === 'snapshot')
        this.#report({ type: 'restore_completed', db: this.#o.db, context: { seq: info.seq.toString() } });
    };
    const onUnauthorized = (info: { readonly via: string }): void => {
      const event = this.#throttle.pass({ type: 'auth_failure', db: this.#o.db, context: { via: info.via } });
      if (event !== undefined) this.#report(event);
    };
    e.on('shipped', onShipped);
    e.on('applied', onApplied);
    e.on('unauthorized', onUnauthorized);
    this.#off = () => {
      e.off('shipped', onShipped);
      e.off('applied', onApplied);
      e.off('unauthorized', onUnauthorized);
    };
  }

  /**
   * Counts a background failure (once, when the same error is reported twice in a row); a failed
   * ship becomes a `ship_failed` event, a failure `alertOf` recognises its event.
   */
  error(err: unknown): void {
    if (err === this.#lastError) return;
    this.#lastError = err;
    const code = isHadbError(err) ? err.code : 'HADB_HA_UNKNOWN';
    this.#errors[code] = (this.#errors[code] ?? 0) + 1;
    const message = `${code}: ${describeError(err).message}`;
    if (code === 'HADB_HA_SHIP_FAILED') this.#report({ type: 'ship_failed', db: this.#o.db, error: message });
    const alert = alertOf(err);
    if (alert !== undefined) {
      const event = this.#throttle.pass({ type: alert, db: this.#o.db, error: message });
      if (event !== undefined) this.#report(event);
    }
  }

  #report(event: AdminEvent): void {
    if (this.#pending === undefined) this.#source?.report(event);
    else if (this.#pending.length < MAX_PENDING) this.#pending.push(event);
  }

  /** Builds the source and starts the server (after the coordinator joined). */
  async start(coordinator: CoordinatorLike): Promise<void> {
    const o = this.#o;
    this.#source = coordinatorSource(coordinator, {
      nodeId: o.nodeId,
      address: o.address === '' ? undefined : o.address,
      clock: o.clock,
      logger: o.logger,
      replication: (db) => (db === o.db ? this.#replication() : undefined),
    });
    try {
      this.#server = await startAdminServer({ clock: o.clock, logger: o.logger, ...o.admin, sources: [this.#source] });
    } catch (err) {
      this.#source.close();
      this.#source = undefined;
      throw err;
    }
    const held = this.#pending ?? [];
    this.#pending = undefined;
    for (const event of held) this.#source.report(event);
  }

  /** The running server (after {@link start}). */
  get server(): AdminServer | undefined {
    return this.#server;
  }

  #replication(): ReplicationStats {
    const s = this.#o.stats();
    const leading = s.role === 'leader';
    return {
      lastShipAtMs: this.#lastShipAtMs ?? null,
      // A leader with nothing unshipped and no failed ship is in sync with storage now.
      syncedAtMs:
        leading && s.lastShipError === undefined && this.#o.idle()
          ? this.#o.clock.wallMs()
          : leading
            ? (this.#lastShipAtMs ?? null)
            : undefined,
      lastAppliedCommitMs: this.#lastAppliedCommitMs,
      position: s.position,
      shippedBytes: this.#shippedBytes,
      shippedSegments: this.#shippedSegments,
      appliedSegments: s.appliedSegments,
      errors: { ...this.#errors },
    };
  }

  /** Closes the server, then the source. Idempotent. */
  async close(): Promise<void> {
    this.#off?.();
    this.#off = undefined;
    const server = this.#server;
    this.#server = undefined;
    await server?.close();
    this.#source?.close();
    this.#source = undefined;
  }
}
