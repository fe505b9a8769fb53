/** Reading sealed chunks out of a byte stream: header extraction and chunk-by-chunk opening. */
import { StorageError } from '@hadb/storage';
import { corrupt } from './errors.js';
import { CHUNK_BYTES, type Layout, SEALED_CHUNK_BYTES } from './layout.js';
import { ChunkAuthError, openChunk } from './payload.js';

/** Buffers the start of an async byte stream and hands back the rest untouched. */
export class Pull {
  readonly #parts: Uint8Array[] = [];
  #buffered = 0;
  #done = false;
  readonly #iterator: AsyncIterator<Uint8Array>;

  constructor(source: AsyncIterable<Uint8Array>) {
    this.#iterator = source[Symbol.asyncIterator]();
  }

  /** Reads until at least `n` bytes are buffered or the stream ends; returns everything buffered. */
  async fill(n: number): Promise<Uint8Array> {
    while (this.#buffered < n && !this.#done) {
      const r = await this.#iterator.next();
      if (r.done === true) this.#done = true;
      else if (r.value.length > 0) {
        this.#parts.push(r.value);
        this.#buffered += r.value.length;
      }
    }
    if (this.#parts.length > 1) {
      const joined = Buffer.concat(this.#parts);
      this.#parts.length = 0;
      this.#parts.push(joined);
    }
    return this.#parts[0] ?? new Uint8Array(0);
  }

  /** The stream from byte `offset` of what was buffered on: buffered bytes first, then the source. */
  async *from(offset: number): AsyncGenerator<Uint8Array> {
    try {
      const head = await this.fill(0);
      this.#parts.length = 0;
      if (offset < head.length) yield head.subarray(offset);
      while (!this.#done) {
        const r = await this.#iterator.next();
        if (r.done === true) this.#done = true;
        else yield r.value;
      }
    } finally {
      // Stopped early (consumer done, failed or aborted): release the source (file handle, socket).
      await this.close();
    }
  }

  /** Closes the source early. */
  async close(): Promise<void> {
    if (!this.#done) {
      this.#done = true;
      await this.#iterator.return?.();
    }
  }
}

/**
 * Opens chunks `first` … `end - 1` from `source` (the stored bytes starting exactly at chunk
 * `first`) and yields the plaintext they hold between offsets `from` and `to`. Memory: one chunk.
 * A chunk that fails authentication, a source that ends early or runs long are
 * `HADB_STORAGE_AGE_CORRUPT`.
 */
export async function* openChunks(
  streamKey: Buffer,
  key: string,
  layout: Layout,
  first: number,
  end: number,
  source: AsyncIterable<Uint8Array>,
  from: number,
  to: number,
): AsyncGenerator<Uint8Array> {
  const buffer = new Uint8Array(SEALED_CHUNK_BYTES);
  let used = 0;
  let index = first;
  const sizeOf = (i: number) => layout.chunkEnd(i) - layout.chunkStart(i);
  let want = index < end ? sizeOf(index) : 0;
  const emit = (sealed: Uint8Array): Uint8Array | null => {
    let plain: Uint8Array;
    try {
      plain = openChunk(streamKey, index, index === layout.chunks - 1, sealed);
    } catch (error) {
      if (error instanceof ChunkAuthError) throw corrupt(key, error.message, error);
      throw error;
    }
    const base = index * CHUNK_BYTES;
    const lo = Math.max(from, base) - base;
    const hi = Math.min(to, base + plain.length) - base;
    return hi > lo ? plain.subarray(lo, hi) : null;
  };
  for await (const piece of source) {
    let rest = piece;
    while (rest.length > 0) {
      if (index >= end) throw corrupt(key, 'more stored bytes than the object size announced');
      const n = Math.min(want - used, rest.length);
      buffer.set(rest.subarray(0, n), used);
      used += n;
      rest = rest.subarray(n);
      if (used === want) {
        const out = emit(buffer.subarray(0, used));
        index++;
        used = 0;
        if (index < end) want = sizeOf(index);
        if (out !== null) yield out;
      }
    }
  }
  if (index < end) {
    throw new StorageError(
      'HADB_STORAGE_PROTOCOL',
      `object ${JSON.stringify(key)}: the stored stream ended before the size it announced`,
    );
  }
}
