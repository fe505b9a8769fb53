// Bench of `hadb restore` on a real DuckDB database of about 1 GiB (HADB_CLI_BENCH_ROWS rows,
// default 58M): restore MB/s from local storage and from the S3 server, each beside the raw
// download MB/s of the same objects measured in the same run: to memory (one stream, and 4
// ranged reads in flight) and into a file with fsync; and beside `cp` + fsync of the database file
// (issue 14's anchor). Goals: restore ÷ cp + fsync ≥ 0.8; restore / best raw download ≥ 0.8.
import { mkdtemp, open, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DuckDBInstance } from '@duckdb/node-api';
import { TermFence, systemClock } from '@hadb/core';
import { DuckblockReplicator, releaseLeaderFile } from '@hadb/duckblock';
import type { StorageBackend } from '@hadb/storage';
import { LocalStorageBackend } from '@hadb/storage-local';
import { S3StorageBackend } from '@hadb/storage-s3';
import { cpFsync } from '../../../scripts/bench-restore.js';
import type { BenchContext } from '../../../scripts/bench-types.js';
import { describeObjects, listObjects } from '../src/catalog.js';
import { downloadingStorage } from '../src/download.js';
import { readAhead } from '../src/read-ahead.js';
import { run as hadb } from '../src/main.js';
import type { Io } from '../src/output.js';
import { planRestore } from '../src/restore-duck.js';

const ROWS = Number(process.env.HADB_CLI_BENCH_ROWS ?? 58_000_000);
const DB = 'bench';

const quiet: Io = { out() {}, err() {}, interactive: false };

async function replicate(
  storage: StorageBackend,
  path: string,
  conn: import('@duckdb/node-api').DuckDBConnection,
): Promise<void> {
  const replicator = new DuckblockReplicator({
    storage,
    prefix: '',
    snapshot: { intervalMs: 1e12, afterFileSizes: 0 },
    retention: { enabled: false },
  });
  const fence = new TermFence({
    db: DB,
    epoch: 1,
    clock: systemClock,
    sentAt: systemClock.now(),
    windowMs: Number.POSITIVE_INFINITY,
  });
  try {
    await replicator.startLineage(DB, path, { db: DB, epoch: 1, instanceId: 'bench', sessionId: 'bench', fence });
    // Two ordinary checkpoints after the snapshot, so the restore also applies segments.
    for (let i = 0; i < 2; i++) {
      await conn.run(
        `insert into big select range, hash(range), 0, 1 from range(${ROWS + i * 100_000}, ${ROWS + (i + 1) * 100_000})`,
      );
      await conn.run('CHECKPOINT');
      await replicator.pushCheckpoint(DB);
    }
  } finally {
    await replicator.remove(DB);
  }
}

/** Downloads `keys` to memory and discards them; returns MB/s. */
async function rawDownload(
  storage: StorageBackend,
  keys: readonly string[],
  parallel: number,
): Promise<{ mbps: number; bytes: number; ms: number }> {
  let bytes = 0;
  const source = downloadingStorage(storage, { parallel });
  const t0 = performance.now();
  for (const key of keys) {
    const s = await source.getStream(key);
    for await (const chunk of s!.body) bytes += chunk.length;
  }
  const ms = performance.now() - t0;
  return { mbps: bytes / 1e6 / (ms / 1000), bytes, ms };
}

/** Downloads `keys` into one file (read ahead 32 MiB, 4 MiB writes, one in flight) and fsyncs it; returns MB/s. */
async function rawToDisk(
  storage: StorageBackend,
  keys: readonly string[],
  path: string,
): Promise<{ mbps: number; ms: number }> {
  let bytes = 0;
  const t0 = performance.now();
  const fh = await open(path, 'w');
  try {
    let pending: Buffer[] = [];
    let size = 0;
    let writing: Promise<unknown> = Promise.resolve();
    const flush = async (): Promise<void> => {
      const chunk = Buffer.concat(pending, size);
      pending = [];
      size = 0;
      await writing;
      writing = fh.write(chunk);
    };
    for (const key of keys) {
      const s = await storage.getStream(key);
      for await (const c of readAhead(s!.body, 32 << 20)) {
        pending.push(Buffer.from(c.buffer, c.byteOffset, c.byteLength));
        size += c.length;
        bytes += c.length;
        if (size >= 4 << 20) await flush();
      }
    }
    await flush();
    await writing;
    await fh.sync();
  } finally {
    await fh.close();
    await rm(path, { force: true });
  }
  const ms = performance.now() - t0;
  return { mbps: bytes / 1e6 / (ms / 1000), ms };
}

