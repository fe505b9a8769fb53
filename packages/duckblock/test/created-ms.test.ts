import { join } from 'node:path';
import { MemStorageBackend } from '@hadb/storage-mem';
import { ManualClock } from '@hadb/testkit';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { decodeSegment, DuckblockReplicator, incrementalKey, readPosition, type Position } from '../src/index.js';
import { openLeader, tempDir, testTerm } from './helpers.js';

/**
 * The applied position carries the `created_ms` of the segment or snapshot it reached (the leader's
 * capture time, from the header), persisted beside the file: the commit time follower lag is
 * measured from.
 */
describe('created_ms in the applied position', () => {
  const DB = 'cms';
  const PREFIX = 'cms/';
  let dir: string;
  let cleanup: () => Promise<void>;
  let leader: Awaited<ReturnType<typeof openLeader>>;
  const storage = new MemStorageBackend();
  const replicator = new DuckblockReplicator({
    storage,
    prefix: PREFIX,
    snapshot: { intervalMs: 0, afterFileSizes: 0 },
  });
  /** The header `created_ms` of the one stored object whose key `match`es. */
  const headerMs = async (match: (key: string) => boolean): Promise<number> => {
    const keys = (await storage.list(PREFIX)).filter(match);
    expect(keys).toHaveLength(1);
    const object = await storage.get(keys[0]!);
    return Number(decodeSegment(object!.data).changeset.header.createdMs);
  };
  let started = 0;

  beforeAll(async () => {
    ({ dir, cleanup } = await tempDir('cms'));
    started = Date.now();
    leader = await openLeader(join(dir, 'leader.duckdb'));
    await leader.conn.run('create table t as select range id from range(1000)');
    await leader.conn.run('CHECKPOINT');
    await replicator.startLineage(DB, join(dir, 'leader.duckdb'), testTerm(DB, 1));
  });
  afterAll(async () => {
    leader.close();
    await cleanup();
  });

  it('a snapshot restore and each applied segment record the header created_ms, and it survives a reread', async () => {
    const path = join(dir, 'follower.duckdb');
    const follower = new DuckblockReplicator({ storage, prefix: PREFIX });
    const seen: Array<{ kind: string; position: Position }> = [];
    await follower.pullDetailed(DB, path, { onApplied: (position, kind) => void seen.push({ kind, position }) });
    expect(seen.map((s) => s.kind)).toEqual(['snapshot']);
    const snapshotMs = await headerMs((k) => k.includes(`${DB}/0001/`));
    expect(snapshotMs).toBeGreaterThanOrEqual(started);
    expect(seen[0]!.position.createdMs).toBe(snapshotMs);
    expect((await readPosition(path))?.createdMs).toBe(snapshotMs);

    await new Promise((r) => setTimeout(r, 20));
    await leader.conn.run('insert into t values (5000)');
    await leader.conn.run('CHECKPOINT');
    await replicator.pushCheckpoint(DB);
    const head = replicator.head(DB)!.seq;
    const segmentMs = await headerMs((k) => k === incrementalKey(PREFIX, DB, head));
    expect(segmentMs).toBeGreaterThan(snapshotMs);

    await follower.pullDetailed(DB, path, { onApplied: (position, kind) => void seen.push({ kind, position }) });
    expect(seen.at(-1)).toMatchObject({ kind: 'segment', position: { seq: head, createdMs: segmentMs } });
    expect((await readPosition(path))?.createdMs).toBe(segmentMs);
  });
});

describe('created_ms comes from the injected clock', () => {
  it("claim segments, snapshots, in-memory and spilled segments all carry the Clock's wall time", async () => {
    const { dir, cleanup } = await tempDir('cms-clock');
    // A wall clock far from the system's: any object stamped from Date.now() stands out.
    const clock = new ManualClock({ wallOriginMs: 1_000_000_000_000 });
    const storage = new MemStorageBackend();
    const path = join(dir, 'leader.duckdb');
    const leader = await openLeader(path);
    try {
      const stamps = async (): Promise<Map<string, number>> => {
        const out = new Map<string, number>();
        for (const key of await storage.list('c/')) {
          const object = await storage.get(key);
          out.set(key, Number(decodeSegment(object!.data).changeset.header.createdMs));
        }
        return out;
      };
      const newSince = async (before: Map<string, number>): Promise<number[]> =>
        [...(await stamps())].filter(([k]) => !before.has(k)).map(([, ms]) => ms);

      /** Advances the clock, commits a row and pushes it: every new object carries the clock's time. */
      const pushedAt = async (replicator: DuckblockReplicator, advanceMs: number, row: number): Promise<void> => {
        const before = await stamps();
        await clock.advance(advanceMs);
        await leader.conn.run(`insert into t values (${row})`);
        await leader.conn.run('CHECKPOINT');
        await replicator.pushCheckpoint('db');
        const pushed = await newSince(before);
        expect(pushed.length).toBeGreaterThanOrEqual(1);
        expect(pushed.every((ms) => ms === clock.wallMs())).toBe(true);
      };

      await leader.conn.run('create table t as select range id from range(1000)');
      await leader.conn.run('CHECKPOINT');
      // Snapshot after every segment, spilling every capture to a local file.
      const spilling = new DuckblockReplicator({
        storage,
        prefix: 'c/',
        clock,
        snapshot: { intervalMs: 0, afterFileSizes: 0 },
        spillAboveBytes: 0,
      });
      await spilling.startLineage('db', path, testTerm('db', 1));
      const atStart = await stamps();
      expect(atStart.size).toBeGreaterThanOrEqual(2); // the claim segment and the first snapshot
      expect([...atStart.values()].every((ms) => ms === clock.wallMs())).toBe(true);

      await pushedAt(spilling, 5_000, 5000);

      // The same lineage continued by a replicator that keeps segments in memory.
      const inMemory = new DuckblockReplicator({ storage, prefix: 'c/', clock });
      await clock.advance(7_000);
      await inMemory.continueLineage('db', path, testTerm('db', 2));
      await pushedAt(inMemory, 11_000, 6000);
    } finally {
      leader.close();
      await cleanup();
    }
  });
});
