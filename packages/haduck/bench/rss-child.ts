// Child of scale.bench.ts: opens N databases and prints {"rssMiB", "heapMiB", "externalMiB",
// "threads"} as the last line of stdout. Arguments: N, mode, JSON.
// - `ha` (default): HaDuck leaders (storage-local, storage lease); JSON: extra HaDuck options
//   (e.g. `{"duckdbConfig":{"threads":"1"}}`), and `"shared": {...DuckDB settings}` to put every
//   database in one `DuckSharedInstance` with those settings, `"followers": true` to open a
//   caught-up follower of each leader in the same process too.
// - `raw`: plain DuckDB instances, one connection each; JSON: `{"config": {...DuckDB settings},
//   "checkpoint": true}` (checkpoint once, as a HaDuck leader does when it ships).
// - `raw-shared`: one DuckDB instance, each database file ATTACHed under its own alias and used by
//   its own connection (`USE`); JSON as for `raw`.
// Each database gets one table and one row.
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DuckDBInstance, type DuckDBConnection } from '@duckdb/node-api';
import { StorageLeaseStore } from '@hadb/lease';
import { LocalStorageBackend } from '@hadb/storage-local';
import { DuckSharedInstance, HaDuck } from '../src/index.js';

const n = Number(process.argv[2] ?? '1');
const mode = process.argv[3] ?? 'ha';
const json = JSON.parse(process.argv[4] ?? '{}') as Record<string, unknown>;
const rawConfig = (json.config ?? {}) as Record<string, string>;
const checkpoint = json.checkpoint === true;
const dir = mkdtempSync(join(tmpdir(), 'haduck-rss-'));
const storage = await LocalStorageBackend.open({ root: join(dir, 'storage') });
const lease = new StorageLeaseStore(storage, { prefix: 'leases/' });
const dbs: HaDuck[] = [];
const instances: DuckDBInstance[] = [];
const conns: DuckDBConnection[] = [];

async function fill(conn: DuckDBConnection, checkpointSql: string): Promise<void> {
  await conn.run('CREATE TABLE t (i INTEGER, v VARCHAR)');
  await conn.run('INSERT INTO t VALUES (1, $1)', ['x']);
  await conn.runAndReadAll('SELECT count(*) FROM t');
  if (checkpoint) await conn.run(checkpointSql);
}

const {
  shared: sharedConfig,
  followers,
  ...haOptions
} = json as { shared?: Record<string, string>; followers?: boolean };
const sharedInstance =
  mode === 'ha' && sharedConfig !== undefined
    ? await DuckSharedInstance.open({ directories: [dir], duckdbConfig: sharedConfig })
    : undefined;
let shared: DuckDBInstance | undefined;
for (let i = 0; i < n; i++) {
  if (mode === 'raw') {
    const instance = await DuckDBInstance.create(join(dir, `raw${i}.duckdb`), rawConfig);
    const conn = await instance.connect();
    await fill(conn, 'CHECKPOINT');
    instances.push(instance);
    conns.push(conn);
    continue;
  }
  if (mode === 'raw-shared') {
    if (shared === undefined) {
      shared = await DuckDBInstance.create(':memory:', rawConfig);
      instances.push(shared);
    }
    const conn = await shared.connect();
    await conn.run(`ATTACH '${join(dir, `raw${i}.duckdb`)}' AS db${i}`);
    await conn.run(`USE db${i}`);
    await fill(conn, `CHECKPOINT db${i}`);
    conns.push(conn);
    continue;
  }
  const db = await HaDuck.open({
    name: `db${i}`,
    path: join(dir, `db${i}.duckdb`),
    instanceId: 'a',
    storage,
    lease: { store: lease },
    sharedInstance,
    ...haOptions,
  });
  await db.execute('CREATE TABLE t (i INTEGER, v VARCHAR)');
  await db.execute('INSERT INTO t VALUES (1, $1)', ['x']);
  await db.query('SELECT count(*) FROM t');
  // Shipped now, so no checkpoint is in flight (holding its blocks' buffers) when memory is read.
  await db.checkpoint();
  dbs.push(db);
  if (followers === true) {
    // A follower of the same database in this process (its own copy), caught up.
    const f = await HaDuck.open({
      name: `db${i}`,
      path: join(dir, `db${i}-follower.duckdb`),
      instanceId: 'b',
      storage,
      lease: { store: lease },
      sharedInstance,
      ...haOptions,
    });
    await f.sync();
    await f.query('SELECT count(*) FROM t');
    dbs.push(f);
  }
}
await new Promise((r) => setTimeout(r, 1500));
// Run with --expose-gc: garbage (and the buffers it holds) is not counted. The lowest of several
// samples: a lease renewal or a ship in flight at one instant holds buffers only for a moment.
const samples: NodeJS.MemoryUsage[] = [];
for (let i = 0; i < 6; i++) {
  (globalThis as { gc?: () => void }).gc?.();
  samples.push(process.memoryUsage());
  await new Promise((r) => setTimeout(r, 250));
}
const lowest = (k: 'rss' | 'heapUsed' | 'external'): number => Math.min(...samples.map((m) => m[k]));
const mem = { rss: lowest('rss'), heapUsed: lowest('heapUsed'), external: lowest('external') };
const threads = Number(/Threads:\s+(\d+)/.exec(readFileSync('/proc/self/status', 'utf8'))?.[1] ?? Number.NaN);
for (const db of dbs) await db.close();
for (const c of conns) c.closeSync();
for (const i of instances) i.closeSync();
await sharedInstance?.close();
await lease.close();
await storage.close();
rmSync(dir, { recursive: true, force: true });
const mib = (b: number): number => b / 2 ** 20;
process.stdout.write(
  `${JSON.stringify({ rssMiB: mib(mem.rss), heapMiB: mib(mem.heapUsed), externalMiB: mib(mem.external), threads })}\n`,
);
