import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { HaQLite, isHaError, isHaQLiteError, rowObjects } from '../src/index.js';
import { localNodes } from './local-nodes.js';
import { countRequests } from '@hadb/testkit/storage';

const nodes = localNodes('node');
const { node } = nodes;

async function count(db: HaQLite, options = {}): Promise<bigint> {
  return (await db.query('SELECT count(*) AS n FROM t', [], options)).rows[0]![0] as bigint;
}

describe('one node', () => {
  it('executes, batches, queries and keeps SQLite types', async () => {
    const a = await node('a');
    await a.waitForRole('leader'); // a slow first claim (a loaded machine) may join as follower first
    expect(a.role).toBe('leader');
    await a.execute('CREATE TABLE t (id INTEGER PRIMARY KEY, i INTEGER, f REAL, s TEXT, b BLOB)');
    const big = 2n ** 62n + 7n;
    const ins = await a.execute('INSERT INTO t (i, f, s, b) VALUES (?, ?, ?, ?)', [
      big,
      1.5,
      'x',
      new Uint8Array([0, 255]),
    ]);
    expect(ins.rowsAffected).toBe(1);
    expect(ins.lastInsertRowid).toBe(1n);
    const results = await a.batch([
      { sql: 'INSERT INTO t (i, s) VALUES (:i, :s)', args: { i: 2n, s: 'y' } },
      { sql: 'UPDATE t SET s = ? WHERE id = 1', args: ['z'] },
    ]);
    expect(results.map((r) => r.rowsAffected)).toEqual([1, 1]);
    const q = await a.query('SELECT id, i, f, s, b FROM t ORDER BY id');
    expect(q.columns).toEqual(['id', 'i', 'f', 's', 'b']);
    expect(q.decltypes).toEqual(['INTEGER', 'INTEGER', 'REAL', 'TEXT', 'BLOB']);
    const [first, second] = rowObjects(q);
    expect(first).toMatchObject({ id: 1n, i: big, f: 1.5, s: 'z' });
    expect([...(first!.b as Uint8Array)]).toEqual([0, 255]);
    expect(second).toMatchObject({ id: 2n, i: 2n, f: null, s: 'y', b: null });
    const ret = await a.execute('INSERT INTO t (s) VALUES (?) RETURNING id', ['r']);
    expect(ret.rows).toEqual([[3n]]);
    expect(ret.rowsAffected).toBe(1);
  });

  it('rolls back a failed batch and transaction; typed errors', async () => {
    const a = await node('a');
    await a.execute('CREATE TABLE t (id INTEGER PRIMARY KEY, v TEXT NOT NULL)');
    await expect(
      a.batch([{ sql: "INSERT INTO t (v) VALUES ('ok')" }, { sql: 'INSERT INTO t (v) VALUES (NULL)' }]),
    ).rejects.toSatisfy((e) => isHaQLiteError(e, 'HADB_HAQLITE_SQL'));
    await expect(
      a.transaction(async (tx) => {
        await tx.execute("INSERT INTO t (v) VALUES ('in tx')");
        expect((await tx.query('SELECT count(*) FROM t')).rows[0]![0]).toBe(1n);
        throw new Error('give up');
      }),
    ).rejects.toThrow('give up');
    expect(await count(a)).toBe(0n);
    await expect(a.query('DELETE FROM t')).rejects.toSatisfy((e) => isHaQLiteError(e, 'HADB_HAQLITE_NOT_READ_ONLY'));
    await expect(a.execute('SELEC 1')).rejects.toSatisfy((e) => isHaQLiteError(e, 'HADB_HAQLITE_SQL'));
    await expect(a.execute('BEGIN')).rejects.toSatisfy((e) => isHaQLiteError(e, 'HADB_HAQLITE_SQL'));
    const n = await a.transaction(
      async (tx) => (await tx.execute("INSERT INTO t (v) VALUES ('a'), ('b')")).rowsAffected,
    );
    expect(n).toBe(2);
    expect(await count(a)).toBe(2n);
    // haqlite's own options and the node options it passes to HaNode are checked alike.
    for (const bad of [{ busyTimeoutMs: -1 }, { replicatorTimeoutMs: -5 }]) {
      await expect(
        HaQLite.open({
          path: join(nodes.dir, 'x.db'),
          storage: nodes.storage,
          lease: { store: nodes.lease },
          instanceId: 'x',
          ...bad,
        }),
      ).rejects.toSatisfy((e) => isHaQLiteError(e, 'HADB_HAQLITE_INVALID_CONFIG'));
    }
  });

  it('runs a write once per idempotency token', async () => {
    const a = await node('a');
    await a.execute('CREATE TABLE t (id INTEGER PRIMARY KEY)');
    const first = await a.execute('INSERT INTO t DEFAULT VALUES', [], { idempotencyToken: 'tok-1' });
    const again = await a.execute('INSERT INTO t DEFAULT VALUES', [], { idempotencyToken: 'tok-1' });
    expect(again.lastInsertRowid).toBe(first.lastInsertRowid);
    expect(await count(a)).toBe(1n);
  });

  it('acknowledges a shipped write only once its changeset is in storage', async () => {
    const a = await node('a', { shipIntervalMs: 60_000, durability: 'shipped' });
    await a.execute('CREATE TABLE t (id INTEGER PRIMARY KEY)');
    const before = (await nodes.storage.list('haqlite/app/0000/')).length;
    await a.execute('INSERT INTO t DEFAULT VALUES');
    expect((await nodes.storage.list('haqlite/app/0000/')).length).toBe(before + 1);
    await a.execute('INSERT INTO t DEFAULT VALUES', [], { durability: 'committed' });
    expect((await nodes.storage.list('haqlite/app/0000/')).length).toBe(before + 1);
    expect(a.stats().changesets).toBeGreaterThanOrEqual(2);
  });
});

