import type { EngineAdminOptions } from '@hadb/admin';
import type { LeaseOptions } from '@hadb/core';
import { silentLogger, systemClock, type Clock, type ConfigChecker, type Logger } from '@hadb/io';
import { assertSafeDbName, assertSafePrefix } from '@hadb/storage';
import type { EngineFactory } from './engine.js';
import { checkConfig } from './errors.js';
import { type ForwardingLimits, resolveForwardingLimits } from './forwarding/limits.js';
import { DEFAULT_FORWARD_DELAYS_MS, type Durability } from './forwarding/protocol.js';

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
   * Group commit: a `shipped` write starts a ship after waiting this long for others to join,
   * instead of waiting for the next tick. Default `false` (the tick only).
   */
  readonly groupCommitMs?: number | false | undefined;
  /** Default acknowledgement of writes. Default `'committed'`. */
  readonly durability?: Durability | undefined;
  /** Delays before each forwarding attempt. Default `[0, 100, 400, 1600]`. */
  readonly forwardRetryDelaysMs?: readonly number[] | undefined;
  /** Timeout of one forwarded request, ms. Default 5000. */
  readonly forwardTimeoutMs?: number | undefined;
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
  readonly forwardRetryDelaysMs: readonly number[];
  readonly forwardTimeoutMs: number;
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
  const delays = o.forwardRetryDelaysMs ?? DEFAULT_FORWARD_DELAYS_MS;
  check.require(
    Array.isArray(delays) &&
      delays.length > 0 &&
      delays.every((d) => typeof d === 'number' && Number.isFinite(d) && d >= 0),
    'forwardRetryDelaysMs must be a non-empty list of non-negative numbers',
  );
  const positive = (name: string, value: number | undefined, fallback: number): number => {
    const v = check.number(name, value, { default: fallback });
    check.require(v > 0, `${name} must be a positive number of milliseconds, got ${v}`);
    return v;
  };
  const group = o.groupCommitMs ?? false;
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
    followerPullIntervalMs: positive('followerPullIntervalMs', o.followerPullIntervalMs, 1000),
    shipIntervalMs: positive('shipIntervalMs', o.shipIntervalMs, 1000),
    groupCommitMs: group === false ? false : check.number('groupCommitMs', group, { min: 0 }),
    durability: check.oneOf('durability', o.durability, ['committed', 'shipped'] as const, 'committed'),
    forwardRetryDelaysMs: delays,
    forwardTimeoutMs: positive('forwardTimeoutMs', o.forwardTimeoutMs, 5000),
    clock: o.clock ?? systemClock,
    logger: o.logger ?? silentLogger,
    admin: o.admin,
  };
}
