import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ForwardingServer } from '@hadb/ha';
import { isHaDuckError } from '../src/errors.js';
import type { ExecuteResult, QueryResult } from '../src/sql.js';
import type { DuckRead, DuckWrite } from '../src/wire.js';
import { duckWire } from '../src/wire.js';
import { TestLeader, sqlClient } from './leader-fixture.js';

/**
 * Attacks by a holder of the forwarding secret on the leader's DuckDB (issue 12, item 1): every
 * one gets a typed error and changes nothing.
 */
const SECRET = 'sec-test-secret-Qw3-do-not-print';
let leader: TestLeader;
let server: ForwardingServer<DuckWrite, DuckRead, ExecuteResult, QueryResult>;
let address: string;
const client = sqlClient({ secret: SECRET, timeoutMs: 10_000 });
let n = 0;
const token = (): string => `sec-token-${++n}-${Date.now()}`;

beforeAll(async () => {
  leader = await TestLeader.open({ maxStatements: 5, maxResultRows: 50, statementTimeoutMs: 300 });
  server = await ForwardingServer.listen({ codec: duckWire, target: leader.target, port: 0, secret: SECRET });
  address = `http://127.0.0.1:${server.port}`;
  await leader.engine.execute('CREATE TABLE t (id BIGINT)');
  await leader.engine.execute('INSERT INTO t SELECT range FROM range(10)');
});
afterAll(async () => {
  await server?.close();
  await leader?.close();
});

async function code(p: Promise<unknown>): Promise<string> {
  try {
    await p;
  } catch (err) {
    if (isHaDuckError(err)) return err.code;
    throw err;
  }
  return 'resolved';
}

async function rows(): Promise<bigint> {
  return (await leader.engine.query('SELECT count(*) FROM t')).rows[0]![0] as bigint;
}

