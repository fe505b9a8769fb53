// Bench of HaDuck's checkpoint cost on real DuckDB files (issue #14 item 4): the time of
// `checkpoint()` after a 1-row update on a small and a large database (and their ratio), the
// longest wait of a writer while a large update is checkpointed beside DuckDB's own CHECKPOINT
// of the same update, and a 1 % scattered update's checkpoint beside DuckDB's CHECKPOINT plus a
// whole-file upload. Sizes: HADUCK_BENCH_SMALL_MIB (default 100) and HADUCK_BENCH_LARGE_MIB
// (default 3072). Local storage, one node, no snapshots during the measurements.
import { createReadStream } from 'node:fs';
import { mkdtemp, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DuckDBInstance } from '@duckdb/node-api';
import { StorageLeaseStore } from '@hadb/lease';
import { LocalStorageBackend } from '@hadb/storage-local';
import type { BenchContext } from '../../../scripts/bench-types.js';
import { HaDuck } from '../src/index.js';

const BYTES_PER_ROW = 35; // id (bitpacked) + four random doubles, as stored
const REPEATS = 9;

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)]!;
}

async function timed(fn: () => Promise<unknown>): Promise<number> {
  const t = performance.now();
  await fn();
  return performance.now() - t;
}

interface Measured {
  readonly fileBytes: number;
  readonly rows: number;
  readonly rawOneRow: number;
  readonly haduckOneRow: number;
  /** Medians of the phases of `checkpoint()` after a 1-row update. */
  readonly onePhases: string;
  readonly rawLarge?: number;
  readonly largeCheckpoint?: number;
  readonly largeMaxWait?: number;
  readonly largeWrites?: number;
  readonly rawScatter?: number;
  readonly wholeUpload?: number;
  readonly scatterCheckpoint?: number;
  /** HaDuck's own `CHECKPOINT` phase of the large update. */
  readonly largeCheckpointPhase?: number;
  /** Capture plus upload of the scattered update (the shipping part of its checkpoint). */
  readonly scatterShip?: number;
}

async function measure(targetMiB: number, large: boolean): Promise<Measured> {
  const dir = await mkdtemp(join(tmpdir(), 'haduck-ckpt-bench-'));
  const path = join(dir, 'db.duckdb');
  const rows = Math.ceil((targetMiB * 1024 * 1024) / BYTES_PER_ROW);
  const storage = await LocalStorageBackend.open({ root: join(dir, 'storage') });
  const lease = new StorageLeaseStore(storage, { prefix: 'leases/' });
  try {
    // The database is built through HaDuck (its first checkpoint ships the whole file), so no
    // multi-GiB adoption has to fit the coordinator's replicator timeout.
    const duck = await HaDuck.open({
      path,
      name: 'bench',
      storage,
      lease: { store: lease },
      instanceId: 'a',
      listen: false,
      checkpointIntervalMs: 3_600_000,
      snapshot: { intervalMs: 0, afterFileSizes: 0 },
      limits: { statementTimeoutMs: 3_600_000 },
    });
    let one: number[] = [];
    let onePhases = '';
    let largeCheckpoint: number | undefined;
    let largeMaxWait: number | undefined;
    let largeWrites: number | undefined;
    let scatterCheckpoint: number | undefined;
    let largeCheckpointPhase: number | undefined;
    let scatterShip: number | undefined;
    try {
      await duck.execute(
        `CREATE TABLE t AS SELECT i AS id, random() AS a, random() AS b, random() AS c, random() AS v FROM range(${rows}) r(i)`,
      );
      await duck.execute('CREATE TABLE w (n BIGINT)');
      await duck.checkpoint();
      one = [];
      const phases: Record<'checkpoint' | 'capture' | 'upload', number[]> = { checkpoint: [], capture: [], upload: [] };
      for (let i = 0; i < REPEATS; i++) {
        await duck.execute(`UPDATE t SET v = v + 1 WHERE id = ${i * 104_729 + 1}`);
        const before = duck.stats().checkpointPhasesMs;
        one.push(await timed(() => duck.checkpoint()));
        const after = duck.stats().checkpointPhasesMs;
        for (const k of ['checkpoint', 'capture', 'upload'] as const) phases[k].push(after[k] - before[k]);
      }
      onePhases = `CHECKPOINT ${median(phases.checkpoint).toFixed(1)} ms, capture ${median(phases.capture).toFixed(1)} ms, upload ${median(phases.upload).toFixed(1)} ms`;
      if (large) {
        // A large update, checkpointed while a writer commits 1-row inserts back to back; the
        // longest single insert is the writer wait.
        await duck.execute(`UPDATE t SET v = v + 1, a = a + 1 WHERE id < ${Math.floor(rows / 4)}`);
        let writing = true;
        let maxWait = 0;
        let writes = 0;
        const writer = (async () => {
          while (writing) {
            const t = performance.now();
            await duck.execute('INSERT INTO w VALUES (1)');
            maxWait = Math.max(maxWait, performance.now() - t);
            writes++;
          }
        })();
        await new Promise((r) => setTimeout(r, 50));
        const before = duck.stats().checkpointPhasesMs;
        largeCheckpoint = await timed(() => duck.checkpoint());
        largeCheckpointPhase = duck.stats().checkpointPhasesMs.checkpoint - before.checkpoint;
        writing = false;
        await writer;
        largeMaxWait = maxWait;
        largeWrites = writes;
        await duck.execute('UPDATE t SET v = v + 1 WHERE id % 100 = 0');
        const beforeScatter = duck.stats().checkpointPhasesMs;
        scatterCheckpoint = await timed(() => duck.checkpoint());
        const afterScatter = duck.stats().checkpointPhasesMs;
        scatterShip = afterScatter.capture - beforeScatter.capture + (afterScatter.upload - beforeScatter.upload);
      }
    } finally {
      await duck.close();
    }
    // DuckDB alone on the same file: the same kinds of updates (other rows), its own CHECKPOINT.
    const raw = await DuckDBInstance.create(path, { checkpoint_threshold: '1000GB' });
    const conn = await raw.connect();
    const rawOne: number[] = [];
    let rawLarge: number | undefined;
    let rawScatter: number | undefined;
    try {
      await conn.run('CHECKPOINT');
      for (let i = 0; i < REPEATS; i++) {
        await conn.run(`UPDATE t SET v = v + 1 WHERE id = ${i * 7919 + 2}`);
        rawOne.push(await timed(() => conn.run('CHECKPOINT')));
      }
      if (large) {
        await conn.run(
          `UPDATE t SET v = v + 1, a = a + 1 WHERE id >= ${Math.floor(rows / 4)} AND id < ${Math.floor(rows / 2)}`,
        );
        rawLarge = await timed(() => conn.run('CHECKPOINT'));
        await conn.run('UPDATE t SET v = v + 1 WHERE id % 100 = 1');
        rawScatter = await timed(() => conn.run('CHECKPOINT'));
      }
    } finally {
      conn.closeSync();
      raw.closeSync();
    }
    const fileBytes = (await stat(path)).size;
    let wholeUpload: number | undefined;
    if (large) {
      wholeUpload = await timed(() =>
        storage.putStream('whole/db', createReadStream(path, { highWaterMark: 1 << 20 }), { contentLength: fileBytes }),
      );
    }
    return {
      fileBytes,
      rows,
      rawOneRow: median(rawOne),
      haduckOneRow: median(one),
      onePhases,
      rawLarge,
      rawScatter,
      wholeUpload,
      largeCheckpoint,
      largeMaxWait,
      largeWrites,
      scatterCheckpoint,
      largeCheckpointPhase,
      scatterShip,
    };
  } finally {
    await lease.close();
    await storage.close();
    await rm(dir, { recursive: true, force: true });
  }
}

