import { join } from 'node:path';
import type { GetStreamOptions, ObjectStream, StorageBackend } from '@hadb/storage';
import { MemStorageBackend } from '@hadb/storage-mem';
import { holdReads, withFaults } from '@hadb/testkit/storage';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DuckblockReplicator, incrementalKey, pullIncremental, readPosition } from '../src/index.js';
import { openLeader, tempDir, testTerm } from './helpers.js';

const DB = 'cancel';
const PREFIX = 'c/';

/**
 * `inner` whose `getStream` of `key` records whether the body it returned was closed.
 */
function trackClose(inner: StorageBackend, key: string): { storage: StorageBackend; closed: boolean[] } {
  const closed: boolean[] = [];
  const storage = new Proxy(inner, {
    get(t, prop, receiver) {
      if (prop !== 'getStream') {
        const v = Reflect.get(t, prop, receiver) as unknown;
        return typeof v === 'function' ? (v as (...a: unknown[]) => unknown).bind(t) : v;
      }
      return async (k: string, options?: GetStreamOptions): Promise<ObjectStream | null> => {
        const s = await t.getStream(k, options);
        if (k !== key || s === null) return s;
        const at = closed.push(false) - 1;
        const inner = s.body[Symbol.asyncIterator]();
        const body: AsyncIterable<Uint8Array> = {
          [Symbol.asyncIterator]: () => ({
            next: () => inner.next(),
            return: async () => {
              closed[at] = true;
              return (await inner.return?.()) ?? { done: true, value: undefined };
            },
          }),
        };
        return { ...s, body };
      };
    },
  });
  return { storage, closed };
}

describe('pullIncremental: downloads ahead when a pull stops', () => {
  let dir: string;
  let cleanup: () => Promise<void>;
  let leader: Awaited<ReturnType<typeof openLeader>>;
  let followerPath: string;
  let start: bigint;
  const storage = new MemStorageBackend();
  const replicator = new DuckblockReplicator({
    storage,
    prefix: PREFIX,
    snapshot: { intervalMs: 0, afterFileSizes: 0 },
  });

  beforeAll(async () => {
    ({ dir, cleanup } = await tempDir('cancel'));
    const leaderPath = join(dir, 'leader.duckdb');
    leader = await openLeader(leaderPath);
    await leader.conn.run('create table t as select range id from range(1000)');
    await leader.conn.run('CHECKPOINT');
    await replicator.startLineage(DB, leaderPath, testTerm(DB, 1));
    followerPath = join(dir, 'follower.duckdb');
    await pullIncremental(storage, PREFIX, DB, followerPath);
    start = (await readPosition(followerPath))!.seq;
    for (let i = 0; i < 6; i++) {
      await leader.conn.run(`insert into t values (${10_000 + i})`);
      await leader.conn.run('CHECKPOINT');
      expect((await replicator.pushCheckpoint(DB)).shipped).toBe(true);
    }
  });

  afterAll(async () => {
    leader.close();
    await cleanup();
  });

  it('cancels the downloads in flight and closes the streams not applied when a download fails', async () => {
    const key = (n: number) => incrementalKey(PREFIX, DB, start + BigInt(n));
    // Segment 1 applies, segment 2 fails; 3 is downloaded as a stream and never applied; 4 and 5
    // are still downloading when the pull fails.
    const held = holdReads(storage, (op, k) => op === 'getStream' && (k === key(4) || k === key(5)));
    const tracked = trackClose(held.storage, key(3));
    const failing = withFaults(tracked.storage, {
      seed: 1,
      errorRate: 1,
      operations: ['getStream'],
      keys: (k) => k === key(2),
    });
    await expect(
      pullIncremental(failing, PREFIX, DB, followerPath, { concurrency: 4, streamAboveBytes: 0 }),
    ).rejects.toMatchObject({ code: 'HADB_STORAGE_UNAVAILABLE' });
    expect((await readPosition(followerPath))!.seq).toBe(start + 1n);
    expect(held.signals.length).toBe(2);
    for (const s of held.signals) expect(s?.aborted).toBe(true);
    await new Promise((resolve) => setTimeout(resolve, 10));
    expect(tracked.closed).toEqual([true]);
    // The next pull, unhindered, catches up.
    await pullIncremental(storage, PREFIX, DB, followerPath);
    expect((await readPosition(followerPath))!.seq).toBe(start + 6n);
  });
});
