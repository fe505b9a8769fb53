import { configChecker } from '@hadb/io';
import { storageInvalidConfig } from './errors.js';

/** Options of {@link ChunkPool}. */
export interface ChunkPoolOptions {
  /** Bytes of every buffer the pool hands out (default 1 MiB). */
  readonly chunkBytes?: number | undefined;
  /** Free buffers kept for reuse at most (default 64); buffers given back beyond it are dropped. */
  readonly maxFree?: number | undefined;
  /**
   * Back the buffers with `SharedArrayBuffer`s (default false), so a view of a chunk can be
   * posted to a worker thread without a copy.
   */
  readonly shared?: boolean | undefined;
}

/**
 * Reusable buffers for {@link GetStreamOptions.pool}, so a consumer that streams many bytes
 * through a short-lived window (a restore) does not allocate, fault in and collect a fresh buffer
 * per chunk. Ownership is explicit: a buffer from {@link take} belongs to its taker until given
 * back with {@link give}; only then can it be handed out again. `give` ignores views of buffers
 * this pool did not hand out, or already has back, so giving back a chunk twice or giving a
 * backend's own chunk is harmless. A chunk never given back is simply garbage collected.
 *
 * @see GetStreamOptions.pool
 */
export class ChunkPool {
  /** Bytes of every buffer {@link take} returns. */
  readonly chunkBytes: number;
  /** Whether the buffers are `SharedArrayBuffer`s. */
  readonly shared: boolean;
  readonly #maxFree: number;
  readonly #free: ArrayBufferLike[] = [];
  /** Buffers handed out and not yet given back. */
  readonly #out = new WeakSet<ArrayBufferLike>();

  constructor(options: ChunkPoolOptions = {}) {
    const check = configChecker(storageInvalidConfig);
    this.chunkBytes = check.int('chunkBytes', options.chunkBytes, { min: 1, default: 1 << 20 });
    this.#maxFree = check.int('maxFree', options.maxFree, { min: 0, default: 64 });
    this.shared = check.bool('shared', options.shared, false);
  }

  /** Free buffers currently kept. */
  get free(): number {
    return this.#free.length;
  }

  /** A buffer of {@link chunkBytes} bytes with undefined contents, owned by the caller. */
  take(): Uint8Array {
    const buffer =
      this.#free.pop() ?? (this.shared ? new SharedArrayBuffer(this.chunkBytes) : new ArrayBuffer(this.chunkBytes));
    this.#out.add(buffer);
    return new Uint8Array(buffer);
  }

  /**
   * Gives back the buffer `chunk` views (any subarray of a taken buffer). The caller must not
   * read or keep `chunk`, or any other view of the same buffer, afterwards.
   */
  give(chunk: Uint8Array): void {
    const buffer = chunk.buffer;
    if (!this.#out.has(buffer)) return;
    this.#out.delete(buffer);
    if (this.#free.length < this.#maxFree) this.#free.push(buffer);
  }
}
