// `pnpm bench haqlite`: a haqlite leader (committed durability) beside raw better-sqlite3 on the
// same machine in the same run (same table, same pragmas: WAL, synchronous FULL) — through the
// async API and the synchronous leader-local one, with the cost of an await alone — the `shipped`
// write latency beside one storage PUT, and commit → visible on a follower. Storage: a local
// directory (fsync on every object).
import { mkdtempSync, rmSync } from 'node:fs';
import { cpus, loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { StorageLeaseStore } from '@hadb/lease';
import { LocalStorageBackend } from '@hadb/storage-local';
import type { BenchContext } from '../../../scripts/bench-types.js';
import { HaQLite } from '../src/index.js';

const ROWS = 100_000;

function pct(sorted: number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))] ?? Number.NaN;
}

/** Mean microseconds per call of `fn` over `n` calls. */
export async function perOp(n: number, fn: (i: number) => unknown, offset = 0): Promise<number> {
  const t0 = performance.now();
  for (let i = 0; i < n; i++) {
    await fn(offset + i);
    // Let timers run (lease renewals) as a server's event loop would between requests.
    if (i % 100 === 99) await new Promise((r) => setImmediate(r));
  }
  return ((performance.now() - t0) * 1000) / n;
}

export function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)]!;
}

/**
 * The candidates interleaved in `blocks` alternating blocks of `n / blocks` calls each (after a
 * warm-up of each), so all see the same machine load; the medians of the per-block means. After
 * every block, untimed, `drain` runs: the leader ships what the block committed, so that work does
 * not land in the next candidate's block (whichever it is).
 */
export async function interleaved(
  n: number,
  fns: readonly ((i: number) => unknown)[],
  drain: () => Promise<void>,
  blocks = 40,
): Promise<number[]> {
  const per = Math.max(1, Math.floor(n / blocks));
  for (const [f, fn] of fns.entries()) {
    await perOp(Math.ceil(per / 2), fn, 10_000_000 + f * per);
    await drain();
  }
  const times: number[][] = fns.map(() => []);
  for (let b = 0; b < blocks; b++) {
    for (let f = 0; f < fns.length; f++) {
      // Distinct keys for every block and candidate: two candidates on one file (raw and raw in an
      // async function; haqlite's async and sync API) must not find each other's rows hot in cache.
      times[f]!.push(await perOp(per, fns[f]!, (b * fns.length + f) * per));
      await drain();
    }
  }
  return times.map(median);
}

