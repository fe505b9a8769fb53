import { join } from 'node:path';
import { MemStorageBackend } from '@hadb/storage-mem';
import { withFaults } from '@hadb/testkit/storage';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DuckblockReplicator, isDuckblockError } from '../src/index.js';
import { openLeader, sha256File, sha256Leader, tempDir, testTerm } from './helpers.js';

for (const [mode, spillAboveBytes] of [
  ['in memory', undefined],
  ['spilled to a file', 0],
] as const) {
  describe(`prepareCheckpoint (${mode}): capture under the lock, upload after it`, () => {
    let dir: string;
    let cleanup: () => Promise<void>;
    let leader: Awaited<ReturnType<typeof openLeader>>;
    let leaderPath: string;
    const inner = new MemStorageBackend();
    const storage = withFaults(inner, { seed: 1, operations: ['putIfAbsent', 'putStream'] });
    const rep = new DuckblockReplicator({
      storage,
      prefix: 'p/',
      uploadRetries: 0,
      spillAboveBytes,
      snapshot: { intervalMs: 0, afterFileSizes: 0 },
    });
    const follower = new DuckblockReplicator({ storage: inner, prefix: 'p/', listIntervalMs: 0 });

    beforeAll(async () => {
      ({ dir, cleanup } = await tempDir('prepare'));
      leaderPath = join(dir, 'l.duckdb');
      leader = await openLeader(leaderPath);
      await leader.conn.run(`create table t as select range id from range(100000)`);
      await leader.conn.run('CHECKPOINT');
      await rep.startLineage('db', leaderPath, testTerm('db', 1));
    });
    afterAll(async () => {
      leader.close();
      await cleanup();
    });

    async function change(sql: string): Promise<void> {
      await leader.conn.run(sql);
      await leader.conn.run('CHECKPOINT');
    }

    it('uploads outside the lock; writes after the capture are not in the segment', async () => {
      await change(`insert into t select 1`);
      const prepared = await rep.prepareCheckpoint('db');
      expect(prepared).not.toBeNull();
      const captured = await sha256Leader(leaderPath);
      // A commit lands in the WAL while the upload runs (no checkpoint: the file does not change).
      await leader.conn.run(`insert into t select 2`);
      const result = await prepared!.upload();
      expect(result.seq).toBe(prepared!.seq);
      expect(result.snapshotDue).toBe(false);
      const path = join(dir, 'f.duckdb');
      await follower.pull('db', path);
      expect(await sha256File(path)).toBe(captured);
      expect(await rep.prepareCheckpoint('db')).toBeNull();
    });

    it('a later prepare supersedes an unstarted one and includes its changes', async () => {
      await change(`insert into t select 3`);
      const first = await rep.prepareCheckpoint('db');
      await change(`insert into t select 4`);
      const second = await rep.prepareCheckpoint('db');
      await expect(first!.upload()).rejects.toSatisfy((e: unknown) => isDuckblockError(e, 'HADB_DUCKBLOCK_SUPERSEDED'));
      expect(second!.seq).toBe(first!.seq);
      await second!.upload();
      const path = join(dir, 'f.duckdb');
      await follower.pull('db', path);
      expect(await sha256File(path)).toBe(await sha256Leader(leaderPath));
    });

    it('a failed upload loses nothing: the next checkpoint ships those blocks too', async () => {
      await change(`update t set id = id + 1 where id < 1000`);
      const failing = await rep.prepareCheckpoint('db');
      storage.setFaults({ errorRate: 1 });
      await expect(failing!.upload()).rejects.toThrow();
      storage.setFaults({ errorRate: 0 });
      await change(`insert into t select 5`);
      const next = await rep.prepareCheckpoint('db');
      expect(next!.seq).toBe(failing!.seq);
      expect(next!.blocks).toBeGreaterThanOrEqual(failing!.blocks);
      await next!.upload();
      const path = join(dir, 'f.duckdb');
      await follower.pull('db', path);
      expect(await sha256File(path)).toBe(await sha256Leader(leaderPath));
    });
  });
}
