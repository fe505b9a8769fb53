import { systemClock, type Clock } from '@hadb/io';
import { StorageLeaseStore } from '@hadb/lease';
import { withFaults } from '@hadb/testkit/storage';
import { describe, expect, it } from 'vitest';
import { isHaError, isHaQLiteError, type HaQLite } from '../src/index.js';
import { localNodes } from './local-nodes.js';

const nodes = localNodes('sync');
const { node } = nodes;

/** The system clock, shifted by `offsetMs` (both monotonic and wall time): a jump past the lease deadline. */
class JumpClock implements Clock {
  offsetMs = 0;
  now(): number {
    return systemClock.now() + this.offsetMs;
  }
  wallMs(): number {
    return systemClock.wallMs() + this.offsetMs;
  }
  sleep(ms: number, signal?: AbortSignal): Promise<void> {
    return systemClock.sleep(ms, signal);
  }
  timer(ms: number, fn: () => void): { cancel(): void } {
    return systemClock.timer(ms, fn);
  }
}

function count(db: HaQLite): bigint {
  return db.querySync('SELECT count(*) FROM t').rows[0]![0] as bigint;
}

/** Calls `fn` and returns what it threw (fails the test when it does not throw). */
function thrown(fn: () => unknown): unknown {
  try {
    fn();
  } catch (err) {
    return err;
  }
  throw new Error('expected a throw');
}