async function measure(
  ctx: BenchContext,
  label: string,
  storage: StorageBackend,
  url: string,
  env: NodeJS.ProcessEnv,
  dir: string,
  source: string,
): Promise<void> {
  const details = await describeObjects(storage, await listObjects(storage, DB), { epochs: false });
  const plan = planRestore(details, { kind: 'latest' });
  const keys = [plan.base.key, ...plan.segments.map((s) => s.key)];
  const single = await rawDownload(storage, keys, 1);
  const ranged = await rawDownload(storage, keys, 4);
  const best = Math.max(single.mbps, ranged.mbps);
  ctx.record(
    `${label}: raw download to memory, one stream`,
    single.mbps,
    'MB/s',
    `${(single.bytes / 2 ** 20).toFixed(0)} MiB (snapshot + ${plan.segments.length} segments) in ${(single.ms / 1000).toFixed(1)} s`,
  );
  ctx.record(
    `${label}: raw download to memory, 4 ranged reads in flight`,
    ranged.mbps,
    'MB/s',
    `${(ranged.ms / 1000).toFixed(1)} s`,
  );
  // Medians of three rounds, each round: the plain pipeline into a file, cp + fsync of the
  // database file, and both restores, in turn (so a slow patch of the machine hits all alike).
  const times: Record<string, number[]> = { disk: [], cp: [], '1': [], '4': [] };
  let size = 0;
  for (let round = 0; round < 3; round++) {
    times.disk!.push((await rawToDisk(storage, keys, join(dir, `raw-${label}.bin`))).ms);
    const copy = join(dir, `cp-${label}.duckdb`);
    let t0 = performance.now();
    await cpFsync(source, copy);
    times.cp!.push(performance.now() - t0);
    await rm(copy, { force: true });
    for (const reads of [1, 4]) {
      const out = join(dir, `restored-${label}-${reads}.duckdb`);
      t0 = performance.now();
      const code = await hadb(['restore', DB, out, '--ranged-reads', String(reads), '--no-progress', '-s', url], {
        io: quiet,
        env,
      });
      times[String(reads)]!.push(performance.now() - t0);
      if (code !== 0) throw new Error(`hadb restore from ${label} exited ${code}`);
      size = (await stat(out)).size;
      await rm(out, { force: true });
    }
  }
  const med = (xs: number[]): number => [...xs].sort((a, b) => a - b)[1]!;
  const mbps = (ms: number): number => single.bytes / 1e6 / (ms / 1000);
  const disk = med(times.disk!);
  ctx.record(
    `${label}: raw download into a file + fsync`,
    mbps(disk),
    'MB/s',
    `${(disk / 1000).toFixed(1)} s, median of 3; reference: one stream, 4 MiB writes one at a time, no verification`,
  );
  const cp = med(times.cp!);
  ctx.record(
    `${label}: cp + fsync of the database file`,
    size / 1e6 / (cp / 1000),
    'MB/s',
    `${(cp / 1000).toFixed(2)} s for ${(size / 2 ** 20).toFixed(0)} MiB, median of 3, source in page cache`,
  );
  let bestRestore = Number.POSITIVE_INFINITY;
  for (const reads of [1, 4]) {
    const ms = med(times[String(reads)]!);
    bestRestore = Math.min(bestRestore, ms);
    ctx.record(
      `${label}: hadb restore${reads === 1 ? '' : ` --ranged-reads ${reads}`}`,
      mbps(ms),
      'MB/s',
      `${(ms / 1000).toFixed(2)} s for a ${(size / 2 ** 20).toFixed(0)} MiB file (snapshot + ${plan.segments.length} segments), median of 3, every block verified, fsynced`,
    );
  }
  ctx.record(
    `${label}: restore ÷ cp + fsync`,
    cp / bestRestore,
    'ratio',
    'cp time ÷ the faster restore time, medians, same run; goal ≥ 0.8 (issue 14), warm',
  );
  ctx.record(`${label}: restore / best raw download to memory`, mbps(bestRestore) / best, 'ratio', 'goal >= 0.8');
  ctx.record(
    `${label}: restore / raw download into a file`,
    disk / bestRestore,
    'ratio',
    'same bytes written and fsynced',
  );
}

