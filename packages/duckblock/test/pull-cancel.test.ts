import { join } from 'node:path';
import type { GetStreamOptions, ObjectStream, StorageBackend } from '@hadb/storage';
import { MemStorageBackend } from '@hadb/storage-mem';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DuckblockReplicator, incrementalKey, pullIncremental, readPosition } from '../src/index.js';
import { openLeader, tempDir, testTerm } from './helpers.js';

const DB = 'cancel';
const PREFIX = 'c/';

/** How the wrapped storage answers `getStream` of one key. */
type Plan = 'fail' | 'hold' | 'track';

/**
 * `storage` whose `getStream` follows `plans` per key: `fail` rejects at once, `hold` never answers
 * until its signal aborts, `track` answers and records whether its body was closed. Other keys
 * pass through.
 */
function planned(storage: StorageBackend, plans: ReadonlyMap<string, Plan>) {
  const held: (AbortSignal | undefined)[] = [];
  const tracked: { closed: boolean }[] = [];
  const getStream = async (key: string, options: GetStreamOptions = {}): Promise<ObjectStream | null> => {
    const plan = plans.get(key);
    if (plan === 'fail') throw new Error('injected');
    if (plan === 'hold') {
      const signal = options.signal;
      held.push(signal);
      return new Promise((_, reject) => {
        signal?.addEventListener('abort', () => reject(signal.reason), { once: true });
      });
    }
    const s = await storage.getStream(key, options);
    if (plan !== 'track' || s === null) return s;
    const t = { closed: false };
    tracked.push(t);
    const inner = s.body[Symbol.asyncIterator]();
    const body: AsyncIterable<Uint8Array> = {
      [Symbol.asyncIterator]: () => ({
        next: () => inner.next(),
        return: async () => {
          t.closed = true;
          return (await inner.return?.()) ?? { done: true, value: undefined };
        },
      }),
    };
    return { ...s, body };
  };
  const proxy = new Proxy(storage, {
    get(target, prop, receiver) {
      if (prop === 'getStream') return getStream;
      const value = Reflect.get(target, prop, receiver) as unknown;
      return typeof value === 'function' ? (value as (...a: unknown[]) => unknown).bind(target) : value;
    },
  });
  return { storage: proxy, held, tracked };
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
    const w = planned(
      storage,
      new Map<string, Plan>([
        [key(2), 'fail'],
        [key(3), 'track'],
        [key(4), 'hold'],
        [key(5), 'hold'],
      ]),
    );
    await expect(
      pullIncremental(w.storage, PREFIX, DB, followerPath, { concurrency: 4, streamAboveBytes: 0 }),
    ).rejects.toThrow('injected');
    expect((await readPosition(followerPath))!.seq).toBe(start + 1n);
    expect(w.held.length).toBe(2);
    for (const s of w.held) expect(s?.aborted).toBe(true);
    await new Promise((resolve) => setTimeout(resolve, 10));
    expect(w.tracked).toEqual([{ closed: true }]);
    // The next pull, unhindered, catches up.
    await pullIncremental(storage, PREFIX, DB, followerPath);
    expect((await readPosition(followerPath))!.seq).toBe(start + 6n);
  });
});
