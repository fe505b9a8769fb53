import { planRetention } from '@hadb/changeset';
import { bySeq, describeObjects, requireObjects, type ObjectDetails } from '../catalog.js';
import { DEFAULT_RETENTION, type Retention } from '../config.js';
import { withStorage, type Context } from '../context.js';
import { CliError } from '../errors.js';
import { formatBytes, formatTime, table, toJson } from '../output.js';

/** The compaction plan of one database. */
export interface CompactPlan {
  readonly keep: readonly { readonly snapshot: ObjectDetails; readonly reasons: readonly string[] }[];
  readonly dropSnapshots: readonly ObjectDetails[];
  readonly dropSegments: readonly ObjectDetails[];
  /** Incremental segments after this seq are kept (point-in-time restore from here on). */
  readonly floor: bigint | null;
}

/**
 * Plans grandfather-father-son retention over the snapshots of a `.hadbp` database with
 * `@hadb/changeset`'s planner (the newest two snapshots are always kept), and deletes the
 * incremental segments at or below the oldest kept snapshot: only older snapshots needed them.
 * Point-in-time restore stays possible for every moment after the oldest kept snapshot.
 */
export function planCompaction(
  details: readonly ObjectDetails[],
  retention: Retention,
  nowMs = Date.now(),
): CompactPlan {
  const snapshots = details.filter((d) => d.kind === 'hadbp' && d.generation === 1).sort(bySeq);
  const incrementals = details.filter((d) => d.kind === 'hadbp' && d.generation === 0).sort(bySeq);
  if (snapshots.length === 0) return { keep: [], dropSnapshots: [], dropSegments: [], floor: null };
  const bySeqKey = new Map(snapshots.map((s) => [s.seq, s]));
  const plan = planRetention(
    snapshots.map((s) => ({ seq: s.seq, createdMs: s.createdMs ?? 0 })),
    retention,
    nowMs,
  );
  const floor = plan.oldestKept;
  return {
    keep: [...plan.keep].reverse().map((k) => ({ snapshot: bySeqKey.get(k.seq)!, reasons: k.reasons })),
    dropSnapshots: [...plan.delete].reverse().map((d) => bySeqKey.get(d.seq)!),
    dropSegments: floor === null ? [] : incrementals.filter((s) => s.seq <= floor),
    floor,
  };
}

/** `hadb compact <db>`: GFS retention; a dry run unless `--force`. */
export async function compact(
  ctx: Context,
  db: string,
  flags: Partial<Retention> & { force?: boolean; json?: boolean },
): Promise<void> {
  const retention: Retention = {
    ...DEFAULT_RETENTION,
    ...ctx.settings.config?.retention,
    ...Object.fromEntries(
      Object.entries(flags).filter(([k, v]) => ['hourly', 'daily', 'weekly', 'monthly'].includes(k) && v !== undefined),
    ),
  };
  await withStorage(ctx, async (storage) => {
    const objects = await requireObjects(storage, db, { signal: ctx.signal });
    const details = await describeObjects(storage, objects, { signal: ctx.signal, epochs: false });
    if (details.some((d) => d.kind === 'hadbj')) {
      throw new CliError(
        'HADB_CLI_DATABASE',
        `${db} is a graphstream journal; hadb compact applies to .hadbp databases (snapshots + segments)`,
      );
    }
    const plan = planCompaction(details, retention);
    const doomed = [...plan.dropSegments, ...plan.dropSnapshots];
    const freed = doomed.reduce((n, d) => n + d.size, 0);
    if (flags.force === true && doomed.length > 0) {
      // Segments first: a crash in between leaves extra snapshots, never a snapshot-less gap.
      await storage.deleteMany(
        plan.dropSegments.map((d) => d.key),
        { signal: ctx.signal },
      );
      await storage.deleteMany(
        plan.dropSnapshots.map((d) => d.key),
        { signal: ctx.signal },
      );
    }
    if (flags.json === true) {
      ctx.io.out(
        toJson({
          database: db,
          retention,
          dryRun: flags.force !== true,
          keep: plan.keep.map((k) => ({
            seq: k.snapshot.seq,
            created: formatTime(k.snapshot.createdMs),
            reasons: k.reasons,
            key: k.snapshot.key,
          })),
          deleteSnapshots: plan.dropSnapshots.map((d) => d.key),
          deleteSegments: plan.dropSegments.map((d) => d.key),
          segmentsKeptAfter: plan.floor,
          bytesFreed: freed,
        }),
      );
      return;
    }
    ctx.io.out(
      `retention: hourly ${retention.hourly}, daily ${retention.daily}, weekly ${retention.weekly}, monthly ${retention.monthly}`,
    );
    for (const line of table(
      ['KEEP', 'SEQ', 'CREATED', 'WHY'],
      plan.keep.map((k) => [
        'snapshot',
        k.snapshot.seq.toString(),
        formatTime(k.snapshot.createdMs),
        k.reasons.join(','),
      ]),
    )) {
      ctx.io.out(line);
    }
    const verb = flags.force === true ? 'deleted' : 'would delete';
    ctx.io.out(
      `${verb} ${plan.dropSnapshots.length} snapshots and ${plan.dropSegments.length} segments (${formatBytes(freed)})${plan.floor === null ? '' : `; segments after seq ${plan.floor} (the oldest kept snapshot) kept`}`,
    );
    if (flags.force !== true && doomed.length > 0)
      ctx.io.out('dry run: nothing deleted; run again with --force to delete');
  });
}
