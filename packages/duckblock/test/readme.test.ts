// The README example, run as written (paths moved into a temporary directory).
import { join } from 'node:path';
import { DuckDBInstance } from '@duckdb/node-api';
import { TermFence, systemClock } from '@hadb/core';
import { LocalStorageBackend } from '@hadb/storage-local';
import { describe, expect, it } from 'vitest';
import { DuckblockReplicator, releaseLeaderFile } from '../src/index.js';
import { sha256File, tempDir } from './helpers.js';

describe('README example', () => {
  it('leader push, follower pull, prepared push', async () => {
    const { dir, cleanup } = await tempDir('readme');
    const dbPath = join(dir, 'app.duckdb');
    const replicaPath = join(dir, 'replica.duckdb');
    const storage = await LocalStorageBackend.open({ root: join(dir, 'bucket') });
    const replicator = new DuckblockReplicator({ storage, prefix: 'duckblock/' });
    const db = await DuckDBInstance.create(dbPath, { checkpoint_threshold: '100GB' });
    const conn = await db.connect();
    try {
      await conn.run(`create table t (id INTEGER, v VARCHAR)`);
      const fence = new TermFence({
        db: 'app',
        epoch: 1,
        clock: systemClock,
        sentAt: systemClock.now(),
        windowMs: Infinity,
      });
      await replicator.startLineage('app', dbPath, { db: 'app', epoch: 1, instanceId: 'a', sessionId: 's', fence });
      await conn.run(`insert into t values (1, 'x')`);
      await conn.run('CHECKPOINT');
      const pushed = await replicator.pushCheckpoint('app');
      expect(pushed.shipped).toBe(true);
      const follower = new DuckblockReplicator({ storage, prefix: 'duckblock/' });
      const seq = await follower.pull('app', replicaPath);
      expect(seq).toBe(pushed.seq);
      const replica = await DuckDBInstance.create(replicaPath, { access_mode: 'READ_ONLY' });
      const rc = await replica.connect();
      expect((await rc.runAndReadAll('select count(*) from t')).getRows()).toEqual([[1n]]);
      rc.closeSync();
      replica.closeSync();

      await conn.run(`insert into t values (2, 'y')`);
      await conn.run('CHECKPOINT');
      const prepared = await replicator.prepareCheckpoint('app');
      const result = await prepared?.upload();
      expect(result?.shipped).toBe(true);
      await follower.pull('app', replicaPath);
    } finally {
      conn.closeSync();
      db.closeSync();
      await releaseLeaderFile(dbPath);
    }
    expect(await sha256File(replicaPath)).toBe(await sha256File(dbPath));
    await storage.close();
    await cleanup();
  });
});
