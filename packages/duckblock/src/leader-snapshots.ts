/**
 * A leader's snapshots: when one is due (the snapshot policy), writing it at the shipped head, and
 * the retention that follows each one.
 */
import { describeError } from '@hadb/io';
import { snapshotKey } from './discovery.js';
import { isDuckblockError } from './errors.js';
import type { LeaderState } from './leader-state.js';
import type { ResolvedOptions } from './options.js';
import { applyRetention, type RetentionResult } from './retention.js';
import { createdMsNow } from './segment.js';
import { uploadSnapshot } from './snapshot.js';

/** A snapshot written at the head (`bytes` 0: one of this exact head existed already). */
export interface LeaderSnapshot {
  readonly seq: bigint;
  readonly bytes: number;
  /** Retention run after it; absent when disabled or when it failed (logged, retried next time). */
  readonly retention?: RetentionResult | undefined;
}

/**
 * Whether the snapshot policy asks for a snapshot now: `intervalMs` since the last one (on the
 * replicator's clock), or — not sooner than `minIntervalMs` after the last one — `everySegments`
 * shipped since, or incremental bytes since reaching both `afterFileSizes` × the file size and
 * `minBytes`. A 0 turns that condition off.
 */
export function snapshotDue(options: ResolvedOptions, state: LeaderState): boolean {
  const since = options.clock.now() - state.lastSnapshotAt;
  if (options.snapshotIntervalMs > 0 && since >= options.snapshotIntervalMs) return true;
  if (since < options.snapshotMinIntervalMs) return false;
  if (options.snapshotEverySegments > 0 && state.segmentsSinceSnapshot >= options.snapshotEverySegments) return true;
  const size = state.fileSize > 0 ? state.fileSize : 0;
  return (
    options.snapshotAfterFileSizes > 0 &&
    size > 0 &&
    state.bytesSinceSnapshot >= Math.max(options.snapshotAfterFileSizes * size, options.snapshotMinBytes)
  );
}

/**
 * Writes a snapshot of the file at the shipped head (the whole file is read: no checkpoint may run
 * meanwhile), resets the policy counters, then applies retention (fenced by the term) unless it
 * is disabled. A retention failure is logged and retried after the next snapshot; a fenced term
 * rejects.
 */
export async function snapshotAndRetain(
  options: ResolvedOptions,
  state: LeaderState,
  signal: AbortSignal,
): Promise<LeaderSnapshot> {
  const snapshot = await writeHeadSnapshot(options, state, signal);
  if (!options.retentionEnabled) return snapshot;
  try {
    const retention = await applyRetention(options.storage, options.prefix, state.db, options.keepSnapshots, {
      signal,
      fence: state.term.fence,
    });
    return { ...snapshot, retention };
  } catch (err) {
    if (!state.term.fence.isValid()) throw err;
    options.logger.warn(
      { db: state.db, err: describeError(err) },
      'duckblock: retention failed; will retry after the next snapshot',
    );
    return snapshot;
  }
}

async function writeHeadSnapshot(
  options: ResolvedOptions,
  state: LeaderState,
  signal: AbortSignal,
): Promise<LeaderSnapshot> {
  state.term.fence.check();
  const key = snapshotKey(options.prefix, state.db, state.seq);
  try {
    const snap = await uploadSnapshot(options.storage, key, state.handle, {
      seq: state.seq,
      anchor: state.checksum,
      epoch: state.epoch,
      createdMs: createdMsNow(options.clock),
      signal,
    });
    state.lastSnapshotAt = options.clock.now();
    state.segmentsSinceSnapshot = 0;
    state.bytesSinceSnapshot = 0;
    state.fileSize = snap.fileSize;
    return { seq: state.seq, bytes: snap.bytes };
  } catch (err) {
    if (isDuckblockError(err, 'HADB_DUCKBLOCK_SEQ_CONFLICT')) {
      // A snapshot of this exact head already exists (an earlier attempt landed).
      state.lastSnapshotAt = options.clock.now();
      return { seq: state.seq, bytes: 0 };
    }
    throw err;
  }
}
