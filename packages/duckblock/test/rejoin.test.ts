import { join } from 'node:path';
import { EpochGate, silentLogger, systemClock } from '@hadb/core';
import { MemStorageBackend } from '@hadb/storage-mem';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DuckblockFollowerBehavior, DuckblockReplicator } from '../src/index.js';
import { openLeader, sha256File, sha256Leader, tempDir, testTerm } from './helpers.js';

const NO_SNAPSHOTS = { intervalMs: 0, afterFileSizes: 0 };

/**
 * A node whose gate already saw a newer term (it applied, or read ahead, a segment of epoch 3) and
 * then rebuilds its local copy from an older snapshot, as an old leader rejoining after a partition
 * does: the chain's epoch-1 segments come before epoch 3's first segment and must be applied.
 */
describe('a follower rebuilding its copy after seeing a newer term', () => {
  let dir: string;
  let cleanup: () => Promise<void>;
  let leaderPath: string;
  let leader: Awaited<ReturnType<typeof openLeader>>;
  const storage = new MemStorageBackend();
  const first = new DuckblockReplicator({ storage, prefix: 'r/', snapshot: NO_SNAPSHOTS });
  const second = new DuckblockReplicator({ storage, prefix: 'r/', snapshot: NO_SNAPSHOTS });
  const behavior = new DuckblockFollowerBehavior(new DuckblockReplicator({ storage, prefix: 'r/', listIntervalMs: 0 }));

  const write = async (rep: DuckblockReplicator, from: number): Promise<void> => {
    await leader.conn.run(`insert into t select range from range(${from}, ${from + 50})`);
    await leader.conn.run('CHECKPOINT');
    await rep.pushCheckpoint('db');
  };
  const catchUp = (path: string, gate: EpochGate) =>
    behavior.catchupOnPromotion({
      db: 'db',
      path,
      prefix: 'r/',
      replicator: first,
      position: 0n,
      epochGate: gate,
      clock: systemClock,
      signal: new AbortController().signal,
      logger: silentLogger,
    });

  beforeAll(async () => {
    ({ dir, cleanup } = await tempDir('rejoin'));
    leaderPath = join(dir, 'leader.duckdb');
    leader = await openLeader(leaderPath);
    await leader.conn.run('create table t as select range id from range(1000)');
    await leader.conn.run('CHECKPOINT');
    await first.startLineage('db', leaderPath, testTerm('db', 1));
    await write(first, 10_000);
    await write(first, 20_000);
    // A new term (epoch 3) continues the chain from the same file.
    leader.close();
    await second.continueLineage('db', leaderPath, testTerm('db', 3));
    leader = await openLeader(leaderPath);
    await write(second, 30_000);
    await write(second, 40_000);
  });

  afterAll(async () => {
    leader.close();
    await cleanup();
  });

  it('applies the older term segments that precede the newer term, then catches up', async () => {
    const gate = new EpochGate();
    const head = second.head('db')!.seq;
    expect(await catchUp(join(dir, 'a.duckdb'), gate)).toBe(head);
    expect(gate.highest).toBe(3);

    // The copy is set aside and rebuilt from the epoch-1 snapshot with the same gate.
    const rebuilt = join(dir, 'b.duckdb');
    expect(await catchUp(rebuilt, gate)).toBe(head);
    expect(await sha256File(rebuilt)).toBe(await sha256Leader(leaderPath));
    expect(gate.accepts(1, head)).toBe(false);
  });

  it('also when the newer epoch is only known from outside the chain', async () => {
    const gate = new EpochGate();
    gate.observe(5);
    const path = join(dir, 'c.duckdb');
    expect(await catchUp(path, gate)).toBe(second.head('db')!.seq);
    expect(await sha256File(path)).toBe(await sha256Leader(leaderPath));
    expect(gate.highest).toBe(5);
  });
});