const mib = (b: number): string => `${(b / 1048576).toFixed(0)} MiB`;

export async function run(ctx: BenchContext): Promise<void> {
  const smallMiB = Number(process.env.HADUCK_BENCH_SMALL_MIB ?? 100);
  const largeMiB = Number(process.env.HADUCK_BENCH_LARGE_MIB ?? 3072);
  const small = await measure(smallMiB, false);
  const large = await measure(largeMiB, true);
  const f = (x: number | undefined): number => Number((x ?? Number.NaN).toFixed(1));
  const sizes = `${mib(small.fileBytes)} and ${mib(large.fileBytes)} files`;
  ctx.record(
    `checkpoint() after a 1-row update, ${mib(small.fileBytes)}`,
    f(small.haduckOneRow),
    'ms',
    `median of ${REPEATS} (${small.onePhases}); DuckDB alone on the same file: CHECKPOINT ${f(small.rawOneRow)} ms`,
  );
  ctx.record(
    `checkpoint() after a 1-row update, ${mib(large.fileBytes)}`,
    f(large.haduckOneRow),
    'ms',
    `median of ${REPEATS} (${large.onePhases}); DuckDB alone on the same file: CHECKPOINT ${f(large.rawOneRow)} ms`,
  );
  ctx.record(
    'checkpoint() after a 1-row update: large ÷ small (goal ≤ 1.2)',
    Number((large.haduckOneRow / small.haduckOneRow).toFixed(2)),
    'x',
    `${sizes}; DuckDB's own: ${(large.rawOneRow / small.rawOneRow).toFixed(2)}x`,
  );
  ctx.record(
    'longest writer wait during checkpoint() of a large update ÷ DuckDB CHECKPOINT (goal ≤ 1.2)',
    Number((large.largeMaxWait! / large.rawLarge!).toFixed(2)),
    'x',
    `${mib(large.fileBytes)}, 1/4 of the rows updated: wait ${f(large.largeMaxWait)} ms over ${large.largeWrites} inserts, checkpoint() ${f(large.largeCheckpoint)} ms of which its CHECKPOINT ${f(large.largeCheckpointPhase)} ms; DuckDB alone: CHECKPOINT ${f(large.rawLarge)} ms`,
  );
  ctx.record(
    "longest writer wait during checkpoint() of a large update ÷ that checkpoint's own CHECKPOINT phase",
    Number((large.largeMaxWait! / large.largeCheckpointPhase!).toFixed(2)),
    'x',
    'same instance, same update: what haduck adds to the wait beyond DuckDB (the row above compares with DuckDB alone on the reopened file, whose CHECKPOINT of a like update can differ)',
  );
  ctx.record(
    '1 % scattered update: checkpoint() ÷ (DuckDB CHECKPOINT + whole-file upload) (goal ≤ 1)',
    Number((large.scatterCheckpoint! / (large.rawScatter! + large.wholeUpload!)).toFixed(2)),
    'x',
    `${mib(large.fileBytes)}: checkpoint() ${f(large.scatterCheckpoint)} ms (capture + upload ${f(large.scatterShip)} ms), DuckDB CHECKPOINT ${f(large.rawScatter)} ms, whole-file upload ${f(large.wholeUpload)} ms (storage-local)`,
  );
}
