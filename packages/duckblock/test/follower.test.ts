import { join } from 'node:path';
import { EpochGate, silentLogger, systemClock, type FollowerProgress } from '@hadb/core';
import { MemStorageBackend } from '@hadb/storage-mem';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DuckblockFollowerBehavior, DuckblockReplicator } from '../src/index.js';
import { openLeader, sha256File, sha256Leader, tempDir, testTerm } from './helpers.js';

function progressRecorder(): FollowerProgress & { reports: bigint[] } {
  const state = { position: 0n, caughtUp: false, reports: [] as bigint[] };
  return {
    get position() {
      return state.position;
    },
    get caughtUp() {
      return state.caughtUp;
    },
    reports: state.reports,
    report(p: bigint) {
      if (p < state.position) throw new Error('position went back');
      state.position = p;
      state.reports.push(p);
    },
    setCaughtUp(c: boolean) {
      state.caughtUp = c;
    },
  };
}

describe('DuckblockFollowerBehavior', () => {
  let dir: string;
  let cleanup: () => Promise<void>;
  let leader: Awaited<ReturnType<typeof openLeader>>;
  const storage = new MemStorageBackend();
  const replicator = new DuckblockReplicator({ storage, prefix: 'f/', snapshot: { intervalMs: 0, afterFileSizes: 0 } });
  let leaderPath: string;

  beforeAll(async () => {
    ({ dir, cleanup } = await tempDir('follow'));
    leaderPath = join(dir, 'leader.duckdb');
    leader = await openLeader(leaderPath);
    await leader.conn.run(`create table t as select range id from range(100000)`);
    await leader.conn.run('CHECKPOINT');
    await replicator.startLineage('db', leaderPath, testTerm('db', 3));
  });

  afterAll(async () => {
    leader.close();
    await cleanup();
  });

  it('polls, applies in order, reports progress and admits epochs through the gate', async () => {
    const behavior = new DuckblockFollowerBehavior(replicator);
    const followerPath = join(dir, 'follower.duckdb');
    const progress = progressRecorder();
    const gate = new EpochGate(0);
    const counts = { ok: 0, failed: 0, none: 0 };
    const controller = new AbortController();
    const loop = behavior.runFollowerLoop({
      db: 'db',
      path: followerPath,
      prefix: 'f/',
      replicator,
      pollIntervalMs: 10,
      clock: systemClock,
      signal: controller.signal,
      progress,
      epochGate: gate,
      metrics: {
        pullSucceeded: () => counts.ok++,
        pullFailed: () => counts.failed++,
        pullNoNewData: () => counts.none++,
      },
      logger: silentLogger,
    });
    for (let i = 0; i < 3; i++) {
      await leader.conn.run(`insert into t select range from range(${200000 + i * 10}, ${200000 + i * 10 + 10})`);
      await leader.conn.run('CHECKPOINT');
      await replicator.pushCheckpoint('db');
    }
    const head = replicator.head('db')!.seq;
    const deadline = Date.now() + 20_000;
    while ((progress.position < head || !progress.caughtUp) && Date.now() < deadline) await systemClock.sleep(10);
    controller.abort();
    await loop;
    expect(progress.position).toBe(head);
    expect(progress.caughtUp).toBe(true);
    expect(gate.highest).toBe(3);
    expect(counts.failed).toBe(0);
    expect(await sha256File(followerPath)).toBe(await sha256Leader(leaderPath));
    expect(await behavior.durableHead('db')).toEqual({ position: head, epoch: 3 });

    // Catch-up on promotion returns the head it reached.
    await leader.conn.run(`insert into t select 999999`);
    await leader.conn.run('CHECKPOINT');
    await replicator.pushCheckpoint('db');
    const reached = await behavior.catchupOnPromotion({
      db: 'db',
      path: followerPath,
      prefix: 'f/',
      replicator,
      position: progress.position,
      epochGate: gate,
      clock: systemClock,
      signal: new AbortController().signal,
      logger: silentLogger,
    });
    expect(reached).toBe(replicator.head('db')!.seq);
    expect(await sha256File(followerPath)).toBe(await sha256Leader(leaderPath));
  });
});

describe('idle polls', () => {
  it('cost one HEAD of the next key between listings, and still find new segments at once', async () => {
    const { dir, cleanup } = await tempDir('idle');
    const inner = new MemStorageBackend();
    const calls = { list: 0, exists: 0 };
    const storage = new Proxy(inner, {
      get(target, prop, receiver) {
        const value = Reflect.get(target, prop, receiver) as unknown;
        if (typeof value !== 'function') return value;
        return (...args: unknown[]) => {
          if (prop === 'list') calls.list++;
          if (prop === 'exists') calls.exists++;
          return (value as (...a: unknown[]) => unknown).apply(target, args);
        };
      },
    });
    const leaderPath = join(dir, 'l.duckdb');
    const leader = await openLeader(leaderPath);
    try {
      const rep = new DuckblockReplicator({ storage, prefix: 'i/', snapshot: { intervalMs: 0, afterFileSizes: 0 } });
      await leader.conn.run(`create table t as select range id from range(1000)`);
      await leader.conn.run('CHECKPOINT');
      await rep.startLineage('db', leaderPath, testTerm('db', 1));
      const follower = new DuckblockReplicator({ storage, prefix: 'i/', listIntervalMs: 60_000 });
      const path = join(dir, 'f.duckdb');
      await follower.pull('db', path);
      calls.list = 0;
      calls.exists = 0;
      for (let i = 0; i < 5; i++) await follower.pull('db', path);
      expect(calls).toEqual({ list: 0, exists: 5 });
      await leader.conn.run(`insert into t select 5`);
      await leader.conn.run('CHECKPOINT');
      await rep.pushCheckpoint('db');
      await follower.pull('db', path);
      expect(await sha256File(path)).toBe(await sha256Leader(leaderPath));
    } finally {
      leader.close();
      await cleanup();
    }
  });
});
