import { join } from 'node:path';
import { isCoordinatorError } from '@hadb/core';
import { MemStorageBackend } from '@hadb/storage-mem';
import { withFaults } from '@hadb/testkit/storage';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { DuckblockReplicator, applyRetention } from '../src/index.js';
import { openLeader, tempDir, testTerm } from './helpers.js';

const PREFIX = 'fh/';

/** A leader with three snapshots and segments between them, retention off so nothing is deleted yet. */
async function history(dir: string, storage: MemStorageBackend) {
  const path = join(dir, 'app.duckdb');
  const leader = await openLeader(path);
  const term = testTerm('app', 1);
  const replicator = new DuckblockReplicator({
    storage,
    prefix: PREFIX,
    snapshot: { intervalMs: 0, afterFileSizes: 0 },
    retention: { enabled: false, keepSnapshots: 1 },
  });
  await leader.conn.run('create table t (id integer, pad varchar)');
  await leader.conn.run('CHECKPOINT');
  await replicator.startLineage('app', path, term);
  for (let i = 0; i < 6; i++) {
    await leader.conn.run(`insert into t select range, repeat('x', 100) from range(${i * 1000}, ${i * 1000 + 1000})`);
    await leader.conn.run('CHECKPOINT');
    await replicator.pushCheckpoint('app', { forceSnapshot: i % 2 === 1 });
  }
  return { leader, term, replicator };
}

let dir: string;
let cleanup: () => Promise<void>;
let storage: MemStorageBackend;
beforeEach(async () => {
  ({ dir, cleanup } = await tempDir('fenced'));
  storage = new MemStorageBackend();
});
afterEach(async () => {
  await storage.close();
  await cleanup();
});

describe('housekeeping is fenced by the leader term', () => {
  it('a fenced leader deletes nothing: retention checks the fence before deleting', async () => {
    const { leader, term, replicator } = await history(dir, storage);
    try {
      const before = await storage.list(PREFIX);
      expect(before.filter((k) => k.includes('/0001/')).length).toBeGreaterThanOrEqual(3);
      term.fence.trip('a newer term exists');
      const err = await replicator.applyRetention('app').catch((e: unknown) => e);
      expect(isCoordinatorError(err, 'HADB_CORE_FENCED')).toBe(true);
      const offline = await applyRetention(storage, PREFIX, 'app', 1, { fence: term.fence }).catch((e: unknown) => e);
      expect(isCoordinatorError(offline, 'HADB_CORE_FENCED')).toBe(true);
      expect(await storage.list(PREFIX)).toEqual(before);
      // The same history with a valid term: retention does delete (the test above can fail).
      const live = await applyRetention(storage, PREFIX, 'app', 1, { fence: testTerm('app', 1).fence });
      expect(live.deletedSnapshots + live.deletedSegments).toBeGreaterThan(0);
    } finally {
      await replicator.remove('app');
      leader.close();
    }
  });

  it('the end of the term aborts the delete in flight and stops the rest', async () => {
    const { leader, term, replicator } = await history(dir, storage);
    try {
      const before = await storage.list(PREFIX);
      const slow = withFaults(storage, { seed: 1, latencyMs: 60_000, operations: ['deleteMany'] });
      const running = applyRetention(slow, PREFIX, 'app', 1, { fence: term.fence, batchSize: 1 });
      running.catch(() => undefined);
      while (slow.faultCounts().calls === 0) await new Promise((r) => setTimeout(r, 5));
      term.fence.trip('lease lost');
      await expect(running).rejects.toThrow();
      expect(slow.faultCounts().calls).toBe(1);
      expect(await storage.list(PREFIX)).toEqual(before);
    } finally {
      await replicator.remove('app');
      leader.close();
    }
  });

  it('a fenced leader writes no snapshot and runs no retention after it', async () => {
    const { leader, term, replicator } = await history(dir, storage);
    try {
      const before = await storage.list(PREFIX);
      await leader.conn.run('insert into t values (-1, null)');
      await leader.conn.run('CHECKPOINT');
      term.fence.trip('deposed');
      await expect(replicator.snapshot('app')).rejects.toThrow();
      await expect(replicator.pushCheckpoint('app', { forceSnapshot: true })).rejects.toThrow();
      expect(await storage.list(PREFIX)).toEqual(before);
    } finally {
      await replicator.remove('app');
      leader.close();
    }
  });
});
