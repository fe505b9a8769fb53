// Bench of @hadb/walstream on real SQLite (better-sqlite3) and storage-local (fsync on):
// app write throughput with walstream attached ÷ without, commit → durable latency at the default
// and a 100 ms sync interval, bytes shipped ÷ WAL bytes written, restore speed ÷ raw download
// speed of the same objects, ÷ cp + fsync of the restored file and ÷ the same objects read,
// written and fsynced unverified, and RSS of a process replicating 1, 10 and 100 databases.
import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import Database from 'better-sqlite3';
import { LocalStorageBackend } from '@hadb/storage-local';
import { S3StorageBackend } from '@hadb/storage-s3';
import type { StorageBackend } from '@hadb/storage';
import { open } from 'node:fs/promises';
import { cpFsync } from '../../../scripts/bench-restore.js';
import { rawRangedRead, sha256Ms } from '../../duckblock/bench/restore-anchors.js';
import type { BenchContext } from '../../../scripts/bench-types.js';
import { Walstream, restore, listRemote, type WalstreamEvent } from '../src/index.js';

const run_ = promisify(execFile);
/** Rounds of the restore comparison (medians). */
const ROUNDS = 5;
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

/**
 * Commits small transactions for `ms`, yielding to the event loop every 20 commits; returns
 * commits/s and the longest single commit (ms).
 */
async function writeFor(app: Db, ms: number): Promise<{ readonly rate: number; readonly maxMs: number }> {
  const insert = app.prepare('INSERT INTO t (k, v) VALUES (?, randomblob(200))');
  const end = performance.now() + ms;
  let n = 0;
  let maxMs = 0;
  const t0 = performance.now();
  let now = t0;
  while (now < end) {
    insert.run(n);
    const after = performance.now();
    if (after - now > maxMs) maxMs = after - now;
    now = after;
    n++;
    if (n % 20 === 0) {
      await yieldNow();
      now = performance.now();
    }
  }
  return { rate: n / ((performance.now() - t0) / 1000), maxMs };
}

