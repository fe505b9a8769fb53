import type { LeaseStore, LeaseTimingRecommendation } from '@hadb/lease';
import { assertSafeDbName, assertSafePrefix } from '@hadb/storage';
import { configChecker, type ConfigChecker, silentLogger, systemClock, type Clock, type Logger } from '@hadb/io';
import { CoordinatorError } from './errors.js';
import type { FollowerBehavior } from './follower-behavior.js';
import type { NodeRegistry } from './node-registry.js';
import type { Replicator } from './replicator.js';

/**
 * Lease timing defaults for stores that recommend none (NATS, etcd, memory): a 5 s TTL renewed
 * every 2 s (two renewals fit before the holder fences itself), followers reading the record every
 * second, and the skew margin below; worst-case failover `TTL + margin + poll` = 7 s. A store may
 * recommend its own (`capabilities.recommendedTiming`, S3: TTL 20 s, see {@link leaseTimingDefaults}).
 */
export const LEASE_DEFAULTS = Object.freeze({
  ttlMs: 5000,
  renewIntervalMs: 2000,
  pollIntervalMs: 1000,
  /**
   * 1 s. The holder stops writing `margin` before its TTL runs out and a claimer waits `margin`
   * beyond it, so the two windows are `2 × margin` apart. Both are measured on each node's own
   * monotonic clock, so wall-clock offsets do not matter; what the margin absorbs is clock *rate*
   * difference: safety holds while `(TTL − m)/rate_holder < (TTL + m)/rate_claimer`, i.e. for a
   * relative rate error up to `m / TTL` (20 % at the defaults — far beyond real oscillator drift,
   * leaving room for VM time slewing). 1 s also keeps the deadline two renew intervals after a
   * renewal (`TTL − m = 4 s = 2 × 2 s`), so one lost renewal never fences a healthy leader, and
   * keeps failover near `TTL + m` (≈ 6 s).
   */
  skewMarginMs: 1000,
});

/** Coordinator defaults: pull every second, bound each replicator call at 30 s, no prefix, registry heartbeat every 10 s. */
export const COORDINATOR_DEFAULTS = Object.freeze({
  followerPullIntervalMs: 1000,
  replicatorTimeoutMs: 30_000,
  prefix: '',
  registryHeartbeatMs: 10_000,
});

/** Leader election settings. Without them the coordinator runs every database as leader (no HA). */
export interface LeaseOptions {
  /** The lease store (NATS, etcd, S3, memory...). */
  readonly store: LeaseStore;
  /**
   * This node's stable identity, written into the lease record and node registry. Must match
   * `[A-Za-z0-9][A-Za-z0-9._-]{0,127}`.
   */
  readonly instanceId: string;
  /** How other nodes reach this one (for write forwarding); written into the lease record. */
  readonly address: string;
  /**
   * Shared secret authenticating the address in the lease record (HMAC-SHA256 over database,
   * session, epoch and address, carried as a `#hadb-mac=` fragment). When set, a record whose
   * address does not verify is still honoured for leadership timing, but its address is never
   * used (`leaderAddress` is `undefined`): forged records cannot redirect writes or secrets. All
   * nodes of a cluster must share it. Never logged.
   */
  readonly addressKey?: string | undefined;
  /**
   * Lease time-to-live. Default: the store's `capabilities.recommendedTiming` (S3: 20000), else
   * 5000. Written to the record rounded up to whole seconds. Every timing option left unset takes
   * the store's recommendation (see {@link leaseTimingDefaults}); set them together when you
   * change the TTL of a store that recommends one.
   */
  readonly ttlMs?: number | undefined;
  /**
   * Interval between renewals while leading. Default: the store's recommendation (S3: 8000), else
   * 2000. Must be below `ttlMs − skewMarginMs`.
   */
  readonly renewIntervalMs?: number | undefined;
  /** How often followers read the lease record. Default: the store's recommendation (S3: 6000), else 1000. */
  readonly pollIntervalMs?: number | undefined;
  /**
   * Clock-skew margin (see {@link LEASE_DEFAULTS.skewMarginMs}). The holder fences itself at
   * `renewedAt + ttl − margin`; a claimer takes over only after seeing the same record for
   * `ttl + margin`. Default: the store's recommendation (S3: 4000), else 1000; must be below
   * `ttlMs / 2`.
   */
  readonly skewMarginMs?: number | undefined;
  /**
   * Timeout of a single lease-store request (read, claim, renewal, release). Default:
   * `renewIntervalMs`. Renewals are also cut off at the fence deadline, so a renewal that hangs
   * never keeps a term alive: it counts as failed and the term ends at its own deadline.
   */
  readonly requestTimeoutMs?: number | undefined;
  /**
   * Check this node's clock rate against the lease store's clock on every renewal and step down
   * when it is outside `skewMarginMs / ttlMs` (20 % at the defaults). Runs only with stores that
   * report server time (`capabilities.serverTimeResolutionMs`: NATS, S3). See the README's "Clock
   * tolerance". Default true.
   */
  readonly clockRateCheck?: boolean | undefined;
}

