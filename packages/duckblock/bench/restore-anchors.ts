// Same-run floors for the restore bench: what the storage path and the hash cost on their own,
// without the restore's parsing, hashing or page placement.
import { createHash } from 'node:crypto';
import { open, type FileHandle } from 'node:fs/promises';
import { ChunkPool, type StorageBackend } from '@hadb/storage';

/** The restore's defaults: ranged GETs in flight and bytes per GET. */
export const CONCURRENCY = 4;
export const RANGE_BYTES = 8 << 20;

/** Milliseconds the final fsync of the last {@link rawRangedRead} with a destination took. */
export let lastFsyncMs = 0;

/**
 * Reads the object at `key` with `CONCURRENCY` ranged GETs of `RANGE_BYTES` in flight, through
 * the same backend (and, for backends that read into one, the same kind of pooled 4 MiB buffers)
 * as the restore. With `dst`, each chunk is written once at its object offset with a positional
 * write and the file is fsynced once; without, the bytes are discarded. With `into`, each chunk is
 * written at `into.offset` + its object offset in an open file, and the caller fsyncs. No parsing,
 * no hashing.
 */
export async function rawRangedRead(
  storage: StorageBackend,
  key: string,
  dst?: string | { readonly fh: FileHandle; readonly offset: number },
): Promise<number> {
  const pool = new ChunkPool({ chunkBytes: 4 << 20, maxFree: (CONCURRENCY + 1) * (RANGE_BYTES >> 22) });
  const head = await storage.head(key);
  if (head === null) throw new Error(`${key} is missing`);
  const size = head.size;
  const own = typeof dst === 'string' ? await open(dst, 'w') : undefined;
  const fh = own ?? (typeof dst === 'object' ? dst.fh : undefined);
  const base = typeof dst === 'object' ? dst.offset : 0;
  try {
    let next = 0;
    let total = 0;
    const lane = async (): Promise<void> => {
      for (;;) {
        const start = next;
        if (start >= size) return;
        next += RANGE_BYTES;
        const length = Math.min(RANGE_BYTES, size - start);
        const s = await storage.getStream(key, { start, length, pool });
        if (s === null) throw new Error(`${key} disappeared`);
        let at = base + start;
        for await (const chunk of s.body) {
          if (fh !== undefined) {
            let done = 0;
            while (done < chunk.length) {
              done += (await fh.write(chunk, done, chunk.length - done, at + done)).bytesWritten;
            }
          }
          at += chunk.length;
          pool.give(chunk);
        }
        if (at !== base + start + length) throw new Error(`short range at ${start}`);
        total += length;
      }
    };
    await Promise.all(Array.from({ length: CONCURRENCY }, lane));
    if (own !== undefined) {
      const t = performance.now();
      await own.sync();
      lastFsyncMs = performance.now() - t;
    }
    return total;
  } finally {
    await own?.close();
  }
}

/** Milliseconds one SHA-256 over `bytes` bytes (1 MiB updates from memory, one thread) takes. */
export function sha256Ms(bytes: number): number {
  const buffer = new Uint8Array(1 << 20).fill(0x5a);
  const hash = createHash('sha256');
  const t = performance.now();
  for (let left = bytes; left > 0; left -= buffer.length) {
    hash.update(left >= buffer.length ? buffer : buffer.subarray(0, left));
  }
  hash.digest();
  return performance.now() - t;
}
