import { mkdtemp, open, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { StorageBackend } from '@hadb/storage';
import { MemStorageBackend } from '@hadb/storage-mem';
import { Prng } from '@hadb/testkit';
import { tapStreams } from '@hadb/testkit/storage';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  PageIdSize,
  encodePhysical,
  isChangesetError,
  newPhysical,
  restorePhysicalRanged,
  type PageEntry,
  type RangedRestoreTarget,
} from '../src/index.js';

const PAGE = 1024;

/** A changeset of `count` full pages (ids 1…count), one short metadata entry at id 0. */
function build(seed: number, count: number, width: PageIdSize): { bytes: Uint8Array; pages: PageEntry[] } {
  const prng = new Prng(seed);
  const pages: PageEntry[] = [{ pageId: 0n, data: Uint8Array.of(1, 2, 3) }];
  for (let i = 1; i <= count; i++) pages.push({ pageId: BigInt(i), data: prng.bytes(PAGE) });
  const cs = newPhysical(7n, 0x1234n, width, PAGE, pages);
  return { bytes: encodePhysical(cs), pages };
}

/** Places page `id` at `(id − 1) × PAGE` and collects the rest. */
function target(): RangedRestoreTarget & { others: PageEntry[] } {
  const others: PageEntry[] = [];
  return {
    others,
    place: (pageId) => (pageId === 0n ? undefined : (Number(pageId) - 1) * PAGE),
    entry: (page) => {
      others.push(page);
    },
  };
}

/**
 * A backend that reads into `options.pool` like storage-local does (every byte still comes from
 * `inner`). A buffer given back is scribbled over at once, so one given back while its bytes
 * are still parsed or being written corrupts the restore.
 */
function pooled(inner: StorageBackend): StorageBackend & { chunks: number; buffers: Set<ArrayBufferLike> } {
  const stats = { chunks: 0, buffers: new Set<ArrayBufferLike>() };
  const patched = new WeakSet<object>();
  const tapped = tapStreams(inner, {
    onRange(options) {
      const pool = options?.pool;
      if (pool === undefined) throw new Error('the restore passes no pool');
      if (patched.has(pool)) return;
      patched.add(pool);
      const give = pool.give.bind(pool);
      pool.give = (chunk) => {
        new Uint8Array(chunk.buffer).fill(0xa5);
        give(chunk);
      };
    },
    *rechunk(chunk, options) {
      const pool = options!.pool!;
      for (let at = 0; at < chunk.length; at += pool.chunkBytes) {
        const piece = chunk.subarray(at, at + pool.chunkBytes);
        const buffer = pool.take();
        buffer.set(piece);
        stats.chunks++;
        stats.buffers.add(buffer.buffer);
        yield buffer.subarray(0, piece.length);
      }
    },
  });
  // The tapped backend, with the counters read live.
  return Object.create(tapped, {
    chunks: { get: () => stats.chunks },
    buffers: { get: () => stats.buffers },
  }) as StorageBackend & { chunks: number; buffers: Set<ArrayBufferLike> };
}

async function errorOf(p: Promise<unknown>): Promise<unknown> {
  return p.then(
    () => undefined,
    (e: unknown) => e,
  );
}

