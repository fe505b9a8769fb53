import type { EngineAdminOptions } from '@hadb/admin';
import { configChecker, systemClock, silentLogger, type Clock, type ConfigChecker, type Logger } from '@hadb/io';
import type { StorageBackend } from '@hadb/storage';
import { configError } from './errors.js';
import type { WalstreamEvent } from './events.js';

/** Checkpoint policy. walstream owns checkpointing; it never runs RESTART. */
export interface CheckpointOptions {
  /** PASSIVE checkpoint once the WAL holds at least this many frames. Default 1,000. */
  readonly minPages?: number | undefined;
  /** PASSIVE checkpoint at least this often while the WAL is non-empty (ms; 0 = off). Default 60,000. */
  readonly intervalMs?: number | undefined;
  /** TRUNCATE checkpoint (the emergency brake; blocks writers briefly) at this many frames (0 = off). Default 121,359. */
  readonly truncatePages?: number | undefined;
}

/** Snapshot policy (a snapshot is also taken whenever a new lineage starts). */
export interface SnapshotPolicy {
  /** Snapshot when the last one is this old (ms; 0 = off). Default 86,400,000 (24 h). */
  readonly intervalMs?: number | undefined;
  /** Snapshot after this many incrementals (0 = off). Default 0. */
  readonly everyChangesets?: number | undefined;
  /** Snapshot when no change was shipped for this long and incrementals exist since the last one (ms; 0 = off). Default 0. */
  readonly idleMs?: number | undefined;
}

/** Options of one replicated database (per-database overrides of {@link WalstreamOptions}). */
export interface DatabaseOptions {
  /** Name of the database in storage keys (`{prefix}{name}/…`). Default: the file's base name. */
  readonly name?: string | undefined;
  /** How often the background loop looks for new commits (ms). Default 1,000. */
  readonly syncIntervalMs?: number | undefined;
  readonly checkpoint?: CheckpointOptions | undefined;
  readonly snapshot?: SnapshotPolicy | undefined;
  /** A changeset is cut at a commit once it holds this many bytes of pages. Default 64 MiB. */
  readonly maxChangesetBytes?: number | undefined;
  /** Deadline of one upload (ms). Default 60,000. */
  readonly uploadTimeoutMs?: number | undefined;
  /** Run the background loop. Default true; with false, call `sync()` / `checkpoint()` yourself. */
  readonly autoSync?: boolean | undefined;
}

/** Options of {@link Walstream.open}. */
export interface WalstreamOptions extends Omit<DatabaseOptions, 'name'> {
  readonly storage: StorageBackend;
  /** Key prefix, concatenated verbatim (give the trailing `/`). Default `''`. */
  readonly prefix?: string | undefined;
  /** Uploads in flight across every database. Default 4. */
  readonly uploadConcurrency?: number | undefined;
  /**
   * Hold the databases' SQLite connections, read their WALs and run their checkpoints on a worker
   * thread (one per `Walstream`), so an application writing on its own thread keeps its rate.
   * `false`: on the caller's thread — each checkpoint then runs while that thread's code waits,
   * which paces a writer on it to what replication keeps up with. Default `true`.
   */
  readonly walThread?: boolean | undefined;
  readonly clock?: Clock | undefined;
  readonly logger?: Logger | undefined;
  /**
   * This process's name in admin status, metrics (`node` label) and events (see
   * {@link Walstream.adminSource}). Default: the host name; `admin.nodeId` overrides it.
   */
  readonly nodeId?: string | undefined;
  /** Progress and error events of every database. */
  readonly onEvent?: ((event: WalstreamEvent) => void) | undefined;
  /**
   * Starts an `@hadb/admin` server for this process (`/metrics`, `/health`, `/ready`, `/status`,
   * a status page, webhooks), e.g. `{ port: 9464, token }`; see {@link WalstreamAdminOptions}.
   * Default: none.
   */
  readonly admin?: WalstreamAdminOptions | undefined;
}

/** The `admin` option: `@hadb/admin`'s server options plus the name this process reports. */
export interface WalstreamAdminOptions extends EngineAdminOptions {
  /** The `node` label and status-page name. Default: the host name. */
  readonly nodeId?: string | undefined;
}