describe('haduck forwarding security', () => {
  it('refuses statement kinds that are not data or schema changes (HADB_HADUCK_REFUSED_STATEMENT)', async () => {
    const refused = [
      "SET checkpoint_threshold = '1KB'",
      'RESET threads',
      'SET VARIABLE x = 1',
      "ATTACH ':memory:' AS other",
      'DETACH other',
      'INSTALL httpfs',
      'LOAD httpfs',
      'CHECKPOINT',
      'FORCE CHECKPOINT',
      'CALL pragma_version()',
      'COMMIT; BEGIN TRANSACTION',
      'BEGIN TRANSACTION',
      'INSERT INTO t VALUES (100); COMMIT',
      'PREPARE p AS SELECT 1',
    ];
    for (const sql of refused) {
      expect(await code(client.execute(address, sql, undefined, token(), 'committed')), sql).toBe(
        'HADB_HADUCK_REFUSED_STATEMENT',
      );
    }
    // A refused statement late in a script rolls back the ones before it.
    expect(await rows()).toBe(10n);
    // The same guard applies to a batch.
    expect(
      await code(
        client.batch(address, [{ sql: 'INSERT INTO t VALUES (101)' }, { sql: 'CHECKPOINT' }], token(), 'committed'),
      ),
    ).toBe('HADB_HADUCK_REFUSED_STATEMENT');
    expect(await rows()).toBe(10n);
  });

  it('refuses any statement naming the token table', async () => {
    for (const sql of [
      'DELETE FROM _haduck.write_tokens',
      'DROP TABLE "_HADUCK".write_tokens',
      'SELECT * FROM _haduck.write_tokens',
    ]) {
      expect(await code(client.execute(address, sql, undefined, token(), 'committed')), sql).toBe(
        'HADB_HADUCK_REFUSED_STATEMENT',
      );
    }
    expect(await code(client.query(address, 'SELECT count(*) FROM _haduck.write_tokens', undefined))).not.toBe(
      'resolved',
    );
  });

  it('closes DuckDB to the file system: no read_csv of local files, no COPY/ATTACH/EXPORT creating files', async () => {
    expect(await code(client.query(address, "SELECT * FROM read_csv('/etc/passwd')", undefined))).toBe(
      'HADB_HADUCK_SQL',
    );
    const out = join(leader.dir, 'stolen.csv');
    for (const sql of [
      `COPY t TO '${out}'`,
      `ATTACH '${join(leader.dir, 'x.db')}' AS x`,
      `EXPORT DATABASE '${join(leader.dir, 'exp')}'`,
      `CREATE TABLE p AS SELECT * FROM read_csv('/etc/passwd')`,
    ]) {
      expect(['HADB_HADUCK_SQL', 'HADB_HADUCK_REFUSED_STATEMENT'], sql).toContain(
        await code(client.execute(address, sql, undefined, token(), 'committed')),
      );
    }
    expect(existsSync(out) || existsSync(join(leader.dir, 'x.db')) || existsSync(join(leader.dir, 'exp'))).toBe(false);
    // The leader's own (unguarded) transaction path meets the same walls: DuckDB itself refuses.
    expect(await code(leader.side.transaction((tx) => tx.query("SELECT * FROM read_csv('/etc/passwd')")))).toBe(
      'HADB_HADUCK_SQL',
    );
  });

  it("locks DuckDB's configuration even on the leader's own transaction path", async () => {
    const err = await code(leader.side.transaction((tx) => tx.execute("SET checkpoint_threshold = '1KB'")));
    expect(err).toBe('HADB_HADUCK_SQL');
  });

  it('query() is read-only: EXPLAIN ANALYZE of a write changes nothing (HADB_HADUCK_NOT_READ_ONLY)', async () => {
    for (const sql of [
      'EXPLAIN ANALYZE INSERT INTO t VALUES (200)',
      'EXPLAIN ANALYZE CREATE TABLE sneaky AS SELECT 1',
      'EXPLAIN ANALYZE DELETE FROM t',
    ]) {
      expect(await code(client.query(address, sql, undefined)), sql).toBe('HADB_HADUCK_NOT_READ_ONLY');
      expect(await code(leader.engine.query(sql)), sql).toBe('HADB_HADUCK_NOT_READ_ONLY');
    }
    expect(await rows()).toBe(10n);
    expect(
      (await leader.engine.query("SELECT count(*) FROM duckdb_tables() WHERE table_name = 'sneaky'")).rows[0]![0],
    ).toBe(0n);
  });

  it('limits statements per request, rows per result and time per request', async () => {
    const six = Array.from({ length: 6 }, (_, i) => ({ sql: `INSERT INTO t VALUES (${300 + i})` }));
    expect(await code(client.batch(address, six, token(), 'committed'))).toBe('HADB_HADUCK_LIMIT');
    expect(await code(client.execute(address, six.map((s) => s.sql).join(';'), undefined, token(), 'committed'))).toBe(
      'HADB_HADUCK_LIMIT',
    );
    expect(await rows()).toBe(10n);
    expect(await code(client.query(address, 'SELECT * FROM range(51)', undefined))).toBe('HADB_HADUCK_LIMIT');
    expect((await client.query(address, 'SELECT * FROM range(50)', undefined)).rows.length).toBe(50);
    const slow = 'SELECT count(*) FROM range(100000) a(i), range(100000) b(j) WHERE i * j % 7 = 3';
    expect(await code(client.query(address, slow, undefined))).toBe('HADB_HADUCK_TIMEOUT');
    const slowWrite = `INSERT INTO t SELECT i FROM range(100000) a(i), range(100000) b(j) WHERE i * j % 7 = 3`;
    expect(await code(client.execute(address, slowWrite, undefined, token(), 'committed'))).toBe('HADB_HADUCK_TIMEOUT');
    expect(await rows()).toBe(10n);
    // The leader still writes afterwards.
    expect(
      (await client.execute(address, 'INSERT INTO t VALUES (999)', undefined, token(), 'committed')).rowsChanged,
    ).toBe(1);
    await leader.engine.execute('DELETE FROM t WHERE id = 999');
  });
});
