import type { StorageBackend } from '@hadb/storage';
import { describe, expect, it } from 'vitest';
import { holdReads } from '../src/storage/hold.js';

/** A backend answering every read at once with the key's bytes. */
function answering(): StorageBackend {
  const object = (key: string) => ({ data: new TextEncoder().encode(key), etag: 'e' });
  return {
    get: async (key: string) => object(key),
    getStream: async (key: string) => ({
      size: key.length,
      etag: 'e',
      body: (async function* () {
        yield object(key).data;
      })(),
    }),
  } as unknown as StorageBackend;
}

describe('holdReads', () => {
  it('holds matching reads until their signal aborts, then rejects with HADB_STORAGE_ABORTED', async () => {
    const h = holdReads(answering(), (op, key) => op === 'get' && key.startsWith('held/'));
    const controller = new AbortController();
    let settled = false;
    const read = h.storage.get('held/a', { signal: controller.signal }).finally(() => {
      settled = true;
    });
    read.catch(() => undefined);
    await new Promise((resolve) => setTimeout(resolve, 20));
    expect(settled).toBe(false);
    expect(h.signals).toEqual([controller.signal]);
    controller.abort();
    await expect(read).rejects.toMatchObject({ code: 'HADB_STORAGE_ABORTED' });
  });

  it('rejects at once for a signal that already fired, and passes other reads through', async () => {
    const h = holdReads(answering(), (op) => op === 'getStream');
    const controller = new AbortController();
    controller.abort();
    await expect(h.storage.getStream('k', { signal: controller.signal })).rejects.toMatchObject({
      code: 'HADB_STORAGE_ABORTED',
    });
    const got = await h.storage.get('plain');
    expect(new TextDecoder().decode(got!.data)).toBe('plain');
    expect(h.signals.length).toBe(1);
  });
});
