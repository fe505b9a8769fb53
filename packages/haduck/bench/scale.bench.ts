import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { DuckDBInstance } from '@duckdb/node-api';
import { StorageLeaseStore } from '@hadb/lease';
import { LocalStorageBackend } from '@hadb/storage-local';
import type { BenchContext } from '../../../scripts/bench-types.js';
import { DuckSharedInstance, HaDuck } from '../src/index.js';

const WRITERS = 16;
const SECONDS = 4;
/** Numbers each run's files. */
let runs = 0;

/** CPU microseconds (every thread of this process) per row of each {@link drive} call, in order. */
const cpuPerRow: number[] = [];

/** Runs `writers` loops of `write(w, i)` for `SECONDS`; returns rows/s (and records CPU per row). */
async function drive(writers: number, write: (w: number, i: number) => Promise<unknown>): Promise<number> {
  const end = performance.now() + SECONDS * 1000;
  let rows = 0;
  const started = performance.now();
  const cpu = process.cpuUsage();
  await Promise.all(
    Array.from({ length: writers }, async (_, w) => {
      for (let i = 0; performance.now() < end; i++) {
        await write(w, i);
        rows++;
      }
    }),
  );
  const used = process.cpuUsage(cpu);
  cpuPerRow.push((used.user + used.system) / rows);
  return rows / ((performance.now() - started) / 1000);
}

/**
 * Raw DuckDB, one connection per writer: autocommit INSERTs (`run` with parameters: DuckDB
 * extracts, prepares and runs the statement), or (`sameCalls`) one explicit transaction per INSERT
 * — the DuckDB calls of a HaDuck write that runs alone: `BEGIN TRANSACTION`, the INSERT and
 * `COMMIT`, each a statement prepared once per connection and run again.
 */
async function rawDuck(dir: string, writers: number, sameCalls = false): Promise<number> {
  const instance = await DuckDBInstance.create(join(dir, `raw-${++runs}.duckdb`));
  const conns = await Promise.all(Array.from({ length: writers }, () => instance.connect()));
  try {
    await conns[0]!.run('CREATE TABLE t (w INTEGER, i INTEGER, v VARCHAR)');
    if (!sameCalls)
      return await drive(writers, (w, i) => conns[w]!.run('INSERT INTO t VALUES ($1, $2, $3)', [w, i, 'row']));
    const prepared = await Promise.all(
      conns.map(async (c) => ({
        begin: await c.prepare('BEGIN TRANSACTION'),
        insert: await c.prepare('INSERT INTO t VALUES ($1, $2, $3)'),
        commit: await c.prepare('COMMIT'),
      })),
    );
    return await drive(writers, async (w, i) => {
      const p = prepared[w]!;
      await p.begin.run();
      p.insert.clearBindings();
      p.insert.bind([w, i, 'row']);
      await p.insert.run();
      await p.commit.run();
    });
  } finally {
    for (const c of conns) c.closeSync();
    instance.closeSync();
  }
}

/** Requests per group commit of the last {@link haDuck} run. */
let lastGroupSize = 0;

/** A HaDuck leader on local storage, `committed` writes, one `execute` per row (`shared`: in a {@link DuckSharedInstance}). */
async function haDuck(dir: string, writers: number, shared = false): Promise<number> {
  const storage = await LocalStorageBackend.open({ root: join(dir, `storage-${++runs}`) });
  const lease = new StorageLeaseStore(storage, { prefix: 'leases/' });
  const sharedInstance = shared ? await DuckSharedInstance.open({ directories: [dir] }) : undefined;
  const db = await HaDuck.open({
    sharedInstance,
    name: 'bench',
    path: join(dir, `ha-${runs}.duckdb`),
    instanceId: 'a',
    storage,
    lease: { store: lease },
    durability: 'committed',
  });
  try {
    await db.execute('CREATE TABLE t (w INTEGER, i INTEGER, v VARCHAR)');
    const rate = await drive(writers, (w, i) => db.execute('INSERT INTO t VALUES ($1, $2, $3)', [w, i, 'row']));
    const { groupTransactions, groupedWrites } = db.stats();
    lastGroupSize = groupTransactions === 0 ? 1 : groupedWrites / groupTransactions;
    return rate;
  } finally {
    await db.close();
    await sharedInstance?.close();
    await lease.close();
    await storage.close();
  }
}