describe('two nodes', () => {
  it('forwards writes from a follower, serves local and strong reads, hands off on close, and the old leader rejoins', async () => {
    const a = await node('a');
    const b = await node('b');
    await a.waitForRole('leader'); // a slow first claim (a loaded machine) may join as follower first
    expect(a.role).toBe('leader');
    expect(b.role).toBe('follower');
    await b.execute('CREATE TABLE t (id INTEGER PRIMARY KEY, v TEXT)');
    await b.execute('INSERT INTO t (v) VALUES (?)', ['from b'], { durability: 'shipped' });
    expect(await count(b, { consistency: 'strong' })).toBe(1n);
    await a.execute("INSERT INTO t (v) VALUES ('from a')");
    await a.sync();
    await b.sync();
    expect(await count(b)).toBe(2n);
    await expect(b.transaction(async () => 1)).rejects.toSatisfy((e) => isHaError(e, 'HADB_HA_NOT_LEADER'));
    expect(b.stats().forwardedWrites).toBeGreaterThanOrEqual(2);

    // Graceful handoff: a ships and releases; b catches up and leads without waiting for the TTL.
    await a.execute("INSERT INTO t (v) VALUES ('last of a')");
    await a.close();
    await b.waitForRole('leader', { signal: AbortSignal.timeout(10_000) });
    expect(await count(b)).toBe(3n);
    await b.execute("INSERT INTO t (v) VALUES ('b leads')");

    // The old leader rejoins as a follower: its file is set aside, the replica restored.
    const a2 = await node('a');
    expect(a2.role).toBe('follower');
    await b.sync();
    await a2.sync();
    expect(await count(a2)).toBe(4n);
    expect(readdirSync(nodes.dir).some((f) => f.startsWith('a.db.diverged-'))).toBe(true);
    await a2.execute("INSERT INTO t (v) VALUES ('forwarded by a2')");
    expect(await count(b)).toBe(5n);
  });

  it('a follower is told of new changesets by the leader: fast without storage polling, and an idle follower barely touches storage', async () => {
    const a = await node('a');
    await a.execute('CREATE TABLE t (id INTEGER PRIMARY KEY)', [], { durability: 'shipped' });
    // The follower's storage requests, counted.
    const counted = countRequests(nodes.storage);
    // Storage polling every 60 s: only the leader's notice can make the write visible quickly.
    const b = await node('b', { storage: counted.storage, followerPullIntervalMs: 60_000 });
    const t0 = Date.now();
    await a.execute('INSERT INTO t DEFAULT VALUES', [], { durability: 'shipped' });
    while (Date.now() - t0 < 10_000 && (await count(b).catch(() => 0n)) !== 1n)
      await new Promise((r) => setTimeout(r, 5));
    expect(await count(b)).toBe(1n);
    expect(Date.now() - t0).toBeLessThan(5000);
    await new Promise((r) => setTimeout(r, 500));
    // While the chain continues, a notice-woken pull reads the next changeset by its key: no LIST,
    // and per write one GET of the changeset and one of the (still missing) key after it.
    counted.reset();
    for (let i = 2n; i <= 6n; i++) {
      await a.execute('INSERT INTO t DEFAULT VALUES', [], { durability: 'shipped' });
      while ((await count(b).catch(() => 0n)) !== i) await new Promise((r) => setTimeout(r, 5));
    }
    await new Promise((r) => setTimeout(r, 300));
    const pulls = counted.count().byOperation;
    expect(pulls.list ?? 0).toBe(0);
    expect(pulls.get).toBeGreaterThanOrEqual(5);
    expect(pulls.get).toBeLessThanOrEqual(10);
    counted.reset();
    await new Promise((r) => setTimeout(r, 3000));
    // An idle follower waits on the leader's held long poll (storage polling once a minute is its
    // fallback only): at most the tail of its last pull.
    expect(counted.count().total).toBeLessThanOrEqual(6);
  });

  it('a cold node restores from storage', async () => {
    const a = await node('a');
    await a.execute('CREATE TABLE t (id INTEGER PRIMARY KEY, v TEXT)');
    for (let i = 0; i < 20; i++) await a.execute('INSERT INTO t (v) VALUES (?)', [`row ${i}`]);
    await a.sync();
    const c = await node('c');
    expect(c.role).toBe('follower');
    expect(await count(c)).toBe(20n);
    expect(c.stats().restoredSnapshots + c.stats().appliedSegments).toBeGreaterThan(0);
  });
});
