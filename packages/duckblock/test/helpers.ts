import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DuckDBInstance, type DuckDBConnection } from '@duckdb/node-api';
import { TermFence, systemClock, type LeaderTerm } from '@hadb/core';

/** A fresh temporary directory and its cleanup. */
export async function tempDir(label: string): Promise<{ dir: string; cleanup: () => Promise<void> }> {
  const dir = await mkdtemp(join(tmpdir(), `duckblock-${label}-`));
  return { dir, cleanup: () => rm(dir, { recursive: true, force: true }) };
}

/** SHA-256 (hex) of a file, streamed. */
export async function sha256File(path: string): Promise<string> {
  const hash = createHash('sha256');
  for await (const chunk of createReadStream(path, { highWaterMark: 1 << 20 })) hash.update(chunk as Buffer);
  return hash.digest('hex');
}

/** A leader DuckDB: auto-checkpoints disabled so every checkpoint is an explicit one. */
export async function openLeader(
  path: string,
): Promise<{ instance: DuckDBInstance; conn: DuckDBConnection; close: () => void }> {
  const instance = await DuckDBInstance.create(path, { checkpoint_threshold: '100GB' });
  const conn = await instance.connect();
  return {
    instance,
    conn,
    close: () => {
      conn.closeSync();
      instance.closeSync();
    },
  };
}

/** Runs `sql` and returns its rows as JSON text (bigints as strings): a deterministic digest. */
export async function rowsJson(conn: DuckDBConnection, sql: string): Promise<string> {
  const reader = await conn.runAndReadAll(sql);
  return JSON.stringify(reader.getRows(), (_k, v: unknown) => (typeof v === 'bigint' ? v.toString() : v));
}

/** Opens `path` READ_ONLY, runs each query, closes. */
export async function queryReadOnly(path: string, queries: readonly string[]): Promise<string[]> {
  const instance = await DuckDBInstance.create(path, { access_mode: 'READ_ONLY' });
  const conn = await instance.connect();
  try {
    const out: string[] = [];
    for (const q of queries) out.push(await rowsJson(conn, q));
    return out;
  } finally {
    conn.closeSync();
    instance.closeSync();
  }
}

/** A leader term with a fence that never expires (no lease in these tests). */
export function testTerm(db: string, epoch: number): LeaderTerm & { fence: TermFence } {
  const fence = new TermFence({
    db,
    epoch,
    clock: systemClock,
    sentAt: systemClock.now(),
    windowMs: Number.POSITIVE_INFINITY,
  });
  return { db, epoch, instanceId: `node-${epoch}`, sessionId: `session-${epoch}`, fence };
}

/** SHA-256 of a leader's file read through duckblock's long-lived handle (never closing an fd on it). */
export async function sha256Leader(path: string): Promise<string> {
  const { leaderFileHandle } = await import('../src/file-handles.js');
  const handle = await leaderFileHandle(path);
  const { size } = await handle.stat();
  const hash = createHash('sha256');
  const buf = Buffer.alloc(1 << 20);
  for (let off = 0; off < size; off += buf.length) {
    const { bytesRead } = await handle.read(buf, 0, Math.min(buf.length, size - off), off);
    hash.update(buf.subarray(0, bytesRead));
  }
  return hash.digest('hex');
}

/** A copy of a leader's file (through the long-lived handle). */
export async function copyLeader(path: string): Promise<Buffer> {
  const { leaderFileHandle } = await import('../src/file-handles.js');
  const handle = await leaderFileHandle(path);
  const { size } = await handle.stat();
  const out = Buffer.alloc(size);
  let off = 0;
  while (off < size) off += (await handle.read(out, off, size - off, off)).bytesRead;
  return out;
}

/**
 * Ground truth of what changed between two file images, by full comparison: DuckDB blocks that
 * differ (or are new) within the new file, and 4 KiB header pages that differ.
 */
export function trulyChanged(
  before: Buffer,
  after: Buffer,
  blockSize = 262_144,
): { blocks: number; headerPages: number } {
  let headerPages = 0;
  for (let p = 0; p < 3; p++) {
    if (Buffer.compare(before.subarray(p * 4096, (p + 1) * 4096), after.subarray(p * 4096, (p + 1) * 4096)) !== 0)
      headerPages++;
  }
  let blocks = 0;
  for (let off = 12_288; off < after.length; off += blockSize) {
    const a = after.subarray(off, off + blockSize);
    const b = before.subarray(off, off + blockSize);
    if (b.length !== a.length || Buffer.compare(a, b) !== 0) blocks++;
  }
  return { blocks, headerPages };
}
