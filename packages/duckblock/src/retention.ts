import type { WriteFence } from '@hadb/core';
import type { OpOptions, StorageBackend } from '@hadb/storage';
import { discoverSegmentsAfter, listSnapshots } from './discovery.js';
import { combineSignals } from './leader-state.js';

/** What {@link applyRetention} deleted. */
export interface RetentionResult {
  readonly deletedSnapshots: number;
  readonly deletedSegments: number;
  /** Seq of the oldest snapshot kept (`null` when there is no snapshot: nothing is deleted). */
  readonly oldestKept: bigint | null;
}

/** Options of {@link applyRetention}. */
export interface RetentionOptions extends OpOptions {
  /**
   * The leader term's fence. When given, it is checked immediately before every delete request
   * (`HADB_CORE_FENCED` once the term ended: nothing more is deleted) and its signal aborts a
   * delete in flight. A leader always passes it; only offline tools run retention without one.
   */
  readonly fence?: WriteFence | undefined;
  /** Keys per delete request (default 100): the fence is checked between requests. */
  readonly batchSize?: number | undefined;
}

/**
 * Deletes what no retained restore point needs: keeps the newest `keepSnapshots` snapshots and
 * every incremental segment after the oldest of them; deletes older snapshots and incrementals at
 * or below it. With fewer snapshots than `keepSnapshots` nothing is deleted, and the newest
 * snapshot and the live chain after it are never deleted, so a lagging follower can always reach
 * the head (by its segments, or by restoring the newest snapshot). Segments go first, oldest
 * first, then snapshots: stopping at any point (a fenced term) leaves a restorable history.
 */
export async function applyRetention(
  storage: StorageBackend,
  prefix: string,
  db: string,
  keepSnapshots: number,
  options: RetentionOptions = {},
): Promise<RetentionResult> {
  const { fence } = options;
  const signal = fence === undefined ? options.signal : combineSignals(options.signal, fence.signal);
  const keep = Math.max(1, keepSnapshots);
  fence?.check();
  const snapshots = await listSnapshots(storage, prefix, db, { signal });
  if (snapshots.length <= keep) {
    return { deletedSnapshots: 0, deletedSegments: 0, oldestKept: snapshots[0]?.seq ?? null };
  }
  const kept = snapshots.slice(snapshots.length - keep);
  const oldest = kept[0]!.seq;
  const oldSnapshots = snapshots.slice(0, snapshots.length - keep).map((s) => s.key);
  const segments = (await discoverSegmentsAfter(storage, prefix, db, 0n, { signal })).filter((s) => s.seq <= oldest);
  const segmentKeys = segments.map((s) => s.key);
  const batch = Math.max(1, options.batchSize ?? 100);
  for (const keys of [segmentKeys, oldSnapshots]) {
    for (let i = 0; i < keys.length; i += batch) {
      fence?.check();
      await storage.deleteMany(keys.slice(i, i + batch), { signal });
    }
  }
  return { deletedSnapshots: oldSnapshots.length, deletedSegments: segmentKeys.length, oldestKept: oldest };
}
