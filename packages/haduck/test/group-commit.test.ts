import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { HaError } from '@hadb/ha';
import { systemClock } from '@hadb/io';
import { afterEach, describe, expect, it } from 'vitest';
import { DuckLeader, type CheckpointShipper } from '../src/duck-leader.js';
import type { DuckWrite } from '../src/wire.js';
import { MAX_GROUP } from '../src/write-groups.js';

let dir: string | undefined;
let leader: DuckLeader | undefined;
afterEach(async () => {
  await leader?.close();
  leader = undefined;
  if (dir !== undefined) rmSync(dir, { recursive: true, force: true });
});

const shipper: CheckpointShipper = { capture: async () => null, snapshot: async () => undefined };

/** A leader whose term checks refuse from the `refuseAt`-th `checkWrite` call on (1-based). */
async function open(refuseAt = Number.POSITIVE_INFINITY): Promise<{ leader: DuckLeader; commits: () => number }> {
  dir = mkdtempSync(join(tmpdir(), 'haduck-group-'));
  let checks = 0;
  let commits = 0;
  const context = {
    checkWrite: () => {
      if (++checks >= refuseAt) throw new HaError('HADB_HA_FENCED', 'this node lost its lease; write refused');
    },
    checkTerm: () => undefined,
    committed: () => {
      commits++;
    },
  };
  leader = await DuckLeader.open({ path: join(dir, 'g.duckdb'), context, shipper, clock: systemClock });
  return { leader, commits: () => commits };
}

const insert = (id: unknown, v = 'x'): DuckWrite => ({
  kind: 'execute',
  sql: 'INSERT INTO g VALUES ($1, $2)',
  params: [id as number, v],
});