export async function run(ctx: BenchContext): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'haqlite-bench-'));
  const storage = await LocalStorageBackend.open({ root: join(dir, 'storage') });
  const lease = new StorageLeaseStore(storage, { prefix: 'leases/' });
  const common = {
    name: 'bench',
    storage,
    // Default lease timing: the machine is shared and loaded; a 2 s TTL loses the lease under load.
    lease: { store: lease, ttlMs: 5000, renewIntervalMs: 2000, pollIntervalMs: 1000, skewMarginMs: 1000 },
    shipIntervalMs: 1000,
    followerPullIntervalMs: 50,
  };
  const raw = new Database(join(dir, 'raw.db'));
  raw.pragma('journal_mode = WAL');
  const leader = await HaQLite.open({ ...common, path: join(dir, 'a.db'), instanceId: 'a' });
  let follower: HaQLite | undefined;
  try {
    const schema = 'CREATE TABLE t (id INTEGER PRIMARY KEY, k INTEGER NOT NULL, v TEXT NOT NULL)';
    const fill = `WITH RECURSIVE r(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM r WHERE i < ${ROWS}) INSERT INTO t SELECT i, i % 1000, 'value ' || i FROM r`;
    raw.exec(schema);
    raw.exec(fill);
    await leader.execute(schema);
    await leader.execute(fill);
    await leader.sync();

    // Same result shape as haqlite's: rows as arrays, integers as bigint.
    const rawGet = raw.prepare('SELECT id, k, v FROM t WHERE id = ?').raw(true).safeIntegers(true);
    const rawRange = raw.prepare('SELECT id, k, v FROM t WHERE id BETWEEN ? AND ?').raw(true).safeIntegers(true);
    const rawInsert = raw.prepare('INSERT INTO t (k, v) VALUES (?, ?)');
    const rawUpdate = raw.prepare('UPDATE t SET v = ? WHERE id = ?');
    const id = (i: number): number => 1 + ((i * 7919) % ROWS);
    /**
     * One row: raw better-sqlite3; the same raw call wrapped in an `async` function (the floor of
     * any promise-returning API: one promise and one await per call); haqlite's async API
     * (`query`/`execute`/`batch`); haqlite's synchronous leader-local API (`querySync`/…).
     */
    const compare = async (
      name: string,
      n: number,
      rawFn: (i: number) => unknown,
      asyncFn: (i: number) => Promise<unknown>,
      syncFn: (i: number) => unknown,
    ): Promise<void> => {
      const [rawUs, floorUs, haUs, syncUs] = (await interleaved(
        n,
        [rawFn, async (i) => rawFn(i), asyncFn, syncFn],
        () => leader.sync(),
      )) as [number, number, number, number];
      const unit = 'µs/op';
      ctx.record(`${name}: raw better-sqlite3`, rawUs, unit);
      ctx.record(`${name}: raw better-sqlite3 in an async function ÷ raw`, floorUs / rawUs, 'ratio', 'the await floor');
      ctx.record(`${name}: haqlite leader, async API (committed)`, haUs, unit);
      ctx.record(`${name}: haqlite leader, async API ÷ raw`, haUs / rawUs, 'ratio', 'goal ≤ 1.1');
      ctx.record(`${name}: haqlite leader, sync API (committed)`, syncUs, unit);
      ctx.record(`${name}: haqlite leader, sync API ÷ raw`, syncUs / rawUs, 'ratio', 'goal ≤ 1.1');
    };
    ctx.record('machine load average (1 min) at the start', loadavg()[0]!, 'load', `${cpus().length} cores, shared`);
    const GET = 'SELECT id, k, v FROM t WHERE id = ?';
    const RANGE = 'SELECT id, k, v FROM t WHERE id BETWEEN ? AND ?';
    const INSERT = 'INSERT INTO t (k, v) VALUES (?, ?)';
    const UPDATE = 'UPDATE t SET v = ? WHERE id = ?';
    await compare(
      'point lookup',
      80_000,
      (i) => rawGet.get(id(i)),
      (i) => leader.query(GET, [id(i)]),
      (i) => leader.querySync(GET, [id(i)]),
    );
    await compare(
      'range scan (100 rows)',
      8_000,
      (i) => rawRange.all(id(i), id(i) + 99),
      (i) => leader.query(RANGE, [id(i), id(i) + 99]),
      (i) => leader.querySync(RANGE, [id(i), id(i) + 99]),
    );
    // Steady state for writes, as in a running server: a round of writes shipped and checkpointed
    // (walstream owns the leader's checkpoints), so the leader's WAL file is already sized and
    // restarts in place, as raw SQLite's does after its fill.
    for (let i = 0; i < 3000; i++) await leader.execute(UPDATE, ['warm', id(i)]);
    await leader.sync();
    await compare(
      'single INSERT',
      8_000,
      (i) => rawInsert.run(i, 'inserted'),
      (i) => leader.execute(INSERT, [i, 'inserted']),
      (i) => leader.executeSync(INSERT, [i, 'inserted']),
    );
    await compare(
      'UPDATE by PK',
      8_000,
      (i) => rawUpdate.run('updated', id(i)),
      (i) => leader.execute(UPDATE, ['updated', id(i)]),
      (i) => leader.executeSync(UPDATE, ['updated', id(i)]),
    );
    const rawBatch = raw.transaction((base: number) => {
      for (let j = 0; j < 100; j++) rawInsert.run(base + j, 'batch');
    });
    const stmts = (base: number) => {
      const out: { sql: string; args: [number, string] }[] = new Array(100);
      for (let j = 0; j < 100; j++) out[j] = { sql: INSERT, args: [base + j, 'batch'] };
      return out;
    };
    await compare(
      'batch INSERT, 100 rows in one transaction',
      800,
      (i) => rawBatch(i * 100),
      (i) => leader.batch(stmts(i * 100)),
      (i) => leader.batchSync(stmts(i * 100)),
    );
    await leader.sync();

    // `shipped`: the write resolves once its changeset is durable; beside one storage PUT of a changeset-sized object.
    const shipped: number[] = [];
    for (let i = 0; i < 200; i++) {
      const t0 = performance.now();
      await leader.execute('UPDATE t SET v = ? WHERE id = ?', ['shipped', id(i)], { durability: 'shipped' });
      shipped.push(performance.now() - t0);
    }
    const puts: number[] = [];
    const body = new Uint8Array(4200).fill(7);
    for (let i = 0; i < 200; i++) {
      const t0 = performance.now();
      await storage.putIfAbsent(`bench-put/${i}`, body);
      puts.push(performance.now() - t0);
    }
    shipped.sort((a, b) => a - b);
    puts.sort((a, b) => a - b);
    ctx.record('shipped write p50', pct(shipped, 50), 'ms');
    ctx.record('shipped write p99', pct(shipped, 99), 'ms');
    ctx.record('one storage putIfAbsent p50 (4 KiB)', pct(puts, 50), 'ms');
    ctx.record('shipped write p50 ÷ one PUT p50', pct(shipped, 50) / pct(puts, 50), 'ratio');

    // Commit → visible on a follower (polling storage every 50 ms; the leader ships every 1 s or on a shipped write).
    follower = await HaQLite.open({ ...common, path: join(dir, 'b.db'), instanceId: 'b' });
    const lags: number[] = [];
    for (let i = 0; i < 60; i++) {
      const r = await leader.execute('INSERT INTO t (k, v) VALUES (?, ?)', [-1, 'lag']);
      const rowid = r.lastInsertRowid!;
      const t0 = performance.now();
      for (;;) {
        const seen = await follower.query('SELECT 1 FROM t WHERE id = ?', [rowid]).catch(() => null);
        if (seen !== null && seen.rows.length > 0) break;
        await new Promise((res) => setTimeout(res, 2));
      }
      lags.push(performance.now() - t0);
    }
    lags.sort((a, b) => a - b);
    ctx.record('commit → visible on follower p50 (committed writes, 1 s ship tick)', pct(lags, 50), 'ms');
    ctx.record('commit → visible on follower p99 (committed writes, 1 s ship tick)', pct(lags, 99), 'ms');
    const shippedLags: number[] = [];
    for (let i = 0; i < 60; i++) {
      const t0 = performance.now();
      const r = await leader.execute('INSERT INTO t (k, v) VALUES (?, ?)', [-2, 'lag'], { durability: 'shipped' });
      for (;;) {
        const seen = await follower.query('SELECT 1 FROM t WHERE id = ?', [r.lastInsertRowid!]).catch(() => null);
        if (seen !== null && seen.rows.length > 0) break;
        await new Promise((res) => setTimeout(res, 2));
      }
      shippedLags.push(performance.now() - t0);
    }
    shippedLags.sort((a, b) => a - b);
    ctx.record('commit → visible on follower p50 (shipped writes, 50 ms poll)', pct(shippedLags, 50), 'ms');
    ctx.record('commit → visible on follower p99 (shipped writes, 50 ms poll)', pct(shippedLags, 99), 'ms');
  } finally {
    await follower?.close();
    await leader.close();
    raw.close();
    await lease.close();
    await storage.close();
    rmSync(dir, { recursive: true, force: true });
  }
}
