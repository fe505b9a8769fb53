import { EventEmitter } from 'node:events';
import { isHadbError, type HadbError, type OpOptions } from '@hadb/io';
import { HaError } from './errors.js';
import { HaNode, type HaNodeEvents } from './ha-node.js';
import type { HaNodeOptions } from './options.js';
import type { HaRole } from './role-lifecycle.js';
import type { HaStats } from './stats.js';

/** The counters every database reports (its `stats()` adds the engine's own). */
export interface HaDatabaseStats {
  readonly role: HaRole;
  /** Leader: commits, bytes shipped, last ship error. */
  readonly commits: number;
  readonly bytesShipped: number;
  readonly lastShipError: string | undefined;
  /** Leader: failed ships, the oldest unshipped commit's wait (ms), terms handed off by a ship stall. */
  readonly shipFailures: number;
  readonly unshippedMs: number;
  readonly shipStalls: number;
  /** Follower: failed pulls, pulls cut by `pullTimeoutMs`, the last pull problem (cleared by a pull). */
  readonly pullFailures: number;
  readonly pullStalls: number;
  readonly lastPullError: string | undefined;
  /** Follower: last applied position (decimal), segments applied, full restores. */
  readonly position: string;
  readonly appliedSegments: number;
  readonly restoredSnapshots: number;
  /** Writes sent to the leader, and retried attempts among them. */
  readonly forwardedWrites: number;
  readonly forwardRetries: number;
  /** Leader writes that waited for a ship first because commits outran the ships. */
  readonly backpressureWaits: number;
  readonly promotions: number;
  readonly demotions: number;
}

/**
 * The public face a database adapter builds on its {@link HaNode} (haduck's `HaDuck`, haqlite's
 * `HaQLite`): the node's events on the adapter itself, its role, address, name and admin URL,
 * `sync`, `waitForRole` and `close`. The adapter adds its engine's write, read and stats methods
 * over {@link node}, and opens the node with {@link attach} from its static `open`.
 */
export abstract class HaDatabase<W, R, WR, RR> extends EventEmitter<HaNodeEvents> implements AsyncDisposable {
  #node: HaNode<W, R, WR, RR> | undefined;

  /** The node (after {@link attach}). */
  protected get node(): HaNode<W, R, WR, RR> {
    if (this.#node === undefined) throw new HaError('HADB_HA_CLOSED', 'the database is not open');
    return this.#node;
  }

  /**
   * Opens the node with this object as its event emitter. A node option the adapter passed on
   * badly (`*_INVALID_CONFIG` of another package) is rethrown as `invalidConfig(err)`, so the
   * adapter reports its own code.
   */
  protected async attach(
    options: HaNodeOptions<W, R, WR, RR>,
    invalidConfig: (err: HadbError<string>) => Error,
  ): Promise<void> {
    try {
      this.#node = await HaNode.open(options, this);
    } catch (err) {
      if (isHadbError(err) && err.code.endsWith('_INVALID_CONFIG')) throw invalidConfig(err);
      throw err;
    }
  }

  /** The node's counters as {@link HaDatabaseStats}, and the node's own `stats()` for the engine's. */
  protected baseStats(): { readonly base: HaDatabaseStats; readonly node: HaStats } {
    const s = this.node.stats();
    return {
      base: {
        role: s.role,
        commits: s.commits,
        bytesShipped: s.bytesShipped,
        lastShipError: s.lastShipError,
        shipFailures: s.shipFailures,
        unshippedMs: s.unshippedMs,
        shipStalls: s.shipStalls,
        pullFailures: s.pullFailures,
        pullStalls: s.pullStalls,
        lastPullError: s.lastPullError,
        position: s.position.toString(),
        appliedSegments: s.appliedSegments,
        restoredSnapshots: s.restoredSnapshots,
        forwardedWrites: s.forwardedWrites,
        forwardRetries: s.forwardRetries,
        backpressureWaits: s.backpressureWaits,
        promotions: s.promotions,
        demotions: s.demotions,
      },
      node: s,
    };
  }

  /** This node's role; `closed` after {@link close}. */
  get role(): HaRole {
    return this.node.role;
  }

  /** The forwarding address this node advertises. */
  get address(): string {
    return this.node.address;
  }

  /** The database name. */
  get name(): string {
    return this.node.name;
  }

  /** The admin server's URL (`http://host:port/`) when the `admin` option is set. */
  get adminUrl(): string | undefined {
    return this.node.adminUrl;
  }

  /**
   * Leader: resolves once every write committed so far is in storage (the RPO becomes zero for
   * them). Follower: resolves once the local copy has applied everything durable at call time.
   */
  sync(options: OpOptions = {}): Promise<void> {
    return this.node.sync(options);
  }

  /** Resolves when this node has `role` (immediately if it has it). */
  waitForRole(role: 'leader' | 'follower', options: OpOptions = {}): Promise<void> {
    return this.node.waitForRole(role, options);
  }

  /**
   * Leaves the cluster: a leader ships its last commits, closes its engine and releases the lease
   * (a follower takes over without waiting for the TTL); a follower stops following. Idempotent.
   */
  close(): Promise<void> {
    return this.node.close();
  }

  [Symbol.asyncDispose](): Promise<void> {
    return this.close();
  }
}