describe('group commit of concurrent write requests', () => {
  it('commits waiting requests together and counts every commit', async () => {
    const { leader: l, commits } = await open();
    await l.execute('CREATE TABLE g (id INTEGER PRIMARY KEY, v VARCHAR)');
    const before = commits();
    const results = await Promise.all(Array.from({ length: 50 }, (_, i) => l.write(insert(i), {})));
    expect(results.every((r) => r.rowsChanged === 1)).toBe(true);
    expect(commits() - before).toBe(50);
    const c = l.counters();
    expect(c.groupTransactions).toBeGreaterThan(0);
    expect(c.groupedWrites).toBeGreaterThan(c.groupTransactions!);
    expect((await l.query('SELECT count(*), count(DISTINCT id) FROM g')).rows).toEqual([[50n, 50n]]);
  });

  it('groups requests that arrive in one event-loop turn beside a running one, at most MAX_GROUP to a group, over several lanes', async () => {
    const { leader: l, commits } = await open();
    await l.execute('CREATE TABLE g (id INTEGER PRIMARY KEY, v VARCHAR)');
    // A first burst opens the pool's connections: the measured one finds them idle.
    const burst = async (from: number) =>
      Promise.all(
        Array.from(
          { length: 2 * MAX_GROUP },
          // Each request from a callback of its own (as from separate socket reads), all in one turn.
          (_, i) =>
            new Promise<{ rowsChanged: number }>((resolve, reject) => {
              setImmediate(() => l.write(insert(from + i), {}).then(resolve, reject));
            }),
        ),
      );
    await burst(0);
    const before = l.counters();
    const results = await burst(100);
    expect(results.every((r) => r.rowsChanged === 1)).toBe(true);
    // The first found no lane running and ran at once, alone; the rest formed two groups.
    const c = l.counters();
    expect(c.groupTransactions! - before.groupTransactions!).toBe(2);
    expect(c.groupedWrites! - before.groupedWrites!).toBe(2 * MAX_GROUP - 1);
    expect(commits()).toBe(1 + 4 * MAX_GROUP);
    // A lone request still commits on its own, at once.
    await l.write(insert(1000), {});
    expect(l.counters().groupTransactions).toBe(c.groupTransactions);
    expect((await l.query('SELECT count(*) FROM g')).rows).toEqual([[BigInt(4 * MAX_GROUP + 1)]]);
  });

  it('fails only the request that fails; its group mates commit', async () => {
    const { leader: l } = await open();
    await l.execute('CREATE TABLE g (id INTEGER PRIMARY KEY, v VARCHAR)');
    const writes: DuckWrite[] = Array.from({ length: 20 }, (_, i) => insert(i));
    writes[5] = { kind: 'execute', sql: 'INSERT INTO g VALUES ($1, $2)', params: [5, { bad: 1 } as never] };
    writes[9] = { kind: 'execute', sql: 'SET threads = 1' };
    writes[12] = insert(3);
    writes[15] = {
      kind: 'batch',
      statements: [{ sql: 'INSERT INTO g VALUES (100, $1)', params: ['b'] }, { sql: 'SELEC' }],
    };
    const settled = await Promise.allSettled(writes.map((w) => l.write(w, {})));
    const codes = settled.map((s) => (s.status === 'rejected' ? (s.reason as { code?: string }).code : 'ok'));
    expect(codes[5]).toBe('HADB_HADUCK_INVALID_VALUE');
    expect(codes[9]).toBe('HADB_HADUCK_REFUSED_STATEMENT');
    // Two concurrent inserts of key 3: whichever commits first wins, the other fails as it would alone.
    expect([codes[3], codes[12]].sort()).toEqual(['HADB_HADUCK_SQL', 'ok']);
    expect(codes[15]).toBe('HADB_HADUCK_SQL');
    expect(codes.filter((c) => c === 'ok')).toHaveLength(16);
    // The failed batch left nothing (its first statement rolled back with it).
    const ids = (await l.query('SELECT id FROM g ORDER BY id')).rows.map((r) => r[0]);
    expect(ids).toEqual([0, 1, 2, 3, 4, 6, 7, 8, 10, 11, 13, 14, 16, 17, 18, 19]);
  });

  it('refuses every request of a group when the term check before COMMIT fails, and keeps none of it', async () => {
    // checkWrite 1: CREATE TABLE; 2: the group before BEGIN; 3: before its COMMIT (refused).
    const { leader: l, commits } = await open(3);
    await l.execute('CREATE TABLE g (id INTEGER PRIMARY KEY, v VARCHAR)');
    const before = commits();
    const settled = await Promise.allSettled(Array.from({ length: 10 }, (_, i) => l.write(insert(i), {})));
    for (const s of settled) {
      expect(s.status).toBe('rejected');
      expect((s as PromiseRejectedResult).reason).toMatchObject({ code: 'HADB_HA_FENCED' });
    }
    expect(commits()).toBe(before);
    expect((await l.query('SELECT count(*) FROM g')).rows).toEqual([[0n]]);
  });

  it('runs a request that conflicts with a concurrent group again alone, after that group', async () => {
    const { leader: l } = await open();
    await l.execute('CREATE TABLE c (id INTEGER PRIMARY KEY, n BIGINT)');
    await l.execute('INSERT INTO c VALUES (1, 0)');
    // Timing decides whether the two overlap (a loaded machine may start the first late): a few tries.
    for (let attempt = 1; attempt <= 5 && l.counters().conflictRetries === 0; attempt++) {
      await l.execute('UPDATE c SET n = 0 WHERE id = 1');
      // A group that updates the row and then keeps its transaction open on a long scan…
      const slow = l.write(
        {
          kind: 'batch',
          statements: [
            { sql: 'UPDATE c SET n = n + 1 WHERE id = 1' },
            { sql: 'SELECT count(*) FROM range(80000000) WHERE range % 7 = 3' },
          ],
        },
        {},
      );
      await new Promise((r) => setTimeout(r, 30 * attempt));
      // …and a request on another connection that updates the same row meanwhile.
      const fast = l.write({ kind: 'execute', sql: 'UPDATE c SET n = n + 10 WHERE id = 1' }, {});
      const [s, f] = await Promise.all([slow, fast]);
      expect(s.rowsChanged).toBe(1);
      expect(f.rowsChanged).toBe(1);
      expect((await l.query('SELECT n FROM c')).rows).toEqual([[11n]]);
    }
    expect(l.counters().conflictRetries).toBeGreaterThan(0);
  });

  it('reuses kept statements with fresh bindings: a missing parameter is an error, not the last value', async () => {
    const { leader: l } = await open();
    await l.execute('CREATE TABLE g (id INTEGER PRIMARY KEY, v VARCHAR)');
    await l.write(insert(1, 'first'), {});
    await expect(
      l.write({ kind: 'execute', sql: 'INSERT INTO g VALUES ($1, $2)', params: [2] }, {}),
    ).rejects.toMatchObject({ code: 'HADB_HADUCK_SQL' });
    // The kept statement is re-bound after the table changed under it.
    await l.execute('ALTER TABLE g ADD COLUMN z INTEGER DEFAULT 7');
    await expect(l.write(insert(3, 'third'), {})).rejects.toMatchObject({ code: 'HADB_HADUCK_SQL' });
    await l.execute('ALTER TABLE g DROP COLUMN z');
    await l.write(insert(4, 'fourth'), {});
    expect((await l.query('SELECT id, v FROM g ORDER BY id')).rows).toEqual([
      [1, 'first'],
      [4, 'fourth'],
    ]);
  });
});
