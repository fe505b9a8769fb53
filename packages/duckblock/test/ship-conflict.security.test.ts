import { join } from 'node:path';
import { MemStorageBackend } from '@hadb/storage-mem';
import type { Logger } from '@hadb/io';
import { afterEach, describe, expect, it } from 'vitest';
import { DuckblockReplicator, encode, incrementalKey, newSegment } from '../src/index.js';
import { quarantinePrefix } from '../src/quarantine.js';
import { openLeader, tempDir, testTerm } from './helpers.js';

/**
 * A forged object at the leader's next sequence (issue 12): one that does not verify is moved
 * aside and reported, and the ship goes through; one that verifies as an older term's segment is
 * never overwritten, and the term ends instead of stalling every later ship.
 */
const DB = 'ship';
const PREFIX = 's/';
const cleanups: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0)) await c();
});

function recordingLogger(): Logger & { errors: Record<string, unknown>[] } {
  const errors: Record<string, unknown>[] = [];
  const none = (): void => undefined;
  return {
    debug: none,
    info: none,
    warn: none,
    error: (obj: object) => void errors.push(obj as Record<string, unknown>),
    errors,
  };
}

async function leaderAt(epoch: number) {
  const { dir, cleanup } = await tempDir('ship');
  const path = join(dir, 'leader.duckdb');
  const leader = await openLeader(path);
  cleanups.push(async () => {
    leader.close();
    await cleanup();
  });
  const storage = new MemStorageBackend();
  const logger = recordingLogger();
  const replicator = new DuckblockReplicator({
    storage,
    prefix: PREFIX,
    logger,
    snapshot: { intervalMs: 0, afterFileSizes: 0 },
  });
  await leader.conn.run('create table t as select range id from range(100)');
  await leader.conn.run('CHECKPOINT');
  const term = testTerm(DB, epoch);
  await replicator.startLineage(DB, path, term);
  const write = async (n: number): Promise<void> => {
    await leader.conn.run(`insert into t values (${n})`);
    await leader.conn.run('CHECKPOINT');
  };
  return { storage, replicator, term, write, logger };
}

describe('forged object at the next sequence', () => {
  it('an object that does not verify is quarantined and reported, and the ship goes through', async () => {
    const { storage, replicator, term, write, logger } = await leaderAt(1);
    const head = replicator.head(DB)!;
    const key = incrementalKey(PREFIX, DB, head.seq + 1n);
    const junk = new Uint8Array(512).fill(0x5a);
    await storage.put(key, junk);
    await write(1000);
    const pushed = await replicator.pushCheckpoint(DB);
    expect(pushed.shipped).toBe(true);
    expect(replicator.head(DB)!.seq).toBe(head.seq + 1n);
    expect(term.fence.isValid()).toBe(true);
    // Our segment is at the key now; the forged bytes sit in quarantine, byte for byte.
    expect(Buffer.compare((await storage.get(key))!.data, junk)).not.toBe(0);
    const moved = await storage.list(quarantinePrefix(PREFIX, DB));
    expect(moved).toHaveLength(1);
    expect(Buffer.compare((await storage.get(moved[0]!))!.data, junk)).toBe(0);
    expect(logger.errors.some((e) => e.event === 'corruption')).toBe(true);
    // And the next ship continues the chain.
    await write(1001);
    expect((await replicator.pushCheckpoint(DB)).shipped).toBe(true);
  });

  it('a valid older-term segment is never overwritten; the term ends instead of stalling', async () => {
    const { storage, replicator, term, write } = await leaderAt(2);
    const head = replicator.head(DB)!;
    const key = incrementalKey(PREFIX, DB, head.seq + 1n);
    const late = encode(newSegment(head.seq + 1n, head.checksum, [], { epoch: 1n }));
    await storage.put(key, late);
    await write(2000);
    const err = await replicator.pushCheckpoint(DB).catch((e: unknown) => e);
    expect((err as { code?: string }).code).toBe('HADB_DUCKBLOCK_SEQ_CONFLICT');
    expect(term.fence.isValid()).toBe(false);
    expect(Buffer.compare((await storage.get(key))!.data, late)).toBe(0);
    expect(await storage.list(quarantinePrefix(PREFIX, DB))).toEqual([]);
  });
});
