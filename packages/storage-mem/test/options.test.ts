import { isStorageError } from '@hadb/storage';
import { describe, expect, it } from 'vitest';
import { MemStorageBackend } from '../src/index.js';

describe('MemStorageBackend options', () => {
  it('rejects a bad streamChunkBytes with HADB_STORAGE_INVALID_CONFIG instead of clamping it', async () => {
    for (const streamChunkBytes of [0, -1, 1.5, Number.NaN]) {
      let error: unknown;
      try {
        new MemStorageBackend({ streamChunkBytes });
      } catch (e) {
        error = e;
      }
      expect(isStorageError(error, 'HADB_STORAGE_INVALID_CONFIG'), String(streamChunkBytes)).toBe(true);
    }
    await expect(MemStorageBackend.open({ streamChunkBytes: 0 })).rejects.toMatchObject({
      code: 'HADB_STORAGE_INVALID_CONFIG',
    });
  });

  it('open() gives a working backend', async () => {
    const storage = await MemStorageBackend.open({ streamChunkBytes: 2 });
    await storage.put('k', new Uint8Array([1, 2, 3]));
    const chunks: number[] = [];
    const stream = await storage.getStream('k');
    for await (const chunk of stream!.body) chunks.push(chunk.length);
    expect(chunks).toEqual([2, 1]);
    await storage.close();
  });
});
