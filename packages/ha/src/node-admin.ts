import type { EventEmitter } from 'node:events';
import {
  coordinatorSource,
  startAdminServer,
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
}

/**
 * A node's admin server: a `coordinatorSource` fed from the node's counters, started once the node
 * has joined, closed first on close. Counts shipped bytes and segments, the last ship time, applied
 * segments and commit times (when the engine reports them), and failures by `HADB_*` code;
 * `HADB_HA_SHIP_FAILED` is also reported as a `ship_failed` event.
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

  constructor(options: NodeAdminOptions) {
    this.#o = options;
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
    };
    e.on('shipped', onShipped);
    e.on('applied', onApplied);
    this.#off = () => {
      e.off('shipped', onShipped);
      e.off('applied', onApplied);
    };
  }

  /** Counts a background failure; a failed ship becomes a `ship_failed` event. */
  error(err: unknown): void {
    const code = isHadbError(err) ? err.code : 'HADB_HA_UNKNOWN';
    this.#errors[code] = (this.#errors[code] ?? 0) + 1;
    if (code === 'HADB_HA_SHIP_FAILED') {
      this.#source?.report({ type: 'ship_failed', db: this.#o.db, error: `${code}: ${describeError(err).message}` });
    }
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
