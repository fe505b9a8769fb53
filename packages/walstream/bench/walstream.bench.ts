// Bench of @hadb/walstream on real SQLite (better-sqlite3) and storage-local (fsync on):
// app write throughput with walstream attached ÷ without, commit → durable latency at the default
// and a 100 ms sync interval, bytes shipped ÷ WAL bytes written, restore speed ÷ raw download
// speed of the same objects, and RSS of a process replicating 1, 10 and 100 databases.
import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import Database from 'better-sqlite3';
import { LocalStorageBackend } from '@hadb/storage-local';
import type { BenchContext } from '../../../scripts/bench-types.js';
import { Walstream, restore, listRemote, type WalstreamEvent } from '../src/index.js';

const run_ = promisify(execFile);
type Db = InstanceType<typeof Database>;

function openApp(path: string): Db {
  const db = new Database(path);
  db.pragma('journal_mode = WAL');
  db.pragma('busy_timeout = 5000');
  db.exec('CREATE TABLE IF NOT EXISTS t (id INTEGER PRIMARY KEY, k INTEGER, v BLOB)');
  return db;
}

function quantile(sorted: number[], q: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))] ?? NaN;
}

const yieldNow = (): Promise<void> => new Promise((r) => setImmediate(r));

/** Commits small transactions for `ms`, yielding to the event loop every 20 commits; returns commits/s. */
async function writeFor(app: Db, ms: number): Promise<number> {
  const insert = app.prepare('INSERT INTO t (k, v) VALUES (?, randomblob(200))');
  const end = performance.now() + ms;
  let n = 0;
  const t0 = performance.now();
  while (performance.now() < end) {
    insert.run(n);
    n++;
    if (n % 20 === 0) await yieldNow();
  }
  return n / ((performance.now() - t0) / 1000);
}

async function throughput(dir: string, ctx: BenchContext): Promise<void> {
  const storage = await LocalStorageBackend.open({ root: join(dir, 'tp-bucket') });
  const without: number[] = [];
  const withWs: number[] = [];
  for (let round = 0; round < 3; round++) {
    const a = openApp(join(dir, `tp-plain-${round}.db`));
    without.push(await writeFor(a, 2500));
    a.close();
    const path = join(dir, `tp-ws-${round}.db`);
    const b = openApp(path);
    const ws = await Walstream.open({ storage });
    await ws.add(path, { name: `tp${round}` });
    withWs.push(await writeFor(b, 2500));
    await ws.close();
    b.close();
  }
  const med = (xs: number[]): number => [...xs].sort((x, y) => x - y)[1]!;
  ctx.record('app commits/s without walstream', Math.round(med(without)), 'commits/s', 'median of 3 × 2.5 s, 200-byte rows, WAL, synchronous=NORMAL');
  ctx.record('app commits/s with walstream (embedded, defaults)', Math.round(med(withWs)), 'commits/s', 'same workload, walstream in the same thread');
  ctx.record('write throughput with ÷ without walstream', med(withWs) / med(without), 'ratio', 'goal ≥ 0.95');
  await storage.close();
}

async function latency(dir: string, ctx: BenchContext, syncIntervalMs: number | undefined, label: string): Promise<{ shipped: number; wal: number }> {
  const storage = await LocalStorageBackend.open({ root: join(dir, `lat-bucket-${label}`) });
  const path = join(dir, `lat-${label}.db`);
  const app = openApp(path);
  const events: Array<{ at: number; e: WalstreamEvent }> = [];
  const ws = await Walstream.open({ storage, syncIntervalMs, onEvent: (e) => events.push({ at: performance.now(), e }) });
  await ws.add(path, { name: 'lat' });
  const commits: number[] = [];
  const upd = app.prepare('UPDATE t SET v = randomblob(300) WHERE k = ?');
  const ins = app.prepare('INSERT INTO t (k, v) VALUES (?, randomblob(300))');
  for (let i = 0; i < 200; i++) ins.run(i);
  const end = performance.now() + 8000;
  let i = 0;
  while (performance.now() < end) {
    app.transaction(() => {
      for (let j = 0; j < 5; j++) upd.run(Math.floor(Math.random() * 200));
      ins.run(1000 + i);
    })();
    commits.push(performance.now());
    i++;
    await new Promise((r) => setTimeout(r, 10 + Math.random() * 20));
  }
  await ws.get('lat')!.sync();
  const shippedEvents = events.filter((x) => x.e.type === 'shipped') as Array<{ at: number; e: Extract<WalstreamEvent, { type: 'shipped' }> }>;
  const lat: number[] = [];
  for (const c of commits) {
    const hit = shippedEvents.find((s) => s.e.capturedAt >= c);
    if (hit !== undefined) lat.push(hit.at - c);
  }
  lat.sort((a, b) => a - b);
  ctx.record(`commit → durable p50 (${label})`, quantile(lat, 0.5), 'ms', `${lat.length} commits, storage-local with fsync`);
  ctx.record(`commit → durable p99 (${label})`, quantile(lat, 0.99), 'ms');
  const shipped = shippedEvents.reduce((n, s) => n + s.e.bytes, 0);
  const wal = shippedEvents.reduce((n, s) => n + s.e.walBytes, 0);
  await ws.close();
  app.close();
  await storage.close();
  return { shipped, wal };
}