async function concurrentWriters(ctx: BenchContext): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'haduck-scale-'));
  try {
    const load = loadavg()[0]!.toFixed(1);
    // Interleaved, three rounds, medians (the machine is shared: see the load).
    const raw16: number[] = [];
    const tok16: number[] = [];
    const ha16: number[] = [];
    // CPU µs per row of each run: steadier than rows/s when other processes share the cores and the disk.
    const rawCpu: number[] = [];
    const tokCpu: number[] = [];
    const haCpu: number[] = [];
    const sh16: number[] = [];
    const shCpu: number[] = [];
    const groupSizes: number[] = [];
    for (let round = 0; round < 3; round++) {
      raw16.push(await rawDuck(dir, WRITERS));
      rawCpu.push(cpuPerRow.at(-1)!);
      ha16.push(await haDuck(dir, WRITERS));
      haCpu.push(cpuPerRow.at(-1)!);
      groupSizes.push(lastGroupSize);
      tok16.push(await rawDuck(dir, WRITERS, true));
      tokCpu.push(cpuPerRow.at(-1)!);
      sh16.push(await haDuck(dir, WRITERS, true));
      shCpu.push(cpuPerRow.at(-1)!);
    }
    const raw1 = await rawDuck(dir, 1);
    const ha1 = await haDuck(dir, 1);
    const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
    const [r, t, h] = [median(raw16), median(tok16), median(ha16)];
    const us = (xs: number[]): string => `${Math.round(median(xs))} CPU µs/row`;
    const vsRaw = median(ha16.map((x, i) => x / raw16[i]!));
    const vsTx = median(ha16.map((x, i) => x / tok16[i]!));
    ctx.record(
      `raw DuckDB, ${WRITERS} connections, autocommit INSERT`,
      Math.round(r),
      'rows/s',
      `load ${load}; ${us(rawCpu)}`,
    );
    ctx.record(
      `raw DuckDB, ${WRITERS} connections, one explicit transaction per INSERT`,
      Math.round(t),
      'rows/s',
      `prepared BEGIN TRANSACTION, INSERT, COMMIT (the calls of a HaDuck write run alone); ${us(tokCpu)}: DuckDB runs an explicit COMMIT (and its WAL sync) as a task its worker thread may take while the calling thread busy-polls (duckdb/duckdb#22178), autocommit commits on the calling thread`,
    );
    ctx.record(
      `HaDuck leader, ${WRITERS} writers, committed`,
      Math.round(h),
      'rows/s',
      `storage-local, 1 s checkpoints; ${us(haCpu)}; group commit: ${median(groupSizes).toFixed(1)} requests per transaction (median of runs)`,
    );
    ctx.record(
      `${WRITERS}-writer committed / raw DuckDB ${WRITERS} connections`,
      Number(vsRaw.toFixed(3)),
      'ratio',
      `goal ≥ 0.8; rounds ${ha16.map((x, i) => (x / raw16[i]!).toFixed(2)).join(', ')}`,
    );
    ctx.record(
      `${WRITERS}-writer committed / raw DuckDB ${WRITERS} connections, one explicit transaction per INSERT`,
      Number(vsTx.toFixed(3)),
      'ratio',
      `HaDuck keeps a term check before every COMMIT, so it needs explicit transactions; group commit shares one among waiting writes; rounds ${ha16.map((x, i) => (x / tok16[i]!).toFixed(2)).join(', ')}`,
    );
    ctx.record('1-writer committed / raw DuckDB 1 connection', Number((ha1 / raw1).toFixed(3)), 'ratio');
    ctx.record(
      `${WRITERS}-writer committed, DuckSharedInstance / own instance`,
      Number(median(sh16.map((x, i) => x / ha16[i]!)).toFixed(3)),
      'ratio',
      `the write and ship path of a database attached to a shared instance (1 database in it); rounds ${sh16.map((x, i) => (x / ha16[i]!).toFixed(2)).join(', ')}; ${us(shCpu)} against ${us(haCpu)}`,
    );
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

interface ChildMemory {
  readonly rssMiB: number;
  readonly heapMiB: number;
  readonly externalMiB: number;
  readonly threads: number;
}

/**
 * Memory and threads of a fresh process holding `n` databases: HaDuck leaders (`mode` `ha`, `json`
 * extra options, `shared` for a DuckSharedInstance) or raw DuckDB instances (see rss-child.ts).
 */
function childWith(n: number, mode: 'ha' | 'raw' | 'raw-shared', json: object = {}): ChildMemory {
  const child = fileURLToPath(new URL('./rss-child.ts', import.meta.url));
  const out = execFileSync(
    process.execPath,
    ['--expose-gc', '--conditions=hadb-source', '--import', 'tsx', child, String(n), mode, JSON.stringify(json)],
    { encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'] },
  );
  return JSON.parse(out.trim().split('\n').at(-1)!) as ChildMemory;
}

/** One measured configuration of {@link rssPerDatabase}. */
interface Variant {
  readonly name: string;
  readonly mode: 'ha' | 'raw' | 'raw-shared';
  readonly json: object;
  readonly note: string;
}

const VARIANTS: readonly Variant[] = [
  {
    name: 'RSS per additional HaDuck database (1 → 30)',
    mode: 'ha',
    json: {},
    note: 'default: an instance of its own per database (DuckDB defaults)',
  },
  {
    name: 'RSS per additional HaDuck database, DuckSharedInstance (1 → 30)',
    mode: 'ha',
    json: { shared: {} },
    note: 'opt-in, only for databases that trust each other: every database ATTACHed to one DuckDB instance; goal ≤ 2',
  },
  {
    name: "RSS per additional HaDuck database, duckdbConfig { threads: '1' } (1 → 30)",
    mode: 'ha',
    json: { duckdbConfig: { threads: '1' } },
    note: 'no DuckDB worker thread per database (queries run on the calling thread only)',
  },
  {
    name: 'RSS per additional raw DuckDB instance (1 → 30)',
    mode: 'raw',
    json: {},
    note: 'one connection, one table, one row: the floor of one DuckDB instance per database',
  },
  {
    name: 'RSS per additional raw DuckDB instance after one CHECKPOINT (1 → 30)',
    mode: 'raw',
    json: { checkpoint: true },
    note: 'the checkpointed 256 KiB blocks stay in its buffer pool, as on a HaDuck leader that shipped',
  },
  {
    name: "RSS per additional raw DuckDB instance after one CHECKPOINT, threads '1'",
    mode: 'raw',
    json: { checkpoint: true, config: { threads: '1' } },
    note: 'DuckDB setting in isolation',
  },
  {
    name: "RSS per additional raw DuckDB instance after one CHECKPOINT, memory_limit '1MB'",
    mode: 'raw',
    json: { checkpoint: true, config: { memory_limit: '1MB' } },
    note: 'DuckDB setting in isolation: the limit does not evict cached blocks nobody asks memory for',
  },
  {
    name: "RSS per additional raw DuckDB instance after one CHECKPOINT, allocator_flush_threshold '1KB' + allocator_bulk_deallocation_flush_threshold '1KB'",
    mode: 'raw',
    json: {
      checkpoint: true,
      config: { allocator_flush_threshold: '1KB', allocator_bulk_deallocation_flush_threshold: '1KB' },
    },
    note: 'DuckDB setting in isolation (this build of @duckdb/node-api has no jemalloc: glibc malloc)',
  },
  {
    name: 'RSS per additional HaDuck leader + follower pair in one process (1 → 30 pairs)',
    mode: 'ha',
    json: { followers: true },
    note: 'each leader with a caught-up follower (its own copy) in the same process: two nodes per database, own instances',
  },
  {
    name: 'RSS per additional HaDuck leader + follower pair in one process, DuckSharedInstance (1 → 30 pairs)',
    mode: 'ha',
    json: { followers: true, shared: {} },
    note: 'as above, every leader and follower attached to one instance (followers READ_ONLY)',
  },
  {
    name: 'RSS per additional database ATTACHed to one raw DuckDB instance, after CHECKPOINT <alias> (1 → 30)',
    mode: 'raw-shared',
    json: { checkpoint: true },
    note: 'the floor of a shared instance: one catalog and its cached blocks per database',
  },
];

async function rssPerDatabase(ctx: BenchContext): Promise<void> {
  const per = (a: ChildMemory, b: ChildMemory, n: number, k: keyof ChildMemory = 'rssMiB'): number =>
    (b[k] - a[k]) / (n - 1);
  const median = (xs: number[]): number => [...xs].sort((x, y) => x - y)[Math.floor(xs.length / 2)]!;
  const fixed = (x: number): number => Number(x.toFixed(2));
  const load = loadavg()[0]!.toFixed(1);
  // Three interleaved rounds of fresh processes; per-database figures are medians of the rounds.
  const rounds = Array.from({ length: 3 }, () =>
    VARIANTS.map((v) => ({ one: childWith(1, v.mode, v.json), thirty: childWith(30, v.mode, v.json) })),
  );
  const { one: base, thirty } = rounds[0]![0]!;
  ctx.record('RSS, 1 HaDuck leader in a process', Number(base.rssMiB.toFixed(1)), 'MiB', `${base.threads} threads`);
  ctx.record(
    'RSS, 30 HaDuck leaders in a process',
    Number(thirty.rssMiB.toFixed(1)),
    'MiB',
    `${thirty.threads} threads`,
  );
  const perVariant = VARIANTS.map((_, i) => rounds.map((r) => per(r[i]!.one, r[i]!.thirty, 30)));
  for (const [i, v] of VARIANTS.entries()) {
    const xs = perVariant[i]!;
    const m = (k: keyof ChildMemory): number => fixed(median(rounds.map((r) => per(r[i]!.one, r[i]!.thirty, 30, k))));
    ctx.record(
      v.name,
      fixed(median(xs)),
      'MiB',
      `${v.note}; load ${load}; median of 3 rounds (${xs.map((x) => x.toFixed(2)).join(', ')}); JS heap ${m('heapMiB')} MiB of it; threads +${m('threads')}`,
    );
  }
  // VARIANTS[0]: HaDuck with instances of its own, [1]: shared, [4]: raw after CHECKPOINT.
  const beyond = rounds.map((_, r) => perVariant[0]![r]! - perVariant[4]![r]!);
  ctx.record(
    'RSS per additional HaDuck database beyond a raw DuckDB instance after one CHECKPOINT',
    fixed(median(beyond)),
    'MiB',
    `what HaDuck itself holds per database (node, lease, forwarding server, write connections, JS state); rounds ${beyond.map((x) => x.toFixed(2)).join(', ')}`,
  );
  ctx.record(
    'RSS per additional HaDuck database, DuckSharedInstance / own instance',
    fixed(median(rounds.map((_, r) => perVariant[1]![r]! / perVariant[0]![r]!))),
    'ratio',
    'same run',
  );
}

export async function run(ctx: BenchContext): Promise<void> {
  await concurrentWriters(ctx);
  await rssPerDatabase(ctx);
}
