import { stat } from 'node:fs/promises';
import { join } from 'node:path';
import { LocalStorageBackend } from '@hadb/storage-local';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DuckblockReplicator } from '../src/index.js';
import { openLeader, queryReadOnly, rowsJson, sha256File, sha256Leader, tempDir, testTerm } from './helpers.js';

const QUERIES = [`select count(*), sum(id), bit_xor(h), bit_xor(h2), sum(g) from big`];
const ROWS = 58_000_000;

describe('a table of more than 1 GiB', () => {
  let dir: string;
  let cleanup: () => Promise<void>;
  let leader: Awaited<ReturnType<typeof openLeader>>;
  let storage: LocalStorageBackend;
  let replicator: DuckblockReplicator;
  let leaderPath: string;
  let followerPath: string;

  beforeAll(async () => {
    ({ dir, cleanup } = await tempDir('big'));
    leaderPath = join(dir, 'leader.duckdb');
    followerPath = join(dir, 'follower.duckdb');
    // fsync off in the object store only: it is a stand-in bucket, the follower apply still fsyncs.
    storage = await LocalStorageBackend.open({ root: join(dir, 'bucket'), fsync: false });
    replicator = new DuckblockReplicator({ storage, prefix: 'big/', snapshot: { intervalMs: 0, afterFileSizes: 0 } });
    leader = await openLeader(leaderPath);
    await leader.conn.run(
      `create table big as select range::BIGINT id, hash(range) h, hash(range + 1) h2, (range % 1000)::INTEGER g from range(${ROWS})`,
    );
    await leader.conn.run('CHECKPOINT');
  }, 180_000);

  afterAll(async () => {
    leader?.close();
    await storage?.close();
    await cleanup();
  });

  async function checkIdentical(): Promise<void> {
    await replicator.pull('big', followerPath);
    expect(await sha256File(followerPath)).toBe(await sha256Leader(leaderPath));
    expect(await queryReadOnly(followerPath, QUERIES)).toEqual([await rowsJson(leader.conn, QUERIES[0]!)]);
  }

  it('snapshots (streamed) and restores byte-identically', async () => {
    expect((await stat(leaderPath)).size).toBeGreaterThan(2 ** 30);
    await replicator.startLineage('big', leaderPath, testTerm('big', 1));
    await checkIdentical();
  }, 120_000);

  it('ships a 1-row update and a 1,000-row insert, staying byte-identical', async () => {
    await leader.conn.run(`update big set h = 0 where id = 31337`);
    await leader.conn.run('CHECKPOINT');
    const update = await replicator.pushCheckpoint('big');
    expect(update.blocks).toBeLessThan(20);
    await checkIdentical();
    await leader.conn.run(`insert into big select range, hash(range), 0, 1 from range(${ROWS}, ${ROWS + 1000})`);
    await leader.conn.run('CHECKPOINT');
    const insert = await replicator.pushCheckpoint('big');
    expect(insert.blocks).toBeLessThan(20);
    await checkIdentical();
  }, 120_000);
});
