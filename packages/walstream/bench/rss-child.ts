// Child process of the walstream bench: replicates N SQLite databases (each written every 100 ms)
// for a few seconds and prints its RSS, so the number covers exactly this process.
// argv: dir count seconds
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { LocalStorageBackend } from '@hadb/storage-local';
import { Walstream } from '../src/index.js';

const [dir, countArg, secondsArg] = process.argv.slice(2) as [string, string, string];
const count = Number(countArg);
const storage = await LocalStorageBackend.open({ root: join(dir, 'bucket'), fsync: false });
const ws = await Walstream.open({ storage, syncIntervalMs: 100 });
const apps: InstanceType<typeof Database>[] = [];
for (let i = 0; i < count; i++) {
  const path = join(dir, `db${i}.db`);
  const app = new Database(path);
  app.pragma('journal_mode = WAL');
  app.pragma('busy_timeout = 5000');
  app.exec('CREATE TABLE IF NOT EXISTS t (id INTEGER PRIMARY KEY, v BLOB)');
  apps.push(app);
  await ws.add(path, { name: `db${i}` });
}
const end = performance.now() + Number(secondsArg) * 1000;
let shipped = 0;
while (performance.now() < end) {
  for (const app of apps) app.prepare('INSERT INTO t (v) VALUES (randomblob(500))').run();
  shipped++;
  await new Promise((r) => setTimeout(r, 100));
}
await ws.syncAll();
const status = await readFile('/proc/self/status', 'utf8');
const rss = /VmRSS:\s+(\d+) kB/.exec(status);
const hwm = /VmHWM:\s+(\d+) kB/.exec(status);
process.stdout.write(
  `${JSON.stringify({ rssKiB: Number(rss?.[1] ?? -1), hwmKiB: Number(hwm?.[1] ?? -1), rounds: shipped })}\n`,
);
await ws.close();
for (const app of apps) app.close();
await storage.close();
