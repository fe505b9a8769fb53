import type { OpOptions, StorageBackend } from '@hadb/storage';
import { discoverSegmentsAfter, listSnapshots } from './discovery.js';

/** What {@link applyRetention} deleted. */
export interface RetentionResult {
  readonly deletedSnapshots: number;
  readonly deletedSegments: number;
  /** Seq of the oldest snapshot kept (`null` when there is no snapshot: nothing is deleted). */
  readonly oldestKept: bigint | null;
}

/**
 * Deletes what no retained restore point needs: keeps the newest `keepSnapshots` snapshots and
 * every incremental segment after the oldest of them; deletes older snapshots and incrementals at
 * or below it. With fewer snapshots than `keepSnapshots` nothing is deleted, and the newest
 * snapshot and the live chain after it are never deleted, so a lagging follower can always reach
 * the head (by its segments, or by restoring the newest snapshot).
 */
export async function applyRetention(
  storage: StorageBackend,
  prefix: string,
  db: string,
  keepSnapshots: number,
  options: OpOptions = {},
): Promise<RetentionResult> {
  const keep = Math.max(1, keepSnapshots);
  const snapshots = await listSnapshots(storage, prefix, db, options);
  if (snapshots.length <= keep) {
    return { deletedSnapshots: 0, deletedSegments: 0, oldestKept: snapshots[0]?.seq ?? null };
  }
  const kept = snapshots.slice(snapshots.length - keep);
  const oldest = kept[0]!.seq;
  const oldSnapshots = snapshots.slice(0, snapshots.length - keep).map((s) => s.key);
  const segments = (await discoverSegmentsAfter(storage, prefix, db, 0n, options)).filter((s) => s.seq <= oldest);
  const segmentKeys = segments.map((s) => s.key);
  if (segmentKeys.length > 0) await storage.deleteMany(segmentKeys, options);
  if (oldSnapshots.length > 0) await storage.deleteMany(oldSnapshots, options);
  return { deletedSnapshots: oldSnapshots.length, deletedSegments: segmentKeys.length, oldestKept: oldest };
}
