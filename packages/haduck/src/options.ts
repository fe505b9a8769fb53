import { basename, extname } from 'node:path';
import { DuckblockReplicator, isDuckblockError, type RetentionPolicy, type SnapshotPolicy } from '@hadb/duckblock';
import type { PassedNodeOptions } from '@hadb/ha';
import type { StorageBackend } from '@hadb/storage';
import { HaDuckError, checkConfig } from './errors.js';
import { DEFAULT_WRITE_CONNECTIONS } from './duck-leader.js';
import { DEFAULT_DUCK_LIMITS, type DuckLimits } from './sql.js';
import { DuckSharedInstance } from './shared-instance.js';

/** Default group-commit window of `shipped` writes, ms. */
export const DEFAULT_GROUP_COMMIT_MS = 2;

/** Options of `HaDuck.open`. */
export interface HaDuckOptions extends PassedNodeOptions {
  /** Local DuckDB file. The leader writes it; a follower keeps its own copy here. */
  readonly path: string;
  /** Database name: lease scope and storage namespace. Default: the file name without extension. */
  readonly name?: string | undefined;
  /** Where checkpoints are shipped (needs atomic conditional writes). */
  readonly storage: StorageBackend;
  /** Key prefix in storage, `""` or ending in `/`. Default `"haduck/"`. */
  readonly prefix?: string | undefined;
  /** How often a follower polls storage for new checkpoints, ms. Default 250. */
  readonly followerPullIntervalMs?: number | undefined;
  /** How often the leader checkpoints and ships while there are unshipped commits, ms. Default 1000. */
  readonly checkpointIntervalMs?: number | undefined;
  /**
   * Group commit for `shipped` writes: such a write starts a checkpoint after waiting this long
   * for others to join, instead of waiting for the next `checkpointIntervalMs` tick (writes
   * arriving during a checkpoint share the next one). Default {@link DEFAULT_GROUP_COMMIT_MS}.
   * `false`: the tick only.
   */
  readonly groupCommitMs?: number | false | undefined;
  /**
   * Extra DuckDB settings for both roles (e.g. `{ threads: '1', memory_limit: '1GB' }`), applied
   * when this database's instance is created. DuckDB's defaults otherwise: `threads` = cores (one
   * worker thread per core beyond the first, per database). Not with `sharedInstance` (the
   * shared instance has its own).
   */
  readonly duckdbConfig?: Readonly<Record<string, string>> | undefined;
  /**
   * Attach this database to a {@link DuckSharedInstance} (one DuckDB instance for several
   * databases of this process) instead of opening instances of its own: the leader attaches the
   * file read-write, a follower read-only (again after every applied checkpoint). Saves 60–70 %
   * of the memory an instance of its own costs per database, and its threads.
   * **Only for databases that trust each other**: SQL through one can read and write the others
   * (see {@link DuckSharedInstance}). Default: none (each database has its own instance).
   */
  readonly sharedInstance?: DuckSharedInstance | undefined;
  /**
   * The leader's per-request limits, for local and forwarded requests alike: statements per
   * `execute()` script or `batch()` (`maxStatements`, default 1000), rows per `query()`
   * (`maxResultRows`, default 100000), and `statementTimeoutMs` (default 30000) after which a
   * request is interrupted and rolled back.
   */
  readonly limits?: Partial<DuckLimits> | undefined;
  /**
   * When the leader writes a full snapshot (duckblock's policy; any condition met triggers one):
   * `intervalMs` (default 3,600,000), `everySegments` (default 0 = off), `afterFileSizes`
   * (default 1: the bytes shipped since the last snapshot reach the file size) with its floor
   * `minBytes` (default 64 MiB: whole 256 KiB blocks ship for every commit, so a small file would
   * otherwise trip it every few commits), and `minIntervalMs` (default 60,000) between
   * policy snapshots. Checked at `open`.
   */
  readonly snapshot?: SnapshotPolicy | undefined;
  /**
   * What storage keeps after each snapshot (duckblock's policy): `keepSnapshots` (default 2) and
   * the segments after the oldest kept one; `enabled: false` keeps everything. Checked at `open`.
   */
  readonly retention?: RetentionPolicy | undefined;
  /**
   * Set-aside copies of the local file kept (`<path>.diverged-<ms>`, made when the file holds
   * changes that were never shipped): the newest this many stay, older ones are deleted and each
   * deletion is logged. Integer ≥ 1, default 2.
   */
  readonly keepSetAside?: number | undefined;
  /**
   * Leader: DuckDB connections that run `execute`/`batch` writes side by side (a write that
   * conflicts with a concurrent one is rolled back and re-run alone). Default 8; 1 runs every write
   * in turn.
   */
  readonly writeConnections?: number | undefined;
}

/** The DuckDB-specific options after defaults (the rest is checked by `@hadb/ha`). */
export interface ResolvedDuckOptions {
  readonly name: string;
  readonly prefix: string;
  readonly duckdbConfig: Readonly<Record<string, string>>;
  readonly sharedInstance: DuckSharedInstance | undefined;
  readonly limits: DuckLimits;
  readonly keepSetAside: number;
  readonly writeConnections: number;
}

/** Applies haduck's defaults; bad values throw `HADB_HADUCK_INVALID_CONFIG` (names: the storage key error). */
export function resolveDuckOptions(o: HaDuckOptions): ResolvedDuckOptions {
  checkConfig.string('path', o.path);
  checkConfig.require(o.storage !== undefined && o.storage !== null, 'storage is required');
  const duckdbConfig = o.duckdbConfig ?? {};
  checkConfig.require(
    typeof duckdbConfig === 'object' && Object.values(duckdbConfig).every((v) => typeof v === 'string'),
    'duckdbConfig must map setting names to strings',
  );
  const shared = o.sharedInstance;
  checkConfig.require(
    shared === undefined || shared instanceof DuckSharedInstance,
    'sharedInstance must be a DuckSharedInstance',
  );
  checkConfig.require(
    shared === undefined || Object.keys(duckdbConfig).length === 0,
    'duckdbConfig cannot be combined with sharedInstance (set DuckDB settings on the shared instance)',
  );
  const l = o.limits ?? {};
  const limit = (name: keyof DuckLimits): number => {
    const v = l[name] ?? DEFAULT_DUCK_LIMITS[name];
    checkConfig.require(Number.isSafeInteger(v) && v >= 1, `limits.${name} must be a positive integer`);
    return v;
  };
  const limits: DuckLimits = {
    maxStatements: limit('maxStatements'),
    maxResultRows: limit('maxResultRows'),
    statementTimeoutMs: limit('statementTimeoutMs'),
  };
  const keepSetAside = checkConfig.int('keepSetAside', o.keepSetAside, { min: 1, default: 2 });
  const writeConnections = checkConfig.int('writeConnections', o.writeConnections, {
    min: 1,
    default: DEFAULT_WRITE_CONNECTIONS,
  });
  try {
    // duckblock checks its own policies (no I/O): report a bad value as haduck's.
    new DuckblockReplicator({ storage: o.storage, snapshot: o.snapshot, retention: o.retention });
  } catch (err) {
    if (isDuckblockError(err, 'HADB_DUCKBLOCK_INVALID_CONFIG'))
      throw new HaDuckError('HADB_HADUCK_INVALID_CONFIG', err.message, { cause: err });
    throw err;
  }
  return {
    name: o.name ?? basename(o.path, extname(o.path)),
    prefix: o.prefix ?? 'haduck/',
    duckdbConfig,
    sharedInstance: shared,
    limits,
    keepSetAside,
    writeConnections,
  };
}
