import { join } from 'node:path';
import { MemStorageBackend } from '@hadb/storage-mem';
import { expect, it } from 'vitest';
import { DuckblockReplicator } from '../src/index.js';
import { openLeader, tempDir, testTerm } from './helpers.js';

it('snapshot() runs retention afterwards, as its TSDoc says (keepSnapshots: 1)', async () => {
  const { dir, cleanup } = await tempDir('snapret');
  const storage = new MemStorageBackend();
  const leader = await openLeader(join(dir, 'app.duckdb'));
  // Snapshots only when asked; retention keeps one.
  const replicator = new DuckblockReplicator({
    storage,
    prefix: 'r/',
    snapshot: { intervalMs: Number.MAX_SAFE_INTEGER, afterFileSizes: Number.MAX_SAFE_INTEGER },
    retention: { enabled: true, keepSnapshots: 1 },
  });
  try {
    await leader.conn.run('create table t (id integer)');
    await leader.conn.run('CHECKPOINT');
    await replicator.startLineage('app', join(dir, 'app.duckdb'), testTerm('app', 1));
    for (let i = 0; i < 3; i++) {
      await leader.conn.run(`insert into t values (${i})`);
      await leader.conn.run('CHECKPOINT');
      await replicator.pushCheckpoint('app');
    }
    const first = await replicator.snapshot('app');
    await leader.conn.run('insert into t values (99)');
    await leader.conn.run('CHECKPOINT');
    const second = await replicator.snapshot('app'); // pushes the pending checkpoint, then snapshots
    expect(second.seq).toBeGreaterThan(first.seq);
    // Nothing left for retention to do: snapshot() already removed the older snapshots and segments.
    const again = await replicator.applyRetention('app');
    expect(again.deletedSnapshots).toBe(0);
    expect(again.deletedSegments).toBe(0);
    expect(again.oldestKept).toBe(second.seq);
    await replicator.remove('app');
  } finally {
    leader.close();
    await storage.close();
    await cleanup();
  }
});
