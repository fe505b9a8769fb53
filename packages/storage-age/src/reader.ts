/**
 * Reading one stored version of an object and opening it: the whole object, its header alone, a
 * range mapped to chunks, or a stream. Every path authenticates the header (and the key binding)
 * before any plaintext leaves, and every chunk before it is released.
 */
import { StorageError, type ObjectStream, type StorageBackend } from '@hadb/storage';
import { Pull, openChunks } from './chunks.js';
import { StorageAgeError, corrupt } from './errors.js';
import type { KeyRing } from './keyring.js';
import { CHUNK_BYTES, Layout, MAX_HEADER_BYTES, NONCE_BYTES, SEALED_CHUNK_BYTES, scanHeader } from './layout.js';
import { ChunkAuthError, openPayload } from './payload.js';

/** Bytes read from the start of an object to find its header (grown when the header is longer). */
const PROBE_BYTES = 8 * 1024;
/** Re-reads when the object changes between the header read and the chunk read of a range. */
const RANGE_ATTEMPTS = 5;

/** An object's opened header, from {@link ObjectReader.probe}. */
export interface Probe {
  readonly etag: string;
  readonly layout: Layout;
  readonly streamKey: Buffer;
  /** The object's first bytes as read (header, nonce, possibly chunks). */
  readonly bytes: Uint8Array;
}

/** Concatenates a body into one fresh buffer. */
export async function collect(body: AsyncIterable<Uint8Array>): Promise<Uint8Array> {
  const parts: Uint8Array[] = [];
  for await (const part of body) parts.push(part);
  if (parts.length === 1) return parts[0]!;
  // A fresh buffer (Buffer.concat may hand out a slice of a shared pool).
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}

async function* once(bytes: Uint8Array): AsyncGenerator<Uint8Array> {
  if (bytes.length > 0) yield bytes;
}

function notEncrypted(key: string): StorageAgeError {
  return new StorageAgeError(
    'HADB_STORAGE_AGE_NOT_ENCRYPTED',
    `object ${JSON.stringify(key)} is not age ciphertext; refusing to return it`,
  );
}

/** The read side of the wrapper, over the inner backend, with the wrapper's keys. */
export class ObjectReader {
  readonly #inner: StorageBackend;
  readonly #keys: KeyRing;
  readonly #acceptUnbound: boolean;

  constructor(inner: StorageBackend, keys: KeyRing, acceptUnbound: boolean) {
    this.#inner = inner;
    this.#keys = keys;
    this.#acceptUnbound = acceptUnbound;
  }

