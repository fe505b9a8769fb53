import type { EngineAdminOptions } from '@hadb/admin';
import { COORDINATOR_DEFAULTS, leaseTimingDefaults, type LeaseOptions } from '@hadb/core';
import { silentLogger, systemClock, type Clock, type ConfigChecker, type Logger } from '@hadb/io';
import { assertSafeDbName, assertSafePrefix } from '@hadb/storage';
import type { EngineFactory } from './engine.js';
import { checkConfig } from './errors.js';
import { type ForwardingLimits, resolveForwardingLimits } from './forwarding/limits.js';
import type { Durability } from './forwarding/protocol.js';

/** Lease settings: core's {@link LeaseOptions} (same names, same defaults) without the node's identity. */
export type HaLeaseOptions = Omit<LeaseOptions, 'instanceId' | 'address'>;

/** Options of `HaNode.open`. */
export interface HaNodeOptions<W, R, WR, RR> {
  /** Builds this node's database engine (see `engine.ts`). */
  readonly engine: EngineFactory<W, R, WR, RR>;
  /** Local database file. The leader writes it; a follower keeps its own copy here. */
  readonly path: string;
  /** Database name: lease scope and storage namespace (`[A-Za-z0-9][A-Za-z0-9._-]{0,127}`). */
  readonly name: string;
  /** Leader election (core's lease options and defaults). */
  readonly lease: HaLeaseOptions;
  /** This node's id, `[A-Za-z0-9][A-Za-z0-9._-]{0,127}`, stable across restarts. */
  readonly instanceId: string;
  /** Key prefix of the node registry, `""` or ending in `/`. Default `""`. */
  readonly prefix?: string | undefined;
  /**
   * URL other nodes forward writes to (`http://host:port`), stored in the lease. Default:
   * `http://<listen.host>:<bound port>`.
   */
  readonly address?: string | undefined;
  /** Where the forwarding server listens. Default `{ host: '127.0.0.1', port: 0 }`; `false` for none. */
  readonly listen?: { readonly host?: string | undefined; readonly port: number } | false | undefined;
  /** Bearer secret for forwarding (both directions). Never logged. */
  readonly secret?: string | undefined;
  /**
   * Limits of this node's forwarding server: body and answer size, concurrent requests,
   * connections, header and request timeouts (see {@link ForwardingLimits} for the defaults).
   */
  readonly forwarding?: ForwardingLimits | undefined;
  /** How often a follower polls storage for new changes, ms (core's `followerPullIntervalMs`). Default 1000. */
  readonly followerPullIntervalMs?: number | undefined;
  /** How often the leader ships while there are unshipped commits, ms. Default 1000. */
  readonly shipIntervalMs?: number | undefined;
  /**
   * Group commit: a `shipped` write starts a ship after waiting this long for others to join
   * (at once when no other write is running), instead of waiting for the next tick. Default
   * `false` (the tick only).
   */
  readonly groupCommitMs?: number | false | undefined;
  /** Default acknowledgement of writes. Default `'committed'`. */
  readonly durability?: Durability | undefined;
  /**
   * A fixed schedule of delays before each forwarding attempt (e.g. `[0, 100, 400, 1600]`). Default:
   * none — attempts back off (50 ms doubling, at most the lease poll interval) until
   * {@link forwardRetryBudgetMs} is spent.
   */
  readonly forwardRetryDelaysMs?: readonly number[] | undefined;
  /**
   * How long a forwarded call keeps retrying (re-reading the leader from the lease before every
   * attempt), ms. Must cover a failover: at least `ttlMs + skewMarginMs + pollIntervalMs` of the
   * lease. Default `2 × ttlMs + skewMarginMs + pollIntervalMs` (the takeover plus one TTL for the
   * new leader's catch-up). Ignored when `forwardRetryDelaysMs` is set.
   */
  readonly forwardRetryBudgetMs?: number | undefined;
  /**
   * Deadline of one ship (checkpoint and upload), ms: a ship still running then is aborted and
   * counts as failed. Default: `shipStallTimeoutMs`.
   */
  readonly shipTimeoutMs?: number | undefined;
  /**
   * A leader that has had unshipped commits for this long without a successful ship says so
   * (`HADB_HA_SHIP_STALLED` error event, `lastShipError`, logger.error), fails the writes waiting
   * for `shipped` with `HADB_HA_SHIP_FAILED`, and hands its lease to another node. Default
   * `shipIntervalMs + 2 × ttlMs`; must exceed `shipIntervalMs`. Raise it when single checkpoints
   * legitimately take longer to upload.
   */
  readonly shipStallTimeoutMs?: number | undefined;
  /**
   * A follower whose pull has not finished after this long says so (`HADB_HA_PULL_STALLED` error
   * event, stats, logger.error) and restarts its follower loop (the stuck request is aborted), ms.
   * Every applied step counts as progress. Default `followerPullIntervalMs + 6 × ttlMs`.
   */
  readonly pullTimeoutMs?: number | undefined;
  /** Timeout of one forwarded request, ms. Default 5000. */
  readonly forwardTimeoutMs?: number | undefined;
  /**
   * Deadline of each replication step the coordinator runs (core's `replicatorTimeoutMs`): the
   * restore and lineage start of a new leader, a follower's join-time pull and catch-up, the final
   * sync on leave, ms. A step past it ends the term (or the join) with `HADB_CORE_TIMEOUT`. Raise it
   * when a leader must first restore or snapshot a large database. Default 30000.
   */
  readonly replicatorTimeoutMs?: number | undefined;
  /** Time source. Default: the system clock. */
  readonly clock?: Clock | undefined;
  /** pino-compatible logger. Default: silent. */
  readonly logger?: Logger | undefined;
  /**
   * Starts an `@hadb/admin` server for this node once it has joined (`/metrics`, `/health`,
   * `/ready`, `/status`, the status page, webhooks), e.g. `{ port: 9464, token }`. Closed first on
   * `close()`. Default: none.
   */
  readonly admin?: EngineAdminOptions | undefined;
  /**
   * Cancels the open: it cuts the waits for the path lock and the instance claim, the preparation
   * of the local copy and the join (restore or catch-up from storage), and is checked between the
   * other steps. The open then rejects with `HADB_HA_ABORTED` (or the hadb error given as the
   * reason) once it has released all it took — the instance claim, the path lock, the engine and
   * the servers. Firing after the open resolved does nothing.
   */
  readonly signal?: AbortSignal | undefined;
}

