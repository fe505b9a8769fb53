import type { AppliedInfo } from './engine.js';
import type { HaRole } from './role-lifecycle.js';
import type { ShipCounters } from './ship-scheduler.js';

/** Counters and gauges of one node. Leader counters add up across the node's terms. */
export interface HaStats {
  readonly role: HaRole;
  /**
   * Leader: commits counted, ships run, bytes shipped, the last ship's error (cleared by a
   * success; a follower keeps its last term's).
   */
  readonly commits: number;
  readonly ships: number;
  readonly bytesShipped: number;
  readonly lastShipError: string | undefined;
  /** Leader: ships that failed (storage errors, deadlines), across terms. */
  readonly shipFailures: number;
  /** Leader: how long the oldest unshipped commit has waited without a successful ship, ms. */
  readonly unshippedMs: number;
  /** Leader terms ended by a ship stall (`HADB_HA_SHIP_STALLED`: the lease was handed off). */
  readonly shipStalls: number;
  /** Follower: failed pulls, pulls cut by `pullTimeoutMs`, and the last pull problem (cleared by a pull). */
  readonly pullFailures: number;
  readonly pullStalls: number;
  readonly lastPullError: string | undefined;
  /** Follower: last applied position, segments applied, snapshot restores. */
  readonly position: bigint;
  readonly appliedSegments: number;
  readonly restoredSnapshots: number;
  /** Follower: read-side refreshes and how long reads were paused by them (ms). */
  readonly refreshes: number;
  readonly lastReadPauseMs: number;
  readonly maxReadPauseMs: number;
  /** Writes sent to the leader, and retried attempts among them. */
  readonly forwardedWrites: number;
  readonly forwardRetries: number;
  /** Leader: writes that waited for a ship first because commits outran the ships (backpressure). */
  readonly backpressureWaits: number;
  readonly promotions: number;
  readonly demotions: number;
  /** The engine's own counters (see `LeaderSide.counters`), summed across terms. */
  readonly engine: Readonly<Record<string, number>>;
}

const RECENT_PAUSES = 1024;

/** The mutable counters behind {@link HaStats}. */
export class NodeStats {
  position = 0n;
  appliedSegments = 0;
  restoredSnapshots = 0;
  refreshes = 0;
  lastReadPauseMs = 0;
  maxReadPauseMs = 0;
  forwardedWrites = 0;
  forwardRetries = 0;
  backpressureWaits = 0;
  promotions = 0;
  demotions = 0;
  shipStalls = 0;
  pullFailures = 0;
  pullStalls = 0;
  lastPullError: string | undefined;
  #lastRetiredShipError: string | undefined;
  readonly #pauses: number[] = [];
  readonly #retired = {
    commits: 0,
    ships: 0,
    bytesShipped: 0,
    shipFailures: 0,
    engine: {} as Record<string, number>,
  };

  applied(info: AppliedInfo): void {
    this.position = info.seq;
    if (info.kind === 'snapshot') this.restoredSnapshots++;
    else this.appliedSegments++;
  }

  readPause(ms: number): void {
    this.refreshes++;
    this.lastReadPauseMs = ms;
    if (ms > this.maxReadPauseMs) this.maxReadPauseMs = ms;
    this.#pauses.push(ms);
    if (this.#pauses.length > RECENT_PAUSES) this.#pauses.shift();
  }

  recentPauses(): readonly number[] {
    return [...this.#pauses];
  }

  /** Keeps a closed leader term's counters. */
  retire(c: {
    commits: number;
    ships: number;
    bytesShipped: number;
    shipFailures: number;
    lastShipError: string | undefined;
    engine: Readonly<Record<string, number>>;
  }): void {
    const r = this.#retired;
    r.shipFailures += c.shipFailures;
    this.#lastRetiredShipError = c.lastShipError;
    r.commits += c.commits;
    r.ships += c.ships;
    r.bytesShipped += c.bytesShipped;
    r.engine = sum(r.engine, c.engine);
  }

  snapshot(role: HaRole, live: (ShipCounters & { engine: Readonly<Record<string, number>> }) | undefined): HaStats {
    const r = this.#retired;
    return {
      role,
      commits: r.commits + (live?.commits ?? 0),
      ships: r.ships + (live?.ships ?? 0),
      bytesShipped: r.bytesShipped + (live?.bytesShipped ?? 0),
      lastShipError: live === undefined ? this.#lastRetiredShipError : live.lastShipError,
      shipFailures: r.shipFailures + (live?.shipFailures ?? 0),
      unshippedMs: live?.unshippedMs ?? 0,
      shipStalls: this.shipStalls,
      pullFailures: this.pullFailures,
      pullStalls: this.pullStalls,
      lastPullError: this.lastPullError,
      position: this.position,
      appliedSegments: this.appliedSegments,
      restoredSnapshots: this.restoredSnapshots,
      refreshes: this.refreshes,
      lastReadPauseMs: this.lastReadPauseMs,
      maxReadPauseMs: this.maxReadPauseMs,
      forwardedWrites: this.forwardedWrites,
      forwardRetries: this.forwardRetries,
      backpressureWaits: this.backpressureWaits,
      promotions: this.promotions,
      demotions: this.demotions,
      engine: live === undefined ? { ...r.engine } : sum(r.engine, live.engine),
    };
  }
}

function sum(a: Readonly<Record<string, number>>, b: Readonly<Record<string, number>>): Record<string, number> {
  const out: Record<string, number> = { ...a };
  for (const [k, v] of Object.entries(b)) out[k] = (out[k] ?? 0) + v;
  return out;
}