async function throughput(dir: string, ctx: BenchContext): Promise<void> {
  const storage = await LocalStorageBackend.open({ root: join(dir, 'tp-bucket') });
  const without: number[] = [];
  const withWs: number[] = [];
  const ratios: number[] = [];
  const maxWithout: number[] = [];
  const maxWith: number[] = [];
  const closeMs: number[] = [];
  const tipRatios: number[] = [];
  let checkpoints = 0;
  // Paired rounds (without, then with, on fresh files) so load changes on the shared machine hit both.
  for (let round = 0; round < 5; round++) {
    const a = openApp(join(dir, `tp-plain-${round}.db`));
    const plain = await writeFor(a, 1500);
    a.close();
    const path = join(dir, `tp-ws-${round}.db`);
    const b = openApp(path);
    const ws = await Walstream.open({
      storage,
      onEvent: (e) => {
        if (e.type === 'checkpoint' && e.complete) checkpoints++;
      },
    });
    await ws.add(path, { name: `tp${round}` });
    const attached = await writeFor(b, 1500);
    const closing = performance.now();
    await ws.close();
    closeMs.push(performance.now() - closing);
    b.close();
    without.push(plain.rate);
    withWs.push(attached.rate);
    ratios.push(attached.rate / plain.rate);
    maxWithout.push(plain.maxMs);
    maxWith.push(attached.maxMs);
    // The README's tip: the app's own autocheckpoint off (walstream checkpoints anyway).
    const tipPath = join(dir, `tp-tip-${round}.db`);
    const c = openApp(tipPath);
    c.pragma('wal_autocheckpoint = 0');
    const tipWs = await Walstream.open({ storage });
    await tipWs.add(tipPath, { name: `tip${round}` });
    const tip = await writeFor(c, 1500);
    await tipWs.close();
    c.close();
    tipRatios.push(tip.rate / plain.rate);
  }
  const med = (xs: number[]): number => [...xs].sort((x, y) => x - y)[Math.floor(xs.length / 2)]!;
  ctx.record(
    'app commits/s without walstream',
    Math.round(med(without)),
    'commits/s',
    'median of 5 × 1.5 s, 200-byte rows, WAL, synchronous=NORMAL, autocheckpoint 1000',
  );
  ctx.record(
    'app commits/s with walstream (embedded, defaults)',
    Math.round(med(withWs)),
    'commits/s',
    'same workload, same process; walstream reads the WAL and checkpoints on its own worker thread',
  );
  ctx.record(
    'write throughput with ÷ without walstream',
    med(ratios),
    'ratio',
    `median of 5 paired rounds (min ${Math.min(...ratios).toFixed(2)}, max ${Math.max(...ratios).toFixed(2)}); goal ≥ 0.95; load ${loadavg()[0]!.toFixed(1)}`,
  );
  ctx.record(
    'write throughput with ÷ without walstream, app autocheckpoint off',
    med(tipRatios),
    'ratio',
    `the README's tip (PRAGMA wal_autocheckpoint = 0 on the app's connection); same rounds (min ${Math.min(...tipRatios).toFixed(2)}, max ${Math.max(...tipRatios).toFixed(2)})`,
  );
  ctx.record(
    'longest app commit with walstream',
    med(maxWith),
    'ms',
    `median over the rounds; without walstream ${med(maxWithout).toFixed(1)} ms (the app's own autocheckpoints); includes waits for walstream's checkpoint write lock`,
  );
  ctx.record(
    'complete checkpoints per 1.5 s of saturated writes',
    checkpoints / 5,
    'count',
    'the WAL restarts after each: walstream keeps up with a writer that never pauses',
  );
  ctx.record(
    'final sync after 1.5 s of saturated writes',
    med(closeMs),
    'ms',
    'close(): what was still unshipped when the writer stopped (replication lag)',
  );
  await storage.close();
}

async function latency(
  dir: string,
  ctx: BenchContext,
  syncIntervalMs: number | undefined,
  label: string,
): Promise<{ shipped: number; wal: number }> {
  const storage = await LocalStorageBackend.open({ root: join(dir, `lat-bucket-${label}`) });
  const path = join(dir, `lat-${label}.db`);
  const app = openApp(path);
  const events: Array<{ at: number; e: WalstreamEvent }> = [];
  const ws = await Walstream.open({
    storage,
    syncIntervalMs,
    onEvent: (e) => events.push({ at: performance.now(), e }),
  });
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
  const shippedEvents = events.filter((x) => x.e.type === 'shipped') as Array<{
    at: number;
    e: Extract<WalstreamEvent, { type: 'shipped' }>;
  }>;
  const lat: number[] = [];
  for (const c of commits) {
    const hit = shippedEvents.find((s) => s.e.capturedAt >= c);
    if (hit !== undefined) lat.push(hit.at - c);
  }
  lat.sort((a, b) => a - b);
  ctx.record(
    `commit → durable p50 (${label})`,
    quantile(lat, 0.5),
    'ms',
    `${lat.length} commits, storage-local with fsync`,
  );
  ctx.record(`commit → durable p99 (${label})`, quantile(lat, 0.99), 'ms');
  const shipped = shippedEvents.reduce((n, s) => n + s.e.bytes, 0);
  const wal = shippedEvents.reduce((n, s) => n + s.e.walBytes, 0);
  await ws.close();
  app.close();
  await storage.close();
  return { shipped, wal };
}

