// Child of scale.bench.ts: opens N HaDuck leaders (storage-local, storage lease), writes one row
// to each, then prints {"rssMiB", "threads"} as the last line of stdout.
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { StorageLeaseStore } from '@hadb/lease';
import { LocalStorageBackend } from '@hadb/storage-local';
import { HaDuck } from '../src/index.js';

const n = Number(process.argv[2] ?? '1');
const dir = mkdtempSync(join(tmpdir(), 'haduck-rss-'));
const storage = await LocalStorageBackend.open({ root: join(dir, 'storage') });
const lease = new StorageLeaseStore(storage, { prefix: 'leases/' });
const dbs: HaDuck[] = [];
for (let i = 0; i < n; i++) {
  const db = await HaDuck.open({
    name: `db${i}`,
    path: join(dir, `db${i}.duckdb`),
    instanceId: 'a',
    storage,
    lease: { store: lease },
  });
  await db.execute('CREATE TABLE t (i INTEGER, v VARCHAR)');
  await db.execute('INSERT INTO t VALUES (1, $1)', ['x']);
  await db.query('SELECT count(*) FROM t');
  dbs.push(db);
}
await new Promise((r) => setTimeout(r, 1500));
global.gc?.();
const threads = Number(/Threads:\s+(\d+)/.exec(readFileSync('/proc/self/status', 'utf8'))?.[1] ?? Number.NaN);
const rssMiB = process.memoryUsage().rss / 2 ** 20;
for (const db of dbs) await db.close();
await lease.close();
await storage.close();
rmSync(dir, { recursive: true, force: true });
process.stdout.write(`${JSON.stringify({ rssMiB, threads })}\n`);
