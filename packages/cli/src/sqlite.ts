import { existsSync } from 'node:fs';
import { basename } from 'node:path';
import { sleepUnlessAborted, systemClock } from '@hadb/io';
import type { StorageBackend } from '@hadb/storage';
import { loadBackend } from './backends.js';
import { bySeq, type ObjectDetails } from './catalog.js';
import { downloadingStorage } from './download.js';
import { CliError } from './errors.js';
import type { Io } from './output.js';
import type { RestoreOptions, RestoreResult, RestoreTarget } from './restore-duck.js';

/** Bytes a SQLite restore to `target` downloads (the snapshot at or before it and the incrementals after), for the progress bar. */
function plannedBytes(details: readonly ObjectDetails[], target: RestoreTarget): number {
  const reached = (d: ObjectDetails): boolean =>
    target.kind === 'latest' ||
    (target.kind === 'seq' ? d.seq <= target.seq : d.createdMs !== null && d.createdMs <= target.ms);
  const snaps = details.filter((d) => d.generation === 1 && reached(d)).sort(bySeq);
  const base = snaps[snaps.length - 1];
  if (base === undefined) return 0;
  return (
    base.size +
    details.filter((d) => d.generation === 0 && d.seq > base.seq && reached(d)).reduce((n, d) => n + d.size, 0)
  );
}

/**
 * Restores a walstream (SQLite) database into `path` with `@hadb/walstream`'s `restore`: the
 * snapshot at or before the target, then every incremental up to it, each chain-verified; the
 * result is checked with SQLite's `quick_check` (or `integrity_check`) before it is renamed into
 * place. A `--seq` beyond the newest stored seq is refused rather than silently capped.
 */
export async function restoreSqlite(
  storage: StorageBackend,
  db: string,
  details: readonly ObjectDetails[],
  path: string,
  target: RestoreTarget,
  options: RestoreOptions & { readonly integrity: 'quick' | 'full' | 'none' },
): Promise<RestoreResult> {
  const head = details.reduce((m, d) => (d.seq > m ? d.seq : m), 0n);
  if (target.kind === 'seq' && target.seq > head) {
    throw new CliError('HADB_CLI_RESTORE', `seq ${target.seq} is unreachable: the newest stored seq is ${head}`);
  }
  options.onTotal?.(plannedBytes(details, target));
  const { restore } = await loadBackend('walstream');
  const source = downloadingStorage(storage, { parallel: options.rangedReads ?? 1, onBytes: options.onBytes });
  const result = await restore({
    storage: source,
    name: db,
    output: path,
    ...(target.kind === 'seq' ? { seq: target.seq } : target.kind === 'time' ? { time: target.ms } : {}),
    integrity: options.integrity,
    concurrency: options.parallel,
    signal: options.signal,
  });
  if (result.skipped) throw new CliError('HADB_CLI_RESTORE', `${path} appeared while restoring; left it untouched`);
  return {
    seq: result.seq,
    snapshotSeq: result.snapshotSeq,
    segments: result.incrementals,
    bytes: result.bytes,
    createdMs: result.createdMs,
  };
}

/**
 * Keeps a SQLite read replica at `path` with `@hadb/walstream`'s `Follower` until `signal`
 * aborts; prints each new seq. Poll errors are printed and retried. `onCaughtUp` runs once, when
 * the initial restore (or the resume of an existing replica) and catch-up are done; `restored`
 * tells whether the replica was restored from a snapshot.
 */
export async function followSqlite(
  storage: StorageBackend,
  db: string,
  path: string,
  io: Io,
  options: {
    intervalMs: number;
    signal: AbortSignal;
    onCaughtUp?: ((seq: bigint, restored: boolean) => void) | undefined;
  },
): Promise<bigint> {
  const { Follower } = await loadBackend('walstream');
  const restored = !existsSync(path);
  const follower = await Follower.open(
    {
      storage,
      name: db,
      output: path,
      intervalMs: options.intervalMs,
      onApply: ({ seq, restored }) => io.out(`${db}: at seq ${seq}${restored ? ' (restored a snapshot)' : ''}`),
      onError: (error) => io.err(`hadb: ${db}: poll failed, retrying: ${(error as Error).message ?? String(error)}`),
    },
    { signal: options.signal },
  );
  try {
    io.out(`${db}: at seq ${follower.seq}`);
    options.onCaughtUp?.(follower.seq, restored);
    while (!options.signal.aborted) await sleepUnlessAborted(systemClock, 60_000, options.signal);
    return follower.seq;
  } finally {
    await follower.close();
  }
}

/**
 * Stores a snapshot of the SQLite file at `file` under `name` (default: its base name): ships
 * what the WAL holds, then a full snapshot, and returns its seq. Do not run it for a database a
 * running `hadb replicate` handles: that process owns the database's checkpoints.
 */
export async function snapshotSqlite(
  storage: StorageBackend,
  file: string,
  name: string | undefined,
  signal: AbortSignal,
): Promise<{ name: string; seq: bigint; bytes: number }> {
  const { Walstream } = await loadBackend('walstream');
  const ws = await Walstream.open({ storage, autoSync: false });
  try {
    const replicator = await ws.add(file, { name: name ?? basename(file), autoSync: false, signal });
    const snap = await replicator.snapshot({ signal });
    return { name: replicator.name, seq: snap.seq, bytes: snap.bytes };
  } finally {
    await ws.close({ signal });
  }
}