/** Node options a database adapter (haduck, haqlite) takes with the same name and meaning as `HaNode.open`. */
const PASSED_NODE_OPTIONS = [
  'instanceId',
  'lease',
  'address',
  'listen',
  'secret',
  'forwarding',
  'durability',
  'forwardRetryDelaysMs',
  'forwardRetryBudgetMs',
  'shipTimeoutMs',
  'shipStallTimeoutMs',
  'pullTimeoutMs',
  'forwardTimeoutMs',
  'replicatorTimeoutMs',
  'clock',
  'logger',
  'admin',
  'signal',
] as const;

/** The part of an adapter's options it hands to its node unchanged (see {@link passedNodeOptions}). */
export type PassedNodeOptions = Pick<
  HaNodeOptions<unknown, unknown, unknown, unknown>,
  (typeof PASSED_NODE_OPTIONS)[number]
>;

/** Picks the {@link PassedNodeOptions} out of an adapter's options, for its `HaNode.open` call. */
export function passedNodeOptions(o: PassedNodeOptions): PassedNodeOptions {
  const out: Record<string, unknown> = {};
  for (const key of PASSED_NODE_OPTIONS) out[key] = o[key];
  return out as unknown as PassedNodeOptions;
}

/** Options after defaults and checks. */
export interface ResolvedHaNodeOptions<W, R, WR, RR> {
  readonly engine: EngineFactory<W, R, WR, RR>;
  readonly path: string;
  readonly name: string;
  readonly lease: HaLeaseOptions;
  readonly instanceId: string;
  readonly prefix: string;
  readonly address: string | undefined;
  readonly listen: { readonly host: string; readonly port: number } | false;
  readonly secret: string | undefined;
  readonly forwarding: Required<ForwardingLimits>;
  readonly followerPullIntervalMs: number;
  readonly shipIntervalMs: number;
  readonly groupCommitMs: number | false;
  readonly durability: Durability;
  readonly forwardRetryDelaysMs: readonly number[] | undefined;
  readonly forwardRetryBudgetMs: number;
  readonly forwardTimeoutMs: number;
  readonly shipTimeoutMs: number;
  readonly shipStallTimeoutMs: number;
  readonly pullTimeoutMs: number;
  readonly replicatorTimeoutMs: number;
  readonly clock: Clock;
  readonly logger: Logger;
  readonly admin: EngineAdminOptions | undefined;
}

