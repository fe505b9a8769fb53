import { basename, extname } from 'node:path';
import type { Logger } from '@hadb/core';
import type { LeaseStore } from '@hadb/lease';
import { assertSafeDbName, assertSafePrefix, type StorageBackend } from '@hadb/storage';
import type { Durability } from './forwarding/protocol.js';
import { DEFAULT_FORWARD_DELAYS_MS } from './forwarding/client.js';

/** Options of `HaDuck.open`. */
export interface HaDuckOptions {
  /** Local DuckDB file. The leader writes it; a follower keeps its own copy here. */
  readonly path: string;
  /** Database name: lease scope and storage namespace. Default: the file name without extension. */
  readonly name?: string | undefined;
  /** Where checkpoints are shipped (needs atomic conditional writes). */
  readonly storage: StorageBackend;
  /** Leader election. */
  readonly lease: LeaseStore;
  /** Key prefix in storage, `""` or ending in `/`. Default `"haduck/"`. */
  readonly prefix?: string | undefined;
  /** This node's id, `[A-Za-z0-9][A-Za-z0-9._-]{0,127}`, stable across restarts. */
  readonly instanceId: string;
  /**
   * URL other nodes forward writes to (`http://host:port`), stored in the lease. Default:
   * `http://<listen.host>:<bound port>`.
   */
  readonly address?: string | undefined;
  /** Where the forwarding server listens. Default `{ host: '127.0.0.1', port: 0 }`; `false` for none. */
  readonly listen?: { readonly host?: string | undefined; readonly port: number } | false | undefined;
  /** Bearer secret for forwarding (both directions). Never logged. */
  readonly secret?: string | undefined;
  /** Lease time-to-live, ms. Default 5000. */
  readonly leaseTtlMs?: number | undefined;
  /** Lease renewal interval, ms. Default `leaseTtlMs × 0.4`. */
  readonly leaseRenewIntervalMs?: number | undefined;
  /** How often followers read the lease, ms. Default `leaseTtlMs / 5`. */
  readonly leasePollIntervalMs?: number | undefined;
  /** Clock-skew margin, ms. Default `min(1000, leaseTtlMs / 5)`. */
  readonly skewMarginMs?: number | undefined;
  /** How often a follower polls storage for new checkpoints, ms. Default 250. */
  readonly pullIntervalMs?: number | undefined;
  /** How often the leader checkpoints and ships while there are unshipped commits, ms. Default 1000. */
  readonly checkpointIntervalMs?: number | undefined;
  /** Default acknowledgement of writes. Default `'committed'`. */
  readonly durability?: Durability | undefined;
  /** Delays before each forwarding attempt. Default `[0, 100, 400, 1600]`. */
  readonly forwardRetryDelaysMs?: readonly number[] | undefined;
  /** Timeout of one forwarded request, ms. Default 5000. */
  readonly forwardTimeoutMs?: number | undefined;
  /** Extra DuckDB settings for both roles (e.g. `{ threads: '2', memory_limit: '1GB' }`). */
  readonly duckdbConfig?: Readonly<Record<string, string>> | undefined;
  /** pino-compatible logger. Default: silent. */
  readonly logger?: Logger | undefined;
}

/** Options after defaults. */
export interface ResolvedHaDuckOptions extends Required<Omit<HaDuckOptions, 'address' | 'secret' | 'logger' | 'listen'>> {
  readonly address: string | undefined;
  readonly secret: string | undefined;
  readonly logger: Logger | undefined;
  readonly listen: { readonly host: string; readonly port: number } | false;
}

function ms(name: string, value: number | undefined, fallback: number): number {
  const v = value ?? fallback;
  if (!Number.isFinite(v) || v <= 0) throw new TypeError(`${name} must be a positive number of milliseconds`);
  return v;
}

/** Applies defaults and validates. Throws `TypeError` or `StorageError(HADB_STORAGE_INVALID_KEY)`. */
export function resolveOptions(o: HaDuckOptions): ResolvedHaDuckOptions {
  const name = o.name ?? basename(o.path, extname(o.path));
  assertSafeDbName(name);
  assertSafeDbName(o.instanceId);
  const prefix = o.prefix ?? 'haduck/';
  assertSafePrefix(prefix);
  if (prefix !== '' && !prefix.endsWith('/')) throw new TypeError('prefix must be empty or end with "/"');
  const leaseTtlMs = ms('leaseTtlMs', o.leaseTtlMs, 5000);
  const durability = o.durability ?? 'committed';
  if (durability !== 'committed' && durability !== 'shipped') throw new TypeError('durability must be "committed" or "shipped"');
  const delays = o.forwardRetryDelaysMs ?? DEFAULT_FORWARD_DELAYS_MS;
  if (delays.length === 0 || delays.some((d) => !Number.isFinite(d) || d < 0)) throw new TypeError('forwardRetryDelaysMs must be non-negative numbers');
  return {
    path: o.path,
    name,
    storage: o.storage,
    lease: o.lease,
    prefix,
    instanceId: o.instanceId,
    address: o.address,
    listen: o.listen === false ? false : { host: o.listen?.host ?? '127.0.0.1', port: o.listen?.port ?? 0 },
    secret: o.secret,
    leaseTtlMs,
    leaseRenewIntervalMs: ms('leaseRenewIntervalMs', o.leaseRenewIntervalMs, leaseTtlMs * 0.4),
    leasePollIntervalMs: ms('leasePollIntervalMs', o.leasePollIntervalMs, leaseTtlMs / 5),
    skewMarginMs: o.skewMarginMs ?? Math.min(1000, leaseTtlMs / 5),
    pullIntervalMs: ms('pullIntervalMs', o.pullIntervalMs, 250),
    checkpointIntervalMs: ms('checkpointIntervalMs', o.checkpointIntervalMs, 1000),
    durability,
    forwardRetryDelaysMs: delays,
    forwardTimeoutMs: ms('forwardTimeoutMs', o.forwardTimeoutMs, 5000),
    duckdbConfig: o.duckdbConfig ?? {},
    logger: o.logger,
  };
}
