import { existsSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DuckDBInstance } from '@duckdb/node-api';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { isHaDuckError } from '../src/errors.js';
import { FollowerReader } from '../src/follower-reader.js';

/**
 * A follower's read instance is as closed as the leader's (issue 12): no file outside the
 * database is read or written, nothing is attached, and the configuration cannot be changed —
 * even when the caller's `duckdbConfig` asks for external access.
 */
let dir: string;
let reader: FollowerReader;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'haduck-follower-sec-'));
  const path = join(dir, 'copy.duckdb');
  const writer = await DuckDBInstance.create(path);
  const conn = await writer.connect();
  await conn.run('CREATE TABLE t AS SELECT range AS id FROM range(3)');
  conn.closeSync();
  writer.closeSync();
  reader = new FollowerReader(path, { enable_external_access: 'true', threads: '1' });
  await reader.start();
});

afterAll(async () => {
  await reader.close();
  await rm(dir, { recursive: true, force: true });
});

const refused = async (sql: string): Promise<unknown> =>
  reader.query(sql).then(
    () => 'accepted',
    (e: unknown) => e,
  );

describe('follower reader security', () => {
  it('still serves reads of the database', async () => {
    expect((await reader.query('SELECT count(*) FROM t')).rows[0]![0]).toBe(3n);
  });

  for (const sql of [
    "SELECT * FROM read_csv('/etc/passwd')",
    "SELECT * FROM read_text('/etc/passwd')",
    "SELECT * FROM glob('/etc/*')",
  ]) {
    it(`refuses to read files outside the database: ${sql}`, async () => {
      expect(isHaDuckError(await refused(sql), 'HADB_HADUCK_SQL')).toBe(true);
    });
  }

  it('refuses COPY … TO a file (also under EXPLAIN ANALYZE) and writes nothing', async () => {
    const out = join(dir, 'leak.csv');
    expect(await refused(`COPY (SELECT * FROM t) TO '${out}'`)).toBeInstanceOf(Error);
    expect(await refused(`EXPLAIN ANALYZE COPY (SELECT * FROM t) TO '${out}'`)).toBeInstanceOf(Error);
    expect(existsSync(out)).toBe(false);
  });

  it('refuses ATTACH and creates no file', async () => {
    const other = join(dir, 'other.duckdb');
    expect(await refused(`ATTACH '${other}' AS other`)).toBeInstanceOf(Error);
    expect(existsSync(other)).toBe(false);
  });

  it('refuses changing the configuration', async () => {
    expect(await refused('SET enable_external_access = true')).toBeInstanceOf(Error);
    expect(await refused("SET memory_limit = '1GB'")).toBeInstanceOf(Error);
  });
});
