import { existsSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { PageIdSize, encodePhysical, newPhysical } from '@hadb/changeset';
import { MemStorageBackend } from '@hadb/storage-mem';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { writeJournal } from '../src/journal.js';
import {
  DuckblockReplicator,
  encode,
  incrementalKey,
  journalPath,
  newSegment,
  readPosition,
  recoverFile,
} from '../src/index.js';
import { openLeader, sha256File, tempDir, testTerm } from './helpers.js';

/**
 * Forged segments with valid checksums (issue 12, item 3): each is refused with
 * `HADB_DUCKBLOCK_CORRUPT` before anything is journalled, the follower's file stays as it was,
 * and the next good segment applies.
 */
const DB = 'sec';
const PREFIX = 's/';
const MAX = 256 * 1024 * 1024;

async function codeOf(p: Promise<unknown>): Promise<string | undefined> {
  try {
    await p;
  } catch (err) {
    return (err as { code?: string }).code;
  }
  return undefined;
}

describe('segment bounds', () => {
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
  // One follower holds segments in memory, the other streams them through the journal.
  const followers = [
    {
      name: 'memory',
      r: new DuckblockReplicator({ storage, prefix: PREFIX, listIntervalMs: 0, maxFileSizeBytes: MAX }),
      path: '',
    },
    {
      name: 'stream',
      r: new DuckblockReplicator({
        storage,
        prefix: PREFIX,
        listIntervalMs: 0,
        streamAboveBytes: 0,
        maxFileSizeBytes: MAX,
      }),
      path: '',
    },
  ];

  beforeAll(async () => {
    ({ dir, cleanup } = await tempDir('sec'));
    leaderPath = join(dir, 'leader.duckdb');
    leader = await openLeader(leaderPath);
    await leader.conn.run('create table t as select range id from range(1000)');
    await leader.conn.run('CHECKPOINT');
    await replicator.startLineage(DB, leaderPath, testTerm(DB, 1));
    for (const f of followers) {
      f.path = join(dir, `${f.name}.duckdb`);
      await f.r.pull(DB, f.path);
    }
  });
  afterAll(async () => {
    leader.close();
    await cleanup();
  });

  const page = new Uint8Array(4096).fill(7);
  const forged: Array<[string, (seq: bigint, prev: bigint) => Uint8Array]> = [
    ['a 1 TiB size marker', (seq, prev) => encode(newSegment(seq, prev, [], { epoch: 1n, fileSize: 1024 ** 4 }))],
    [
      'a page at 2^40',
      (seq, prev) => encode(newSegment(seq, prev, [{ pageId: 1n << 40n, data: page }], { epoch: 1n })),
    ],
    [
      'a page at 2^63',
      (seq, prev) => encode(newSegment(seq, prev, [{ pageId: 1n << 63n, data: page }], { epoch: 1n })),
    ],
    [
      'a page past its own size marker',
      (seq, prev) => encode(newSegment(seq, prev, [{ pageId: 100n, data: page }], { epoch: 1n, fileSize: 4096 * 10 })),
    ],
    [
      'an epoch of 2^45',
      (seq, prev) =>
        encodePhysical(
          newPhysical(seq, prev, PageIdSize.U64, 4096, [{ pageId: 2n * (1n << 45n), data: new Uint8Array(0) }]),
        ),
    ],
  ];

  for (const [name, build] of forged) {
    it(`refuses ${name} before journalling, then applies the next good segment`, async () => {
      const head = replicator.head(DB)!;
      const key = incrementalKey(PREFIX, DB, head.seq + 1n);
      await storage.put(key, build(head.seq + 1n, head.checksum));
      for (const f of followers) {
        const before = await sha256File(f.path);
        const size = statSync(f.path).size;
        const position = await readPosition(f.path);
        expect(await codeOf(f.r.pull(DB, f.path)), `${f.name}`).toBe('HADB_DUCKBLOCK_CORRUPT');
        expect(statSync(f.path).size).toBe(size);
        expect(await sha256File(f.path)).toBe(before);
        expect((await readPosition(f.path))?.seq).toBe(position?.seq);
        expect(existsSync(journalPath(f.path))).toBe(false);
      }
      // The operator removes the bad object; the leader's next checkpoint applies everywhere.
      await storage.delete(key);
      await leader.conn.run(`insert into t values (${Number(head.seq) + 5000})`);
      await leader.conn.run('CHECKPOINT');
      expect((await replicator.pushCheckpoint(DB)).shipped).toBe(true);
      for (const f of followers) expect(await f.r.pull(DB, f.path)).toBe(replicator.head(DB)!.seq);
    });
  }

  it('discards a committed journal whose replay cannot succeed, so the next pull is not stuck', async () => {
    const f = followers[0]!;
    const position = (await readPosition(f.path))!;
    const bad = encode(
      newSegment(position.seq + 1n, position.checksum, [{ pageId: 1n << 50n, data: page }], { epoch: 1n }),
    );
    await writeJournal(
      f.path,
      { kind: 'apply', seq: String(position.seq + 1n), checksum: 'ffffffffffffffff', epoch: '1' },
      bad,
    );
    expect(existsSync(journalPath(f.path))).toBe(true);
    expect(await codeOf(recoverFile(f.path))).toBe('HADB_DUCKBLOCK_CORRUPT');
    expect(existsSync(journalPath(f.path))).toBe(false);
    expect((await recoverFile(f.path))?.seq).toBe(position.seq);
  });
});