/** Options after checking, with defaults. */
export interface ResolvedDatabaseOptions {
  readonly syncIntervalMs: number;
  readonly checkpoint: Required<{ [K in keyof CheckpointOptions]-?: number }>;
  readonly snapshot: Required<{ [K in keyof SnapshotPolicy]-?: number }>;
  readonly maxChangesetBytes: number;
  readonly uploadTimeoutMs: number;
  readonly autoSync: boolean;
}

/** Shared settings after checking. */
export interface ResolvedShared {
  readonly storage: StorageBackend;
  readonly prefix: string;
  readonly uploadConcurrency: number;
  readonly walThread: boolean;
  readonly clock: Clock;
  readonly logger: Logger;
  readonly nodeId: string | undefined;
  readonly onEvent: (event: WalstreamEvent) => void;
}

const check: ConfigChecker = configChecker(configError);

/** Checks the shared options (throws `HADB_WALSTREAM_INVALID_CONFIG`). */
export function resolveShared(options: WalstreamOptions): ResolvedShared {
  if (typeof options !== 'object' || options === null) check.fail('options are required');
  const storage = options.storage;
  check.require(
    typeof storage === 'object' && storage !== null && typeof storage.putIfAbsent === 'function',
    'storage must be a StorageBackend',
  );
  const prefix = options.prefix ?? '';
  check.require(typeof prefix === 'string', 'prefix must be a string');
  return {
    storage,
    prefix,
    uploadConcurrency: check.int('uploadConcurrency', options.uploadConcurrency, { min: 1, max: 256, default: 4 }),
    walThread: check.bool('walThread', options.walThread, true),
    clock: options.clock ?? systemClock,
    logger: options.logger ?? silentLogger,
    nodeId: options.nodeId === undefined ? undefined : check.string('nodeId', options.nodeId),
    onEvent: options.onEvent ?? (() => {}),
  };
}

/** Checks per-database options over the shared defaults. */
export function resolveDatabase(base: DatabaseOptions, over: DatabaseOptions = {}): ResolvedDatabaseOptions {
  const pick = <K extends keyof DatabaseOptions>(k: K): DatabaseOptions[K] =>
    over[k] !== undefined ? over[k] : base[k];
  const ck = { ...base.checkpoint, ...over.checkpoint };
  const sn = { ...base.snapshot, ...over.snapshot };
  const checkpoint = {
    minPages: check.int('checkpoint.minPages', ck.minPages, { min: 1, default: 1000 }),
    intervalMs: check.int('checkpoint.intervalMs', ck.intervalMs, { min: 0, default: 60_000 }),
    truncatePages: check.int('checkpoint.truncatePages', ck.truncatePages, { min: 0, default: 121_359 }),
  };
  check.require(
    checkpoint.truncatePages === 0 || checkpoint.truncatePages >= checkpoint.minPages,
    'checkpoint.truncatePages must be 0 or >= checkpoint.minPages',
  );
  return {
    syncIntervalMs: check.int('syncIntervalMs', pick('syncIntervalMs'), { min: 1, default: 1000 }),
    checkpoint,
    snapshot: {
      intervalMs: check.int('snapshot.intervalMs', sn.intervalMs, { min: 0, default: 86_400_000 }),
      everyChangesets: check.int('snapshot.everyChangesets', sn.everyChangesets, { min: 0, default: 0 }),
      idleMs: check.int('snapshot.idleMs', sn.idleMs, { min: 0, default: 0 }),
    },
    maxChangesetBytes: check.int('maxChangesetBytes', pick('maxChangesetBytes'), { min: 65_536, default: 64 << 20 }),
    uploadTimeoutMs: check.int('uploadTimeoutMs', pick('uploadTimeoutMs'), { min: 1, default: 60_000 }),
    autoSync: check.bool('autoSync', pick('autoSync'), true),
  };
}

/** Checks a database name for keys. */
export function checkName(name: unknown): string {
  const n = check.string('name', name);
  check.require(/^[A-Za-z0-9._-]+$/.test(n) && n !== '.' && n !== '..', `name must match [A-Za-z0-9._-]+, got '${n}'`);
  return n;
}
