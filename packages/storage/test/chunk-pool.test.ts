import { describe, expect, it } from 'vitest';
import { ChunkPool, isStorageError } from '../src/index.js';

describe('ChunkPool', () => {
  it('hands out buffers of chunkBytes and reuses one only after it was given back', () => {
    const pool = new ChunkPool({ chunkBytes: 1000 });
    const a = pool.take();
    const b = pool.take();
    expect(a.length).toBe(1000);
    expect(a.buffer).not.toBe(b.buffer);
    pool.give(a.subarray(10, 20)); // any view of a taken buffer gives the whole buffer back
    expect(pool.free).toBe(1);
    const c = pool.take();
    expect(c.buffer).toBe(a.buffer);
    expect(c.length).toBe(1000);
    expect(pool.free).toBe(0);
    expect(pool.take().buffer).not.toBe(b.buffer); // b is still out
  });

  it('ignores a second give of the same buffer, so it is never handed out twice', () => {
    const pool = new ChunkPool({ chunkBytes: 64 });
    const a = pool.take();
    pool.give(a);
    pool.give(a);
    pool.give(a.subarray(1));
    expect(pool.free).toBe(1);
    const x = pool.take();
    const y = pool.take();
    expect(x.buffer).toBe(a.buffer);
    expect(y.buffer).not.toBe(a.buffer);
  });

  it('ignores buffers it did not hand out (including same-sized ones and other pools’)', () => {
    const pool = new ChunkPool({ chunkBytes: 64 });
    const other = new ChunkPool({ chunkBytes: 64 });
    pool.give(new Uint8Array(64));
    pool.give(Buffer.alloc(64));
    pool.give(other.take());
    expect(pool.free).toBe(0);
  });

  it('shared: true hands out SharedArrayBuffer-backed chunks and takes them back', () => {
    const pool = new ChunkPool({ chunkBytes: 32, shared: true });
    expect(pool.shared).toBe(true);
    const a = pool.take();
    expect(a.buffer).toBeInstanceOf(SharedArrayBuffer);
    pool.give(a.subarray(4));
    expect(pool.free).toBe(1);
    expect(pool.take().buffer).toBe(a.buffer);
    pool.give(new Uint8Array(new SharedArrayBuffer(32)));
    expect(pool.free).toBe(0);
    expect(new ChunkPool().take().buffer).toBeInstanceOf(ArrayBuffer);
  });

  it('keeps at most maxFree buffers', () => {
    const pool = new ChunkPool({ chunkBytes: 16, maxFree: 2 });
    const taken = [pool.take(), pool.take(), pool.take()];
    for (const t of taken) pool.give(t);
    expect(pool.free).toBe(2);
    const none = new ChunkPool({ chunkBytes: 16, maxFree: 0 });
    none.give(none.take());
    expect(none.free).toBe(0);
  });

  it('rejects bad options with HADB_STORAGE_INVALID_CONFIG', () => {
    for (const options of [
      { chunkBytes: 0 },
      { chunkBytes: 1.5 },
      { maxFree: -1 },
      { shared: 'yes' as unknown as boolean },
    ]) {
      let error: unknown;
      try {
        new ChunkPool(options);
      } catch (e) {
        error = e;
      }
      expect(isStorageError(error) && error.code).toBe('HADB_STORAGE_INVALID_CONFIG');
    }
  });
});
