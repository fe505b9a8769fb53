import { throwIfAborted } from '@hadb/io';
import { ChangesetError, changesetAborted } from './errors.js';

/**
 * What the streaming decoders read: any async (or sync) iterable of byte chunks, e.g. a Node
 * `Readable` or a storage `getStream` body; a single `Uint8Array` is read as one chunk.
 */
export type ByteSource = AsyncIterable<Uint8Array> | Iterable<Uint8Array> | Uint8Array;

function toIterator(source: ByteSource): AsyncIterator<unknown> | Iterator<unknown> {
  if (source instanceof Uint8Array) return [source][Symbol.iterator]();
  if (source !== null && typeof source === 'object') {
    const asyncIt = (source as AsyncIterable<Uint8Array>)[Symbol.asyncIterator];
    if (typeof asyncIt === 'function') return asyncIt.call(source);
    const syncIt = (source as Iterable<Uint8Array>)[Symbol.iterator];
    if (typeof syncIt === 'function' && !(source instanceof Uint8Array)) return syncIt.call(source);
  }
  throw ChangesetError.invalidArgument('source must be an (async) iterable of Uint8Array chunks');
}

/**
 * Pulls exact byte counts out of a chunked source with bounded buffering: it never allocates
 * more than the bytes it has actually received (a forged length cannot make it reserve memory
 * up front). `position` counts bytes consumed so far.
 */
export class ChunkReader {
  readonly #it: AsyncIterator<unknown> | Iterator<unknown>;
  #chunks: Uint8Array[] = [];
  #buffered = 0;
  #head = 0; // offset into chunks[0]
  #ended = false;
  /** Bytes consumed by `read`/`skip` so far. */
  position = 0;

  readonly #signal: AbortSignal | undefined;

  constructor(source: ByteSource, signal?: AbortSignal | undefined) {
    this.#signal = signal;
    this.#it = toIterator(source);
  }

  /** Bytes buffered and not yet consumed. */
  get available(): number {
    return this.#buffered;
  }

  /** Buffers until at least `n` bytes are available or the source ends. Returns the available count. */
  async fill(n: number): Promise<number> {
    while (this.#buffered < n && !this.#ended) await this.#pull();
    return this.#buffered;
  }

  /** True when no bytes remain (buffered or in the source). */
  async atEnd(): Promise<boolean> {
    return (await this.fill(1)) === 0;
  }

  /**
   * Consumes exactly `n` bytes (callers `fill` first). Returns a view of a source chunk when
   * the bytes lie in one chunk, else a fresh copy.
   */
  take(n: number): Uint8Array {
    if (n > this.#buffered) throw new RangeError('take past buffered bytes');
    this.position += n;
    this.#buffered -= n;
    const first = this.#chunks[0];
    if (n === 0) return new Uint8Array(0);
    if (first !== undefined && first.length - this.#head >= n) {
      const out = first.subarray(this.#head, this.#head + n);
      this.#head += n;
      if (this.#head === first.length) {
        this.#chunks.shift();
        this.#head = 0;
      }
      return out;
    }
    const out = new Uint8Array(n);
    let filled = 0;
    while (filled < n) {
      const chunk = this.#chunks[0] as Uint8Array;
      const avail = chunk.length - this.#head;
      const m = Math.min(avail, n - filled);
      out.set(chunk.subarray(this.#head, this.#head + m), filled);
      filled += m;
      this.#head += m;
      if (this.#head === chunk.length) {
        this.#chunks.shift();
        this.#head = 0;
      }
    }
    return out;
  }

  /** Returns the next `n` buffered bytes without consuming them (callers `fill` first). */
  peek(n: number): Uint8Array {
    if (n > this.#buffered) throw new RangeError('peek past buffered bytes');
    const first = this.#chunks[0];
    if (first !== undefined && first.length - this.#head >= n) return first.subarray(this.#head, this.#head + n);
    const out = new Uint8Array(n);
    let filled = 0;
    for (let i = 0, off = this.#head; filled < n; i++, off = 0) {
      const chunk = this.#chunks[i] as Uint8Array;
      const m = Math.min(chunk.length - off, n - filled);
      out.set(chunk.subarray(off, off + m), filled);
      filled += m;
    }
    return out;
  }

  /** Reads exactly `n` bytes, or returns `null` at a premature end (the bytes stay buffered). */
  async read(n: number): Promise<Uint8Array | null> {
    if ((await this.fill(n)) < n) return null;
    return this.take(n);
  }

  /**
   * Consumes everything left and returns how many bytes that was, without keeping them.
   * Used to report the exact length of trailing garbage.
   */
  async drain(): Promise<number> {
    let count = this.#buffered;
    this.#chunks = [];
    this.#buffered = 0;
    this.#head = 0;
    while (!this.#ended) {
      const chunk = await this.#next();
      if (chunk !== null) count += chunk.length;
    }
    this.position += count;
    return count;
  }

  /** Releases the source early (calls its iterator's `return`). Safe to call twice. */
  async close(): Promise<void> {
    if (this.#ended) return;
    this.#ended = true;
    try {
      await this.#it.return?.();
    } catch {
      // The source's own cleanup failure is not a decoding error.
    }
  }

  async #pull(): Promise<void> {
    const chunk = await this.#next();
    if (chunk !== null && chunk.length > 0) {
      this.#chunks.push(chunk);
      this.#buffered += chunk.length;
    }
  }

  async #next(): Promise<Uint8Array | null> {
    throwIfAborted(this.#signal, changesetAborted);
    let result: IteratorResult<unknown>;
    try {
      result = await this.#it.next();
    } catch (err) {
      this.#ended = true;
      if (err instanceof ChangesetError) throw err;
      throw ChangesetError.io(err, `reading source failed: ${err instanceof Error ? err.message : String(err)}`);
    }
    throwIfAborted(this.#signal, changesetAborted);
    if (result.done) {
      this.#ended = true;
      return null;
    }
    const value = result.value;
    if (!(value instanceof Uint8Array)) {
      await this.close();
      throw ChangesetError.invalidArgument('source yielded a chunk that is not a Uint8Array (string mode?)');
    }
    return value;
  }
}