async function restoreSpeed(
  dir: string,
  ctx: BenchContext,
  storage: StorageBackend,
  label: string,
  prefix: string,
): Promise<void> {
  const path = join(dir, `rs-${label}.db`);
  const app = openApp(path);
  const ins = app.prepare('INSERT INTO t (k, v) VALUES (?, randomblob(4000))');
  app.transaction(() => {
    for (let i = 0; i < 15_000; i++) ins.run(i);
  })();
  const ws = await Walstream.open({ storage, prefix, autoSync: false });
  const r = await ws.add(path, { name: 'rs' });
  for (let b = 0; b < 40; b++) {
    app.transaction(() => {
      for (let i = 0; i < 100; i++) ins.run(100_000 + b * 100 + i);
    })();
    await r.sync();
  }
  await ws.close();
  app.close();
  const remote = await listRemote(storage, prefix, 'rs');
  const keys = [...remote.snapshots.map((s) => s.key), ...remote.incrementals.map((s) => s.key)];
  const times: number[] = [];
  const raws: number[] = [];
  const cps: number[] = [];
  let bytes = 0;
  const floors: number[] = [];
  for (let round = 0; round < ROUNDS; round++) {
    let t0 = performance.now();
    bytes = 0;
    // The raw baseline: every object of the restore, streamed to nowhere, 8 at a time.
    for (let i = 0; i < keys.length; i += 8) {
      await Promise.all(
        keys.slice(i, i + 8).map(async (k) => {
          const s = await storage.getStream(k);
          for await (const chunk of s!.body) bytes += chunk.byteLength;
        }),
      );
    }
    raws.push(performance.now() - t0);
    const out = join(dir, `rs-out-${label}-${round}.db`);
    t0 = performance.now();
    await restore({ storage, prefix, name: 'rs', output: out, integrity: 'none' });
    times.push(performance.now() - t0);
    // The floor: the same objects through the same backend as the restore reads them (the snapshot
    // in ranged reads, the incrementals 8 at a time), each byte written once and one fsync; no
    // decoding, no hashing, no page placement.
    const raw = `${out}.raw`;
    t0 = performance.now();
    await rawObjects(
      storage,
      remote.snapshots.at(-1)!.key,
      remote.incrementals.map((e) => e.key),
      raw,
    );
    floors.push(performance.now() - t0);
    rmSync(raw, { force: true });
    // The anchor of issue 14: the restored file's bytes copied and fsynced (source in page cache).
    const copy = `${out}.cp`;
    t0 = performance.now();
    await cpFsync(out, copy);
    cps.push(performance.now() - t0);
    rmSync(copy, { force: true });
    rmSync(out, { force: true });
  }
  const med = (xs: number[]): number => [...xs].sort((x, y) => x - y)[Math.floor(xs.length / 2)]!;
  const mb = bytes / 2 ** 20;
  ctx.record(
    `restore MB/s (${label})`,
    mb / (med(times) / 1000),
    'MiB/s',
    `${mb.toFixed(0)} MiB: snapshot + 40 incrementals, verified, written and fsynced, no integrity check`,
  );
  ctx.record(`raw download MB/s (${label}, same objects)`, mb / (med(raws) / 1000), 'MiB/s');
  ctx.record(`restore MB/s ÷ raw download MB/s (${label})`, med(raws) / med(times), 'ratio', 'goal ≥ 0.8');
  ctx.record(
    `restore ÷ cp + fsync of the restored file (${label})`,
    med(cps) / med(times),
    'ratio',
    `cp time ÷ restore time, medians of ${ROUNDS}, same run; warm (source in page cache); goal ≥ 0.8 (issue 14)`,
  );
  ctx.record(
    `floor: raw reads of the same objects + one write of each byte + fsync (${label})`,
    mb / (med(floors) / 1000),
    'MiB/s',
    'the snapshot in ranged reads 4 × 8 MiB, the incrementals 8 at a time, through the same backend; no decoding, no hashing',
  );
  ctx.record(
    `floor ÷ cp + fsync of the restored file (${label})`,
    med(cps) / med(floors),
    'ratio',
    'what reading the objects through the backend and writing them costs, without verifying them',
  );
  ctx.record(
    `restore ÷ that floor (${label})`,
    med(floors) / med(times),
    'ratio',
    `the restore also decodes, places pages and hashes every byte (SHA-256 alone over these bytes on one core: ${sha256Ms(bytes).toFixed(0)} ms)`,
  );
}