/** Applies defaults and checks every option: `HADB_HA_INVALID_CONFIG` (or the storage key error for names). */
export function resolveHaNodeOptions<W, R, WR, RR>(
  o: HaNodeOptions<W, R, WR, RR>,
): ResolvedHaNodeOptions<W, R, WR, RR> {
  const check: ConfigChecker = checkConfig;
  check.require(typeof o.engine === 'function', 'engine must be an engine factory');
  check.string('path', o.path);
  assertSafeDbName(o.name);
  assertSafeDbName(o.instanceId);
  check.require(
    typeof o.lease === 'object' && o.lease !== null && o.lease.store !== undefined,
    'lease.store is required',
  );
  const prefix = o.prefix ?? '';
  assertSafePrefix(prefix);
  check.require(prefix === '' || prefix.endsWith('/'), 'prefix must be empty or end with "/"');
  const delays = o.forwardRetryDelaysMs;
  check.require(
    delays === undefined ||
      (Array.isArray(delays) &&
        delays.length > 0 &&
        delays.every((d) => typeof d === 'number' && Number.isFinite(d) && d >= 0)),
    'forwardRetryDelaysMs must be a non-empty list of non-negative numbers',
  );
  const positive = (name: string, value: number | undefined, fallback: number): number => {
    const v = check.number(name, value, { default: fallback });
    check.require(v > 0, `${name} must be a positive number of milliseconds, got ${v}`);
    return v;
  };
  const group = o.groupCommitMs ?? false;
  // Lease timing as core resolves it, the store's recommendation included (core checks the values).
  const timing = leaseTimingDefaults(o.lease.store);
  const ttl = o.lease.ttlMs ?? timing.ttlMs;
  const margin = o.lease.skewMarginMs ?? timing.skewMarginMs;
  const poll = o.lease.pollIntervalMs ?? timing.pollIntervalMs;
  const failoverMs = ttl + margin + poll;
  const budget = positive('forwardRetryBudgetMs', o.forwardRetryBudgetMs, failoverMs + ttl);
  check.require(
    delays !== undefined || budget >= failoverMs,
    `forwardRetryBudgetMs must cover a failover (ttlMs + skewMarginMs + pollIntervalMs = ${failoverMs} ms), got ${budget}`,
  );
  const shipIntervalMs = positive('shipIntervalMs', o.shipIntervalMs, 1000);
  const stall = positive('shipStallTimeoutMs', o.shipStallTimeoutMs, shipIntervalMs + 2 * ttl);
  check.require(
    stall > shipIntervalMs,
    `shipStallTimeoutMs must exceed shipIntervalMs (${shipIntervalMs} ms), got ${stall}`,
  );
  const pullEvery = positive('followerPullIntervalMs', o.followerPullIntervalMs, 1000);
  const pullTimeout = positive('pullTimeoutMs', o.pullTimeoutMs, pullEvery + 6 * ttl);
  check.require(
    pullTimeout > pullEvery,
    `pullTimeoutMs must exceed followerPullIntervalMs (${pullEvery} ms), got ${pullTimeout}`,
  );
  return {
    engine: o.engine,
    path: o.path,
    name: o.name,
    lease: o.lease,
    instanceId: o.instanceId,
    prefix,
    address: o.address,
    listen:
      o.listen === false
        ? false
        : {
            host: check.string('listen.host', o.listen?.host, '127.0.0.1'),
            port: check.int('listen.port', o.listen?.port, { min: 0, max: 65535, default: 0 }),
          },
    secret: o.secret,
    forwarding: resolveForwardingLimits(check, o.forwarding),
    followerPullIntervalMs: pullEvery,
    shipIntervalMs,
    groupCommitMs: group === false ? false : check.number('groupCommitMs', group, { min: 0 }),
    durability: check.oneOf('durability', o.durability, ['committed', 'shipped'] as const, 'committed'),
    forwardRetryDelaysMs: delays,
    forwardRetryBudgetMs: budget,
    forwardTimeoutMs: positive('forwardTimeoutMs', o.forwardTimeoutMs, 5000),
    shipTimeoutMs: positive('shipTimeoutMs', o.shipTimeoutMs, stall),
    shipStallTimeoutMs: stall,
    pullTimeoutMs: pullTimeout,
    replicatorTimeoutMs: positive(
      'replicatorTimeoutMs',
      o.replicatorTimeoutMs,
      COORDINATOR_DEFAULTS.replicatorTimeoutMs,
    ),
    clock: o.clock ?? systemClock,
    logger: o.logger ?? silentLogger,
    admin: o.admin,
  };
}
