import { StorageError } from '@hadb/storage';
import { abortedError } from './errors.js';

/** Parts up to this size are gathered from copied chunks; larger ones get one buffer of `size`. */
const SMALL_PART = 256 * 1024;

/** One part read from a stream body. */
export interface Part {
  /** The part's bytes (a private copy). */
  readonly data: Uint8Array;
  /** True when the body ended with this part. */
  readonly last: boolean;
  /** The pooled buffer behind `data`, to give back once the part is stored. */
  readonly buffer: Uint8Array | undefined;
}

/**
 * Part-sized buffers reused across the parts of one upload, so a long upload allocates
 * `queueSize + 1` buffers instead of one per part (no allocation churn, flat memory).
 */
export class BufferPool {
  readonly #free: Uint8Array[] = [];

  constructor(
    readonly size: number,
    readonly max: number,
  ) {}

  take(): Uint8Array {
    return this.#free.pop() ?? new Uint8Array(this.size);
  }

  /** Returns a buffer whose bytes nobody will read again. */
  give(buffer: Uint8Array): void {
    if (buffer.length === this.size && this.#free.length < this.max) this.#free.push(buffer);
  }
}

/**
 * Cuts an async-iterable body into parts of a fixed size, copying the bytes (callers may reuse
 * their chunk buffers), with at most one part plus one chunk in memory. Waiting for the body
 * honours the signal; a failing body is reported as `HADB_STORAGE_IO` with the body's error as
 * `cause`.
 */
export class PartReader {
  readonly #iterator: AsyncIterator<Uint8Array>;
  readonly #signal: AbortSignal | undefined;
  readonly #what: string;
  #pending: Uint8Array | undefined;
  #ended = false;

  constructor(body: AsyncIterable<Uint8Array>, signal: AbortSignal | undefined, what: string) {
    this.#iterator = body[Symbol.asyncIterator]();
    this.#signal = signal;
    this.#what = what;
  }

  /** Reads the next part of up to `pool.size` bytes. */
  async read(pool: BufferPool): Promise<Part> {
    const { size } = pool;
    const small: Uint8Array[] = [];
    let part: Uint8Array | undefined;
    let filled = 0;
    while (filled < size) {
      const chunk = this.#pending ?? (await this.#next());
      this.#pending = undefined;
      if (chunk === undefined) break;
      if (chunk.length === 0) continue;
      const n = Math.min(chunk.length, size - filled);
      if (part === undefined && filled + n <= SMALL_PART) {
        small.push(chunk.slice(0, n));
      } else {
        if (part === undefined) {
          part = pool.take();
          let at = 0;
          for (const s of small) {
            part.set(s, at);
            at += s.length;
          }
          small.length = 0;
        }
        part.set(chunk.subarray(0, n), filled);
      }
      filled += n;
      // The remainder stays a reference to the caller's chunk only until the next read, which
      // consumes it before the body is asked for anything else.
      if (n < chunk.length) this.#pending = chunk.subarray(n);
    }
    if (this.#pending === undefined && !this.#ended) {
      // Look one chunk ahead, so a body that ends exactly on a part boundary is known to be done.
      const next = await this.#nextNonEmpty();
      if (next !== undefined) this.#pending = next;
    }
    const data = part === undefined ? concat(small, filled) : part.subarray(0, filled);
    return { data, last: this.#pending === undefined && this.#ended, buffer: part };
  }

  /** Lets the body clean up if it was not read to the end. Never throws. */
  close(): void {
    if (this.#ended) return;
    this.#ended = true;
    try {
      void Promise.resolve(this.#iterator.return?.()).catch(() => undefined);
    } catch {
      // A body whose return() throws synchronously has nothing left to clean up.
    }
  }

  async #nextNonEmpty(): Promise<Uint8Array | undefined> {
    for (;;) {
      const chunk = await this.#next();
      if (chunk === undefined || chunk.length > 0) return chunk;
    }
  }

  async #next(): Promise<Uint8Array | undefined> {
    if (this.#ended) return undefined;
    const signal = this.#signal;
    if (signal?.aborted) throw abortedError(signal, this.#what);
    let result: IteratorResult<Uint8Array>;
    try {
      if (signal === undefined) {
        result = await this.#iterator.next();
      } else {
        let onAbort: (() => void) | undefined;
        const aborted = new Promise<never>((_, reject) => {
          onAbort = () => reject(abortedError(signal, this.#what));
          signal.addEventListener('abort', onAbort, { once: true });
        });
        try {
          result = await Promise.race([this.#iterator.next(), aborted]);
        } finally {
          signal.removeEventListener('abort', onAbort as () => void);
        }
      }
    } catch (error) {
      if (signal?.aborted) throw abortedError(signal, this.#what);
      this.#ended = true;
      throw new StorageError('HADB_STORAGE_IO', `S3 ${this.#what}: reading the body failed`, { cause: error });
    }
    if (result.done) {
      this.#ended = true;
      return undefined;
    }
    const chunk: unknown = result.value;
    if (!(chunk instanceof Uint8Array)) {
      throw new StorageError('HADB_STORAGE_REJECTED', `S3 ${this.#what}: the body must yield Uint8Array chunks`);
    }
    return chunk;
  }
}

function concat(chunks: readonly Uint8Array[], total: number): Uint8Array {
  const out = new Uint8Array(total);
  let at = 0;
  for (const c of chunks) {
    out.set(c, at);
    at += c.length;
  }
  return out;
}