  /** Opens the header found at the start of `bytes` (which must hold it and the nonce). */
  #openHeader(key: string, bytes: Uint8Array, headerEnd: number): Promise<Buffer> {
    return this.#keys.open(
      key,
      bytes.subarray(0, headerEnd),
      bytes.subarray(headerEnd, headerEnd + NONCE_BYTES),
      this.#acceptUnbound,
    );
  }

  #layout(key: string, headerEnd: number, size: number): Layout {
    const layout = Layout.of(headerEnd, size);
    if (layout === null)
      throw corrupt(key, `stored size ${size} is not a valid age payload size (truncated or extended)`);
    return layout;
  }

  /** Decrypts a whole stored object. */
  async whole(key: string, bytes: Uint8Array): Promise<Uint8Array> {
    const scan = scanHeader(bytes, true);
    if (scan === 'not-age') throw notEncrypted(key);
    if (scan === 'need-more' || bytes.length < scan.end + NONCE_BYTES)
      throw corrupt(key, 'truncated inside the header');
    const streamKey = await this.#openHeader(key, bytes, scan.end);
    const layout = this.#layout(key, scan.end, bytes.length);
    try {
      return openPayload(streamKey, bytes.subarray(layout.payloadStart), layout.chunks, layout.plaintextSize);
    } catch (error) {
      if (error instanceof ChunkAuthError) throw corrupt(key, error.message, error);
      throw error;
    } finally {
      streamKey.fill(0);
    }
  }

  /**
   * Reads and opens the header of `key` with one ranged read of its first bytes (`extra` more
   * bytes are read along, so a range in the first chunks needs no second read). `null` if missing.
   */
  async probe(key: string, signal: AbortSignal | undefined, extra: number): Promise<Probe | null> {
    let want = PROBE_BYTES + extra;
    for (;;) {
      const stream = await this.#inner.getStream(key, { start: 0, length: want, signal });
      if (stream === null) return null;
      const bytes = await collect(stream.body);
      const complete = bytes.length >= stream.size;
      const scan = scanHeader(bytes, complete);
      if (scan === 'not-age') throw notEncrypted(key);
      if (scan === 'need-more') {
        if (complete) throw corrupt(key, 'truncated inside the header');
        if (want >= MAX_HEADER_BYTES + extra) throw corrupt(key, `no header end within ${MAX_HEADER_BYTES} bytes`);
        want = Math.min(MAX_HEADER_BYTES + extra, want * 4);
        continue;
      }
      if (stream.size < scan.end + NONCE_BYTES) throw corrupt(key, 'truncated after the header');
      if (bytes.length < scan.end + NONCE_BYTES) {
        want = scan.end + NONCE_BYTES + extra;
        continue;
      }
      const streamKey = await this.#openHeader(key, bytes, scan.end);
      return { etag: stream.etag, layout: this.#layout(key, scan.end, stream.size), streamKey, bytes };
    }
  }

  /**
   * The plaintext bytes `start` … `end` (exclusive, clamped to the size) of one version of `key`:
   * only the chunks holding the range are read and opened.
   */
  async range(key: string, start: number, end: number, signal: AbortSignal | undefined): Promise<ObjectStream | null> {
    const firstChunk = Math.floor(start / CHUNK_BYTES);
    // A range starting in the first chunk rides along with the header read.
    const extra =
      firstChunk === 0 && Number.isFinite(end)
        ? NONCE_BYTES + (Math.floor(Math.max(end - 1, 0) / CHUNK_BYTES) + 1) * SEALED_CHUNK_BYTES
        : 0;
    for (let attempt = 1; ; attempt++) {
      const probe = await this.probe(key, signal, extra);
      if (probe === null) return null;
      const { layout, etag, streamKey } = probe;
      const size = layout.plaintextSize;
      const to = Math.min(end, size);
      if (start >= to) return { size, etag, body: once(new Uint8Array(0)) };
      const a = layout.chunkOf(start);
      const b = layout.chunkOf(to - 1);
      const from = layout.chunkStart(a);
      const until = layout.chunkEnd(b);
      if (until <= probe.bytes.length) {
        return {
          size,
          etag,
          body: openChunks(streamKey, key, layout, a, b + 1, once(probe.bytes.subarray(from, until)), start, to),
        };
      }
      const stream = await this.#inner.getStream(key, { start: from, length: until - from, signal });
      if (stream === null) return null;
      if (stream.etag === etag && stream.size === layout.size) {
        return { size, etag, body: openChunks(streamKey, key, layout, a, b + 1, stream.body, start, to) };
      }
      // Replaced between the two reads: the chunks belong to another version. Read again.
      void stream.body[Symbol.asyncIterator]().return?.(undefined);
      if (attempt >= RANGE_ATTEMPTS) {
        throw new StorageError(
          'HADB_STORAGE_UNAVAILABLE',
          `object ${JSON.stringify(key)} changed during each of ${RANGE_ATTEMPTS} ranged reads`,
        );
      }
    }
  }

  /** Streams all of `key` from one read: header first, then chunk by chunk. */
  async stream(key: string, signal: AbortSignal | undefined): Promise<ObjectStream | null> {
    const stream = await this.#inner.getStream(key, { signal });
    if (stream === null) return null;
    const pull = new Pull(stream.body);
    try {
      let want = PROBE_BYTES;
      for (;;) {
        const bytes = await pull.fill(want);
        const complete = bytes.length >= stream.size;
        const scan = scanHeader(bytes, complete);
        if (scan === 'not-age') throw notEncrypted(key);
        if (scan === 'need-more') {
          if (complete) throw corrupt(key, 'truncated inside the header');
          if (bytes.length >= MAX_HEADER_BYTES) throw corrupt(key, `no header end within ${MAX_HEADER_BYTES} bytes`);
          want = bytes.length + PROBE_BYTES;
          continue;
        }
        if (stream.size < scan.end + NONCE_BYTES) throw corrupt(key, 'truncated after the header');
        if (bytes.length < scan.end + NONCE_BYTES) {
          want = scan.end + NONCE_BYTES;
          continue;
        }
        const streamKey = await this.#openHeader(key, bytes, scan.end);
        const layout = this.#layout(key, scan.end, stream.size);
        const size = layout.plaintextSize;
        const body = openChunks(streamKey, key, layout, 0, layout.chunks, pull.from(layout.payloadStart), 0, size);
        return { size, etag: stream.etag, body };
      }
    } catch (error) {
      await pull.close().catch(() => undefined);
      throw error;
    }
  }
}
