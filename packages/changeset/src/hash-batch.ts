import { createHash, type Hash } from 'node:crypto';

/**
 * Feeds many small pieces to one SHA-256 with few `update` calls: pieces below `copyBelow`
 * bytes are gathered in a scratch buffer, larger ones are hashed in place (no copy).
 */
export class HashBatch {
  readonly hash: Hash = createHash('sha256');
  private readonly scratch: Uint8Array;
  private used = 0;

  constructor(
    private readonly copyBelow = 1024,
    scratchSize = 4096,
  ) {
    this.scratch = new Uint8Array(scratchSize);
  }

  /** Adds `bytes` to the hash input. */
  add(bytes: Uint8Array): void {
    const n = bytes.length;
    if (n >= this.copyBelow) {
      this.flush();
      this.hash.update(bytes);
      return;
    }
    if (this.used + n > this.scratch.length) this.flush();
    this.scratch.set(bytes, this.used);
    this.used += n;
  }

  /** Adds a big-endian u32. */
  addU32(value: number): void {
    if (this.used + 4 > this.scratch.length) this.flush();
    const s = this.scratch;
    const o = this.used;
    s[o] = value >>> 24;
    s[o + 1] = value >>> 16;
    s[o + 2] = value >>> 8;
    s[o + 3] = value;
    this.used += 4;
  }

  /** Adds a big-endian u64. */
  addU64(value: bigint): void {
    this.addU32(Number((value >> 32n) & 0xffff_ffffn));
    this.addU32(Number(value & 0xffff_ffffn));
  }

  /** Flushes and returns the 32-byte digest. */
  digest(): Buffer {
    this.flush();
    return this.hash.digest();
  }

  private flush(): void {
    if (this.used > 0) {
      this.hash.update(this.scratch.subarray(0, this.used));
      this.used = 0;
    }
  }
}

/** First 8 bytes of a digest as a big-endian u64. */
export function digestToU64(digest: Uint8Array): bigint {
  const view = new DataView(digest.buffer, digest.byteOffset, 8);
  return view.getBigUint64(0, false);
}
