import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { DuckSharedInstance, isHaDuckError } from '../src/index.js';
import { localNodes } from './local-nodes.js';

const nodes = localNodes('shared');
const { node, open } = nodes;
let shared: DuckSharedInstance | undefined;

afterEach(async () => {
  // Databases first (they detach), then the instance.
  for (const db of open.splice(0)) await db.close();
  await shared?.close();
  shared = undefined;
});

/** A shared instance over this test's directory (threads: 1, so its setting is visible to every database in it). */
async function sharedInstance(): Promise<DuckSharedInstance> {
  shared = await DuckSharedInstance.open({ directories: [nodes.dir], duckdbConfig: { threads: '1' } });
  return shared;
}

describe('DuckSharedInstance: several HaDuck databases in one DuckDB instance', () => {
  it('each database is its own catalog of the one instance, with the shared settings; tables stay apart', async () => {
    const s = await sharedInstance();
    const x = await node('x', { name: 'x', sharedInstance: s });
    const y = await node('y', { name: 'y', sharedInstance: s });
    expect(x.role).toBe('leader');
    expect(y.role).toBe('leader');
    await x.execute('CREATE TABLE t (v VARCHAR)');
    await y.execute('CREATE TABLE t (v VARCHAR)');
    await x.execute("INSERT INTO t VALUES ('from x')", [], { durability: 'shipped' });
    await y.execute("INSERT INTO t VALUES ('from y')", [], { durability: 'shipped' });
    expect((await x.query('SELECT v FROM t')).rows).toEqual([['from x']]);
    expect((await y.query('SELECT v FROM t')).rows).toEqual([['from y']]);
    // One instance: its setting, and both files attached to it.
    expect((await x.query("SELECT current_setting('threads')")).rows).toEqual([[1n]]);
    const attached = await y.query('SELECT database_name FROM duckdb_databases() WHERE path IS NOT NULL ORDER BY 1');
    expect(attached.rows).toEqual([['x'], ['y']]);
    expect([...s.attached].sort()).toEqual(['x', 'y']);
    // The idempotency-token table lives in the catalog of the database that wrote with a token.
    await x.execute("INSERT INTO t VALUES ('tok')", [], { idempotencyToken: 'k1' });
    const tables = await y.query('SELECT database_name, count(*) FROM duckdb_tables() GROUP BY 1 ORDER BY 1');
    expect(tables.rows).toEqual([
      ['x', 2n],
      ['y', 1n],
    ]);
    // Files outside the instance's directories stay closed to SQL.
    const err = await x.query("SELECT * FROM read_csv('/etc/passwd')").catch((e: unknown) => e);
    expect(isHaDuckError(err, 'HADB_HADUCK_SQL')).toBe(true);
    await x.close();
    await y.close();
    open.length = 0;
    expect(s.attached).toEqual([]);
  }, 30_000);

  it('leader and follower of one database in one shared instance: reads follow swaps, failover promotes the follower', async () => {
    const s = await sharedInstance();
    const a = await node('a', { sharedInstance: s });
    expect(a.role).toBe('leader');
    await a.execute('CREATE TABLE t (id BIGINT)');
    await a.execute('INSERT INTO t VALUES (1)', [], { durability: 'shipped' });
    const b = await node('b', { sharedInstance: s });
    expect(b.role).toBe('follower');
    await b.sync();
    expect((await b.query('SELECT sum(id) FROM t')).rows).toEqual([[1n]]);
    await a.execute('INSERT INTO t VALUES (2)', [], { durability: 'shipped' });
    await b.sync();
    // The follower's catalog was detached and attached again (read-only) for the new version.
    expect((await b.query('SELECT sum(id) FROM t')).rows).toEqual([[3n]]);
    expect(b.stats().swaps).toBeGreaterThan(0);
    expect((await b.query("SELECT readonly FROM duckdb_databases() WHERE path LIKE '%b.duckdb'")).rows).toEqual([
      [true],
    ]);
    await a.close();
    open.splice(open.indexOf(a), 1);
    await b.waitForRole('leader', { signal: AbortSignal.timeout(15_000) });
    // Promoted: b's file is now attached read-write in the same instance.
    await b.execute('INSERT INTO t VALUES (4)', [], { durability: 'shipped' });
    expect((await b.query('SELECT sum(id) FROM t')).rows).toEqual([[7n]]);
    expect(s.attached).toEqual(['b']);
  }, 45_000);

  it('external access stays off and the configuration locked, whatever its duckdbConfig asks', async () => {
    shared = await DuckSharedInstance.open({
      directories: [nodes.dir],
      duckdbConfig: { enable_external_access: 'true', lock_configuration: 'false', checkpoint_threshold: '1KB' },
    });
    const a = await node('a', { sharedInstance: shared });
    const read = await a.query("SELECT * FROM read_csv('/etc/passwd')").catch((e: unknown) => e);
    expect(isHaDuckError(read, 'HADB_HADUCK_SQL')).toBe(true);
    expect(String(read)).toMatch(/disabled by configuration/);
    // transaction() runs statements unclassified: DuckDB's own lock refuses SET.
    const set = await a.transaction((tx) => tx.execute('SET threads = 1')).catch((e: unknown) => e);
    expect(String(set)).toMatch(/configuration has been locked/);
    expect((await a.query("SELECT current_setting('checkpoint_threshold')")).rows).toEqual([['931.3 GiB']]);
  }, 30_000);

  it('bad options are HADB_HADUCK_INVALID_CONFIG', async () => {
    const s = await sharedInstance();
    const bad = [
      () => node('p', { sharedInstance: s, duckdbConfig: { threads: '2' } }),
      () => node('q', { sharedInstance: {} as DuckSharedInstance }),
      () => DuckSharedInstance.open({ directories: [] }),
      () => DuckSharedInstance.open({ directories: [nodes.dir], duckdbConfig: { threads: 2 as unknown as string } }),
    ];
    for (const [i, f] of bad.entries()) {
      const err = await f().catch((e: unknown) => e);
      expect(isHaDuckError(err, 'HADB_HADUCK_INVALID_CONFIG'), `case ${i}: ${String(err)}`).toBe(true);
    }
    // A file outside the instance's directories is refused before DuckDB sees it.
    const err = await s.attach(join(nodes.dir, '..', 'z.duckdb')).catch((e: unknown) => e);
    expect(isHaDuckError(err, 'HADB_HADUCK_INVALID_CONFIG')).toBe(true);
    expect(s.attached).toEqual([]);
  }, 30_000);
});

describe('duckdbConfig: settings of a database with an instance of its own', () => {
  it('reach the leader and the follower instances', async () => {
    const a = await node('a', { duckdbConfig: { threads: '1', memory_limit: '200MB' } });
    await a.execute('CREATE TABLE t (id BIGINT)');
    await a.execute('INSERT INTO t VALUES (1)', [], { durability: 'shipped' });
    const b = await node('b', { duckdbConfig: { threads: '1', memory_limit: '200MB' } });
    await b.sync();
    for (const db of [a, b]) {
      const { rows } = await db.query("SELECT current_setting('threads'), current_setting('memory_limit')");
      expect(rows).toEqual([[1n, '190.7 MiB']]);
    }
  }, 30_000);
});