describe('synchronous leader-local API', () => {
  it('executes, batches, queries and runs transactions on the leader, as the async API sees them', async () => {
    const a = await node('a');
    await a.waitForRole('leader');
    a.executeSync('CREATE TABLE t (id INTEGER PRIMARY KEY, v TEXT NOT NULL)');
    const ins = a.executeSync('INSERT INTO t (v) VALUES (?)', ['one']);
    expect(ins).toMatchObject({ rowsAffected: 1, lastInsertRowid: 1n });
    const results = a.batchSync([
      { sql: 'INSERT INTO t (v) VALUES (?)', args: ['two'] },
      { sql: 'UPDATE t SET v = :v WHERE id = 1', args: { v: 'uno' } },
    ]);
    expect(results.map((r) => r.rowsAffected)).toEqual([1, 1]);
    const q = a.querySync('SELECT id, v FROM t ORDER BY id');
    expect(q.columns).toEqual(['id', 'v']);
    expect(q.rows).toEqual([
      [1n, 'uno'],
      [2n, 'two'],
    ]);
    expect(
      a.transactionSync((tx) => {
        tx.execute("INSERT INTO t (v) VALUES ('three')");
        return tx.query('SELECT count(*) FROM t').rows[0]![0];
      }),
    ).toBe(3n);
    expect((await a.query('SELECT count(*) FROM t')).rows[0]![0]).toBe(3n);

    // Failures roll back and keep the typed codes.
    const bad = thrown(() =>
      a.batchSync([{ sql: "INSERT INTO t (v) VALUES ('x')" }, { sql: 'INSERT INTO t (v) VALUES (NULL)' }]),
    );
    expect(isHaQLiteError(bad, 'HADB_HAQLITE_SQL')).toBe(true);
    expect(
      thrown(() =>
        a.transactionSync((tx) => {
          tx.execute("INSERT INTO t (v) VALUES ('y')");
          return Promise.resolve(1);
        }),
      ),
    ).toSatisfy((e) => isHaQLiteError(e, 'HADB_HAQLITE_INVALID_VALUE'));
    expect(thrown(() => a.executeSync('BEGIN'))).toSatisfy((e) => isHaQLiteError(e, 'HADB_HAQLITE_SQL'));
    expect(thrown(() => a.batchSync([{ sql: "INSERT INTO t (v) VALUES ('z')" }, { sql: 'COMMIT' }]))).toSatisfy((e) =>
      isHaQLiteError(e, 'HADB_HAQLITE_SQL'),
    );
    expect(thrown(() => a.querySync('DELETE FROM t'))).toSatisfy((e) =>
      isHaQLiteError(e, 'HADB_HAQLITE_NOT_READ_ONLY'),
    );
    // A schema change made through one API is seen by queries through the other (cached column names refresh).
    a.executeSync('ALTER TABLE t ADD COLUMN w TEXT');
    expect(a.querySync('SELECT * FROM t WHERE id = 1').columns).toEqual(['id', 'v', 'w']);
    await a.execute('ALTER TABLE t RENAME COLUMN w TO x');
    expect((await a.query('SELECT * FROM t WHERE id = 1')).columns).toEqual(['id', 'v', 'x']);
    expect(a.querySync('SELECT * FROM t WHERE id = 1').columns).toEqual(['id', 'v', 'x']);
    expect(count(a)).toBe(3n);

    // An interactive transaction holds the connection: a synchronous write cannot wait for it.
    let inside!: () => void;
    const entered = new Promise<void>((resolve) => {
      inside = resolve;
    });
    let finish!: () => void;
    const tx = a.transaction(async (t) => {
      await t.execute("INSERT INTO t (v) VALUES ('in tx')");
      inside();
      await new Promise<void>((resolve) => {
        finish = resolve;
      });
    });
    await entered;
    expect(thrown(() => a.executeSync("INSERT INTO t (v) VALUES ('sync')"))).toSatisfy((e) =>
      isHaQLiteError(e, 'HADB_HAQLITE_BUSY'),
    );
    expect(count(a)).toBe(3n); // the reader does not see the open transaction
    finish();
    await tx;
    expect(count(a)).toBe(4n);
  });

  it('refuses on a follower and once closed; works on the node that takes over', async () => {
    const a = await node('a');
    await a.waitForRole('leader');
    const b = await node('b');
    expect(b.role).toBe('follower');
    a.executeSync('CREATE TABLE t (id INTEGER PRIMARY KEY, v TEXT)');
    await a.sync();
    await b.sync();
    const notLeader = (e: unknown): boolean => isHaError(e, 'HADB_HA_NOT_LEADER');
    expect(thrown(() => b.executeSync("INSERT INTO t (v) VALUES ('b')"))).toSatisfy(notLeader);
    expect(thrown(() => b.batchSync([{ sql: "INSERT INTO t (v) VALUES ('b')" }]))).toSatisfy(notLeader);
    expect(thrown(() => b.transactionSync(() => 1))).toSatisfy(notLeader);
    expect(thrown(() => b.querySync('SELECT count(*) FROM t'))).toSatisfy(notLeader);
    expect((await b.query('SELECT count(*) FROM t')).rows[0]![0]).toBe(0n);

    await a.close();
    expect(thrown(() => a.executeSync("INSERT INTO t (v) VALUES ('a')"))).toSatisfy((e) =>
      isHaError(e, 'HADB_HA_CLOSED'),
    );
    await b.waitForRole('leader', { signal: AbortSignal.timeout(15_000) });
    b.executeSync("INSERT INTO t (v) VALUES ('b leads')");
    expect(count(b)).toBe(1n);
  });

  it('refuses once the lease is past its deadline (fenced), and after the demotion that follows', async () => {
    const clock = new JumpClock();
    // a reaches the lease through its own store over a faulty view of storage (to cut it off later).
    const leaseStorage = withFaults(nodes.storage, { seed: 1 });
    const aLease = new StorageLeaseStore(leaseStorage, { prefix: 'leases/' });
    nodes.defer(() => aLease.close());
    const a = await node('a', {
      clock,
      lease: { store: aLease, ttlMs: 1000, renewIntervalMs: 400, pollIntervalMs: 200, skewMarginMs: 200 },
    });
    await a.waitForRole('leader');
    a.executeSync('CREATE TABLE t (id INTEGER PRIMARY KEY, v TEXT)');
    a.executeSync("INSERT INTO t (v) VALUES ('before')");
    await a.sync();
    const b = await node('b');

    // This node's clock passes the lease deadline, and nothing else runs before the calls: the
    // role still reads leader, and only the write fence stands between a write and the file.
    clock.offsetMs = 60_000;
    expect(a.role).toBe('leader');
    const fenced = (e: unknown): boolean => isHaError(e, 'HADB_HA_FENCED');
    expect(thrown(() => a.executeSync("INSERT INTO t (v) VALUES ('fenced')"))).toSatisfy(fenced);
    expect(thrown(() => a.batchSync([{ sql: "INSERT INTO t (v) VALUES ('fenced')" }]))).toSatisfy(fenced);
    expect(thrown(() => a.transactionSync((tx) => tx.execute("INSERT INTO t (v) VALUES ('fenced')")))).toSatisfy(
      fenced,
    );
    // The async API's fast path (leading, settled) runs the same fence.
    await expect(a.execute("INSERT INTO t (v) VALUES ('fenced')")).rejects.toSatisfy(fenced);
    await expect(a.batch([{ sql: "INSERT INTO t (v) VALUES ('fenced')" }])).rejects.toSatisfy(fenced);
    expect(count(a)).toBe(1n);
    // Back inside the deadline (still no turn of the event loop): the fence lets writes through.
    clock.offsetMs = 0;
    a.executeSync("INSERT INTO t (v) VALUES ('in term')");
    expect(count(a)).toBe(2n);
    await a.sync();

    // a loses the lease store: its term runs out, it steps down, b takes over; a refuses as a follower.
    leaseStorage.setFaults({ errorRate: 1 });
    await a.waitForRole('follower', { signal: AbortSignal.timeout(20_000) });
    expect(thrown(() => a.executeSync("INSERT INTO t (v) VALUES ('demoted')"))).toSatisfy((e) =>
      isHaError(e, 'HADB_HA_NOT_LEADER'),
    );
    expect(thrown(() => a.querySync('SELECT count(*) FROM t'))).toSatisfy((e) => isHaError(e, 'HADB_HA_NOT_LEADER'));
    await b.waitForRole('leader', { signal: AbortSignal.timeout(20_000) });
    expect(count(b)).toBe(2n);
  });
});
