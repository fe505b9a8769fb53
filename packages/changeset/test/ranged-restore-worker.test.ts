import { mkdtemp, open, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Worker as NodeWorker } from 'node:worker_threads';
import type { GetStreamOptions, ObjectStream, StorageBackend } from '@hadb/storage';
import { MemStorageBackend } from '@hadb/storage-mem';
import { Prng } from '@hadb/testkit';
import { afterAll, beforeAll, beforeEach, describe, expect, it, vi } from 'vitest';
import {
  PageIdSize,
  encodePhysical,
  isChangesetError,
  newPhysical,
  restorePhysicalRanged,
  type PageEntry,
  type RangedRestoreTarget,
} from '../src/index.js';
import { WorkerChunkHasher } from '../src/chunk-hasher.js';

/** Every hash worker the code under test starts (real threads; only recorded here). */
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

const PAGE = 4096;

function build(seed: number, count: number): Uint8Array {
  const prng = new Prng(seed);
  const pages: PageEntry[] = [{ pageId: 0n, data: Uint8Array.of(1, 2, 3) }];
  for (let i = 1; i <= count; i++) pages.push({ pageId: BigInt(i), data: prng.bytes(PAGE) });
  return encodePhysical(newPhysical(7n, 0x1234n, PageIdSize.U64, PAGE, pages));
}

function target(): RangedRestoreTarget {
  return { place: (id) => (id === 0n ? undefined : (Number(id) - 1) * PAGE), entry: () => undefined };
}

/** Whether every recorded worker has exited (`threadId` is -1 once a worker thread is gone). */
function allExited(): boolean {
  return started.every((w) => w.threadId === -1);
}

async function errorOf(p: Promise<unknown>): Promise<unknown> {
  return p.then(
    () => undefined,
    (e: unknown) => e,
  );
}

