/**
 * Byte layout of an age file, as the age format (age-encryption.org/v1) defines it:
 *
 *     header (text, ends with "--- <MAC>\n") ‖ nonce (16 bytes) ‖ payload
 *
 * The payload is the plaintext cut into 64 KiB chunks, each sealed with ChaCha20-Poly1305 (16-byte
 * tag); only the last chunk may be shorter, and it is empty only when the whole plaintext is. So
 * chunk `i` starts at `payloadStart + i × 65,552` and plaintext byte `p` lives in chunk
 * `⌊p / 65,536⌋`: ranges map to chunks without reading the rest of the object.
 */

/** Plaintext bytes per payload chunk. */
export const CHUNK_BYTES = 64 * 1024;
/** Poly1305 tag per chunk. */
export const TAG_BYTES = 16;
/** Ciphertext bytes per full chunk. */
export const SEALED_CHUNK_BYTES = CHUNK_BYTES + TAG_BYTES;
/** Payload nonce after the header. */
export const NONCE_BYTES = 16;
/** First line of every age file. */
export const MAGIC = new TextEncoder().encode('age-encryption.org/v1\n');
/** Longest header accepted (20 hybrid post-quantum recipients take about 32 KiB). */
export const MAX_HEADER_BYTES = 256 * 1024;

const MAC_LINE = new TextEncoder().encode('\n--- ');

/** Where the header ends in `bytes` (the object's first bytes), or why it cannot be told yet. */
export type HeaderScan = { readonly end: number } | 'not-age' | 'need-more';

/**
 * Finds the end of the header: the line feed after the first `"\n--- "` (stanza lines start with
 * `"-> "` and bodies are base64, so the MAC line is the first line starting with `"---"`).
 * `complete` says `bytes` is the whole object. Whether the header is well formed is the library's
 * check; this only finds its length.
 */
export function scanHeader(bytes: Uint8Array, complete: boolean): HeaderScan {
  const n = Math.min(bytes.length, MAGIC.length);
  for (let i = 0; i < n; i++) if (bytes[i] !== MAGIC[i]) return 'not-age';
  if (bytes.length < MAGIC.length) return complete ? 'not-age' : 'need-more';
  const buf = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const mac = buf.indexOf(MAC_LINE, MAGIC.length - 1);
  if (mac < 0) return 'need-more';
  const lf = buf.indexOf(0x0a, mac + MAC_LINE.length);
  if (lf < 0) return 'need-more';
  return { end: lf + 1 };
}

/** Payload ciphertext size for `plaintext` bytes. */
export function sealedPayloadSize(plaintext: number): number {
  return plaintext + TAG_BYTES * Math.max(1, Math.ceil(plaintext / CHUNK_BYTES));
}

/** Where everything is in one stored object of `size` bytes whose header is `headerBytes` long. */
export class Layout {
  /** Offset of chunk 0. */
  readonly payloadStart: number;
  /** Number of chunks (at least 1). */
  readonly chunks: number;
  /** Size of the plaintext. */
  readonly plaintextSize: number;

  private constructor(
    readonly headerBytes: number,
    readonly size: number,
  ) {
    this.payloadStart = headerBytes + NONCE_BYTES;
    const payload = size - this.payloadStart;
    this.chunks = Math.max(1, Math.ceil(payload / SEALED_CHUNK_BYTES));
    this.plaintextSize = payload - TAG_BYTES * this.chunks;
  }

  /**
   * The layout, or `null` when `size` is impossible for an age file with this header (payload
   * shorter than one tag, or a last chunk with no plaintext after a first one): a truncated or
   * extended object.
   */
  static of(headerBytes: number, size: number): Layout | null {
    const payload = size - headerBytes - NONCE_BYTES;
    if (payload < TAG_BYTES) return null;
    const last = payload % SEALED_CHUNK_BYTES;
    if (last !== 0 && last <= TAG_BYTES && payload > TAG_BYTES) return null;
    return new Layout(headerBytes, size);
  }

  /** Stored offset where chunk `i` starts. */
  chunkStart(i: number): number {
    return this.payloadStart + i * SEALED_CHUNK_BYTES;
  }

  /** Stored offset where chunk `i` ends (exclusive). */
  chunkEnd(i: number): number {
    return Math.min(this.size, this.chunkStart(i + 1));
  }

  /** Chunk holding plaintext byte `p`. */
  chunkOf(p: number): number {
    return Math.floor(p / CHUNK_BYTES);
  }
}
