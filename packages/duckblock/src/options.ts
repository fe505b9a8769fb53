import { DEFAULT_MAX_FILE_SIZE } from './segment.js';
import { silentLogger, systemClock, type Clock, type ConfigChecker, type Logger } from '@hadb/io';
import { assertSafePrefix, type StorageBackend } from '@hadb/storage';
import { checkConfig } from './errors.js';

/** When the leader writes a new snapshot (any condition that is met triggers one). */
export interface SnapshotPolicy {
  /** Milliseconds between snapshots (default 3,600,000 = 1 h, like hadb's `snapshot_interval`). 0 disables. */
  readonly intervalMs?: number | undefined;
  /** After this many shipped incremental segments (default 0 = off). */
  readonly everySegments?: number | undefined;
  /**
   * After the incremental bytes shipped since the last snapshot exceed this many times the file
   * size, restoring from a fresh snapshot becomes cheaper than replaying (default 1; 0 = off).
   * Counted together with {@link minBytes}.
   */
  readonly afterFileSizes?: number | undefined;
  /**
   * Floor of the bytes trigger (default 64 MiB; 0 = none): `afterFileSizes` fires only once the
   * shipped bytes also reach this. Each checkpoint ships whole DuckDB blocks (256 KiB by default,
   * and a 1-row commit rewrites several: ≥ 1 MiB), so on a small file the ratio alone would ask
   * for a new snapshot every few commits.
   */
  readonly minBytes?: number | undefined;
  /**
   * No policy snapshot sooner than this many milliseconds after the last one (default 60,000;
   * 0 = no minimum). Applies to `everySegments` and the bytes trigger; an explicit `snapshot()`
   * or `forceSnapshot` ignores it.
   */
  readonly minIntervalMs?: number | undefined;
}

/** What storage keeps. Runs after each new snapshot. */
export interface RetentionPolicy {
  /** Turn retention off entirely (default true = on). */
  readonly enabled?: boolean | undefined;
  /**
   * Snapshots kept, newest first (default 2, minimum 1). Incremental segments at or below the
   * oldest kept snapshot are deleted; every later segment is kept, so each retained snapshot can
   * be rolled forward to the head, and a follower further behind restores the latest snapshot.
   */
  readonly keepSnapshots?: number | undefined;
}

/** Options of {@link DuckblockReplicator}. */
export interface DuckblockReplicatorOptions {
  /** Where segments go. Its keys are `{prefix}{db}/0000/…` (incrementals) and `{prefix}{db}/0001/…` (snapshots). */
  readonly storage: StorageBackend;
  /** Key prefix, empty or ending in `/` (default `"duckblock/"`). */
  readonly prefix?: string | undefined;
  readonly snapshot?: SnapshotPolicy | undefined;
  readonly retention?: RetentionPolicy | undefined;
  /** Segments downloaded ahead while pulling (default 4). */
  readonly downloadConcurrency?: number | undefined;
  /**
   * Followers stream segments larger than this (default 64 MiB) through the apply journal instead
   * of holding them in memory.
   */
  readonly streamAboveBytes?: number | undefined;
  /**
   * Largest database file a follower accepts from storage, bytes (default 64 GiB): a segment or
   * snapshot reaching past it is `HADB_DUCKBLOCK_CORRUPT` before anything is written.
   */
  readonly maxFileSizeBytes?: number | undefined;
  /**
   * Followers list storage at most this often while idle (default 30,000 ms); in between, a poll
   * is one HEAD (`exists`) of the next sequence's key. Listing is what finds gaps left by retention and new
   * lineages started past the next key. 0 lists on every poll.
   */
  readonly listIntervalMs?: number | undefined;
  /**
   * A leader encodes a checkpoint whose changed blocks exceed this many bytes (default 64 MiB)
   * into `<db>.hadb-outgoing` and uploads it from there with a conditional streaming write,
   * instead of holding it in memory.
   */
  readonly spillAboveBytes?: number | undefined;
  /** Retries of a segment upload after a transient storage error (default 3). */
  readonly uploadRetries?: number | undefined;
  /** pino-compatible logger (default: silent). */
  readonly logger?: Logger | undefined;
  /** Time source of the snapshot interval and the listing schedule (default: the system clock). */
  readonly clock?: Clock | undefined;
}

/** Defaults, resolved. */
export interface ResolvedOptions {
  readonly storage: StorageBackend;
  readonly prefix: string;
  readonly snapshotIntervalMs: number;
  readonly snapshotEverySegments: number;
  readonly snapshotAfterFileSizes: number;
  readonly snapshotMinBytes: number;
  readonly snapshotMinIntervalMs: number;
  readonly retentionEnabled: boolean;
  readonly keepSnapshots: number;
  readonly downloadConcurrency: number;
  readonly streamAboveBytes: number;
  readonly maxFileSizeBytes: number;
  readonly listIntervalMs: number;
  readonly uploadRetries: number;
  readonly spillAboveBytes: number;
  readonly logger: Logger;
  readonly clock: Clock;
}

/**
 * Applies defaults and checks every option; a bad value throws `HADB_DUCKBLOCK_INVALID_CONFIG`
 * naming the option (never clamped).
 */
export function resolveOptions(o: DuckblockReplicatorOptions): ResolvedOptions {
  const check: ConfigChecker = checkConfig;
  check.require(o.storage !== undefined && o.storage !== null, 'storage is required');
  const prefix = o.prefix ?? 'duckblock/';
  assertSafePrefix(prefix);
  check.require(prefix === '' || prefix.endsWith('/'), 'prefix must be empty or end with "/"');
  return {
    storage: o.storage,
    prefix,
    snapshotIntervalMs: check.number('snapshot.intervalMs', o.snapshot?.intervalMs, { min: 0, default: 3_600_000 }),
    snapshotEverySegments: check.int('snapshot.everySegments', o.snapshot?.everySegments, { min: 0, default: 0 }),
    snapshotAfterFileSizes: check.number('snapshot.afterFileSizes', o.snapshot?.afterFileSizes, { min: 0, default: 1 }),
    snapshotMinBytes: check.number('snapshot.minBytes', o.snapshot?.minBytes, { min: 0, default: 64 << 20 }),
    snapshotMinIntervalMs: check.number('snapshot.minIntervalMs', o.snapshot?.minIntervalMs, {
      min: 0,
      default: 60_000,
    }),
    retentionEnabled: check.bool('retention.enabled', o.retention?.enabled, true),
    keepSnapshots: check.int('retention.keepSnapshots', o.retention?.keepSnapshots, { min: 1, default: 2 }),
    downloadConcurrency: check.int('downloadConcurrency', o.downloadConcurrency, { min: 1, default: 4 }),
    listIntervalMs: check.number('listIntervalMs', o.listIntervalMs, { min: 0, default: 30_000 }),
    streamAboveBytes: check.int('streamAboveBytes', o.streamAboveBytes, { min: 0, default: 64 << 20 }),
    maxFileSizeBytes: check.int('maxFileSizeBytes', o.maxFileSizeBytes, {
      min: 1 << 20,
      default: DEFAULT_MAX_FILE_SIZE,
    }),
    uploadRetries: check.int('uploadRetries', o.uploadRetries, { min: 0, default: 3 }),
    spillAboveBytes: check.int('spillAboveBytes', o.spillAboveBytes, { min: 0, default: 64 << 20 }),
    logger: o.logger ?? silentLogger,
    clock: o.clock ?? systemClock,
  };
}
