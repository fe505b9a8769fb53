import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ChunkPool, isStorageError } from '@hadb/storage';
import { Prng } from '@hadb/testkit';
import { afterEach, describe, expect, it } from 'vitest';
import { LocalStorageBackend } from '../src/index.js';

const roots: string[] = [];
afterEach(async () => {
  for (const r of roots.splice(0)) await rm(r, { recursive: true, force: true });
});

async function open(): Promise<LocalStorageBackend> {
  const root = await mkdtemp(join(tmpdir(), 'hadb-local-pool-'));
  roots.push(root);
  return LocalStorageBackend.open({ root, streamChunkBytes: 3000 });
}

/** Reads a stream with a pool, copying each chunk out and giving it back at once. */
async function readPooled(b: LocalStorageBackend, pool: ChunkPool, start: number, length: number) {
  const s = await b.getStream('k', { start, length, pool });
  const parts: Buffer[] = [];
  const buffers = new Set<ArrayBufferLike>();
  for await (const chunk of s!.body) {
    expect(chunk.length).toBeGreaterThan(0);
    expect(chunk.length).toBeLessThanOrEqual(pool.chunkBytes);
    expect(chunk.byteOffset).toBe(0);
    buffers.add(chunk.buffer);
    parts.push(Buffer.from(chunk));
    chunk.fill(0xee); // the consumer owns it: scribbling on it must not affect later chunks
    pool.give(chunk);
  }
  return { data: Buffer.concat(parts), buffers };
}

describe('LocalStorageBackend getStream with a ChunkPool', () => {
  it('reads every range into pool buffers, chunks of pool.chunkBytes, the same bytes as without', async () => {
    const b = await open();
    const data = new Prng(5).bytes(10_000);
    await b.put('k', data);
    const pool = new ChunkPool({ chunkBytes: 1024 });
    for (const [start, length] of [
      [0, 10_000],
      [0, 1024],
      [1, 1023],
      [5000, 2049],
      [9999, 50],
      [10_000, 10],
      [0, 100_000],
    ] as const) {
      const { data: got, buffers } = await readPooled(b, pool, start, length);
      expect(Buffer.compare(got, Buffer.from(data.subarray(start, start + length)))).toBe(0);
      // Each chunk was given back before the next was read: one buffer serves the whole stream.
      expect(buffers.size).toBeLessThanOrEqual(1);
    }
    // Without a pool the chunks are fresh buffers of streamChunkBytes.
    const plain = await b.getStream('k');
    const sizes: number[] = [];
    for await (const chunk of plain!.body) sizes.push(chunk.length);
    expect(sizes).toEqual([3000, 3000, 3000, 1000]);
  });

  it('chunks kept by the consumer are never reused', async () => {
    const b = await open();
    const data = new Prng(6).bytes(8192);
    await b.put('k', data);
    const pool = new ChunkPool({ chunkBytes: 1000 });
    const s = await b.getStream('k', { pool });
    const kept: Uint8Array[] = [];
    for await (const chunk of s!.body) kept.push(chunk);
    expect(new Set(kept.map((c) => c.buffer)).size).toBe(kept.length);
    expect(Buffer.compare(Buffer.concat(kept), Buffer.from(data))).toBe(0);
    expect(pool.free).toBe(0);
  });

  it('gives the buffer back when a read is aborted, and the pool stays usable', async () => {
    const b = await open();
    await b.put('k', new Prng(7).bytes(5000));
    const pool = new ChunkPool({ chunkBytes: 1000 });
    const controller = new AbortController();
    const s = await b.getStream('k', { pool, signal: controller.signal });
    const it = s!.body[Symbol.asyncIterator]();
    const first = await it.next();
    expect(first.done).toBe(false);
    controller.abort();
    const error = await it.next().then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(isStorageError(error) && error.code).toBe('HADB_STORAGE_ABORTED');
    pool.give(first.value as Uint8Array);
    expect(pool.free).toBe(1);
    const again = await readPooled(b, pool, 0, 5000);
    expect(again.data.length).toBe(5000);
  });
});