describe('restorePhysicalRanged', () => {
  let dir: string;
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'changeset-ranged-'));
  });
  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  async function restoreTo(
    storage: StorageBackend,
    name: string,
    rangeBytes: number,
    concurrency = 3,
    workerMinBytes?: number,
  ) {
    const path = join(dir, name);
    const fh = await open(path, 'w+');
    const t = target();
    try {
      const result = await restorePhysicalRanged(storage, 'k', fh, t, { rangeBytes, concurrency, workerMinBytes });
      return { result, t, path };
    } finally {
      await fh.close();
    }
  }

  for (const [width, rangeBytes, workerMinBytes] of [
    [PageIdSize.U32, 4096, undefined],
    [PageIdSize.U32, 5000, 0],
    [PageIdSize.U32, 65_536, undefined],
    [PageIdSize.U32, 8 << 20, 0],
    [PageIdSize.U64, 4096, 0],
    [PageIdSize.U64, 5000, undefined],
    [PageIdSize.U64, 65_536, 0],
    [PageIdSize.U64, 8 << 20, undefined],
  ] as const) {
    {
      const where = workerMinBytes === 0 ? 'hashed on a worker' : 'hashed inline';
      it(`writes every page once at its offset and verifies the checksum (u${width * 8} ids, ${rangeBytes}-byte ranges, ${where})`, async () => {
        const storage = await MemStorageBackend.open();
        const { bytes, pages } = build(width * rangeBytes, 150, width);
        const { etag } = await storage.put('k', bytes);
        const { result, t, path } = await restoreTo(
          storage,
          `ok-${width}-${rangeBytes}`,
          rangeBytes,
          3,
          workerMinBytes,
        );
        expect(result).not.toBeNull();
        expect(result!.size).toBe(bytes.length);
        expect(result!.etag).toBe(etag);
        expect(result!.header.seq).toBe(7n);
        expect(result!.checksum).toBe(new DataView(bytes.buffer, bytes.byteOffset + bytes.length - 8).getBigUint64(0));
        expect(t.others).toEqual([pages[0]]);
        const file = await readFile(path);
        expect(file.length).toBe(150 * PAGE);
        for (const p of pages.slice(1)) {
          const at = (Number(p.pageId) - 1) * PAGE;
          expect(Buffer.compare(file.subarray(at, at + PAGE), Buffer.from(p.data))).toBe(0);
        }
      });
    }
  }

  for (const workerMinBytes of [undefined, 0]) {
    const where = workerMinBytes === 0 ? 'hashed on a worker' : 'hashed inline';
    it(`reuses pooled download buffers only once parsed past, written and hashed (${where})`, async () => {
      // 64 MiB of pages: beyond the 32 MiB the hash may lag behind, so the parser must wait for the
      // hasher and buffers come back for reuse however the threads are scheduled.
      const { bytes, pages } = build(21, 64_000, PageIdSize.U64);
      const mem = await MemStorageBackend.open();
      await mem.put('k', bytes);
      const storage = pooled(mem);
      const { result, path } = await restoreTo(storage, `pooled-${where}`, 65_536, 3, workerMinBytes);
      expect(result!.size).toBe(bytes.length);
      expect(storage.buffers.size).toBeLessThan(storage.chunks); // some were reused
      const file = await readFile(path);
      expect(file.length).toBe(64_000 * PAGE);
      for (const p of pages.slice(1)) {
        const at = (Number(p.pageId) - 1) * PAGE;
        expect(Buffer.compare(file.subarray(at, at + PAGE), Buffer.from(p.data))).toBe(0);
      }
    });
  }

  it('returns null for a missing object', async () => {
    const storage = await MemStorageBackend.open();
    expect((await restoreTo(storage, 'missing', 4096)).result).toBeNull();
  });

  for (const workerMinBytes of [undefined, 0]) {
    const where = workerMinBytes === 0 ? 'hashed on a worker' : 'hashed inline';
    it(`a flipped byte anywhere is a typed error, also in a range that arrives before the one before it (${where})`, async () => {
      const { bytes } = build(11, 60, PageIdSize.U64);
      // Header, entry heads, page data, the last range and the trailer.
      for (const at of [3, 25, 40, 45, 4200, 30_000, bytes.length - 20, bytes.length - 1]) {
        const storage = await MemStorageBackend.open();
        const bad = Uint8Array.from(bytes);
        bad[at]! ^= 0x10;
        await storage.put('k', bad);
        const err = await errorOf(restoreTo(storage, `flip-${at}`, 4096, 4, workerMinBytes));
        expect(isChangesetError(err), `byte ${at}: ${String(err)}`).toBe(true);
      }
    });
  }

  it('a truncated or extended object is HADB_CHANGESET_TRUNCATED', async () => {
    const { bytes } = build(12, 20, PageIdSize.U32);
    for (const data of [
      bytes.subarray(0, bytes.length - 1),
      bytes.subarray(0, 1000),
      Buffer.concat([bytes, Buffer.of(0)]),
    ]) {
      const storage = await MemStorageBackend.open();
      await storage.put('k', data);
      const err = await errorOf(restoreTo(storage, 'trunc', 4096));
      expect(isChangesetError(err, 'HADB_CHANGESET_TRUNCATED'), String(err)).toBe(true);
    }
  });

  it('refuses ranges of a different object version (overwritten between ranged GETs)', async () => {
    const mem = await MemStorageBackend.open();
    const { bytes } = build(13, 40, PageIdSize.U64);
    await mem.put('k', bytes);
    let ranges = 0;
    const storage = tapStreams(mem, {
      onRange: async () => {
        if (++ranges === 2) await mem.put('k', build(14, 40, PageIdSize.U64).bytes);
      },
    });
    const err = await errorOf(restoreTo(storage, 'version', 4096, 1));
    expect(isChangesetError(err, 'HADB_CHANGESET_IO'), String(err)).toBe(true);
  });

  it('an abort mid-download rejects with HADB_CHANGESET_ABORTED and stops every range', async () => {
    const mem = await MemStorageBackend.open();
    await mem.put('k', build(15, 80, PageIdSize.U64).bytes);
    const controller = new AbortController();
    let chunks = 0;
    const storage = tapStreams(mem, {
      onChunk: () => {
        if (++chunks === 3) controller.abort();
      },
    });
    const fh = await open(join(dir, 'abort'), 'w+');
    try {
      const err = await errorOf(
        restorePhysicalRanged(storage, 'k', fh, target(), {
          rangeBytes: 4096,
          concurrency: 4,
          signal: controller.signal,
        }),
      );
      expect(isChangesetError(err, 'HADB_CHANGESET_ABORTED'), String(err)).toBe(true);
    } finally {
      await fh.close();
    }
  });

  it('rejects bad options with HADB_CHANGESET_INVALID_CONFIG', async () => {
    const storage = await MemStorageBackend.open();
    const fh = await open(join(dir, 'cfg'), 'w+');
    try {
      for (const options of [{ concurrency: 0 }, { rangeBytes: 100 }, { concurrency: 1.5 }]) {
        const err = await errorOf(restorePhysicalRanged(storage, 'k', fh, target(), options));
        expect(isChangesetError(err, 'HADB_CHANGESET_INVALID_CONFIG'), String(err)).toBe(true);
      }
    } finally {
      await fh.close();
    }
  });

  /** A real file whose `datasync` calls are counted, and fail with `fail` when given. */
  async function countingFile(name: string, fail?: Error) {
    const fh = await open(join(dir, name), 'w+');
    const calls = { datasync: 0 };
    const file = new Proxy(fh, {
      get(t, prop) {
        if (prop === 'datasync') {
          return async () => {
            calls.datasync++;
            if (fail !== undefined) throw fail;
            await t.datasync();
          };
        }
        const v = Reflect.get(t, prop, t);
        return typeof v === 'function' ? v.bind(t) : v;
      },
    });
    return { fh, file, calls };
  }

  it('writes the file back in the background every writebackBytes, and not at all with 0', async () => {
    const { bytes, pages } = build(31, 8_000, PageIdSize.U64); // ~8 MiB
    const storage = await MemStorageBackend.open();
    await storage.put('k', bytes);
    for (const [writebackBytes, some] of [
      [1 << 20, true],
      [0, false],
    ] as const) {
      const { fh, file, calls } = await countingFile(`writeback-${writebackBytes}`);
      try {
        const result = await restorePhysicalRanged(storage, 'k', file, target(), {
          rangeBytes: 65_536,
          writebackBytes,
          sync: true,
        });
        expect(result!.size).toBe(bytes.length);
        if (some) expect(calls.datasync).toBeGreaterThan(0);
        else expect(calls.datasync).toBe(0);
      } finally {
        await fh.close();
      }
      const file2 = await readFile(join(dir, `writeback-${writebackBytes}`));
      const last = pages[pages.length - 1]!;
      const at = (Number(last.pageId) - 1) * PAGE;
      expect(Buffer.compare(file2.subarray(at, at + PAGE), Buffer.from(last.data))).toBe(0);
    }
  });

  for (const sync of [true, false]) {
    it(`fails when a background writeback fails, also when the final fsync would not report it (sync: ${sync})`, async () => {
      const { bytes } = build(32, 8_000, PageIdSize.U64);
      const storage = await MemStorageBackend.open();
      await storage.put('k', bytes);
      const eio = Object.assign(new Error('EIO: i/o error, fdatasync'), { code: 'EIO' });
      const { fh, file, calls } = await countingFile(`writeback-eio-${sync}`, eio);
      try {
        const err = await errorOf(
          restorePhysicalRanged(storage, 'k', file, target(), { rangeBytes: 65_536, writebackBytes: 1 << 20, sync }),
        );
        expect(calls.datasync).toBeGreaterThan(0);
        expect(err).toBe(eio);
      } finally {
        await fh.close();
      }
    });
  }

  it('refuses a negative writebackBytes', async () => {
    const storage = await MemStorageBackend.open();
    const { fh } = await countingFile('writeback-bad');
    try {
      const err = await errorOf(restorePhysicalRanged(storage, 'k', fh, target(), { writebackBytes: -1 }));
      expect(isChangesetError(err, 'HADB_CHANGESET_INVALID_CONFIG')).toBe(true);
    } finally {
      await fh.close();
    }
  });

  it('restores bytes that arrive in chunks of odd lengths at odd offsets (copied into shared buffers)', async () => {
    const { bytes, pages } = build(41, 3_000, PageIdSize.U64);
    const mem = await MemStorageBackend.open();
    await mem.put('k', bytes);
    // Every chunk a view at an odd offset of a private buffer, 1–8,191 bytes long.
    const prng = new Prng(42);
    const odd = tapStreams(mem, {
      *rechunk(chunk) {
        for (let at = 0; at < chunk.length; ) {
          const n = Math.min(chunk.length - at, prng.int(1, 8191));
          const lead = 2 * prng.int(0, 3) + 1;
          const copy = new Uint8Array(lead + n);
          copy.set(chunk.subarray(at, at + n), lead);
          yield copy.subarray(lead);
          at += n;
        }
      },
    });
    for (const workerMinBytes of [0, undefined]) {
      const { result, path } = await restoreTo(odd, `odd-${workerMinBytes}`, 65_536, 3, workerMinBytes);
      expect(result!.size).toBe(bytes.length);
      const file = await readFile(path);
      for (const p of pages.slice(1)) {
        const at = (Number(p.pageId) - 1) * PAGE;
        expect(Buffer.compare(file.subarray(at, at + PAGE), Buffer.from(p.data))).toBe(0);
      }
    }
  });
});
