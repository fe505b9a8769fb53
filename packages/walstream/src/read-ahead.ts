import type { StorageBackend } from '@hadb/storage';
import { WalstreamError } from './errors.js';

/**
 * Downloads one object as consecutive range reads, up to `concurrency` in flight, yielding them
 * in order: memory stays at most `concurrency × rangeBytes`, and reading overlaps with whatever
 * the consumer does with the previous range.
 */
export async function* parallelRanges(
  storage: StorageBackend,
  key: string,
  size: number,
  rangeBytes: number,
  concurrency: number,
  signal: AbortSignal | undefined,
): AsyncGenerator<Uint8Array> {
  const queue: Array<Promise<Uint8Array | null>> = [];
  let next = 0;
  const fill = (): void => {
    while (next < size && queue.length < concurrency) {
      const p = storage.rangeGet(key, next, Math.min(rangeBytes, size - next), { signal });
      p.catch(() => {});
      queue.push(p);
      next += rangeBytes;
    }
  };
  fill();
  while (queue.length > 0) {
    const part = await queue.shift()!;
    if (part === null) throw new WalstreamError('HADB_WALSTREAM_GAP', `${key} disappeared during restore`);
    fill();
    yield part;
  }
}
