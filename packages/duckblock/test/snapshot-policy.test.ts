import { join } from 'node:path';
import { MemStorageBackend } from '@hadb/storage-mem';
import { ManualClock } from '@hadb/testkit';
import { expect, it } from 'vitest';
import { DuckblockReplicator, isDuckblockError, type SnapshotPolicy } from '../src/index.js';
import { openLeader, tempDir, testTerm } from './helpers.js';

/** Runs `pushes` 1-row commits on a small database under `policy`; returns which pushes wrote a snapshot. */
async function run(
  policy: SnapshotPolicy,
  pushes: number,
  advanceMsAt?: { at: number; ms: number },
): Promise<number[]> {
  const { dir, cleanup } = await tempDir('policy');
  const storage = new MemStorageBackend();
  const clock = new ManualClock();
  const path = join(dir, 'app.duckdb');
  const leader = await openLeader(path);
  const replicator = new DuckblockReplicator({ storage, prefix: 'p/', snapshot: policy, clock });
  try {
    await leader.conn.run('create table t (id integer, v integer)');
    await leader.conn.run('insert into t select range, 0 from range(1000)');
    await leader.conn.run('CHECKPOINT');
    await replicator.startLineage('app', path, testTerm('app', 1));
    const snapshots: number[] = [];
    for (let i = 0; i < pushes; i++) {
      if (advanceMsAt?.at === i) await clock.advance(advanceMsAt.ms);
      await leader.conn.run(`update t set v = v + 1 where id = ${i}`);
      await leader.conn.run('CHECKPOINT');
      const pushed = await replicator.pushCheckpoint('app');
      expect(pushed.shipped).toBe(true);
      if (pushed.snapshot !== undefined) snapshots.push(i);
    }
    await replicator.remove('app');
    return snapshots;
  } finally {
    leader.close();
    await storage.close();
    await cleanup();
  }
}

it('without a floor or a minimum interval, 1-row commits on a small file trip the bytes trigger (the old behaviour)', async () => {
  const snaps = await run({ intervalMs: 0, afterFileSizes: 1, minBytes: 0, minIntervalMs: 0 }, 6);
  expect(snaps.length).toBeGreaterThanOrEqual(1);
});

it('minBytes: the bytes trigger waits until the shipped bytes reach the floor as well as the file size', async () => {
  const snaps = await run({ intervalMs: 0, afterFileSizes: 1, minIntervalMs: 0, minBytes: 64 << 20 }, 6);
  expect(snaps).toEqual([]);
});

it('minIntervalMs: no policy snapshot sooner than the minimum interval, one once it passed', async () => {
  const snaps = await run({ intervalMs: 0, afterFileSizes: 1, minBytes: 0, minIntervalMs: 60_000 }, 6, {
    at: 4,
    ms: 60_000,
  });
  expect(snaps).toEqual([4]);
});

it('defaults: a small database at one commit per push takes no snapshot', async () => {
  const snaps = await run({}, 6);
  expect(snaps).toEqual([]);
});

it('refuses bad policy values', () => {
  const storage = new MemStorageBackend();
  for (const snapshot of [
    { minBytes: -1 },
    { minIntervalMs: Number.NaN },
    { minIntervalMs: '5' as unknown as number },
  ]) {
    let err: unknown;
    try {
      new DuckblockReplicator({ storage, snapshot });
    } catch (e) {
      err = e;
    }
    expect(isDuckblockError(err, 'HADB_DUCKBLOCK_INVALID_CONFIG')).toBe(true);
  }
});
