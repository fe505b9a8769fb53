import type { HashBatch } from './recipe-hasher.js';

/**
 * Builds the {@link HashBatch}es of an in-order hash: small bytes are copied in (`inline`),
 * bytes already written to the file are named by their extent (`extent`), so the hasher reads
 * them back instead of holding the download's buffers. Adjacent pieces of the same kind merge.
 */
export class HashRecipe {
  #ops: number[] = [];
  #inline = new Uint8Array(64 << 10);
  #used = 0;
  #bytes = 0;

  /** Bytes the pending batch names. */
  get bytes(): number {
    return this.#bytes;
  }

  /** Appends a copy of `data`. */
  inline(data: Uint8Array): void {
    const n = data.length;
    if (n === 0) return;
    if (this.#used + n > this.#inline.length) {
      const grown = new Uint8Array(Math.max(this.#inline.length * 2, this.#used + n));
      grown.set(this.#inline.subarray(0, this.#used));
      this.#inline = grown;
    }
    this.#inline.set(data, this.#used);
    this.#used += n;
    this.#bytes += n;
    const ops = this.#ops;
    const k = ops.length;
    if (k > 0 && ops[k - 2] === -1) ops[k - 1]! += n;
    else ops.push(-1, n);
  }

  /** Appends `length` bytes of the file at `offset` (written before the batch is posted). */
  extent(offset: number, length: number): void {
    if (length === 0) return;
    this.#bytes += length;
    const ops = this.#ops;
    const k = ops.length;
    if (k > 0 && ops[k - 2] !== -1 && ops[k - 2]! + ops[k - 1]! === offset) ops[k - 1]! += length;
    else ops.push(offset, length);
  }

  /** The pending batch (its buffers are the caller's, e.g. to transfer), or `undefined` if empty. */
  take(): HashBatch | undefined {
    if (this.#ops.length === 0) return undefined;
    const batch = { ops: Float64Array.from(this.#ops), inline: this.#inline.slice(0, this.#used) };
    this.#ops = [];
    this.#used = 0;
    this.#bytes = 0;
    return batch;
  }
}
