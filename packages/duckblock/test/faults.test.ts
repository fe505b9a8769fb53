import { join } from 'node:path';
import { isStorageError, StorageError, type StorageBackend } from '@hadb/storage';
import { MemStorageBackend } from '@hadb/storage-mem';
import { withFaults } from '@hadb/testkit/storage';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DuckblockReplicator, isDuckblockError, readPosition, recoverFile } from '../src/index.js';
import { openLeader, sha256File, sha256Leader, tempDir, testTerm } from './helpers.js';

const NO_SNAPSHOTS = { intervalMs: 0, afterFileSizes: 0 } as const;

describe('storage faults', () => {
  let dir: string;
  let cleanup: () => Promise<void>;
  let leader: Awaited<ReturnType<typeof openLeader>>;
  let leaderPath: string;
  const storage = new MemStorageBackend();
  /** Leader file hash at each sequence, to check every intermediate follower state. */
  const hashes = new Map<bigint, string>();

  beforeAll(async () => {
    ({ dir, cleanup } = await tempDir('faults'));
    leaderPath = join(dir, 'leader.duckdb');
    leader = await openLeader(leaderPath);
    await leader.conn.run(`create table t as select range id, hash(range) h from range(200000)`);
    await leader.conn.run('CHECKPOINT');
  });
  afterAll(async () => {
    leader.close();
    await cleanup();
  });

  it('leader writes survive lost replies and transient errors without duplicates or gaps', async () => {
    const faulty = withFaults(storage, { seed: 7, lostReplies: 0.4, errorRate: 0.2, operations: ['putIfAbsent'] });
    const rep = new DuckblockReplicator({ storage: faulty, prefix: 'x/', snapshot: NO_SNAPSHOTS, uploadRetries: 8 });
    await rep.startLineage('db', leaderPath, testTerm('db', 1));
    hashes.set(rep.head('db')!.seq, await sha256Leader(leaderPath));
    for (let i = 0; i < 8; i++) {
      await leader.conn.run(`update t set h = h + 1 where id % 50 = ${i}`);
      await leader.conn.run('CHECKPOINT');
      const pushed = await rep.pushCheckpoint('db');
      hashes.set(pushed.seq, await sha256Leader(leaderPath));
    }
    const counts = faulty.faultCounts();
    expect(counts.errors + counts.lostReplies).toBeGreaterThan(0);
    const keys = (await storage.list('x/db/0000/')).length;
    expect(keys).toBe(9);
  });

  it('a follower under read errors only ever stands at a complete leader state, then converges', async () => {
    const faulty = withFaults(storage, { seed: 11, errorRate: 0.25, operations: ['get', 'list', 'getStream', 'head'] });
    const follower = new DuckblockReplicator({ storage: faulty, prefix: 'x/', listIntervalMs: 0 });
    const path = join(dir, 'follower.duckdb');
    let failures = 0;
    for (let attempt = 0; attempt < 60; attempt++) {
      try {
        await follower.pull('db', path, {});
        break;
      } catch (err) {
        expect(isStorageError(err) || isDuckblockError(err)).toBe(true);
        failures++;
        const position = await recoverFile(path);
        if (position !== null) expect(await sha256File(path)).toBe(hashes.get(position.seq));
      }
    }
    expect(failures).toBeGreaterThan(0);
    expect(await sha256File(path)).toBe(await sha256Leader(leaderPath));
  });

  it('a download cut mid-stream never installs a partial snapshot', async () => {
    const faulty = withFaults(storage, { seed: 3, streamErrors: 1, operations: ['getStream'] });
    const follower = new DuckblockReplicator({ storage: faulty, prefix: 'x/', listIntervalMs: 0 });
    const path = join(dir, 'cut.duckdb');
    await expect(follower.pull('db', path)).rejects.toSatisfy((err: unknown) =>
      isStorageError(err, 'HADB_STORAGE_UNAVAILABLE'),
    );
    expect(await readPosition(path)).toBeNull();
    await expect(sha256File(path)).rejects.toThrow(/ENOENT/);
    faulty.setFaults({ streamErrors: 0 });
    await follower.pull('db', path);
    expect(await sha256File(path)).toBe(await sha256Leader(leaderPath));
  });

  it('a non-atomic store exposing a truncated segment is refused; the follower file is untouched', async () => {
    const torn = withFaults(storage, { seed: 5, tornWrites: 1, operations: ['putIfAbsent'] });
    const term = testTerm('db', 2);
    const rep = new DuckblockReplicator({ storage: torn, prefix: 'x/', snapshot: NO_SNAPSHOTS });
    const path = join(dir, 'follower.duckdb');
    await rep.continueLineage('db', path, term);
    // Another follower (the one restored in the previous test) reads the torn claim segment.
    const other = join(dir, 'cut.duckdb');
    const follower = new DuckblockReplicator({ storage, prefix: 'x/', listIntervalMs: 0 });
    const before = await sha256File(other);
    let caught: unknown;
    try {
      await follower.pull('db', other);
    } catch (err) {
      caught = err;
    }
    expect(isDuckblockError(caught, 'HADB_DUCKBLOCK_CORRUPT'), String(caught)).toBe(true);
    expect(await sha256File(other)).toBe(before);
  });

  it('spilled checkpoints streamed with conditional writes survive lost replies too', async () => {
    const faulty = withFaults(storage, { seed: 9, lostReplies: 0.5, errorRate: 0.2, operations: ['putStream'] });
    const rep = new DuckblockReplicator({
      storage: faulty,
      prefix: 'y/',
      snapshot: NO_SNAPSHOTS,
      uploadRetries: 8,
      spillAboveBytes: 0,
    });
    faulty.setFaults({ lostReplies: 0, errorRate: 0 });
    await rep.startLineage('db', leaderPath, testTerm('db', 1));
    faulty.setFaults({ lostReplies: 0.5, errorRate: 0.2 });
    for (let i = 0; i < 6; i++) {
      await leader.conn.run(`update t set h = h + 1 where id % 50 = ${10 + i}`);
      await leader.conn.run('CHECKPOINT');
      await rep.pushCheckpoint('db');
    }
    expect(faulty.faultCounts().errors + faulty.faultCounts().lostReplies).toBeGreaterThan(0);
    const path = join(dir, 'spill-follower.duckdb');
    await new DuckblockReplicator({ storage, prefix: 'y/', listIntervalMs: 0 }).pull('db', path);
    expect(await sha256File(path)).toBe(await sha256Leader(leaderPath));
  });

  it('a segment write that times out (HADB_STORAGE_TIMEOUT) is re-read and retried, not fatal', async () => {
    let timeouts = 0;
    // The first conditional write of every segment key times out after it landed (the reply was lost).
    const seen = new Set<string>();
    const timing = new Proxy(storage, {
      get(target, prop, receiver) {
        if (prop === 'putIfAbsent') {
          return async (key: string, ...rest: unknown[]) => {
            const r = await (target.putIfAbsent as (...a: unknown[]) => Promise<unknown>).call(target, key, ...rest);
            if (key.includes('/0000/') && !seen.has(key)) {
              seen.add(key);
              timeouts++;
              throw new StorageError('HADB_STORAGE_TIMEOUT', `putIfAbsent ${key}: no answer within the deadline`);
            }
            return r;
          };
        }
        const v = Reflect.get(target, prop, receiver);
        return typeof v === 'function' ? v.bind(target) : v;
      },
    }) as StorageBackend;
    const rep = new DuckblockReplicator({ storage: timing, prefix: 't/', snapshot: NO_SNAPSHOTS, uploadRetries: 2 });
    await rep.startLineage('db', leaderPath, testTerm('db', 1));
    await leader.conn.run('update t set h = h + 1 where id % 50 = 40');
    await leader.conn.run('CHECKPOINT');
    const pushed = await rep.pushCheckpoint('db');
    expect(timeouts).toBeGreaterThan(0);
    const path = join(dir, 'timeout-follower.duckdb');
    await new DuckblockReplicator({ storage, prefix: 't/', listIntervalMs: 0 }).pull('db', path);
    expect((await readPosition(path))?.seq).toBe(pushed.seq);
    expect(await sha256File(path)).toBe(await sha256Leader(leaderPath));
  });
});
