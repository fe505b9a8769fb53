import { rm } from 'node:fs/promises';
import { join } from 'node:path';
import { MemStorageBackend } from '@hadb/storage-mem';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  DuckblockReplicator,
  decode,
  discoverStrictChain,
  incrementalKey,
  isDuckblockError,
  readPosition,
} from '../src/index.js';
import { openLeader, sha256File, sha256Leader, tempDir, testTerm } from './helpers.js';

const NO_SNAPSHOTS = { intervalMs: 0, afterFileSizes: 0 } as const;

describe('lineages and terms', () => {
  let dir: string;
  let cleanup: () => Promise<void>;
  beforeAll(async () => {
    ({ dir, cleanup } = await tempDir('lineage'));
  });
  afterAll(async () => {
    await cleanup();
  });

  it('a new lineage (add on an existing history) is followed through its snapshot', async () => {
    const storage = new MemStorageBackend();
    const leaderPath = join(dir, 'a.duckdb');
    const followerPath = join(dir, 'a-follower.duckdb');
    const leader = await openLeader(leaderPath);
    try {
      const rep = new DuckblockReplicator({ storage, prefix: 'l/', snapshot: NO_SNAPSHOTS });
      await leader.conn.run(`create table t as select range id from range(50000)`);
      await leader.conn.run('CHECKPOINT');
      await rep.startLineage('db', leaderPath, testTerm('db', 1));
      await leader.conn.run(`insert into t select 1`);
      await leader.conn.run('CHECKPOINT');
      await rep.pushCheckpoint('db');
      const follower = new DuckblockReplicator({ storage, prefix: 'l/', listIntervalMs: 0 });
      const first = await follower.pull('db', followerPath);
      expect(first).toBe(2n);
      // A restarted leader starts a new lineage above every existing sequence.
      await leader.conn.run(`insert into t select 2`);
      await leader.conn.run('CHECKPOINT');
      await rep.startLineage('db', leaderPath, testTerm('db', 2));
      expect(rep.head('db')!.seq).toBe(3n);
      const result = await follower.pullDetailed('db', followerPath);
      expect(result.restored).toBe(true);
      expect(result.position?.seq).toBe(3n);
      expect(await sha256File(followerPath)).toBe(await sha256Leader(leaderPath));
      // The new lineage continues incrementally.
      await leader.conn.run(`insert into t select 3`);
      await leader.conn.run('CHECKPOINT');
      await rep.pushCheckpoint('db');
      expect((await follower.pullDetailed('db', followerPath)).applied).toBe(1);
      expect(await sha256File(followerPath)).toBe(await sha256Leader(leaderPath));
      // Strict discovery verifies the chain of the new lineage from its anchor.
      const pos = await readPosition(followerPath);
      const head = await discoverStrictChain(storage, 'l/', 'db', {
        seq: 3n,
        checksum: decode((await storage.get(incrementalKey('l/', 'db', 3n)))!.data).changeset.checksum,
      });
      expect(head.seq).toBe(pos!.seq);
      expect(head.checksum).toBe(pos!.checksum);
    } finally {
      leader.close();
    }
  });

  it('continueLineage applies a late write of the previous term, then claims; the old term is fenced', async () => {
    const storage = new MemStorageBackend();
    const oldPath = join(dir, 'old.duckdb');
    const newPath = join(dir, 'new.duckdb');
    const old = await openLeader(oldPath);
    try {
      const term1 = testTerm('db', 1);
      const oldRep = new DuckblockReplicator({ storage, prefix: 'w/', snapshot: NO_SNAPSHOTS });
      await old.conn.run(`create table t as select range id from range(50000)`);
      await old.conn.run('CHECKPOINT');
      await oldRep.startLineage('db', oldPath, term1);
      const newRep = new DuckblockReplicator({ storage, prefix: 'w/', snapshot: NO_SNAPSHOTS });
      const caughtUp = await newRep.pull('db', newPath);
      // The old leader ships once more after the new node caught up (a late write).
      await old.conn.run(`insert into t select range from range(60000, 60100)`);
      await old.conn.run('CHECKPOINT');
      const late = await oldRep.pushCheckpoint('db');
      expect(late.seq).toBe(caughtUp + 1n);
      await newRep.continueLineage('db', newPath, testTerm('db', 2));
      expect(newRep.head('db')!.seq).toBe(late.seq + 1n);
      expect(await sha256File(newPath)).toBe(await sha256Leader(oldPath));
      // The old term's next write hits the new term's claim.
      await old.conn.run(`insert into t select 1`);
      await old.conn.run('CHECKPOINT');
      let caught: unknown;
      try {
        await oldRep.pushCheckpoint('db');
      } catch (err) {
        caught = err;
      }
      expect(isDuckblockError(caught, 'HADB_DUCKBLOCK_FENCED')).toBe(true);
      expect(term1.fence.isValid()).toBe(false);
    } finally {
      old.close();
    }
  });

  it('snapshot policy and retention run from pushCheckpoint', async () => {
    const storage = new MemStorageBackend();
    const leaderPath = join(dir, 'r.duckdb');
    const leader = await openLeader(leaderPath);
    try {
      const rep = new DuckblockReplicator({
        storage,
        prefix: 'r/',
        snapshot: { intervalMs: 0, afterFileSizes: 0, everySegments: 2, minIntervalMs: 0 },
        retention: { keepSnapshots: 2 },
      });
      await leader.conn.run(`create table t as select range id from range(50000)`);
      await leader.conn.run('CHECKPOINT');
      await rep.startLineage('db', leaderPath, testTerm('db', 1));
      const snapshots: bigint[] = [];
      for (let i = 0; i < 6; i++) {
        await leader.conn.run(`insert into t select ${100000 + i}`);
        await leader.conn.run('CHECKPOINT');
        const pushed = await rep.pushCheckpoint('db');
        if (pushed.snapshot !== undefined) snapshots.push(pushed.snapshot.seq);
      }
      expect(snapshots).toEqual([3n, 5n, 7n]);
      const keys = await storage.list('r/db/');
      const snaps = keys.filter((k) => k.includes('/0001/'));
      const incs = keys.filter((k) => k.includes('/0000/')).map((k) => BigInt(`0x${k.slice(-22, -6)}`));
      expect(snaps).toHaveLength(2);
      expect(incs.every((s) => s > 5n)).toBe(true);
      // A fresh follower restores the newest snapshot and is exact.
      const follower = join(dir, 'r-follower.duckdb');
      await new DuckblockReplicator({ storage, prefix: 'r/', listIntervalMs: 0 }).pull('db', follower);
      expect(await sha256File(follower)).toBe(await sha256Leader(leaderPath));
    } finally {
      leader.close();
    }
  });

  it('never patches a follower file changed outside replication; restores a deleted one', async () => {
    const storage = new MemStorageBackend();
    const leaderPath = join(dir, 'd.duckdb');
    const followerPath = join(dir, 'd-follower.duckdb');
    const leader = await openLeader(leaderPath);
    try {
      const rep = new DuckblockReplicator({ storage, prefix: 'd/', snapshot: NO_SNAPSHOTS });
      await leader.conn.run(`create table t as select range id from range(50000)`);
      await leader.conn.run('CHECKPOINT');
      await rep.startLineage('db', leaderPath, testTerm('db', 1));
      const follower = new DuckblockReplicator({ storage, prefix: 'd/', listIntervalMs: 0 });
      await follower.pull('db', followerPath);
      // Someone opens the replica read-write and writes to it.
      const rogue = await openLeader(followerPath);
      await rogue.conn.run(`insert into t select -1`);
      await rogue.conn.run('CHECKPOINT');
      rogue.close();
      await leader.conn.run(`insert into t select 7`);
      await leader.conn.run('CHECKPOINT');
      await rep.pushCheckpoint('db');
      const changed = await sha256File(followerPath);
      let caught: unknown;
      try {
        await follower.pull('db', followerPath);
      } catch (err) {
        caught = err;
      }
      expect(isDuckblockError(caught, 'HADB_DUCKBLOCK_DIVERGED'), String(caught)).toBe(true);
      expect(await sha256File(followerPath)).toBe(changed);
      // A deleted replica file is restored from storage.
      await rm(followerPath);
      await follower.pull('db', followerPath);
      expect(await sha256File(followerPath)).toBe(await sha256Leader(leaderPath));
    } finally {
      leader.close();
    }
  });

  it('replicates a never-checkpointed database and one with 16 KiB blocks', async () => {
    const { DuckDBInstance } = await import('@duckdb/node-api');
    for (const [name, config] of [
      ['empty', {}],
      ['small-blocks', { default_block_size: '16384' }],
    ] as const) {
      const storage = new MemStorageBackend();
      const leaderPath = join(dir, `${name}.duckdb`);
      const followerPath = join(dir, `${name}-follower.duckdb`);
      const instance = await DuckDBInstance.create(leaderPath, { checkpoint_threshold: '100GB', ...config });
      const conn = await instance.connect();
      try {
        const rep = new DuckblockReplicator({ storage, prefix: 'e/', snapshot: NO_SNAPSHOTS });
        await rep.startLineage('db', leaderPath, testTerm('db', 1));
        const follower = new DuckblockReplicator({ storage, prefix: 'e/', listIntervalMs: 0 });
        await follower.pull('db', followerPath);
        expect(await sha256File(followerPath)).toBe(await sha256Leader(leaderPath));
        await conn.run(`create table t as select range id, hash(range) h from range(300000)`);
        await conn.run('CHECKPOINT');
        const pushed = await rep.pushCheckpoint('db');
        expect(pushed.shipped).toBe(true);
        await follower.pull('db', followerPath);
        expect(await sha256File(followerPath)).toBe(await sha256Leader(leaderPath));
        await conn.run(`update t set h = 0 where id = 5`);
        await conn.run('CHECKPOINT');
        const update = await rep.pushCheckpoint('db');
        // 64 pages per 256 KiB block, 4 per 16 KiB block: each shipped block costs its own size.
        const blockSize = name === 'small-blocks' ? 16_384 : 262_144;
        expect(update.bytes).toBeLessThan(1.02 * (update.blocks * blockSize + update.headerPages * 4096));
        const { leaderFileHandle } = await import('../src/index.js');
        const { scanFile } = await import('../src/index.js');
        expect(scanFile((await leaderFileHandle(leaderPath)).fd).manifest.blockAllocSize).toBe(blockSize);
        await follower.pull('db', followerPath);
        expect(await sha256File(followerPath)).toBe(await sha256Leader(leaderPath));
      } finally {
        conn.closeSync();
        instance.closeSync();
      }
    }
  });

  it('applies a backlog in order with a bounded download window', async () => {
    const storage = new MemStorageBackend();
    const leaderPath = join(dir, 'w.duckdb');
    const followerPath = join(dir, 'w-follower.duckdb');
    const leader = await openLeader(leaderPath);
    try {
      const rep = new DuckblockReplicator({ storage, prefix: 'b/', snapshot: NO_SNAPSHOTS });
      await leader.conn.run(`create table t as select range id from range(50000)`);
      await leader.conn.run('CHECKPOINT');
      await rep.startLineage('db', leaderPath, testTerm('db', 1));
      const follower = new DuckblockReplicator({ storage, prefix: 'b/', listIntervalMs: 0 });
      await follower.pull('db', followerPath);
      for (let i = 0; i < 6; i++) {
        await leader.conn.run(`insert into t select range from range(${100000 + i * 10}, ${100000 + i * 10 + 10})`);
        await leader.conn.run('CHECKPOINT');
        await rep.pushCheckpoint('db');
      }
      const seen: bigint[] = [];
      const result = await follower.pullDetailed('db', followerPath, {
        concurrency: 3,
        maxBufferedBytes: 1,
        onApplied: (p) => {
          seen.push(p.seq);
        },
      });
      expect(result.applied).toBe(6);
      expect(seen).toEqual([2n, 3n, 4n, 5n, 6n, 7n]);
      expect(await sha256File(followerPath)).toBe(await sha256Leader(leaderPath));
    } finally {
      leader.close();
    }
  });
});