/** Reads the snapshot (ranged) and the incrementals (8 at a time) into one file, each byte written once, then one fsync. */
async function rawObjects(
  storage: StorageBackend,
  snapshot: string,
  incrementals: string[],
  dst: string,
): Promise<void> {
  const fh = await open(dst, 'w');
  try {
    let offset = await rawRangedRead(storage, snapshot, { fh, offset: 0 });
    for (let i = 0; i < incrementals.length; i += 8) {
      const objects = await Promise.all(incrementals.slice(i, i + 8).map((k) => storage.get(k)));
      for (const o of objects) {
        await fh.write(o!.data, 0, o!.data.byteLength, offset);
        offset += o!.data.byteLength;
      }
    }
    await fh.sync();
  } finally {
    await fh.close();
  }
}

async function rss(dir: string, ctx: BenchContext): Promise<void> {
  const child = fileURLToPath(new URL('./rss-child.ts', import.meta.url));
  const root = fileURLToPath(new URL('../../..', import.meta.url));
  for (const n of [0, 1, 10, 100]) {
    const d = join(dir, `rss-${n}`);
    const { stdout } = await run_(
      process.execPath,
      ['--conditions=hadb-source', '--import', 'tsx', child, d, String(n), '4'],
      {
        cwd: root,
        maxBuffer: 1 << 20,
      },
    ).catch(async (e: unknown) => {
      throw e;
    });
    const out = JSON.parse(stdout.trim().split('\n').pop()!) as { rssKiB: number; hwmKiB: number };
    ctx.record(
      n === 0 ? 'RSS baseline (walstream loaded, no database)' : `RSS replicating ${n} database${n === 1 ? '' : 's'}`,
      out.rssKiB / 1024,
      'MiB',
      `peak ${(out.hwmKiB / 1024).toFixed(0)} MiB; each written every 100 ms, sync every 100 ms`,
    );
  }
}

export async function run(ctx: BenchContext): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'walstream-bench-'));
  try {
    await throughput(dir, ctx);
    await latency(dir, ctx, undefined, 'default 1 s sync interval');
    const r = await latency(dir, ctx, 100, '100 ms sync interval');
    ctx.record(
      'bytes shipped ÷ WAL bytes written',
      r.shipped / r.wal,
      'ratio',
      'hot-set updates, 100 ms interval: pages deduplicated per changeset',
    );
    const local = await LocalStorageBackend.open({ root: join(dir, 'rs-bucket'), fsync: false });
    await restoreSpeed(dir, ctx, local, 'storage-local, page cache', '');
    await local.close();
    if (process.env.HADB_TEST_S3_ENDPOINT !== undefined && process.env.HADB_TEST_S3_BUCKET !== undefined) {
      const s3 = await S3StorageBackend.open({
        bucket: process.env.HADB_TEST_S3_BUCKET,
        endpoint: process.env.HADB_TEST_S3_ENDPOINT,
        region: process.env.HADB_TEST_S3_REGION ?? 'us-east-1',
        credentials: {
          accessKeyId: process.env.HADB_TEST_S3_ACCESS_KEY_ID ?? '',
          secretAccessKey: process.env.HADB_TEST_S3_SECRET_ACCESS_KEY ?? '',
        },
        unquotedIfMatch: process.env.HADB_TEST_S3_UNQUOTED_IF_MATCH === '1',
      });
      const prefix = `walstream-bench/${process.pid}-${Date.now().toString(36)}/`;
      try {
        await restoreSpeed(dir, ctx, s3, 'S3: loopback Ceph RGW', prefix);
      } finally {
        const keys = await s3.list(prefix);
        if (keys.length > 0) await s3.deleteMany(keys);
        await s3.close();
      }
    }
    await rss(dir, ctx);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
