// `pnpm bench haqlite`: a haqlite leader (committed durability) beside raw better-sqlite3 on the
// same machine in the same run (same table, same pragmas: WAL, synchronous FULL), the `shipped`
// write latency beside one storage PUT, and commit → visible on a follower. Storage: a local
// directory (fsync on every object).
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
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
async function perOp(n: number, fn: (i: number) => unknown, offset = 0): Promise<number> {
  const t0 = performance.now();
  for (let i = 0; i < n; i++) {
    await fn(offset + i);
    // Let timers run (lease renewals) as a server's event loop would between requests.
    if (i % 100 === 99) await new Promise((r) => setImmediate(r));
  }
  return ((performance.now() - t0) * 1000) / n;
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)]!;
}

/**
 * Raw and haqlite interleaved in `blocks` alternating blocks of `n / blocks` calls each (after a
 * warm-up of each), so both see the same machine load; the medians of the per-block means.
 */
async function interleaved(
  n: number,
  rawFn: (i: number) => unknown,
  haFn: (i: number) => unknown,
  blocks = 20,
): Promise<[number, number]> {
  const per = Math.max(1, Math.floor(n / blocks));
  await perOp(Math.ceil(per / 2), rawFn, 10_000_000);
  await perOp(Math.ceil(per / 2), haFn, 10_000_000);
  const raw: number[] = [];
  const ha: number[] = [];
  for (let b = 0; b < blocks; b++) {
    raw.push(await perOp(per, rawFn, b * per));
    ha.push(await perOp(per, haFn, b * per));
  }
  return [median(raw), median(ha)];
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
    const pairs: [string, number, number, string][] = [];
    const compare = (name: string, [rawUs, haUs]: [number, number], unit: string): void => {
      pairs.push([name, rawUs, haUs, unit]);
      ctx.record(`${name}: raw better-sqlite3`, rawUs, unit);
      ctx.record(`${name}: haqlite leader (committed)`, haUs, unit);
      ctx.record(`${name}: haqlite ÷ raw`, haUs / rawUs, 'ratio');
    };
    compare(
      'point lookup',
      await interleaved(
        20_000,
        (i) => rawGet.get(id(i)),
        (i) => leader.query('SELECT id, k, v FROM t WHERE id = ?', [id(i)]),
      ),
      'µs/op',
    );
    compare(
      'range scan (100 rows)',
      await interleaved(
        2_000,
        (i) => rawRange.all(id(i), id(i) + 99),
        (i) => leader.query('SELECT id, k, v FROM t WHERE id BETWEEN ? AND ?', [id(i), id(i) + 99]),
      ),
      'µs/op',
    );
    // Steady state for writes, as in a running server: a round of writes shipped and checkpointed
    // (walstream owns the leader's checkpoints), so the leader's WAL file is already sized and
    // restarts in place, as raw SQLite's does after its fill.
    for (let i = 0; i < 3000; i++) await leader.execute('UPDATE t SET v = ? WHERE id = ?', ['warm', id(i)]);
    await leader.sync();
    compare(
      'single INSERT',
      await interleaved(
        2_000,
        (i) => rawInsert.run(i, 'inserted'),
        (i) => leader.execute('INSERT INTO t (k, v) VALUES (?, ?)', [i, 'inserted']),
      ),
      'µs/op',
    );
    compare(
      'UPDATE by PK',
      await interleaved(
        2_000,
        (i) => rawUpdate.run('updated', id(i)),
        (i) => leader.execute('UPDATE t SET v = ? WHERE id = ?', ['updated', id(i)]),
      ),
      'µs/op',
    );
    const rawBatch = raw.transaction((base: number) => {
      for (let j = 0; j < 100; j++) rawInsert.run(base + j, 'batch');
    });
    const stmts = (base: number) =>
      Array.from({ length: 100 }, (_, j) => ({ sql: 'INSERT INTO t (k, v) VALUES (?, ?)', args: [base + j, 'batch'] }));
    compare(
      'batch INSERT, 100 rows in one transaction',
      await interleaved(
        200,
        (i) => rawBatch(i * 100),
        (i) => leader.batch(stmts(i * 100)),
      ),
      'µs/op',
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
