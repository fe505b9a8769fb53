import { DuckDBInstance } from '@duckdb/node-api';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
const dir = mkdtempSync(join(tmpdir(), 'p-'));
const t = async (l, f) => {
  try {
    const r = await f();
    console.log('OK', l, r ?? '');
  } catch (e) {
    console.log('ERR', l, e.message.split('\n')[0]);
  }
};
let inst;
await t('config string list', async () => {
  inst = await DuckDBInstance.create(':memory:', {
    allowed_directories: `['${dir}/']`,
    enable_external_access: 'false',
    checkpoint_threshold: '1000GB',
    lock_configuration: 'true',
  });
});
if (!inst) {
  inst = await DuckDBInstance.create(':memory:');
  const c = await inst.connect();
  await c.run(`SET allowed_directories=['${dir}/']`);
  await c.run('SET enable_external_access=false');
  await c.run("SET checkpoint_threshold='1000GB'");
  await c.run('SET lock_configuration=true');
  c.closeSync();
}
const c = await inst.connect();
console.log(
  (
    await c.runAndReadAll(
      "SELECT current_setting('allowed_directories'), current_setting('enable_external_access'), current_setting('lock_configuration'), current_setting('checkpoint_threshold')",
    )
  ).getRows(),
);
await t('attach', () => c.run(`ATTACH '${join(dir, 'a.duckdb')}' AS "a"`));
await t('attach b', () => c.run(`ATTACH '${join(dir, 'b.duckdb')}' AS "b"`));
await t('use', () => c.run('USE "a"'));
await t('create', () =>
  c.run(
    'CREATE TABLE t(i INT); CREATE SCHEMA IF NOT EXISTS _haduck; CREATE TABLE IF NOT EXISTS _haduck.write_tokens (token VARCHAR PRIMARY KEY)',
  ),
);
await t('insert tok', () => c.run("INSERT INTO _haduck.write_tokens VALUES ('x')"));
await t('where', async () =>
  (await c.runAndReadAll('SELECT table_catalog, table_schema, table_name FROM information_schema.tables')).getRows(),
);
const c2 = await inst.connect();
await t('use b', () => c2.run('USE "b"'));
await t('b sees t?', async () => (await c2.runAndReadAll('SELECT * FROM t')).getRows());
await t('b reads a.t', async () => (await c2.runAndReadAll('SELECT * FROM a.t')).getRows());
await t('checkpoint a', () => c.run('CHECKPOINT "a"'));
await t('plain checkpoint (a default)', () => c.run('CHECKPOINT'));
await t('attach outside', () => c.run(`ATTACH '/tmp/zz-outside.duckdb' AS z`));
await t('set threads', () => c.run('SET threads=1'));
await t('detach a while c uses it', () => c2.run('DETACH "a"'));
await t('c after detach', async () => (await c.runAndReadAll('SELECT * FROM t')).getRows());
await t('reattach ro', () => c2.run(`ATTACH '${join(dir, 'a.duckdb')}' AS "a" (READ_ONLY)`));
await t('c after reattach', async () => (await c.runAndReadAll('SELECT * FROM t')).getRows());
await t('duckdb_databases', async () =>
  (await c.runAndReadAll('SELECT database_name, path, readonly FROM duckdb_databases()')).getRows(),
);
