import { testLeaseTiming } from '@hadb/testkit';
import { describe, expect, it } from 'vitest';
import { localNodes } from './local-nodes.js';

const t = localNodes('concurrent');

/**
 * Opens node `id` with a 10 s lease TTL. These tests exercise one leader's write path, not
 * failover: with the 1 s TTL of `localNodes`, a machine at load 15 on 2 cores delayed a renewal
 * past the TTL and the leader's writes failed with `HADB_HA_NOT_LEADER` mid-test.
 */
const node = (id: string) => t.node(id, { lease: { store: t.lease, ...testLeaseTiming(10_000) } });

describe('concurrent writes on the leader (pooled connections, optimistic concurrency)', () => {
  it('runs conflicting updates of one row concurrently without failing any of them (group commit)', async () => {
    const a = await node('a');
    await a.execute('CREATE TABLE c (id INTEGER PRIMARY KEY, n BIGINT)');
    await a.execute('INSERT INTO c VALUES (1, 0)');
    // Requests that wait for a connection commit together, one after the other in one transaction;
    // one that conflicts with a concurrent transaction is re-run alone.
    const results = await Promise.all(
      Array.from({ length: 40 }, () => a.execute('UPDATE c SET n = n + 1 WHERE id = 1')),
    );
    expect(results.every((r) => r.rowsChanged === 1)).toBe(true);
    expect((await a.query('SELECT n FROM c')).rows).toEqual([[40n]]);
    const stats = a.stats();
    expect(stats.groupTransactions).toBeGreaterThan(0);
    expect(stats.groupedWrites).toBeGreaterThan(stats.groupTransactions);
  });

  it('inserts distinct keys concurrently, and a key taken by a concurrent write fails only when it stays taken', async () => {
    const a = await node('a');
    await a.execute('CREATE TABLE k (id INTEGER PRIMARY KEY, w INTEGER)');
    const writes = Array.from({ length: 64 }, (_, i) => a.execute('INSERT INTO k VALUES ($1, $2)', [i % 32, i]));
    const settled = await Promise.allSettled(writes);
    // Each of the 32 keys is inserted exactly once; the second write of a key fails as it would alone.
    expect(settled.filter((s) => s.status === 'fulfilled')).toHaveLength(32);
    for (const s of settled) {
      if (s.status === 'rejected') expect((s.reason as { code?: string }).code).toBe('HADB_HADUCK_SQL');
    }
    expect((await a.query('SELECT count(*), count(DISTINCT id) FROM k')).rows).toEqual([[32n, 32n]]);
  });

  it('runs a write carrying one idempotency token once, even when its retries arrive concurrently', async () => {
    const a = await node('a');
    await a.execute('CREATE TABLE r (v INTEGER)');
    const token = 'retry-token-1';
    const results = await Promise.all(
      Array.from({ length: 12 }, () => a.execute('INSERT INTO r VALUES (7)', [], { idempotencyToken: token })),
    );
    expect(results.map((r) => r.rowsChanged)).toEqual(Array(12).fill(1));
    // Later, after the first committed: the stored result, without running again.
    expect(await a.execute('INSERT INTO r VALUES (7)', [], { idempotencyToken: token })).toEqual({ rowsChanged: 1 });
    expect((await a.query('SELECT count(*) FROM r')).rows).toEqual([[1n]]);
  });

  it('checkpoints and ships between concurrent writes, and a follower sees every committed row', async () => {
    const a = await node('a');
    await a.execute('CREATE TABLE s (w INTEGER, i INTEGER)');
    const writers = Array.from({ length: 8 }, async (_, w) => {
      for (let i = 0; i < 25; i++) await a.execute('INSERT INTO s VALUES ($1, $2)', [w, i]);
    });
    const checkpoints = (async () => {
      for (let i = 0; i < 5; i++) await a.checkpoint();
    })();
    await Promise.all([...writers, checkpoints]);
    await a.checkpoint();
    expect(a.stats().unexpectedCheckpoints).toBe(0);
    const b = await node('b');
    // A bound on the wait only: on a loaded machine the follower's restore takes seconds.
    await expect
      .poll(async () => (await b.query('SELECT count(*) FROM s')).rows, { timeout: 45_000, interval: 100 })
      .toEqual([[200n]]);
  }, 90_000);
});
