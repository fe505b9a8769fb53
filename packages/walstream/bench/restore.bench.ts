// Restore of a ~1 GiB SQLite database (its snapshot) from storage-local and from the S3 server,
// against `cp` + fsync of the same bytes, warm and cold, as same-run ratios.
// `HADB_BENCH_RESTORE_MIB` scales the database (default 1024).
import { copyFileSync, mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { LocalStorageBackend } from '@hadb/storage-local';
import { S3StorageBackend } from '@hadb/storage-s3';
import type { StorageBackend } from '@hadb/storage';
import type { BenchContext } from '../../../scripts/bench-types.js';
import { cachedInput, compareRestore, localCephCpuSeconds, s3OptionsFromEnv } from '../../../scripts/bench-restore.js';
import { Walstream, listRemote, restore } from '../src/index.js';

const MIB = Number(process.env.HADB_BENCH_RESTORE_MIB ?? 1024);

/** Replicates `path` once (its snapshot) to `storage`; returns the snapshot key and size. */
async function ship(storage: StorageBackend, prefix: string, path: string): Promise<{ key: string; bytes: number }> {
  const ws = await Walstream.open({ storage, prefix, autoSync: false });
  try {
    const r = await ws.add(path, { name: 'big' });
    await r.sync();
  } finally {
    await ws.close();
  }
  const remote = await listRemote(storage, prefix, 'big');
  const snap = remote.snapshots[remote.snapshots.length - 1]!;
  const info = await storage.head(snap.key);
  return { key: snap.key, bytes: info!.size };
}

export async function run(ctx: BenchContext): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'walstream-restore-bench-'));
  try {
    // The database is generated once and kept (HADB_BENCH_CACHE) for later runs.
    const rows = Math.round((MIB * 2 ** 20) / 4096);
    const { path: cached, generatedMs } = await cachedInput(`walstream-restore-${MIB}.db`, async (out) => {
      const db = new Database(out);
      db.pragma('journal_mode = WAL');
      db.exec('CREATE TABLE t (id INTEGER PRIMARY KEY, v BLOB)');
      const ins = db.prepare('INSERT INTO t (v) VALUES (randomblob(4000))');
      for (let done = 0; done < rows; done += 10_000) {
        db.transaction(() => {
          for (let i = done; i < Math.min(rows, done + 10_000); i++) ins.run();
        })();
      }
      db.pragma('wal_checkpoint(TRUNCATE)');
      db.close();
    });
    // Walstream takes the database over (WAL mode, its own files): work on a copy.
    const path = join(dir, 'source.db');
    copyFileSync(cached, path);
    ctx.record(
      'database size',
      statSync(path).size / 2 ** 20,
      'MiB',
      `${rows} rows of 4000 random bytes, ${generatedMs === undefined ? 'cached from an earlier run' : `generated in ${(generatedMs / 1000).toFixed(0)} s`}`,
    );
    const note =
      'snapshot only; ranged GETs 4 × 8 MiB in flight into reused shared 4 MiB buffers (storage-local reads into them; S3 body chunks are copied into them once), each page written once at its offset straight from those buffers, SHA-256 on a worker thread reading the same buffers in place, a background fdatasync every 32 MiB written, one final fsync, rename; integrity check off (cp checks nothing either)';

    const root = join(dir, 'bucket');
    const local = await LocalStorageBackend.open({ root });
    const shipped = await ship(local, '', path);
    const source = join(root, ...shipped.key.split('/'));
    const restoreFrom = (storage: StorageBackend, prefix: string) => async (d: string) => {
      await restore({ storage, prefix, name: 'big', output: join(d, 'out.db'), integrity: 'none' });
    };
    await compareRestore({
      ctx,
      label: 'walstream restore, storage-local',
      source,
      bytes: shipped.bytes,
      scratch: join(dir, 'scratch'),
      restore: restoreFrom(local, ''),
      note,
    });

    const s3Options = s3OptionsFromEnv();
    if (s3Options !== undefined) {
      const s3 = await S3StorageBackend.open(s3Options);
      const prefix = `walstream-restore-bench/${process.pid}-${Date.now().toString(36)}/`;
      try {
        await ship(s3, prefix, path);
        await compareRestore({
          serverCpuSeconds: localCephCpuSeconds,
          ctx,
          label: 'walstream restore, S3 (loopback Ceph RGW, memstore)',
          source,
          bytes: shipped.bytes,
          scratch: join(dir, 'scratch'),
          restore: restoreFrom(s3, prefix),
          note: `${note}; RGW keeps objects in memory, so cold drops only this side's caches`,
        });
      } finally {
        const keys = await s3.list(prefix);
        if (keys.length > 0) await s3.deleteMany(keys);
        await s3.close();
      }
    }
    await local.close();
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
