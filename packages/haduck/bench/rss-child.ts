// Child of scale.bench.ts: opens N databases — HaDuck leaders (storage-local, storage lease), or
// with `raw` / `raw-checkpoint` plain DuckDB instances (one connection each) — writes one row to each, then prints
// {"rssMiB", "heapMiB", "externalMiB", "threads"} as the last line of stdout.
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DuckDBInstance, type DuckDBConnection } from '@duckdb/node-api';
import { StorageLeaseStore } from '@hadb/lease';
import { LocalStorageBackend } from '@hadb/storage-local';
import { HaDuck } from '../src/index.js';

const n = Number(process.argv[2] ?? '1');
const raw = process.argv[3] === 'raw' || process.argv[3] === 'raw-checkpoint';
/** `raw-checkpoint`: each raw instance also checkpoints once, as a HaDuck leader does when it ships. */
const checkpoint = process.argv[3] === 'raw-checkpoint';
/** Extra HaDuck options as JSON (e.g. `{"duckdbConfig":{"threads":"1"}}`). */
const extra = raw ? {} : (JSON.parse(process.argv[3] ?? '{}') as Record<string, unknown>);
const dir = mkdtempSync(join(tmpdir(), 'haduck-rss-'));
const storage = await LocalStorageBackend.open({ root: join(dir, 'storage') });
const lease = new StorageLeaseStore(storage, { prefix: 'leases/' });
const dbs: HaDuck[] = [];
const raws: { instance: DuckDBInstance; conn: DuckDBConnection }[] = [];
for (let i = 0; i < n; i++) {
  if (raw) {
    const instance = await DuckDBInstance.create(join(dir, `raw${i}.duckdb`));
    const conn = await instance.connect();
    await conn.run('CREATE TABLE t (i INTEGER, v VARCHAR)');
    await conn.run('INSERT INTO t VALUES (1, $1)', ['x']);
    await conn.runAndReadAll('SELECT count(*) FROM t');
    if (checkpoint) await conn.run('CHECKPOINT');
    raws.push({ instance, conn });
    continue;
  }
  const db = await HaDuck.open({
    name: `db${i}`,
    path: join(dir, `db${i}.duckdb`),
    instanceId: 'a',
    storage,
    lease: { store: lease },
    ...extra,
  });
  await db.execute('CREATE TABLE t (i INTEGER, v VARCHAR)');
  await db.execute('INSERT INTO t VALUES (1, $1)', ['x']);
  await db.query('SELECT count(*) FROM t');
  // Shipped now, so no checkpoint is in flight (holding its blocks' buffers) when memory is read.
  await db.checkpoint();
  dbs.push(db);
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
for (const r of raws) {
  r.conn.closeSync();
  r.instance.closeSync();
}
await lease.close();
await storage.close();
rmSync(dir, { recursive: true, force: true });
const mib = (b: number): number => b / 2 ** 20;
process.stdout.write(
  `${JSON.stringify({ rssMiB: mib(mem.rss), heapMiB: mib(mem.heapUsed), externalMiB: mib(mem.external), threads })}\n`,
);
