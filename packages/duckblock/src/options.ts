import type { Logger } from '@hadb/core';
import type { StorageBackend } from '@hadb/storage';

/** When the leader writes a new snapshot (any condition that is met triggers one). */
export interface SnapshotPolicy {
  /** Milliseconds between snapshots (default 3,600,000 = 1 h, like hadb's `snapshot_interval`). 0 disables. */
  readonly intervalMs?: number | undefined;
  /** After this many shipped incremental segments (default 0 = off). */
  readonly everySegments?: number | undefined;
  /**
   * After the incremental bytes shipped since the last snapshot exceed this many times the file
   * size, restoring from a fresh snapshot becomes cheaper than replaying (default 1; 0 = off).
   */
  readonly afterFileSizes?: number | undefined;
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
}

/** Defaults, resolved. */
export interface ResolvedOptions {
  readonly storage: StorageBackend;
  readonly prefix: string;
  readonly snapshotIntervalMs: number;
  readonly snapshotEverySegments: number;
  readonly snapshotAfterFileSizes: number;
  readonly retentionEnabled: boolean;
  readonly keepSnapshots: number;
  readonly downloadConcurrency: number;
  readonly streamAboveBytes: number;
  readonly listIntervalMs: number;
  readonly uploadRetries: number;
  readonly spillAboveBytes: number;
  readonly logger: Logger | undefined;
}

/** Applies defaults. */
export function resolveOptions(o: DuckblockReplicatorOptions): ResolvedOptions {
  return {
    storage: o.storage,
    prefix: o.prefix ?? 'duckblock/',
    snapshotIntervalMs: o.snapshot?.intervalMs ?? 3_600_000,
    snapshotEverySegments: o.snapshot?.everySegments ?? 0,
    snapshotAfterFileSizes: o.snapshot?.afterFileSizes ?? 1,
    retentionEnabled: o.retention?.enabled ?? true,
    keepSnapshots: Math.max(1, o.retention?.keepSnapshots ?? 2),
    downloadConcurrency: Math.max(1, o.downloadConcurrency ?? 4),
    listIntervalMs: Math.max(0, o.listIntervalMs ?? 30_000),
    streamAboveBytes: Math.max(0, o.streamAboveBytes ?? 64 << 20),
    uploadRetries: Math.max(0, o.uploadRetries ?? 3),
    spillAboveBytes: Math.max(0, o.spillAboveBytes ?? 64 << 20),
    logger: o.logger,
  };
}
