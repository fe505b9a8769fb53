import { withFaults } from '@hadb/testkit/storage';
import { describe, expect, it } from 'vitest';
import { localNodes } from './local-nodes.js';

const nodes = localNodes('busy-loop');
const { node } = nodes;

/**
 * A leader's SQLite calls resolve without I/O, so a caller awaiting them back to back never lets
 * the event loop turn unless the node yields: the lease renewal would starve and the leader
 * fence itself after one TTL (2 s here).
 */
describe('a caller that awaits writes and reads back to back for several lease TTLs', () => {
  it('keeps the lease: every write commits and the node stays leader', async () => {
    // Ships keep up or not (a loop like this writes faster than any upload): only the lease is
    // under test, so a slow ship must not hand the lease off here.
    const a = await node('a', {
      lease: { store: nodes.lease, ttlMs: 2000, renewIntervalMs: 600, pollIntervalMs: 300, skewMarginMs: 300 },
      shipStallTimeoutMs: 60_000,
    });
    await a.waitForRole('leader');
    await a.execute('CREATE TABLE t (id INTEGER PRIMARY KEY, v TEXT NOT NULL)');
    const until = performance.now() + 6_000;
    let n = 0;
    while (performance.now() < until) {
      await a.execute('INSERT INTO t (v) VALUES (?)', ['x']);
      await a.query('SELECT v FROM t WHERE id = ?', [n + 1]);
      n++;
    }
    await a.transaction((tx) => tx.execute('INSERT INTO t (v) VALUES (?)', ['last']));
    expect(a.stats().role).toBe('leader');
    expect(a.stats().demotions).toBe(0);
    const rows = await a.query('SELECT count(*) FROM t');
    expect(rows.rows[0]?.[0]).toBe(BigInt(n + 1));
  }, 30_000);
});

describe('a caller whose committed writes outrun the ships', () => {
  it('is paced by the ships (backpressure) instead of the leader handing its lease off', async () => {
    // 2 s TTL, 100 ms ships: a ship stall (hand-off) after 4.1 s; backpressure from 2.1 s. Each
    // segment upload takes 0.4 s, so the commits outrun the ships: a ship uploads once for the
    // commits before it and once for those its checkpoint read, and a commit made during one
    // waits for the next.
    const a = await node('a', {
      lease: { store: nodes.lease, ttlMs: 2000, renewIntervalMs: 600, pollIntervalMs: 300, skewMarginMs: 300 },
      storage: withFaults(nodes.storage, {
        seed: 1,
        latencyMs: 400,
        operations: ['putIfAbsent'],
        keys: (key) => key.endsWith('.hadbp'),
      }),
    });
    await a.waitForRole('leader');
    await a.execute('CREATE TABLE t (id INTEGER PRIMARY KEY, v TEXT NOT NULL)');
    const blob = 'x'.repeat(200);
    const until = performance.now() + 8_000;
    let n = 0;
    while (performance.now() < until) {
      await a.execute('INSERT INTO t (v) VALUES (?)', [blob]);
      n++;
    }
    expect(a.stats().role).toBe('leader');
    expect(a.stats().shipStalls).toBe(0);
    expect(a.stats().backpressureWaits).toBeGreaterThan(0);
    expect(a.stats().demotions).toBe(0);
    expect((await a.query('SELECT count(*) FROM t')).rows[0]?.[0]).toBe(BigInt(n));
  }, 30_000);
});
