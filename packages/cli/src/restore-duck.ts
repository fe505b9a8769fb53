import { rename, rm, stat } from 'node:fs/promises';
import { pullIncremental, readPosition, removeLocalState, restoreSnapshot } from '@hadb/duckblock';
import type { StorageBackend } from '@hadb/storage';
import { bySeq, type ObjectDetails } from './catalog.js';
import { downloadingStorage } from './download.js';
import { CliError } from './errors.js';
import { formatTime } from './output.js';

/** What to restore: the newest state, a seq, or the newest state at or before a time. */
export type RestoreTarget =
  | { readonly kind: 'latest' }
  | { readonly kind: 'seq'; readonly seq: bigint }
  | { readonly kind: 'time'; readonly ms: number };

/** Result of a restore. */
export interface RestoreResult {
  readonly seq: bigint;
  readonly snapshotSeq: bigint;
  readonly segments: number;
  readonly bytes: number;
  /** When the restored state was written (its last object's `created_ms`). */
  readonly createdMs: number | null;
}

/** Options of a restore. */
export interface RestoreOptions {
  /** Segments downloaded ahead of the one being applied. */
  readonly parallel: number;
  /** Ranged reads in flight for one large object (1 = one stream). */
  readonly rangedReads?: number | undefined;
  readonly onTotal?: ((bytes: number) => void) | undefined;
  readonly onBytes?: ((bytes: number) => void) | undefined;
  readonly signal?: AbortSignal | undefined;
}

/** Chooses the seq to restore and the snapshot to start from. Throws `HADB_CLI_RESTORE` when unreachable. */
export function planRestore(
  details: readonly ObjectDetails[],
  target: RestoreTarget,
): { seq: bigint; base: ObjectDetails; segments: ObjectDetails[] } {
  const snapshots = details.filter((d) => d.kind === 'hadbp' && d.generation === 1).sort(bySeq);
  const incrementals = details.filter((d) => d.kind === 'hadbp' && d.generation === 0).sort(bySeq);
  const points = [...snapshots, ...incrementals];
  if (points.length === 0)
    throw new CliError('HADB_CLI_RESTORE', 'nothing to restore: no snapshot or segment is stored');
  let seq: bigint;
  if (target.kind === 'seq') {
    seq = target.seq;
  } else if (target.kind === 'time') {
    const before = points.filter((p) => p.createdMs !== null && p.createdMs <= target.ms);
    if (before.length === 0) {
      const oldest = Math.min(...points.map((p) => p.createdMs ?? Number.POSITIVE_INFINITY));
      throw new CliError(
        'HADB_CLI_RESTORE',
        `nothing stored at or before ${formatTime(target.ms)} (oldest restore point: ${formatTime(Number.isFinite(oldest) ? oldest : null)})`,
      );
    }
    seq = before.reduce((m, p) => (p.seq > m ? p.seq : m), 0n);
  } else {
    seq = points.reduce((m, p) => (p.seq > m ? p.seq : m), 0n);
  }
  const base = snapshots.filter((s) => s.seq <= seq).pop();
  if (base === undefined) throw new CliError('HADB_CLI_RESTORE', `no snapshot at or before seq ${seq} to start from`);
  const segments = incrementals.filter((s) => s.seq > base.seq && s.seq <= seq);
  const missing = Number(seq - base.seq) - segments.length;
  if (missing > 0) {
    let expect = base.seq + 1n;
    for (const s of segments) {
      if (s.seq !== expect) break;
      expect++;
    }
    throw new CliError(
      'HADB_CLI_RESTORE',
      `seq ${seq} is unreachable: segment ${expect} is missing after snapshot ${base.seq}`,
    );
  }
  return { seq, base, segments };
}

async function exists(path: string): Promise<boolean> {
  try {
    await stat(path);
    return true;
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return false;
    throw error;
  }
}

/** Removes duckblock's side files of the staging file (position, journal, restore file) and its DuckDB WAL. */
async function removeStaging(staging: string): Promise<void> {
  await removeLocalState(staging);
  await rm(`${staging}.wal`, { force: true });
}

/** Whether a file exists at `path` (restores refuse to overwrite one). */
export { exists as pathExists };

/**
 * Restores a duckblock database to `path`: the snapshot at or before the target seq, then the
 * incremental segments up to it, each verified (checksum, chain, epoch) as it is applied, all in
 * a staging file beside `path` that is renamed into place only once complete. `path` must not
 * exist. The staging file's position sidecar is removed: the result is a plain DuckDB file.
 */
export async function restoreDuckblock(
  storage: StorageBackend,
  db: string,
  details: readonly ObjectDetails[],
  path: string,
  target: RestoreTarget,
  options: RestoreOptions,
): Promise<RestoreResult> {
  const { signal } = options;
  const plan = planRestore(details, target);
  const total = plan.base.size + plan.segments.reduce((n, s) => n + s.size, 0);
  options.onTotal?.(total);
  const staging = `${path}.hadb-cli-restore`;
  const source = downloadingStorage(storage, { parallel: options.rangedReads ?? 1, onBytes: options.onBytes });
  await removeStaging(staging);
  let ok = false;
  try {
    await restoreSnapshot(source, plan.base.key, staging, { signal });
    if (plan.seq > plan.base.seq) {
      await pullIncremental(source, '', db, staging, {
        signal,
        restoreFromSnapshot: false,
        maxSegments: Number(plan.seq - plan.base.seq),
        concurrency: options.parallel,
      });
    }
    const position = await readPosition(staging);
    if (position === null || position.seq !== plan.seq) {
      throw new CliError(
        'HADB_CLI_RESTORE',
        `restore stopped at seq ${position?.seq ?? plan.base.seq} before reaching seq ${plan.seq}`,
      );
    }
    if (await exists(path))
      throw new CliError('HADB_CLI_RESTORE', `${path} appeared while restoring; left it untouched`);
    await rename(staging, path);
    ok = true;
  } finally {
    await removeStaging(staging);
    if (!ok) await rm(staging, { force: true });
  }
  const last = plan.segments[plan.segments.length - 1] ?? plan.base;
  return {
    seq: plan.seq,
    snapshotSeq: plan.base.seq,
    segments: plan.segments.length,
    bytes: total,
    createdMs: last.createdMs,
  };
}