async function restoreSpeed(dir: string, ctx: BenchContext): Promise<void> {
  const storage = await LocalStorageBackend.open({ root: join(dir, 'rs-bucket'), fsync: false });
  const path = join(dir, 'rs.db');
  const app = openApp(path);
  const ins = app.prepare('INSERT INTO t (k, v) VALUES (?, randomblob(4000))');
  app.transaction(() => {
    for (let i = 0; i < 15_000; i++) ins.run(i);
  })();
  const ws = await Walstream.open({ storage, autoSync: false });
  const r = await ws.add(path, { name: 'rs' });
  for (let b = 0; b < 40; b++) {
    app.transaction(() => {
      for (let i = 0; i < 100; i++) ins.run(100_000 + b * 100 + i);
    })();
    await r.sync();
  }
  await ws.close();
  app.close();
  const remote = await listRemote(storage, '', 'rs');
  const keys = [...remote.snapshots.map((s) => s.key), ...remote.incrementals.map((s) => s.key)];
  const times: number[] = [];
  const raws: number[] = [];
  let bytes = 0;
  for (let round = 0; round < 3; round++) {
    let t0 = performance.now();
    bytes = 0;
    await Promise.all(
      keys.map(async (k) => {
        const s = await storage.getStream(k);
        for await (const chunk of s!.body) bytes += chunk.byteLength;
      }),
    );
    raws.push(performance.now() - t0);
    const out = join(dir, `rs-out-${round}.db`);
    t0 = performance.now();
    await restore({ storage, name: 'rs', output: out, integrity: 'none' });
    times.push(performance.now() - t0);
    rmSync(out, { force: true });
  }
  const med = (xs: number[]): number => [...xs].sort((x, y) => x - y)[1]!;
  const mb = bytes / 2 ** 20;
  ctx.record('restore MB/s (snapshot + 40 incrementals, no integrity check)', mb / (med(times) / 1000), 'MiB/s', `${mb.toFixed(0)} MiB downloaded from storage-local`);
  ctx.record('raw download MB/s (same objects, parallel)', mb / (med(raws) / 1000), 'MiB/s');
  ctx.record('restore MB/s ÷ raw download MB/s', med(raws) / med(times), 'ratio', 'goal ≥ 0.8');
  await storage.close();
}

async function rss(dir: string, ctx: BenchContext): Promise<void> {
  const child = fileURLToPath(new URL('./rss-child.ts', import.meta.url));
  const root = fileURLToPath(new URL('../../..', import.meta.url));
  for (const n of [1, 10, 100]) {
    const d = join(dir, `rss-${n}`);
    const { stdout } = await run_(process.execPath, ['--conditions=hadb-source', '--import', 'tsx', child, d, String(n), '4'], {
      cwd: root,
      maxBuffer: 1 << 20,
    }).catch(async (e: unknown) => {
      throw e;
    });
    const out = JSON.parse(stdout.trim().split('\n').pop()!) as { rssKiB: number; hwmKiB: number };
    ctx.record(`RSS replicating ${n} database${n === 1 ? '' : 's'}`, out.rssKiB / 1024, 'MiB', `peak ${(out.hwmKiB / 1024).toFixed(0)} MiB; each written every 100 ms, sync every 100 ms`);
  }
}

export async function run(ctx: BenchContext): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'walstream-bench-'));
  try {
    await throughput(dir, ctx);
    await latency(dir, ctx, undefined, 'default 1 s sync interval');
    const r = await latency(dir, ctx, 100, '100 ms sync interval');
    ctx.record('bytes shipped ÷ WAL bytes written', r.shipped / r.wal, 'ratio', 'hot-set updates, 100 ms interval: pages deduplicated per changeset');
    await restoreSpeed(dir, ctx);
    await rss(dir, ctx);
    void statSync;
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
