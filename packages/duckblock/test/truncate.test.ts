import { stat } from 'node:fs/promises';
import { join } from 'node:path';
import { MemStorageBackend } from '@hadb/storage-mem';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DuckblockReplicator, decode, incrementalKey } from '../src/index.js';
import { openLeader, sha256File, sha256Leader, tempDir, testTerm } from './helpers.js';

// DuckDB writes the new header (block count included) and then truncates trailing free blocks,
// so the file can be shorter than its header implies. The size marker keeps followers exact.
describe('a checkpoint that shrinks the file', () => {
  let dir: string;
  let cleanup: () => Promise<void>;
  let leader: Awaited<ReturnType<typeof openLeader>>;
  const storage = new MemStorageBackend();
  const replicator = new DuckblockReplicator({ storage, prefix: 's/', snapshot: { intervalMs: 0, afterFileSizes: 0 } });

  beforeAll(async () => {
    ({ dir, cleanup } = await tempDir('shrink'));
  });
  afterAll(async () => {
    leader?.close();
    await cleanup();
  });

  it('follows DuckDB truncating trailing free blocks byte-identically', async () => {
    const leaderPath = join(dir, 'leader.duckdb');
    const followerPath = join(dir, 'follower.duckdb');
    leader = await openLeader(leaderPath);
    await leader.conn.run(`create table t as select range id from range(100000)`);
    await leader.conn.run('CHECKPOINT');
    await replicator.startLineage('db', leaderPath, testTerm('db', 1));
    await replicator.pull('db', followerPath);
    let shrunk = 0;
    for (let i = 0; i < 4; i++) {
      const before = (await stat(leaderPath)).size;
      await leader.conn.run(`insert into t select range from range(${200000 + i * 10}, ${200000 + i * 10 + 10})`);
      await leader.conn.run('CHECKPOINT');
      const size = (await stat(leaderPath)).size;
      if (size < before) shrunk++;
      // The shorthand form: known-dirty blocks as the second argument (block 0 is always there).
      const pushed = await replicator.pushCheckpoint('db', [0]);
      const seg = decode((await storage.get(incrementalKey('s/', 'db', pushed.seq)))!.data);
      expect(seg.fileSize).toBe(size);
      await replicator.pull('db', followerPath);
      expect((await stat(followerPath)).size).toBe(size);
      expect(await sha256File(followerPath)).toBe(await sha256Leader(leaderPath));
    }
    expect(shrunk).toBeGreaterThan(0);
  });
});
