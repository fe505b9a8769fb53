import { basename, extname } from 'node:path';
import type { Durability, EngineAdminOptions, ForwardingLimits, HaLeaseOptions } from '@hadb/ha';
import type { Clock, Logger } from '@hadb/io';
import type { StorageBackend } from '@hadb/storage';
import { checkConfig } from './errors.js';

/**
 * Default group-commit window of `shipped` writes, ms: none — such a write starts a ship at once,
 * and writes arriving during that upload share the next one.
 */
export const DEFAULT_GROUP_COMMIT_MS = 0;

/** Options of `HaQLite.open`. */
export interface HaQLiteOptions {
  /** Local SQLite file. The leader writes it; a follower keeps its replica here. */
  readonly path: string;
  /** Database name: lease scope and storage namespace. Default: the file name without extension. */
  readonly name?: string | undefined;
  /** Where changesets are shipped (needs atomic conditional writes). */
  readonly storage: StorageBackend;
  /**
   * Leader election: core's lease options, same names and defaults (`store`; `ttlMs` 5000,
   * `renewIntervalMs` 2000, `pollIntervalMs` 1000, `skewMarginMs` 1000). A shorter TTL needs a
   * shorter renew interval and margin (`renewIntervalMs < ttlMs − skewMarginMs`).
   */
  readonly lease: HaLeaseOptions;
  /** Key prefix in storage, `""` or ending in `/`. Default `"haqlite/"`. */
  readonly prefix?: string | undefined;
  /** This node's id, `[A-Za-z0-9][A-Za-z0-9._-]{0,127}`, stable across restarts. */
  readonly instanceId: string;
  /** URL other nodes forward writes to (`http://host:port`). Default: `http://<listen.host>:<bound port>`. */
  readonly address?: string | undefined;
  /** Where the forwarding server listens. Default `{ host: '127.0.0.1', port: 0 }`; `false` for none. */
  readonly listen?: { readonly host?: string | undefined; readonly port: number } | false | undefined;
  /** Bearer secret for forwarding (both directions). Never logged. */
  readonly secret?: string | undefined;
  /**
   * Limits of this node's forwarding server (`@hadb/ha`'s `ForwardingLimits`): `maxBodyBytes`
   * (16 MiB), `maxResponseBytes` (64 MiB), `maxConcurrentRequests` (32, then 503),
   * `maxConnections` (256), `headersTimeoutMs` (10000), `requestTimeoutMs` (30000).
   */
  readonly forwarding?: ForwardingLimits | undefined;
  /** How often a follower polls storage for new changesets, ms. Default 250. */
  readonly followerPullIntervalMs?: number | undefined;
  /** How often the leader ships while there are unshipped commits, ms. Default 1000. */
  readonly shipIntervalMs?: number | undefined;
  /**
   * Group commit for `shipped` writes: such a write starts a ship after waiting this long for
   * others to join. Default {@link DEFAULT_GROUP_COMMIT_MS} (writes arriving during an upload
   * share the next one). `false`: the `shipIntervalMs` tick only.
   */
  readonly groupCommitMs?: number | false | undefined;
  /** Default acknowledgement of writes: `committed` (local commit) or `shipped` (durable in storage). Default `'committed'`. */
  readonly durability?: Durability | undefined;
  /**
   * A fixed schedule of delays before each forwarding attempt. Default: none — attempts back off
   * until `forwardRetryBudgetMs` is spent.
   */
  readonly forwardRetryDelaysMs?: readonly number[] | undefined;
  /**
   * How long a forwarded write keeps retrying (re-reading the leader before every attempt), ms. Must
   * cover a failover (`ttlMs + skewMarginMs + pollIntervalMs`). Default `2 × ttlMs + skewMarginMs +
   * pollIntervalMs`. Ignored when `forwardRetryDelaysMs` is set.
   */
  readonly forwardRetryBudgetMs?: number | undefined;
  /** Deadline of one ship (checkpoint and upload), ms. Default `shipStallTimeoutMs`. */
  readonly shipTimeoutMs?: number | undefined;
  /**
   * A leader with unshipped commits and no successful ship for this long reports
   * `HADB_HA_SHIP_STALLED` and hands its lease off, ms. Default `shipIntervalMs + 2 × ttlMs`.
   */
  readonly shipStallTimeoutMs?: number | undefined;
  /**
   * A follower pull unfinished after this long reports `HADB_HA_PULL_STALLED` and the follower
   * loop restarts, ms. Default `followerPullIntervalMs + 6 × ttlMs`.
   */
  readonly pullTimeoutMs?: number | undefined;
  /** Timeout of one forwarded request, ms. Default 5000. */
  readonly forwardTimeoutMs?: number | undefined;
  /** Longest wait for a SQLite lock, ms. Default 5000. */
  readonly busyTimeoutMs?: number | undefined;
  /** Time source. Default: the system clock. */
  readonly clock?: Clock | undefined;
  /** pino-compatible logger. Default: silent. */
  readonly logger?: Logger | undefined;
  /**
   * Starts an `@hadb/admin` server for this node once it has joined (`/metrics`, `/health`,
   * `/ready`, `/status`, the status page, webhooks), e.g. `{ port: 9464, token }`. Default: none.
   */
  readonly admin?: EngineAdminOptions | undefined;
}

/** The SQLite-specific options after defaults (the rest is checked by `@hadb/ha`). */
export interface ResolvedSqliteOptions {
  readonly name: string;
  readonly prefix: string;
  readonly busyTimeoutMs: number;
}

/** Applies haqlite's defaults; bad values throw `HADB_HAQLITE_INVALID_CONFIG` (names: the storage key error). */
export function resolveSqliteOptions(o: HaQLiteOptions): ResolvedSqliteOptions {
  checkConfig.require(typeof o === 'object' && o !== null, 'options are required');
  checkConfig.string('path', o.path);
  checkConfig.require(o.storage !== undefined && o.storage !== null, 'storage is required');
  return {
    name: o.name ?? basename(o.path, extname(o.path)),
    prefix: o.prefix ?? 'haqlite/',
    busyTimeoutMs: checkConfig.int('busyTimeoutMs', o.busyTimeoutMs, { min: 0, default: 5000 }),
  };
}
