// Follower cold start / snapshot restore of a ~1 GiB DuckDB database, from storage-local and from
// the S3 server, against `cp` + fsync of the same bytes, warm and cold, as same-run ratios.
// `HADB_BENCH_RESTORE_ROWS` scales the database (default 58M rows, about 1.1 GiB).
import { mkdtemp, open, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DuckDBInstance } from '@duckdb/node-api';
import { LocalStorageBackend } from '@hadb/storage-local';
import { S3StorageBackend } from '@hadb/storage-s3';
import type { StorageBackend } from '@hadb/storage';
import type { BenchContext } from '../../../scripts/bench-types.js';
import { cachedInput, compareRestore, s3OptionsFromEnv } from '../../../scripts/bench-restore.js';
import { readPhysicalStream, type PageEntry } from '@hadb/changeset';
import { SegmentMarkers, restoreSnapshot, truncateToHeader, uploadSnapshot, writePages } from '../src/index.js';

const ROWS = Number(process.env.HADB_BENCH_RESTORE_ROWS ?? 58_000_000);
const KEY = 'restore-bench/snapshot.hadbp';

/**
 * The restore path before ranged downloads, kept here as a same-run reference: one streamed GET,
 * decoded page by page, pages written in batches with one write in flight, then fsync.
 */
async function sequentialRestore(storage: StorageBackend, key: string, path: string): Promise<void> {
  const object = await storage.getStream(key);
  const reader = readPhysicalStream(object!.body);
  const fh = await open(path, 'w+');
  try {
    const markers = new SegmentMarkers(key);
    let batch: PageEntry[] = [];
    let writing: Promise<void> = Promise.resolve();
    for await (const page of reader) {
      if (markers.take(page)) continue;
      batch.push(page);
      if (batch.length >= 1024) {
        const out = batch;
        batch = [];
        await writing;
        writing = writePages(fh, out);
      }
    }
    await writing;
    await writePages(fh, batch);
    markers.finish();
    if (markers.fileSize !== undefined) await fh.truncate(markers.fileSize);
    else await truncateToHeader(fh);
    await fh.sync();
  } finally {
    await fh.close();
  }
}

async function upload(storage: StorageBackend, key: string, dbPath: string): Promise<number> {
  const handle = await open(dbPath, 'r');
  try {
    return (await uploadSnapshot(storage, key, handle, { seq: 1n, anchor: 0n, epoch: 1n })).bytes;
  } finally {
    await handle.close();
  }
}

export async function run(ctx: BenchContext): Promise<void> {
  const dir = await mkdtemp(join(tmpdir(), 'duckblock-restore-bench-'));
  try {
    // The database is generated once and kept (HADB_BENCH_CACHE) for later runs.
    const { path: dbPath, generatedMs } = await cachedInput(`duckblock-restore-${ROWS}.duckdb`, async (path) => {
      const instance = await DuckDBInstance.create(path);
      const conn = await instance.connect();
      await conn.run(
        `create table big as select range::BIGINT id, hash(range) h, hash(range + 1) h2, (range % 1000)::INTEGER g from range(${ROWS})`,
      );
      await conn.run('CHECKPOINT');
      conn.closeSync();
      instance.closeSync();
      await rm(`${path}.wal`, { force: true });
    });
    const size = (await stat(dbPath)).size;
    ctx.record(
      'database size',
      size / 2 ** 20,
      'MiB',
      `${ROWS / 1e6}M rows, ${generatedMs === undefined ? 'cached from an earlier run' : `generated in ${(generatedMs / 1000).toFixed(0)} s`}`,
    );
    const note =
      'ranged GETs 4 × 8 MiB in flight (storage-local reads them into reused pool buffers; S3 bodies arrive as the SDK streams them), each page written once at its offset straight from the downloaded chunks, SHA-256 on a worker thread (page data read back from the written file), one fsync overlapping the end of the hashing, journalled rename';

    const root = join(dir, 'bucket');
    const local = await LocalStorageBackend.open({ root });
    const bytes = await upload(local, KEY, dbPath);
    const source = join(root, ...KEY.split('/'));
    await compareRestore({
      ctx,
      label: 'duckblock snapshot restore, storage-local',
      source,
      bytes,
      scratch: join(dir, 'scratch'),
      restore: async (d) => {
        await restoreSnapshot(local, KEY, join(d, 'db.duckdb'));
      },
      note,
    });

    await compareRestore({
      ctx,
      label: 'previous sequential streamed restore, storage-local',
      source,
      bytes,
      scratch: join(dir, 'scratch'),
      restore: async (d) => {
        await sequentialRestore(local, KEY, join(d, 'db.duckdb'));
      },
      note: 'reference: the code path this suite replaced (one GET, page-by-page decode, batched writes, one fsync)',
    });

    const s3Options = s3OptionsFromEnv();
    if (s3Options !== undefined) {
      const s3 = await S3StorageBackend.open(s3Options);
      const key = `duckblock-restore-bench/${process.pid}-${Date.now().toString(36)}/snapshot.hadbp`;
      try {
        await upload(s3, key, dbPath);
        await compareRestore({
          ctx,
          label: 'duckblock snapshot restore, S3 (loopback Ceph RGW, memstore)',
          source,
          bytes,
          scratch: join(dir, 'scratch'),
          restore: async (d) => {
            await restoreSnapshot(s3, key, join(d, 'db.duckdb'));
          },
          note: `${note}; RGW keeps objects in memory, so cold drops only this side's caches`,
        });
      } finally {
        await s3.delete(key).catch(() => undefined);
        await s3.close();
      }
    }
    await local.close();
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}