/** Options of `new Coordinator(...)`. */
export interface CoordinatorOptions {
  readonly replicator: Replicator;
  readonly followerBehavior: FollowerBehavior;
  /** Leader election; omit to make every joined database a leader without fencing (single node). */
  readonly lease?: LeaseOptions | undefined;
  /** Read-replica registry (followers advertise themselves); optional. */
  readonly nodeRegistry?: NodeRegistry | undefined;
  /** Key prefix for the node registry, `""` or ending in `/`. Default `""`. */
  readonly prefix?: string | undefined;
  /** `'client'` joins every database read-only: it follows but never claims the lease. */
  readonly requestedRole?: 'client' | undefined;
  /** Poll interval handed to `FollowerBehavior.runFollowerLoop`. Default 1000. */
  readonly followerPullIntervalMs?: number | undefined;
  /** Bound on every replicator/follower call (add, pull, catch-up, remove, sync). Default 30000. */
  readonly replicatorTimeoutMs?: number | undefined;
  /** How often a follower refreshes its node-registry entry. Default 10000. */
  readonly registryHeartbeatMs?: number | undefined;
  /** Time source. Default {@link systemClock}; pass a virtual clock to simulate. */
  readonly clock?: Clock | undefined;
  /** pino-compatible logger. Default: silent. */
  readonly logger?: Logger | undefined;
  /** Generates session ids and nonces. Default `crypto.randomUUID`; replace only for deterministic tests. */
  readonly newId?: (() => string) | undefined;
}

/** Lease timing after defaults and validation. */
export interface LeaseTiming {
  readonly ttlMs: number;
  readonly ttlSecs: number;
  readonly renewIntervalMs: number;
  readonly pollIntervalMs: number;
  readonly skewMarginMs: number;
  readonly requestTimeoutMs: number;
  /** Whether leaders check their clock rate (see {@link LeaseOptions.clockRateCheck}). */
  readonly clockRateCheck: boolean;
  /** Largest relative clock-rate error a leader accepts: `skewMarginMs / ttlMs`. */
  readonly clockRateTolerance: number;
}

/** Options after defaults and validation. */
export interface ResolvedOptions {
  readonly replicator: Replicator;
  readonly followerBehavior: FollowerBehavior;
  readonly lease:
    | (LeaseTiming & { store: LeaseStore; instanceId: string; address: string; addressKey?: string | undefined })
    | undefined;
  readonly nodeRegistry: NodeRegistry | undefined;
  readonly prefix: string;
  readonly requestedRole: 'client' | undefined;
  readonly followerPullIntervalMs: number;
  readonly replicatorTimeoutMs: number;
  readonly registryHeartbeatMs: number;
  readonly clock: Clock;
  readonly logger: Logger;
  readonly newId: () => string;
}

const check: ConfigChecker = configChecker((message) => new CoordinatorError('HADB_CORE_INVALID_CONFIG', message));

function positive(name: string, value: number): number {
  check.require(
    typeof value === 'number' && Number.isFinite(value) && value > 0,
    `${name} must be a positive finite number of milliseconds`,
  );
  return value;
}

/**
 * The timing used for every lease option a user leaves unset: `store`'s
 * `capabilities.recommendedTiming` when it states one, else {@link LEASE_DEFAULTS}.
 */
export function leaseTimingDefaults(store?: LeaseStore | undefined): LeaseTimingRecommendation {
  return store?.capabilities?.recommendedTiming ?? LEASE_DEFAULTS;
}

