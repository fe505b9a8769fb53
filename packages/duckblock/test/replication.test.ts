import { rm } from 'node:fs/promises';
import { join } from 'node:path';
import { EpochGate } from '@hadb/core';
import { MemStorageBackend } from '@hadb/storage-mem';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  DuckblockReplicator,
  applyRetention,
  decode,
  encode,
  incrementalKey,
  newSegment,
  readPosition,
  removeLocalState,
} from '../src/index.js';
import { writePosition } from '../src/position.js';
import {
  copyLeader,
  openLeader,
  queryReadOnly,
  rowsJson,
  sha256File,
  sha256Leader,
  tempDir,
  testTerm,
  trulyChanged,
} from './helpers.js';

const DB = 'app';
const PREFIX = 't/';
const QUERIES = [
  `select table_name, column_name, data_type from information_schema.columns order by all`,
  `select count(*), sum(id), bit_xor(hash(id, v, n)) from t`,
];

async function expectCode(p: Promise<unknown>, code: string): Promise<void> {
  let caught: unknown;
  try {
    await p;
  } catch (err) {
    caught = err;
  }
  expect((caught as { code?: string } | undefined)?.code, String(caught)).toBe(code);
}

describe('replication of a real DuckDB file', () => {
  let dir: string;
  let cleanup: () => Promise<void>;
  let leaderPath: string;
  let followerPath: string;
  let leader: Awaited<ReturnType<typeof openLeader>>;
  const storage = new MemStorageBackend();
  // This leader spills every checkpoint to a local file and streams it (the path above 64 MiB).
  const replicator = new DuckblockReplicator({
    storage,
    prefix: PREFIX,
    spillAboveBytes: 0,
    snapshot: { intervalMs: 0, afterFileSizes: 0 },
  });
  // This follower streams every segment through the journal (the path for segments over 64 MiB).
  const followerReplicator = new DuckblockReplicator({
    storage,
    prefix: PREFIX,
    listIntervalMs: 0,
    streamAboveBytes: 0,
  });
  const term1 = testTerm(DB, 1);

  beforeAll(async () => {
    ({ dir, cleanup } = await tempDir('repl'));
    leaderPath = join(dir, 'leader.duckdb');
    followerPath = join(dir, 'follower.duckdb');
    leader = await openLeader(leaderPath);
    await leader.conn.run(
      `create table t as select range::BIGINT id, 'v' || (range % 977)::VARCHAR v, (range * 0.5)::DOUBLE n from range(300000)`,
    );
    await leader.conn.run('CHECKPOINT');
    await replicator.startLineage(DB, leaderPath, term1);
  });

  afterAll(async () => {
    leader.close();
    await cleanup();
  });

  async function checkIdentical(): Promise<void> {
    const seq = await followerReplicator.pull(DB, followerPath);
    expect(seq).toBe(replicator.head(DB)!.seq);
    expect(await sha256File(followerPath)).toBe(await sha256Leader(leaderPath));
    const expected = [];
    for (const q of QUERIES) expected.push(await rowsJson(leader.conn, q));
    expect(await queryReadOnly(followerPath, QUERIES)).toEqual(expected);
  }

  it('restores the initial snapshot byte-identically', async () => {
    await checkIdentical();
    const position = await readPosition(followerPath);
    expect(position?.epoch).toBe(1n);
  });

  const steps: Array<[string, string[]]> = [
    ['insert 1,000 rows', [`insert into t select range, 'new', 1.0 from range(300000, 301000)`]],
    ['update 1 row', [`update t set n = -1 where id = 123456`]],
    ['update 1% scattered', [`update t set v = v || '!' where id % 100 = 7`]],
    ['delete a range', [`delete from t where id between 1000 and 20000`]],
    [
      'schema changes',
      [
        `alter table t add column c INTEGER default 7`,
        `create table u as select range id, range * 2 x from range(50000)`,
        `create index t_id on t(id)`,
        `drop table u`,
        `create view tv as select id from t where id < 10`,
      ],
    ],
  ];

  for (const [name, sqls] of steps) {
    it(`ships "${name}" within 1.02x of the changed blocks and stays byte-identical`, async () => {
      const before = await copyLeader(leaderPath);
      for (const sql of sqls) await leader.conn.run(sql);
      await leader.conn.run('CHECKPOINT');
      const after = await copyLeader(leaderPath);
      const truth = trulyChanged(before, after);
      // The detection helper (a dry run) agrees with the full comparison before anything ships.
      expect(replicator.dirtyBlocks(DB)).toHaveLength(truth.blocks);
      const pushed = await replicator.pushCheckpoint(DB);
      expect(pushed.shipped).toBe(true);
      // Detection by stored checksums finds exactly the blocks a full comparison finds.
      expect(pushed.blocks).toBe(truth.blocks);
      expect(pushed.headerPages).toBe(truth.headerPages);
      const payload = truth.blocks * 262_144 + truth.headerPages * 4096;
      expect(pushed.bytes).toBeLessThanOrEqual(1.02 * payload);
      await checkIdentical();
    });
  }

  it('writes nothing for a checkpoint without changes', async () => {
    await leader.conn.run('CHECKPOINT');
    const pushed = await replicator.pushCheckpoint(DB);
    expect(pushed.shipped).toBe(false);
  });

  it('refuses a flipped byte in a stored segment and leaves the follower file unchanged', async () => {
    await leader.conn.run(`update t set n = n + 1 where id < 5000`);
    await leader.conn.run('CHECKPOINT');
    const pushed = await replicator.pushCheckpoint(DB);
    const key = incrementalKey(PREFIX, DB, pushed.seq);
    const original = (await storage.get(key))!.data;
    const before = await sha256File(followerPath);
    const positionBefore = await readPosition(followerPath);
    for (const offset of [60, Math.floor(original.length / 2), original.length - 3]) {
      const bad = Uint8Array.from(original);
      bad[offset]! ^= 0x40;
      await storage.put(key, bad);
      await expectCode(followerReplicator.pull(DB, followerPath), 'HADB_DUCKBLOCK_CORRUPT');
      expect(await sha256File(followerPath)).toBe(before);
      expect((await readPosition(followerPath))?.seq).toBe(positionBefore?.seq);
    }
    await storage.put(key, original);
    await checkIdentical();
  });

  it('stops at a chain break and at a gap with typed errors, never skipping', async () => {
    const head = replicator.head(DB)!;
    const before = await sha256File(followerPath);
    // A well-formed segment that does not continue the chain.
    const foreign = newSegment(head.seq + 1n, head.checksum ^ 1n, [], { epoch: 1n });
    await storage.putIfAbsent(incrementalKey(PREFIX, DB, head.seq + 1n), encode(foreign));
    await expectCode(followerReplicator.pull(DB, followerPath), 'HADB_DUCKBLOCK_CHAIN_BROKEN');
    expect(await sha256File(followerPath)).toBe(before);
    await storage.delete(incrementalKey(PREFIX, DB, head.seq + 1n));
    // A gap: seq+2 exists, seq+1 does not, and no snapshot covers it.
    const later = newSegment(head.seq + 2n, 7n, [], { epoch: 1n });
    await storage.putIfAbsent(incrementalKey(PREFIX, DB, head.seq + 2n), encode(later));
    await expectCode(followerReplicator.pull(DB, followerPath), 'HADB_DUCKBLOCK_GAP');
    expect(await sha256File(followerPath)).toBe(before);
    await storage.delete(incrementalKey(PREFIX, DB, head.seq + 2n));
    await checkIdentical();
  });

  it('reports a position storage never held (a checkpoint a killed leader never shipped) as DIVERGED, not a broken chain', async () => {
    const { dir: d2, cleanup: c2 } = await tempDir('unshipped');
    try {
      const crashed = join(d2, 'crashed.duckdb');
      await followerReplicator.pull(DB, crashed);
      const at = (await readPosition(crashed))!;
      // What a leader killed while uploading its next checkpoint leaves: a position (persisted
      // beside the upload) naming a segment that never reached storage.
      await writePosition(crashed, { ...at, seq: at.seq + 1n, checksum: at.checksum ^ 0x5a5an });
      // The next leader ships its own segments at those seqs.
      for (let i = 0; i < 2; i++) {
        await leader.conn.run(
          `insert into t (id, v, n) select range, 'next', 3.0 from range(${500000 + i * 100}, ${500000 + i * 100 + 100})`,
        );
        await leader.conn.run('CHECKPOINT');
        await replicator.pushCheckpoint(DB);
      }
      const before = await sha256File(crashed);
      await expectCode(followerReplicator.pull(DB, crashed), 'HADB_DUCKBLOCK_DIVERGED');
      expect(await sha256File(crashed)).toBe(before);
      // Set aside (here: removed with its local state), it is restored from storage.
      await rm(crashed);
      await removeLocalState(crashed);
      await followerReplicator.pull(DB, crashed);
      expect(await sha256File(crashed)).toBe(await sha256Leader(leaderPath));
      await checkIdentical();
    } finally {
      await c2();
    }
  });

  it('restores from the latest snapshot when retention deleted what a lagging follower needed', async () => {
    const { dir: d2, cleanup: c2 } = await tempDir('lag');
    try {
      const lagging = join(d2, 'lagging.duckdb');
      await followerReplicator.pull(DB, lagging);
      for (let i = 0; i < 3; i++) {
        await leader.conn.run(
          `insert into t (id, v, n) select range, 'lag', 2.0 from range(${400000 + i * 100}, ${400000 + i * 100 + 100})`,
        );
        await leader.conn.run('CHECKPOINT');
        await replicator.pushCheckpoint(DB, { forceSnapshot: i === 2 });
      }
      const kept = await applyRetention(storage, PREFIX, DB, 1);
      expect(kept.oldestKept).toBe(replicator.head(DB)!.seq);
      expect(kept.deletedSnapshots).toBe(1);
      expect(kept.deletedSegments).toBeGreaterThan(3);
      expect(await storage.exists(incrementalKey(PREFIX, DB, replicator.head(DB)!.seq - 1n))).toBe(false);
      const result = await followerReplicator.pullDetailed(DB, lagging);
      expect(result.restored).toBe(true);
      expect(await sha256File(lagging)).toBe(await sha256Leader(leaderPath));
      await checkIdentical();
    } finally {
      await c2();
    }
  });

  it("fences: followers refuse a lower epoch, and a deposed leader trips on the new term's claim", async () => {
    const { dir: d3, cleanup: c3 } = await tempDir('fence');
    try {
      // Promote the follower: catch up, then continue the chain under epoch 2.
      await checkIdentical();
      const term2 = testTerm(DB, 2);
      const newLeader = new DuckblockReplicator({
        storage,
        prefix: PREFIX,
        snapshot: { intervalMs: 0, afterFileSizes: 0 },
      });
      await newLeader.continueLineage(DB, followerPath, term2);
      const claimed = newLeader.head(DB)!;
      expect(claimed.seq).toBe(replicator.head(DB)!.seq + 1n);
      expect(claimed.epoch).toBe(2n);

      // The old leader (epoch 1) still believes it leads: its next push hits the claimed seq.
      await leader.conn.run(`update t set n = 0 where id = 42`);
      await leader.conn.run('CHECKPOINT');
      await expectCode(replicator.pushCheckpoint(DB), 'HADB_DUCKBLOCK_FENCED');
      expect(term1.fence.isValid()).toBe(false);

      // A third node follows the new term; a forged epoch-1 segment after it is refused.
      const third = join(d3, 'third.duckdb');
      const thirdReplicator = new DuckblockReplicator({ storage, prefix: PREFIX, listIntervalMs: 0 });
      await thirdReplicator.pull(DB, third);
      expect(await sha256File(third)).toBe(await sha256File(followerPath));
      const before = await sha256File(third);
      const stale = newSegment(claimed.seq + 1n, claimed.checksum, [], { epoch: 1n });
      await storage.putIfAbsent(incrementalKey(PREFIX, DB, claimed.seq + 1n), encode(stale));
      await expectCode(thirdReplicator.pull(DB, third), 'HADB_DUCKBLOCK_FENCED');
      const gate = new EpochGate(0);
      await expectCode(
        thirdReplicator.pullDetailed(DB, third, { admitEpoch: (e) => gate.admit(Number(e)) }),
        'HADB_DUCKBLOCK_FENCED',
      );
      expect(await sha256File(third)).toBe(before);
      expect(decode((await storage.get(incrementalKey(PREFIX, DB, claimed.seq)))!.data).epoch).toBe(2n);
      await storage.delete(incrementalKey(PREFIX, DB, claimed.seq + 1n));

      // The promoted node writes through DuckDB and ships; the third node follows byte-identically.
      const promoted = await openLeader(followerPath);
      try {
        await promoted.conn.run(`insert into t (id, v, n) select range, 'p', 3.0 from range(900000, 905000)`);
        await promoted.conn.run('CHECKPOINT');
        const pushed = await newLeader.pushCheckpoint(DB);
        expect(pushed.shipped).toBe(true);
        await thirdReplicator.pull(DB, third);
        expect(await sha256File(third)).toBe(await sha256Leader(followerPath));
        const expected = [];
        for (const q of QUERIES) expected.push(await rowsJson(promoted.conn, q));
        expect(await queryReadOnly(third, QUERIES)).toEqual(expected);
      } finally {
        promoted.close();
      }
    } finally {
      await c3();
    }
  });
});
