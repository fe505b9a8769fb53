import { basename, extname } from 'node:path';
import type { PassedNodeOptions } from '@hadb/ha';
import type { StorageBackend } from '@hadb/storage';
import { checkConfig } from './errors.js';

/**
 * Default group-commit window of `shipped` writes, ms: none — such a write starts a ship at once,
 * and writes arriving during that upload share the next one.
 */
export const DEFAULT_GROUP_COMMIT_MS = 0;

/** Options of `HaQLite.open`. */
export interface HaQLiteOptions extends PassedNodeOptions {
  /** Local SQLite file. The leader writes it; a follower keeps its replica here. */
  readonly path: string;
  /** Database name: lease scope and storage namespace. Default: the file name without extension. */
  readonly name?: string | undefined;
  /** Where changesets are shipped (needs atomic conditional writes). */
  readonly storage: StorageBackend;
  /** Key prefix in storage, `""` or ending in `/`. Default `"haqlite/"`. */
  readonly prefix?: string | undefined;
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
  /** Longest wait for a SQLite lock, ms. Default 5000. */
  readonly busyTimeoutMs?: number | undefined;
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