/**
 * Applies defaults (the store's recommended timing, see {@link leaseTimingDefaults}) and checks
 * the timing rules; throws `HADB_CORE_INVALID_CONFIG`. Explicit options always win; the rules do
 * not depend on where a value came from.
 */
export function resolveLeaseTiming(
  lease: Omit<LeaseOptions, 'store' | 'instanceId' | 'address' | 'addressKey'> & {
    readonly store?: LeaseStore | undefined;
  },
): LeaseTiming {
  const defaults = leaseTimingDefaults(lease.store);
  // Names the values taken from a store's recommendation in errors (the user never wrote them).
  const fromStore = lease.store?.capabilities?.recommendedTiming === undefined ? [] : unsetTimingOptions(lease);
  const hint =
    fromStore.length === 0
      ? ''
      : ` (${fromStore.map((k) => `${k} ${defaults[k]}`).join(', ')} from the ${lease.store?.name} store's recommended timing: set them too)`;
  const ttlMs = positive('ttlMs', lease.ttlMs ?? defaults.ttlMs);
  const renewIntervalMs = positive('renewIntervalMs', lease.renewIntervalMs ?? defaults.renewIntervalMs);
  const pollIntervalMs = positive('pollIntervalMs', lease.pollIntervalMs ?? defaults.pollIntervalMs);
  const skewMarginMs = lease.skewMarginMs ?? defaults.skewMarginMs;
  check.require(
    Number.isFinite(skewMarginMs) && skewMarginMs >= 0 && skewMarginMs < ttlMs / 2,
    `skewMarginMs must be >= 0 and below ttlMs / 2${hint}`,
  );
  check.require(
    renewIntervalMs < ttlMs - skewMarginMs,
    `renewIntervalMs must be below ttlMs - skewMarginMs (the leader would fence itself between renewals)${hint}`,
  );
  const requestTimeoutMs = positive('requestTimeoutMs', lease.requestTimeoutMs ?? renewIntervalMs);
  return {
    ttlMs,
    ttlSecs: Math.ceil(ttlMs / 1000),
    renewIntervalMs,
    pollIntervalMs,
    skewMarginMs,
    requestTimeoutMs,
    clockRateCheck: check.bool('clockRateCheck', lease.clockRateCheck, true),
    clockRateTolerance: skewMarginMs / ttlMs,
  };
}

function unsetTimingOptions(lease: Partial<LeaseTimingRecommendation>): (keyof LeaseTimingRecommendation)[] {
  const keys = ['ttlMs', 'renewIntervalMs', 'pollIntervalMs', 'skewMarginMs'] as const;
  return keys.filter((k) => lease[k] === undefined);
}

/** Applies defaults and validates every option. */
export function resolveOptions(options: CoordinatorOptions): ResolvedOptions {
  const prefix = options.prefix ?? COORDINATOR_DEFAULTS.prefix;
  assertSafePrefix(prefix);
  check.require(prefix === '' || prefix.endsWith('/'), 'prefix must be empty or end with "/"');
  const lease = options.lease;
  if (lease !== undefined) assertSafeDbName(lease.instanceId);
  return {
    replicator: options.replicator,
    followerBehavior: options.followerBehavior,
    lease:
      lease === undefined
        ? undefined
        : {
            ...resolveLeaseTiming(lease),
            store: lease.store,
            instanceId: lease.instanceId,
            address: lease.address,
            addressKey: lease.addressKey,
          },
    nodeRegistry: options.nodeRegistry,
    prefix,
    requestedRole: options.requestedRole,
    followerPullIntervalMs: positive(
      'followerPullIntervalMs',
      options.followerPullIntervalMs ?? COORDINATOR_DEFAULTS.followerPullIntervalMs,
    ),
    replicatorTimeoutMs: positive(
      'replicatorTimeoutMs',
      options.replicatorTimeoutMs ?? COORDINATOR_DEFAULTS.replicatorTimeoutMs,
    ),
    registryHeartbeatMs: positive(
      'registryHeartbeatMs',
      options.registryHeartbeatMs ?? COORDINATOR_DEFAULTS.registryHeartbeatMs,
    ),
    clock: options.clock ?? systemClock,
    logger: options.logger ?? silentLogger,
    newId: options.newId ?? (() => crypto.randomUUID()),
  };
}
