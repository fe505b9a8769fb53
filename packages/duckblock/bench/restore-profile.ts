// Profiling aid (not a bench suite): restores of the cached bench snapshot from storage-local or
// S3, for `node --cpu-prof` (or PROFILE=<file> for the calling thread during the restores only).
// Usage: node --conditions=hadb-source --import tsx packages/duckblock/bench/restore-profile.ts
//   local|s3 [restore|raw|raw-write]   (raw: the bench's floor anchor instead of a restore)
import { mkdtemp, open, rm, writeFile } from 'node:fs/promises';
import { Session } from 'node:inspector/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { LocalStorageBackend } from '@hadb/storage-local';
import { S3StorageBackend } from '@hadb/storage-s3';
import type { StorageBackend } from '@hadb/storage';
import { s3OptionsFromEnv } from '../../../scripts/bench-restore.js';
import { restoreSnapshot, uploadSnapshot } from '../src/index.js';
import { rawRangedRead } from './restore-anchors.js';

const db = join(
  process.env.HADB_BENCH_CACHE ?? join(tmpdir(), 'hadb-bench-cache'),
  'duckblock-restore-58000000.duckdb',
);
const which = process.argv[2] ?? 'local';
const what = process.argv[3] ?? 'restore';
const dir = await mkdtemp(join(tmpdir(), 'restore-profile-'));
let storage: StorageBackend;
let key = 'p/snapshot.hadbp';
if (which === 's3') {
  storage = await S3StorageBackend.open(s3OptionsFromEnv()!);
  key = `restore-profile/${process.pid}/snapshot.hadbp`;
} else {
  storage = await LocalStorageBackend.open({ root: join(dir, 'bucket') });
}
try {
  const fh = await open(db, 'r');
  await uploadSnapshot(storage, key, fh, { seq: 1n, anchor: 0n, epoch: 1n });
  await fh.close();
  // PROFILE=<file>: the calling thread's CPU profile of the restores only (not the upload).
  const session = process.env.PROFILE === undefined ? undefined : new Session();
  session?.connect();
  await session?.post('Profiler.enable');
  await session?.post('Profiler.start');
  for (let i = 0; i < Number(process.env.ROUNDS ?? 2); i++) {
    const before = process.cpuUsage();
    const t = performance.now();
    if (what === 'restore') await restoreSnapshot(storage, key, join(dir, `db-${i}.duckdb`));
    else await rawRangedRead(storage, key, what === 'raw-write' ? join(dir, `db-${i}.duckdb`) : undefined);
    const ms = performance.now() - t;
    const u = process.cpuUsage(before);
    console.log(
      `${which} ${what} ${i}: ${ms.toFixed(0)} ms, cpu ${((u.user + u.system) / 1e6).toFixed(2)} s (user ${(u.user / 1e6).toFixed(2)})`,
    );
    await rm(join(dir, `db-${i}.duckdb`), { force: true });
  }
  if (session !== undefined) {
    const { profile } = await session.post('Profiler.stop');
    await writeFile(process.env.PROFILE!, JSON.stringify(profile));
    session.disconnect();
  }
} finally {
  await storage.delete(key).catch(() => undefined);
  await storage.close();
  await rm(dir, { recursive: true, force: true });
}
