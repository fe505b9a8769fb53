import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DuckDBInstance } from '@duckdb/node-api';
import { TermFence, systemClock } from '@hadb/core';
import { DuckblockReplicator, releaseLeaderFile } from '@hadb/duckblock';
import type { StorageBackend } from '@hadb/storage';

/** A temporary directory removed by `cleanup`. */
export async function tempDir(label: string): Promise<{ dir: string; cleanup: () => Promise<void> }> {
  const dir = await mkdtemp(join(tmpdir(), `hadb-cli-${label}-`));
  return { dir, cleanup: () => rm(dir, { recursive: true, force: true }) };
}

/** One replicated state: its seq, the rows the table then held and when it was shipped. */
export interface Step {
  readonly seq: bigint;
  readonly rows: number;
  readonly shippedMs: number;
}

/**
 * Writes a real DuckDB database through duckblock into `storage` (prefix `""`): a new lineage
 * (segment + snapshot at seq 1), then `rounds` checkpoints of `rowsPerRound` rows each, with a
 * snapshot after the rounds listed in `snapshotsAfter`. Returns each state reached.
 */
export async function writeDuckDatabase(
  storage: StorageBackend,
  dir: string,
  db: string,
  options: { rounds: number; rowsPerRound?: number; snapshotsAfter?: readonly number[]; gapMs?: number },
): Promise<Step[]> {
  const path = join(dir, `${db}-leader.duckdb`);
  const replicator = new DuckblockReplicator({
    storage,
    prefix: '',
    snapshot: { intervalMs: 1e12, afterFileSizes: 0 },
    retention: { enabled: false },
  });
  const instance = await DuckDBInstance.create(path, { checkpoint_threshold: '100GB' });
  const conn = await instance.connect();
  const steps: Step[] = [];
  const per = options.rowsPerRound ?? 100;
  try {
    await conn.run('create table t (id INTEGER, v VARCHAR)');
    await conn.run('CHECKPOINT');
    const fence = new TermFence({
      db,
      epoch: 1,
      clock: systemClock,
      sentAt: systemClock.now(),
      windowMs: Number.POSITIVE_INFINITY,
    });
    await replicator.startLineage(db, path, { db, epoch: 1, instanceId: 'writer', sessionId: 'session-1', fence });
    steps.push({ seq: replicator.head(db)!.seq, rows: 0, shippedMs: Date.now() });
    for (let round = 1; round <= options.rounds; round++) {
      await new Promise((r) => setTimeout(r, options.gapMs ?? 30));
      await conn.run(
        `insert into t select i, repeat('x', 200) || i from range(${(round - 1) * per}, ${round * per}) r(i)`,
      );
      await conn.run('CHECKPOINT');
      const pushed = await replicator.pushCheckpoint(db, {
        forceSnapshot: options.snapshotsAfter?.includes(round) ?? false,
      });
      steps.push({ seq: pushed.seq, rows: round * per, shippedMs: Date.now() });
    }
  } finally {
    conn.closeSync();
    instance.closeSync();
    await replicator.remove(db);
    await releaseLeaderFile(path);
  }
  return steps;
}

/** Row count of a DuckDB file, opened read-only. */
export async function countRows(path: string): Promise<number> {
  const instance = await DuckDBInstance.create(path, { access_mode: 'READ_ONLY' });
  const conn = await instance.connect();
  try {
    const rows = (await conn.runAndReadAll('select count(*) from t')).getRows();
    return Number(rows[0]![0]);
  } finally {
    conn.closeSync();
    instance.closeSync();
  }
}
