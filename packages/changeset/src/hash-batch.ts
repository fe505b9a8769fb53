import { createHash, type Hash } from 'node:crypto';

/** Flushes of at most this many bytes reuse a cached view of the scratch buffer. */
const SHORT = 32;

/**
 * Feeds many small pieces to one SHA-256 with few `update` calls: pieces below `copyBelow`
 * bytes are gathered in a scratch buffer, larger ones are hashed in place (no copy). Integers
 * are written through a `DataView` (no intermediate bigint arithmetic).
 */
export class HashBatch {
  readonly hash: Hash = createHash('sha256');
  readonly #scratch: Uint8Array;
  readonly #view: DataView;
  /** `scratch.subarray(0, n)` for small `n`, made once: most flushes hash one short entry head. */
  readonly #heads: Uint8Array[] = [];
  #used = 0;

  readonly #copyBelow: number;

  constructor(copyBelow = 1024, scratchSize = 4096) {
    this.#copyBelow = copyBelow;
    this.#scratch = new Uint8Array(scratchSize);
    this.#view = new DataView(this.#scratch.buffer);
  }

  /** Adds `bytes` to the hash input. */
  add(bytes: Uint8Array): void {
    const n = bytes.length;
    if (n >= this.#copyBelow) {
      this.#flush();
      this.hash.update(bytes);
      return;
    }
    if (this.#used + n > this.#scratch.length) this.#flush();
    this.#scratch.set(bytes, this.#used);
    this.#used += n;
  }

  /** Adds a big-endian u32 (`value` taken modulo 2^32). */
  addU32(value: number): void {
    if (this.#used + 4 > this.#scratch.length) this.#flush();
    this.#view.setUint32(this.#used, value, false);
    this.#used += 4;
  }

  /** Adds a big-endian u64 (`value` taken modulo 2^64). */
  addU64(value: bigint): void {
    if (this.#used + 8 > this.#scratch.length) this.#flush();
    this.#view.setBigUint64(this.#used, value, false);
    this.#used += 8;
  }

  /**
   * Adds a `.hadbp` entry head: `pageId` as a big-endian u64 (`width` 8) or the low 32 bits of
   * it as a big-endian u32 (`width` 4), then `dataLen` as a big-endian u32.
   */
  addEntryHead(width: 4 | 8, pageId: bigint, dataLen: number): void {
    if (this.#used + 12 > this.#scratch.length) this.#flush();
    const view = this.#view;
    const o = this.#used;
    if (width === 8) view.setBigUint64(o, pageId, false);
    else view.setUint32(o, Number(BigInt.asUintN(32, pageId)), false);
    view.setUint32(o + width, dataLen, false);
    this.#used = o + width + 4;
  }

  /** Flushes and returns the 32-byte digest. */
  digest(): Buffer {
    this.#flush();
    return this.hash.digest();
  }

  #flush(): void {
    const n = this.#used;
    if (n === 0) return;
    if (n <= SHORT) {
      const head = (this.#heads[n] ??= this.#scratch.subarray(0, n));
      this.hash.update(head);
    } else {
      this.hash.update(this.#scratch.subarray(0, n));
    }
    this.#used = 0;
  }
}

/** First 8 bytes of a digest as a big-endian u64. */
export function digestToU64(digest: Uint8Array): bigint {
  const view = new DataView(digest.buffer, digest.byteOffset, 8);
  return view.getBigUint64(0, false);
}