export async function run(ctx: BenchContext): Promise<void> {
  const dir = await mkdtemp(join(tmpdir(), 'hadb-cli-bench-'));
  const path = join(dir, 'source.duckdb');
  const s3env = process.env;
  const haveS3 = [
    'HADB_TEST_S3_ENDPOINT',
    'HADB_TEST_S3_BUCKET',
    'HADB_TEST_S3_ACCESS_KEY_ID',
    'HADB_TEST_S3_SECRET_ACCESS_KEY',
  ].every((k) => s3env[k]);
  const prefix = `hadb-cli-bench/${process.pid}-${Date.now().toString(36)}/`;
  const local = await LocalStorageBackend.open({ root: join(dir, 'bucket') });
  const s3 = haveS3
    ? await S3StorageBackend.open({
        bucket: s3env.HADB_TEST_S3_BUCKET!,
        prefix,
        endpoint: s3env.HADB_TEST_S3_ENDPOINT,
        region: s3env.HADB_TEST_S3_REGION ?? 'us-east-1',
        credentials: {
          accessKeyId: s3env.HADB_TEST_S3_ACCESS_KEY_ID!,
          secretAccessKey: s3env.HADB_TEST_S3_SECRET_ACCESS_KEY!,
        },
      })
    : undefined;
  try {
    const t0 = performance.now();
    const instance = await DuckDBInstance.create(path, { checkpoint_threshold: '100GB' });
    const conn = await instance.connect();
    try {
      await conn.run(
        `create table big as select range::BIGINT id, hash(range) h, hash(range + 1) h2, (range % 1000)::INTEGER g from range(${ROWS})`,
      );
      await conn.run('CHECKPOINT');
      ctx.record(
        'database size',
        (await stat(path)).size / 2 ** 20,
        'MiB',
        `${ROWS / 1e6}M rows, generated in ${((performance.now() - t0) / 1000).toFixed(0)} s`,
      );
      await replicate(local, path, conn);
      if (s3 !== undefined) await replicate(s3, path, conn);
    } finally {
      conn.closeSync();
      instance.closeSync();
      await releaseLeaderFile(path);
    }
    await measure(ctx, 'local', local, `file://${join(dir, 'bucket')}`, {}, dir, path);
    if (s3 !== undefined) {
      const q = new URLSearchParams({ endpoint: s3env.HADB_TEST_S3_ENDPOINT! });
      const env = {
        AWS_ACCESS_KEY_ID: s3env.HADB_TEST_S3_ACCESS_KEY_ID,
        AWS_SECRET_ACCESS_KEY: s3env.HADB_TEST_S3_SECRET_ACCESS_KEY,
        AWS_REGION: s3env.HADB_TEST_S3_REGION ?? 'us-east-1',
      };
      await measure(ctx, 's3 (Ceph RGW)', s3, `s3://${s3env.HADB_TEST_S3_BUCKET}/${prefix}?${q}`, env, dir, path);
    } else {
      ctx.record('s3: skipped', 0, '-', 'HADB_TEST_S3_* not set');
    }
  } finally {
    if (s3 !== undefined) {
      await s3.deleteMany(await s3.list('')).catch(() => undefined);
      await s3.close();
    }
    await local.close();
    await rm(dir, { recursive: true, force: true });
  }
}
