/** Retention of one database's history with grandfather-father-son tiers (planned by `@hadb/changeset`). */
import { DEFAULT_RETENTION_TIERS, planRetention, type RetentionPlan, type RetentionTiers } from '@hadb/changeset';
import { systemClock, type Clock } from '@hadb/io';
import type { StorageBackend } from '@hadb/storage';
import { listRemote, readRemoteHeader } from './remote.js';

/** Options of {@link applyRetention}. */
export interface RetentionOptions {
  readonly storage: StorageBackend;
  readonly prefix?: string | undefined;
  readonly name: string;
  /** Default 24 hourly, 7 daily, 12 weekly, 12 monthly. */
  readonly tiers?: RetentionTiers | undefined;
  /** Delete for real. Without it the call only plans (dry run). */
  readonly force?: boolean | undefined;
  readonly clock?: Clock | undefined;
  readonly signal?: AbortSignal | undefined;
}

/** Result of {@link applyRetention}. */
export interface RetentionResult {
  readonly plan: RetentionPlan;
  /** Incrementals at or below the oldest kept snapshot (only older snapshots needed them). */
  readonly incrementalsToDelete: readonly bigint[];
  readonly dryRun: boolean;
  readonly deletedObjects: number;
}

/**
 * Plans (and with `force` applies) retention: snapshots outside every tier are deleted, and so
 * are incrementals at or below the oldest kept snapshot. Point-in-time restore stays possible
 * for every moment after the oldest kept snapshot.
 */
export async function applyRetention(options: RetentionOptions): Promise<RetentionResult> {
  const { storage, name, signal } = options;
  const prefix = options.prefix ?? '';
  const clock = options.clock ?? systemClock;
  const remote = await listRemote(storage, prefix, name, { signal });
  const snaps = [];
  for (const s of remote.snapshots) {
    const h = await readRemoteHeader(storage, s.key, { signal });
    if (h !== null) snaps.push({ seq: s.seq, createdMs: h.createdMs, key: s.key });
  }
  const plan = planRetention(snaps, options.tiers ?? DEFAULT_RETENTION_TIERS, clock.wallMs());
  const oldest = plan.oldestKept;
  const incrementals = oldest === null ? [] : remote.incrementals.filter((i) => i.seq <= oldest);
  const dead = new Set(plan.delete.map((d) => d.seq));
  const keys = [...snaps.filter((s) => dead.has(s.seq)).map((s) => s.key), ...incrementals.map((i) => i.key)];
  let deleted = 0;
  if (options.force === true && keys.length > 0) {
    // Incrementals first: a crash in between leaves an old snapshot without its tail, never a tail without a base.
    const incKeys = incrementals.map((i) => i.key);
    if (incKeys.length > 0) deleted += await storage.deleteMany(incKeys, { signal });
    const snapKeys = keys.slice(0, keys.length - incKeys.length);
    if (snapKeys.length > 0) deleted += await storage.deleteMany(snapKeys, { signal });
  }
  return {
    plan,
    incrementalsToDelete: incrementals.map((i) => i.seq),
    dryRun: options.force !== true,
    deletedObjects: deleted,
  };
}
