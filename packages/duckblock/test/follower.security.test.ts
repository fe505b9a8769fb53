import { appendFileSync } from 'node:fs';
import { join } from 'node:path';
import { EpochGate, silentLogger, systemClock, type FollowerContext } from '@hadb/core';
import { MemStorageBackend } from '@hadb/storage-mem';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  DuckblockFollowerBehavior,
  DuckblockReplicator,
  encode,
  incrementalKey,
  newSegment,
  readPosition,
  removeLocalState,
  type DuckblockError,
} from '../src/index.js';
import { openLeader, sha256File, sha256Leader, tempDir, testTerm } from './helpers.js';

/**
 * A follower that meets a bad object in storage (issue 12, items 3 and 4): it applies nothing
 * past it, reports it once through `onPullError` (the HA node's `error` event), resumes when the
 * object is repaired, and a diverged local file is handed to `onDiverged` for reconciliation.
 */
const DB = 'fsec';
const PREFIX = 'fs/';

function context(
  path: string,
  replicator: DuckblockReplicator,
  signal: AbortSignal,
  progress: { position: bigint; caughtUp: boolean },
): FollowerContext {
  return {
    db: DB,
    path,
    prefix: PREFIX,
    replicator,
    pollIntervalMs: 10,
    clock: systemClock,
    signal,
    progress: {
      get position() {
        return progress.position;
      },
      get caughtUp() {
        return progress.caughtUp;
      },
      report: (p: bigint) => void (progress.position = p),
      setCaughtUp: (c: boolean) => void (progress.caughtUp = c),
    },
    epochGate: new EpochGate(0),
    metrics: { pullSucceeded: () => undefined, pullFailed: () => undefined, pullNoNewData: () => undefined },
    logger: silentLogger,
  };
}

async function until(cond: () => boolean | Promise<boolean>, ms = 20_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!(await cond())) {
    if (Date.now() > deadline) throw new Error('condition not reached');
    await systemClock.sleep(10);
  }
}

describe('follower security', () => {
  let dir: string;
  let cleanup: () => Promise<void>;
  let leader: Awaited<ReturnType<typeof openLeader>>;
  let leaderPath: string;
  const storage = new MemStorageBackend();
  const replicator = new DuckblockReplicator({
    storage,
    prefix: PREFIX,
    snapshot: { intervalMs: 0, afterFileSizes: 0 },
  });

  beforeAll(async () => {
    ({ dir, cleanup } = await tempDir('fsec'));
    leaderPath = join(dir, 'leader.duckdb');
    leader = await openLeader(leaderPath);
    await leader.conn.run('create table t as select range id from range(1000)');
    await leader.conn.run('CHECKPOINT');
    await replicator.startLineage(DB, leaderPath, testTerm(DB, 1));
  });
  afterAll(async () => {
    leader.close();
    await cleanup();
  });

  it('halts on a forged object, reports it once, and resumes once storage is repaired', async () => {
    const errors: DuckblockError[] = [];
    const behavior = new DuckblockFollowerBehavior(replicator, { onPullError: (_db, err) => errors.push(err) });
    const path = join(dir, 'follower.duckdb');
    const progress = { position: 0n, caughtUp: false };
    const controller = new AbortController();
    const loop = behavior.runFollowerLoop(context(path, replicator, controller.signal, progress));
    try {
      await until(() => progress.caughtUp);
      const head = replicator.head(DB)!;
      const key = incrementalKey(PREFIX, DB, head.seq + 1n);
      await storage.put(key, encode(newSegment(head.seq + 1n, head.checksum, [], { epoch: 1n, fileSize: 1024 ** 4 })));
      await until(() => errors.length > 0);
      await systemClock.sleep(200);
      expect(errors.map((e) => e.code)).toEqual(['HADB_DUCKBLOCK_CORRUPT']);
      expect(progress.position).toBe(head.seq);
      expect((await readPosition(path))?.seq).toBe(head.seq);
      // Repaired: the leader's next checkpoint takes that seq, and the follower follows it.
      await storage.delete(key);
      await leader.conn.run('insert into t values (5000)');
      await leader.conn.run('CHECKPOINT');
      await replicator.pushCheckpoint(DB);
      await until(() => progress.position === replicator.head(DB)!.seq && progress.caughtUp);
      expect(await sha256File(path)).toBe(await sha256Leader(leaderPath));
    } finally {
      controller.abort();
      await loop;
    }
  });

  it('hands a diverged local file to onDiverged, and follows again once it is reconciled', async () => {
    const path = join(dir, 'diverged.duckdb');
    await new DuckblockReplicator({ storage, prefix: PREFIX, listIntervalMs: 0 }).pull(DB, path);
    // Changed outside replication: the file no longer matches its recorded position.
    appendFileSync(path, Buffer.alloc(262_144, 1));
    let reconciled = 0;
    const errors: string[] = [];
    const behavior = new DuckblockFollowerBehavior(replicator, {
      onPullError: (_db, err) => errors.push(err.code),
      onDiverged: async () => {
        reconciled++;
        // What haduck's reconciliation does for a file it cannot follow from: set it aside.
        await removeLocalState(path);
      },
    });
    const progress = { position: 0n, caughtUp: false };
    const controller = new AbortController();
    const loop = behavior.runFollowerLoop(context(path, replicator, controller.signal, progress));
    try {
      await until(() => reconciled > 0 && progress.caughtUp);
      expect(errors).toContain('HADB_DUCKBLOCK_DIVERGED');
      expect(await sha256File(path)).toBe(await sha256Leader(leaderPath));
    } finally {
      controller.abort();
      await loop;
    }
  });
});
