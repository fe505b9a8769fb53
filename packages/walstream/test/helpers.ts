import { createHash } from 'node:crypto';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { LocalStorageBackend } from '@hadb/storage-local';
import type { StorageBackend } from '@hadb/storage';
import Database from 'better-sqlite3';
import { S3StorageBackend } from '@hadb/storage-s3';

export type Db = InstanceType<typeof Database>;

/** A temp directory removed by `cleanup`. */
export function tempDir(label: string): { dir: string; cleanup(): void } {
  const dir = mkdtempSync(join(tmpdir(), `walstream-${label}-`));
  return { dir, cleanup: () => rmSync(dir, { recursive: true, force: true }) };
}

export async function openLocal(dir: string): Promise<StorageBackend> {
  return LocalStorageBackend.open({ root: join(dir, 'bucket'), fsync: false });
}

/** The test S3 server (Ceph RGW) from `env` (see `testService('s3')`). */
export async function openS3(env: Readonly<Record<string, string>>): Promise<StorageBackend> {
  const s3 = { env };
  return S3StorageBackend.open({
    bucket: s3.env.HADB_TEST_S3_BUCKET ?? '',
    endpoint: s3.env.HADB_TEST_S3_ENDPOINT ?? '',
    region: process.env.HADB_TEST_S3_REGION ?? 'us-east-1',
    credentials: {
      accessKeyId: s3.env.HADB_TEST_S3_ACCESS_KEY_ID ?? '',
      secretAccessKey: s3.env.HADB_TEST_S3_SECRET_ACCESS_KEY ?? '',
    },
    unquotedIfMatch: process.env.HADB_TEST_S3_UNQUOTED_IF_MATCH === '1',
  });
}

/** A prefix no other run uses. */
export function runPrefix(label: string): string {
  return `walstream-test/${label}-${process.pid}-${Date.now().toString(36)}/`;
}

/** Opens an app connection in WAL mode (the writer the tests drive). */
export function openApp(path: string, autocheckpoint = 1000): Db {
  const db = new Database(path);
  db.pragma('journal_mode = WAL');
  db.pragma('busy_timeout = 5000');
  db.pragma(`wal_autocheckpoint = ${autocheckpoint}`);
  return db;
}

/**
 * Hash of a page image with the header fields a copy rewrites masked: read/write version
 * (journal mode, 18–19), file change counter (24–27), schema cookie (40–43; the backup API sets
 * it to the destination's old cookie + 1) and version-valid-for (92–95). Every other byte of
 * every page counts.
 */
export function hashPages(bytes: Uint8Array): string {
  const copy = Buffer.from(bytes);
  if (copy.length >= 100) {
    copy.fill(0, 18, 20);
    copy.fill(0, 24, 28);
    copy.fill(0, 40, 44);
    copy.fill(0, 92, 96);
  }
  return createHash('sha256').update(copy).digest('hex');
}

/**
 * The committed state of a live database as SQLite itself reads it: a page-for-page copy made
 * with SQLite's backup API (independent of walstream's WAL reader), hashed with `hashPages`.
 */
export async function committedHash(db: Db, scratch: string): Promise<string> {
  rmSync(scratch, { force: true });
  await db.backup(scratch);
  const hash = hashPages(readFileSync(scratch));
  rmSync(scratch, { force: true });
  return hash;
}

/** Hash of a restored file. */
export function fileHash(path: string): string {
  return hashPages(readFileSync(path));
}

/** `PRAGMA integrity_check` through the Debian `sqlite3` CLI (a different SQLite build than better-sqlite3's). */
export function cliIntegrity(path: string): string {
  return execFileSync('sqlite3', ['-readonly', path, 'PRAGMA integrity_check;'], { encoding: 'utf8' }).trim();
}

/** Runs SQL through the `sqlite3` CLI. */
export function cli(path: string, sql: string): string {
  return execFileSync('sqlite3', ['-cmd', '.timeout 10000', path, sql], { encoding: 'utf8' }).trim();
}

/** A seeded PRNG (mulberry32). */
export function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** One random transaction: inserts, updates and deletes of random-size rows (some large, overflow pages). */
export function randomTxn(db: Db, rnd: () => number, rows = 1 + Math.floor(rnd() * 20)): void {
  db.transaction(() => {
    for (let i = 0; i < rows; i++) {
      const op = rnd();
      const size = rnd() < 0.1 ? 5000 + Math.floor(rnd() * 20000) : 10 + Math.floor(rnd() * 300);
      if (op < 0.6) db.prepare('INSERT INTO t (k, v) VALUES (?, randomblob(?))').run(Math.floor(rnd() * 1e6), size);
      else if (op < 0.85) db.prepare('UPDATE t SET v = randomblob(?) WHERE k % 7 = ?').run(size, Math.floor(rnd() * 7));
      else db.prepare('DELETE FROM t WHERE rowid IN (SELECT rowid FROM t ORDER BY random() LIMIT 3)').run();
    }
  })();
}

/** The workspace root. */
export const workspaceRoot = join(fileURLToPath(new URL('.', import.meta.url)), '..', '..', '..');

/** Command line running the sidecar from source. */
export function sidecarArgs(args: string[]): [string, string[]] {
  return [
    process.execPath,
    [
      '--conditions=hadb-source',
      '--import',
      'tsx',
      join(workspaceRoot, 'packages/walstream/src/bin/walstream-sidecar.ts'),
      ...args,
    ],
  ];
}

/**
 * A test's app database: a temp directory (removed by `cleanups`), local storage in it, and a
 * better-sqlite3 connection to `<dir>/<file>` (closed by `cleanups`) holding table
 * `t (id INTEGER PRIMARY KEY, k INTEGER, v BLOB)`.
 */
export async function localApp(
  cleanups: Array<() => void | Promise<void>>,
  label: string,
  file: string,
  autocheckpoint?: number,
): Promise<{ dir: string; storage: StorageBackend; path: string; app: Db }> {
  const t = tempDir(label);
  cleanups.push(t.cleanup);
  const storage = await openLocal(t.dir);
  const path = join(t.dir, file);
  const app = openApp(path, autocheckpoint);
  cleanups.push(() => void app.close());
  app.exec('CREATE TABLE t (id INTEGER PRIMARY KEY, k INTEGER, v BLOB)');
  return { dir: t.dir, storage, path, app };
}
