import { open, readdir } from 'node:fs/promises';
import { join } from 'node:path';
import type { Worker as NodeWorker } from 'node:worker_threads';
import type { GetStreamOptions, ObjectStream, StorageBackend } from '@hadb/storage';
import { MemStorageBackend } from '@hadb/storage-mem';
import { afterAll, beforeAll, beforeEach, describe, expect, it, vi } from 'vitest';
import { isDuckblockError, restoreSnapshot, uploadSnapshot } from '../src/index.js';
import { openLeader, sha256File, tempDir } from './helpers.js';

/** Every hash worker the restore starts (real threads; only recorded here). */
const started = vi.hoisted(() => [] as NodeWorker[]);
vi.mock('node:worker_threads', async (importOriginal) => {
  const real = await importOriginal<typeof import('node:worker_threads')>();
  class RecordedWorker extends real.Worker {
    constructor(...args: ConstructorParameters<typeof real.Worker>) {
      super(...args);
      started.push(this);
    }
  }
  return { ...real, default: { ...real, Worker: RecordedWorker }, Worker: RecordedWorker };
});

/** `threadId` is -1 once a worker thread has exited. */
const allExited = () => started.every((w) => w.threadId === -1);

describe('snapshot restore with the hash on a worker thread', () => {
  let dir: string;
  let cleanup: () => Promise<void>;
  let source: string;
  let storage: MemStorageBackend;
  let good: Uint8Array;

  beforeAll(async () => {
    ({ dir, cleanup } = await tempDir('snap-worker'));
    source = join(dir, 'source.duckdb');
    const db = await openLeader(source);
    await db.conn.run(`create table t as select range id, hash(range) h from range(300000)`);
    await db.conn.run('CHECKPOINT');
    db.close();
    storage = new MemStorageBackend();
    const handle = await open(source, 'r');
    try {
      await uploadSnapshot(storage, 's.hadbp', handle, { seq: 4n, anchor: 2n, epoch: 3n });
    } finally {
      await handle.close();
    }
    good = (await storage.get('s.hadbp'))!.data;
  });
  afterAll(async () => {
    await cleanup();
  });
  beforeEach(async () => {
    started.length = 0;
    await storage.put('s.hadbp', good);
  });

  const leftovers = async (prefix: string) => (await readdir(dir)).filter((n) => n.startsWith(prefix));
  const errorOf = (p: Promise<unknown>) =>
    p.then(
      () => undefined,
      (e: unknown) => e,
    );

  it('restores byte-identically and stops the worker', async () => {
    const target = join(dir, 'ok.duckdb');
    const position = await restoreSnapshot(storage, 's.hadbp', target, { rangeBytes: 70_001, workerMinBytes: 0 });
    expect(position).toMatchObject({ seq: 4n, checksum: 2n, epoch: 3n });
    expect(await sha256File(target)).toBe(await sha256File(source));
    expect(started.length).toBe(1);
    expect(allExited()).toBe(true);
  });

  it('a corrupted page byte, found by the worker, is HADB_DUCKBLOCK_CORRUPT and leaves no file', async () => {
    const bad = Uint8Array.from(good);
    bad[Math.floor(bad.length / 2)]! ^= 0x08;
    await storage.put('s.hadbp', bad);
    const err = await errorOf(
      restoreSnapshot(storage, 's.hadbp', join(dir, 'corrupt.duckdb'), { rangeBytes: 70_001, workerMinBytes: 0 }),
    );
    expect(isDuckblockError(err, 'HADB_DUCKBLOCK_CORRUPT'), String(err)).toBe(true);
    expect(await leftovers('corrupt')).toEqual([]);
    expect(started.length).toBe(1);
    expect(allExited()).toBe(true);
  });

  it('an abort mid-restore is HADB_DUCKBLOCK_ABORTED, leaves no visible or side file and no worker', async () => {
    const controller = new AbortController();
    let ranges = 0;
    const aborting = new Proxy(storage, {
      get(t, prop, receiver) {
        if (prop !== 'getStream') {
          const v = Reflect.get(t, prop, receiver);
          return typeof v === 'function' ? v.bind(t) : v;
        }
        return async (key: string, options?: GetStreamOptions): Promise<ObjectStream | null> => {
          if (++ranges === 6) controller.abort();
          return t.getStream(key, options);
        };
      },
    }) as StorageBackend;
    const err = await errorOf(
      restoreSnapshot(aborting, 's.hadbp', join(dir, 'aborted.duckdb'), {
        rangeBytes: 70_001,
        workerMinBytes: 0,
        signal: controller.signal,
      }),
    );
    expect(isDuckblockError(err, 'HADB_DUCKBLOCK_ABORTED'), String(err)).toBe(true);
    expect(await leftovers('aborted')).toEqual([]);
    expect(started.length).toBe(1);
    expect(allExited()).toBe(true);
  });
});