describe('restorePhysicalRanged with the hash on a worker thread', () => {
  let dir: string;
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'changeset-ranged-worker-'));
  });
  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });
  beforeEach(() => {
    started.length = 0;
  });

  it('verifies on the worker and stops it before resolving', async () => {
    const storage = await MemStorageBackend.open();
    await storage.put('k', build(1, 64));
    const fh = await open(join(dir, 'ok'), 'w+');
    try {
      const result = await restorePhysicalRanged(storage, 'k', fh, target(), {
        rangeBytes: 4096,
        workerMinBytes: 0,
        sync: true,
      });
      expect(result).not.toBeNull();
    } finally {
      await fh.close();
    }
    expect(started.length).toBe(1);
    expect(allExited()).toBe(true);
  });

  it('a worker that dies mid-restore is HADB_CHANGESET_WORKER_FAILED, and it is gone', async () => {
    const mem = await MemStorageBackend.open();
    await mem.put('k', build(2, 200));
    let ranges = 0;
    // The worker thread is killed from outside while ranges are still being downloaded.
    const storage = new Proxy(mem, {
      get(t, prop, receiver) {
        if (prop !== 'getStream') {
          const v = Reflect.get(t, prop, receiver);
          return typeof v === 'function' ? v.bind(t) : v;
        }
        return async (key: string, options?: GetStreamOptions): Promise<ObjectStream | null> => {
          if (++ranges === 20) await started[0]!.terminate();
          return t.getStream(key, options);
        };
      },
    }) as StorageBackend;
    const fh = await open(join(dir, 'killed'), 'w+');
    try {
      const err = await errorOf(
        restorePhysicalRanged(storage, 'k', fh, target(), { rangeBytes: 4096, workerMinBytes: 0 }),
      );
      expect(isChangesetError(err, 'HADB_CHANGESET_WORKER_FAILED'), String(err)).toBe(true);
    } finally {
      await fh.close();
    }
    expect(started.length).toBe(1);
    expect(allExited()).toBe(true);
  });

  it('a flipped page byte hashed by the worker is HADB_CHANGESET_CHECKSUM_MISMATCH', async () => {
    const bytes = build(3, 64);
    const bad = Uint8Array.from(bytes);
    bad[40 + 8 + 4 + 3 + 12 + 100]! ^= 1; // inside page 1's data
    const storage = await MemStorageBackend.open();
    await storage.put('k', bad);
    const fh = await open(join(dir, 'flip'), 'w+');
    try {
      const err = await errorOf(
        restorePhysicalRanged(storage, 'k', fh, target(), { rangeBytes: 4096, workerMinBytes: 0 }),
      );
      expect(isChangesetError(err, 'HADB_CHANGESET_CHECKSUM_MISMATCH'), String(err)).toBe(true);
    } finally {
      await fh.close();
    }
    expect(allExited()).toBe(true);
  });

  it('an abort mid-download is HADB_CHANGESET_ABORTED and leaves no worker', async () => {
    const mem = await MemStorageBackend.open();
    await mem.put('k', build(4, 200));
    const controller = new AbortController();
    let ranges = 0;
    const storage = new Proxy(mem, {
      get(t, prop, receiver) {
        if (prop !== 'getStream') {
          const v = Reflect.get(t, prop, receiver);
          return typeof v === 'function' ? v.bind(t) : v;
        }
        return async (key: string, options?: GetStreamOptions): Promise<ObjectStream | null> => {
          if (++ranges === 20) controller.abort();
          return t.getStream(key, options);
        };
      },
    }) as StorageBackend;
    const fh = await open(join(dir, 'abort'), 'w+');
    try {
      const err = await errorOf(
        restorePhysicalRanged(storage, 'k', fh, target(), {
          rangeBytes: 4096,
          workerMinBytes: 0,
          signal: controller.signal,
        }),
      );
      expect(isChangesetError(err, 'HADB_CHANGESET_ABORTED'), String(err)).toBe(true);
    } finally {
      await fh.close();
    }
    expect(started.length).toBe(1);
    expect(allExited()).toBe(true);
  });

  it('pages written twice at one offset still hash as the object has them', async () => {
    // Duplicate ids (allowed by the format): the second write overwrites the first; the hash
    // still covers both entries as the object has them.
    const prng = new Prng(5);
    const pages: PageEntry[] = [];
    for (let i = 1; i <= 40; i++) {
      pages.push({ pageId: BigInt(i), data: prng.bytes(PAGE) });
      if (i % 7 === 0) pages.push({ pageId: BigInt(i), data: prng.bytes(PAGE) });
    }
    const storage = await MemStorageBackend.open();
    await storage.put('k', encodePhysical(newPhysical(1n, 0n, PageIdSize.U64, PAGE, pages)));
    for (const workerMinBytes of [0, undefined]) {
      const fh = await open(join(dir, `dup-${workerMinBytes}`), 'w+');
      try {
        const result = await restorePhysicalRanged(storage, 'k', fh, target(), { rangeBytes: 4096, workerMinBytes });
        expect(result).not.toBeNull();
        const last = pages.filter((p) => p.pageId === 14n).at(-1)!;
        const got = new Uint8Array(PAGE);
        await fh.read(got, 0, PAGE, 13 * PAGE);
        expect(Buffer.compare(got, last.data)).toBe(0);
      } finally {
        await fh.close();
      }
    }
  });
});

describe('WorkerChunkHasher', () => {
  it('hashes shared and plain views in order, as one SHA-256', async () => {
    const hasher = new WorkerChunkHasher(() => undefined);
    try {
      const shared = new Uint8Array(new SharedArrayBuffer(100)).fill(7);
      const plain = new Prng(9).bytes(5000);
      hasher.update(shared.subarray(10, 60));
      hasher.update(plain);
      expect(hasher.pending).toBe(5050);
      await hasher.flush();
      expect(hasher.pending).toBe(0);
      hasher.update(shared.subarray(0, 3));
      const digest = await hasher.digest();
      const { createHash } = await import('node:crypto');
      const want = createHash('sha256')
        .update(shared.subarray(10, 60))
        .update(plain)
        .update(shared.subarray(0, 3))
        .digest();
      expect(Buffer.from(digest).equals(want)).toBe(true);
    } finally {
      await hasher.close();
    }
  });

  it('a worker that exits fails every pending and later call, once, typed', async () => {
    const failures: unknown[] = [];
    const hasher = new WorkerChunkHasher((e) => failures.push(e));
    try {
      hasher.update(new Uint8Array(new SharedArrayBuffer(64)));
      const pending = errorOf(hasher.flush());
      await hasher.worker.terminate();
      expect(isChangesetError(await pending, 'HADB_CHANGESET_WORKER_FAILED'), String(await pending)).toBe(true);
      expect(isChangesetError(await errorOf(hasher.digest()), 'HADB_CHANGESET_WORKER_FAILED')).toBe(true);
      expect(failures.length).toBe(1);
    } finally {
      await hasher.close();
    }
    expect(hasher.worker.threadId).toBe(-1);
  });
});
