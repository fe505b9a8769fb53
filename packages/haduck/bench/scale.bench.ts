import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { DuckDBInstance } from '@duckdb/node-api';
import { StorageLeaseStore } from '@hadb/lease';
import { LocalStorageBackend } from '@hadb/storage-local';
import type { BenchContext } from '../../../scripts/bench-types.js';
import { HaDuck } from '../src/index.js';

const WRITERS = 16;
const SECONDS = 4;

/** Runs `writers` loops of `write(w, i)` for `SECONDS`; returns rows/s. */
async function drive(writers: number, write: (w: number, i: number) => Promise<unknown>): Promise<number> {
  const end = performance.now() + SECONDS * 1000;
  let rows = 0;
  const started = performance.now();
  await Promise.all(
    Array.from({ length: writers }, async (_, w) => {
      for (let i = 0; performance.now() < end; i++) {
        await write(w, i);
        rows++;
      }
    }),
  );
  return rows / ((performance.now() - started) / 1000);
}

/** Raw DuckDB, one connection per writer, autocommit INSERTs. */
async function rawDuck(dir: string, writers: number): Promise<number> {
  const instance = await DuckDBInstance.create(join(dir, `raw-${writers}.duckdb`));
  const conns = await Promise.all(Array.from({ length: writers }, () => instance.connect()));
  try {
    await conns[0]!.run('CREATE TABLE t (w INTEGER, i INTEGER, v VARCHAR)');
    return await drive(writers, (w, i) => conns[w]!.run('INSERT INTO t VALUES ($1, $2, $3)', [w, i, 'row']));
  } finally {
    for (const c of conns) c.closeSync();
    instance.closeSync();
  }
}

/** A HaDuck leader on local storage, `committed` writes, one `execute` per row. */
async function haDuck(dir: string, writers: number): Promise<number> {
  const storage = await LocalStorageBackend.open({ root: join(dir, `storage-${writers}`) });
  const lease = new StorageLeaseStore(storage, { prefix: 'leases/' });
  const db = await HaDuck.open({
    name: 'bench',
    path: join(dir, `ha-${writers}.duckdb`),
    instanceId: 'a',
    storage,
    lease: { store: lease },
    durability: 'committed',
  });
  try {
    await db.execute('CREATE TABLE t (w INTEGER, i INTEGER, v VARCHAR)');
    return await drive(writers, (w, i) => db.execute('INSERT INTO t VALUES ($1, $2, $3)', [w, i, 'row']));
  } finally {
    await db.close();
    await lease.close();
    await storage.close();
  }
}

async function concurrentWriters(ctx: BenchContext): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'haduck-scale-'));
  try {
    const load = loadavg()[0]!.toFixed(1);
    const raw16 = await rawDuck(dir, WRITERS);
    const ha16 = await haDuck(dir, WRITERS);
    const raw1 = await rawDuck(dir, 1);
    const ha1 = await haDuck(dir, 1);
    ctx.record(`raw DuckDB, ${WRITERS} connections, autocommit INSERT`, Math.round(raw16), 'rows/s', `load ${load}`);
    ctx.record(`HaDuck leader, ${WRITERS} writers, committed`, Math.round(ha16), 'rows/s', 'storage-local');
    ctx.record(
      `${WRITERS}-writer committed / raw DuckDB ${WRITERS} connections`,
      Number((ha16 / raw16).toFixed(3)),
      'ratio',
      'goal ≥ 0.8',
    );
    ctx.record('1-writer committed / raw DuckDB 1 connection', Number((ha1 / raw1).toFixed(3)), 'ratio');
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/** RSS (MiB) and threads of a fresh process holding `n` HaDuck leaders. */
function rssWith(n: number, extra: readonly string[] = []): { rssMiB: number; threads: number } {
  const child = fileURLToPath(new URL('./rss-child.ts', import.meta.url));
  const out = execFileSync(
    process.execPath,
    ['--conditions=hadb-source', '--import', 'tsx', child, String(n), ...extra],
    { encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'] },
  );
  return JSON.parse(out.trim().split('\n').at(-1)!) as { rssMiB: number; threads: number };
}

async function rssPerDatabase(ctx: BenchContext): Promise<void> {
  const base = rssWith(1);
  const ten = rssWith(10);
  const thirty = rssWith(30);
  ctx.record('RSS, 1 HaDuck leader in a process', Number(base.rssMiB.toFixed(1)), 'MiB', `${base.threads} threads`);
  ctx.record(
    'RSS, 30 HaDuck leaders in a process',
    Number(thirty.rssMiB.toFixed(1)),
    'MiB',
    `${thirty.threads} threads`,
  );
  ctx.record(
    'RSS per additional HaDuck database (1 → 30)',
    Number(((thirty.rssMiB - base.rssMiB) / 29).toFixed(2)),
    'MiB',
    `1 → 10: ${((ten.rssMiB - base.rssMiB) / 9).toFixed(2)} MiB; threads +${((thirty.threads - base.threads) / 29).toFixed(2)} each; goal ≤ 2`,
  );
}

export async function run(ctx: BenchContext): Promise<void> {
  await concurrentWriters(ctx);
  await rssPerDatabase(ctx);
}
