import { createHash } from 'node:crypto';
import type { FileHandle } from 'node:fs/promises';
import { configChecker, throwIfAborted, type OpOptions } from '@hadb/io';
import type { StorageBackend } from '@hadb/storage';
import { ChangesetError, changesetAborted, changesetInvalidConfig } from './errors.js';
import { digestToU64 } from './hash-batch.js';
import { HADBP_HEADER_SIZE, HADBP_MAGIC, HADBP_MIN_SIZE, HADBP_TRAILER_SIZE, HADBP_VERSION } from './physical.js';
import type { PageEntry, PhysicalHeader } from './types.js';
import { assertU64 } from './validate.js';

/** Where {@link restorePhysicalRanged} puts each entry of the changeset. */
export interface RangedRestoreTarget {
  /** Called with the checked header before any entry; may throw to reject the changeset. */
  begin?(header: PhysicalHeader): void;
  /**
   * The file offset at which the entry's data is written, or `undefined` to receive the entry
   * through {@link entry} instead (for small metadata entries). May throw to reject the entry.
   */
  place(pageId: bigint, dataLen: number): number | undefined;
  /** Receives an entry `place` did not place; `data` is a private copy. May throw to reject it. */
  entry(page: PageEntry): void;
}

/** Options of {@link restorePhysicalRanged}. */
export interface RestorePhysicalRangedOptions extends OpOptions {
  /** Ranged GETs in flight (default 4). */
  readonly concurrency?: number | undefined;
  /** Bytes per ranged GET (default 8 MiB). Memory is bounded by about `concurrency × rangeBytes`. */
  readonly rangeBytes?: number | undefined;
  /** If set, the header's `prev_checksum` must equal it (`HADB_CHANGESET_CHAIN_BROKEN`). */
  readonly expectedPrev?: bigint | undefined;
}

/** Result of {@link restorePhysicalRanged}. */
export interface RangedRestoreResult {
  readonly header: PhysicalHeader;
  /** The verified trailer checksum. */
  readonly checksum: bigint;
  /** Bytes of the object. */
  readonly size: number;
  readonly etag: string;
}

/** Vectored writes gather at most this many pieces (below every platform's IOV_MAX) … */
const MAX_IOV = 512;
/** … and this many bytes. */
const MAX_WRITE_BYTES = 4 << 20;
/** Vectored writes in flight. */
const WRITES_IN_FLIGHT = 4;
/** The header's `prev_checksum` field, the first bytes the checksum covers. */
const PREV_START = 20;
const PREV_END = 28;

/** The chunks of one ranged GET, filled by its download and drained in order by the parser. */
class RangeSlot {
  readonly chunks: Uint8Array[] = [];
  done = false;
  error: unknown;
  #wake: (() => void) | undefined;

  push(chunk: Uint8Array): void {
    this.chunks.push(chunk);
    this.#notify();
  }

  finish(error?: unknown): void {
    this.done = true;
    this.error = error;
    this.#notify();
  }

  /** Resolves once a chunk is available or the download ended. */
  wait(): Promise<void> {
    if (this.chunks.length > 0 || this.done) return Promise.resolve();
    return new Promise((resolve) => {
      this.#wake = resolve;
    });
  }

  #notify(): void {
    const wake = this.#wake;
    this.#wake = undefined;
    wake?.();
  }
}

/** Positional vectored writes of views into downloaded chunks (no copy), a few in flight. */
class VectorWriter {
  #pieces: Uint8Array[] = [];
  #offset = 0;
  #bytes = 0;
  readonly #inflight: Promise<void>[] = [];
  readonly #file: FileHandle;

  constructor(file: FileHandle) {
    this.#file = file;
  }

  /** Adds `piece` at `offset`; returns a promise only when a write had to be issued (await it). */
  add(piece: Uint8Array, offset: number): Promise<void> | undefined {
    if (
      this.#pieces.length > 0 &&
      (offset !== this.#offset + this.#bytes || this.#pieces.length >= MAX_IOV || this.#bytes >= MAX_WRITE_BYTES)
    ) {
      return this.flush().then(() => this.#push(piece, offset));
    }
    this.#push(piece, offset);
    return undefined;
  }

  #push(piece: Uint8Array, offset: number): void {
    if (this.#pieces.length === 0) this.#offset = offset;
    this.#pieces.push(piece);
    this.#bytes += piece.length;
  }

  async flush(): Promise<void> {
    if (this.#pieces.length === 0) return;
    const pieces = this.#pieces;
    const offset = this.#offset;
    this.#pieces = [];
    this.#bytes = 0;
    if (this.#inflight.length >= WRITES_IN_FLIGHT) await this.#inflight.shift();
    const p = writeAll(this.#file, pieces, offset);
    p.catch(() => undefined);
    this.#inflight.push(p);
  }

  /** Flushes and waits for every write; the first failure rejects. */
  async settle(): Promise<void> {
    await this.flush();
    while (this.#inflight.length > 0) await this.#inflight.shift();
  }

  /** Waits for writes in flight without reporting their failures (cleanup after an error). */
  async drain(): Promise<void> {
    await Promise.allSettled(this.#inflight.splice(0));
  }
}

async function writeAll(file: FileHandle, pieces: Uint8Array[], offset: number): Promise<void> {
  const total = pieces.reduce((n, b) => n + b.length, 0);
  const { bytesWritten } = await file.writev(pieces, offset);
  if (bytesWritten === total) return;
  // Short vectored write: finish with plain writes.
  let skip = bytesWritten;
  let at = offset;
  for (const b of pieces) {
    if (skip >= b.length) {
      skip -= b.length;
      at += b.length;
      continue;
    }
    let done = skip;
    skip = 0;
    while (done < b.length) done += (await file.write(b, done, b.length - done, at + done)).bytesWritten;
    at += b.length;
  }
}

function parseHeader(h: Uint8Array, expectedPrev: bigint | undefined): PhysicalHeader {
  for (let i = 0; i < 5; i++) if (h[i] !== HADBP_MAGIC[i]) throw ChangesetError.invalidMagic();
  const version = h[5] as number;
  if (version !== HADBP_VERSION) throw ChangesetError.unsupportedVersion(version);
  const width = h[7] as number;
  if (width !== 4 && width !== 8) throw ChangesetError.invalidPageIdSize(width);
  const view = new DataView(h.buffer, h.byteOffset, HADBP_HEADER_SIZE);
  const header: PhysicalHeader = {
    flags: h[6] as number,
    pageIdSize: width,
    pageSize: view.getUint32(8, false),
    seq: view.getBigUint64(12, false),
    prevChecksum: view.getBigUint64(20, false),
    pageCount: view.getUint32(28, false),
    createdMs: view.getBigInt64(32, false),
  };
  if (expectedPrev !== undefined && header.prevChecksum !== expectedPrev) {
    throw ChangesetError.chainBroken(expectedPrev, header.prevChecksum);
  }
  return header;
}

/**
 * Downloads the `.hadbp` changeset at `key` with parallel ranged GETs (`getStream` with
 * `start`/`length`, `concurrency` in flight) and writes each entry's data once, with positional
 * vectored writes straight from the downloaded chunks, at the offset `target.place` gives. The
 * whole object is hashed in order while it streams, and the trailer checksum is compared at the
 * end: the call resolves only when every byte written was verified. Until then the file holds
 * unverified data, so write to a temporary file and publish it only after this resolves; the
 * caller fsyncs (once) and renames.
 *
 * Every range must come from the same object version (same etag as the first); a different one
 * is `HADB_CHANGESET_IO`. Same checks and codes as `readPhysicalStream` (including ascending page
 * ids, `HADB_CHANGESET_NOT_CANONICAL`). Storage failures pass through as the storage's errors; an
 * abort is `HADB_CHANGESET_ABORTED`. Returns `null` if the object does not exist.
 */
export async function restorePhysicalRanged(
  storage: StorageBackend,
  key: string,
  file: FileHandle,
  target: RangedRestoreTarget,
  options: RestorePhysicalRangedOptions = {},
): Promise<RangedRestoreResult | null> {
  const check = configChecker(changesetInvalidConfig);
  const concurrency = check.int('concurrency', options.concurrency, { min: 1, default: 4 });
  const rangeBytes = check.int('rangeBytes', options.rangeBytes, { min: 4096, default: 8 << 20 });
  if (options.expectedPrev !== undefined) assertU64('expectedPrev', options.expectedPrev);
  const { signal } = options;
  throwIfAborted(signal, changesetAborted);
  const controller = new AbortController();
  const onAbort = () => controller.abort(signal?.reason);
  signal?.addEventListener('abort', onAbort, { once: true });
  const inner = controller.signal;
  const writer = new VectorWriter(file);
  try {
    const first = await storage.getStream(key, { start: 0, length: rangeBytes, signal: inner });
    if (first === null) return null;
    const { size, etag } = first;
    const rangeCount = Math.max(1, Math.ceil(size / rangeBytes));
    const slots: RangeSlot[] = [];

    const consume = async (slot: RangeSlot, body: AsyncIterable<Uint8Array>, expected: number) => {
      let got = 0;
      try {
        for await (const chunk of body) {
          got += chunk.length;
          slot.push(chunk);
        }
        if (got !== expected) {
          throw ChangesetError.io(undefined, `${key}: a ranged read returned ${got} bytes, expected ${expected}`);
        }
        slot.finish();
      } catch (err) {
        slot.finish(err);
      }
    };
    const expectedOf = (i: number) => Math.min(rangeBytes, size - i * rangeBytes);
    const startRange = (i: number): void => {
      if (i >= rangeCount || slots[i] !== undefined) return;
      const slot = new RangeSlot();
      slots[i] = slot;
      if (i === 0) {
        void consume(slot, first.body, expectedOf(0));
        return;
      }
      void (async () => {
        try {
          const s = await storage.getStream(key, { start: i * rangeBytes, length: expectedOf(i), signal: inner });
          if (s === null) throw ChangesetError.io(undefined, `${key} disappeared during a ranged read`);
          if (s.etag !== etag || s.size !== size) {
            await s.body[Symbol.asyncIterator]().return?.();
            throw ChangesetError.io(undefined, `${key} changed during a ranged read`);
          }
          await consume(slot, s.body, expectedOf(i));
        } catch (err) {
          slot.finish(err);
        }
      })();
    };

    // Range 0 is already answered: consume it now, so its body is released on every path.
    startRange(0);

    // The parser: walks the object in order, hashing it and routing each entry's data.
    const hash = createHash('sha256');
    const bodyEnd = size - HADBP_TRAILER_SIZE;
    let pos = 0;
    let rangeIndex = 0;
    let current: RangeSlot | undefined;
    /** Next chunk of the object in order, or `null` at the end of the object. */
    const nextChunk = async (): Promise<Uint8Array | null> => {
      for (;;) {
        if (rangeIndex >= rangeCount) return null;
        if (current === undefined) {
          for (let j = rangeIndex; j < rangeIndex + concurrency; j++) startRange(j);
          current = slots[rangeIndex]!;
        }
        await current.wait();
        throwIfAborted(signal, changesetAborted);
        const chunk = current.chunks.shift();
        if (chunk !== undefined) return chunk;
        if (current.error !== undefined) throw current.error;
        if (current.done) {
          current = undefined;
          rangeIndex++;
        }
      }
    };

    const hashPart = (next: Uint8Array, from: number, to: number): void => {
      const lo = Math.max(pos, from);
      const hi = Math.min(pos + next.length, to);
      if (hi > lo) hash.update(next.subarray(lo - pos, hi - pos));
    };
    let chunk: Uint8Array = new Uint8Array(0);
    let view = new DataView(chunk.buffer);
    let at = 0; // offset into chunk
    /** Makes at least one unread byte available; `false` at the end of the object. */
    const more = async (): Promise<boolean> => {
      while (at >= chunk.length) {
        const next = await nextChunk();
        if (next === null) return false;
        // The checksum covers the object's bytes [20, 28) (prev_checksum) and [40, bodyEnd) (the
        // entries), in order; chunks arrive in order, so each is hashed as it is fetched.
        hashPart(next, PREV_START, PREV_END);
        hashPart(next, HADBP_HEADER_SIZE, bodyEnd);
        chunk = next;
        view = new DataView(next.buffer, next.byteOffset, next.length);
        at = 0;
      }
      return true;
    };
    /** Copies exactly `n` bytes (small: headers), or `null` if the object ends first. */
    const readSmall = async (n: number): Promise<Uint8Array | null> => {
      if (at + n <= chunk.length) {
        const out = chunk.subarray(at, at + n);
        at += n;
        pos += n;
        return out;
      }
      const out = new Uint8Array(n);
      let filled = 0;
      while (filled < n) {
        if (!(await more())) return null;
        const take = Math.min(n - filled, chunk.length - at);
        out.set(chunk.subarray(at, at + take), filled);
        filled += take;
        at += take;
        pos += take;
      }
      return out;
    };

    if (size < HADBP_MIN_SIZE) throw ChangesetError.truncated(HADBP_MIN_SIZE, size);
    const h = await readSmall(HADBP_HEADER_SIZE);
    if (h === null) throw ChangesetError.truncated(HADBP_MIN_SIZE, size);
    const header = parseHeader(h, options.expectedPrev);
    target.begin?.(header);
    const width = header.pageIdSize;
    let last = -1n;
    for (let i = 0; i < header.pageCount; i++) {
      const entryStart = pos;
      let pageId: bigint;
      let dataLen: number;
      if (at + width + 4 <= chunk.length) {
        // Fast path (almost every entry): the head lies in the current chunk; no copy, no await.
        pageId = width === 8 ? view.getBigUint64(at, false) : BigInt(view.getUint32(at, false));
        dataLen = view.getUint32(at + width, false);
        at += width + 4;
        pos += width + 4;
      } else {
        const head = await readSmall(width + 4);
        if (head === null) throw ChangesetError.truncated(entryStart + width + 4, size);
        const hv = new DataView(head.buffer, head.byteOffset, width + 4);
        pageId = width === 8 ? hv.getBigUint64(0, false) : BigInt(hv.getUint32(0, false));
        dataLen = hv.getUint32(width, false);
      }
      if (dataLen > header.pageSize) throw ChangesetError.pageTooLarge(dataLen, header.pageSize);
      if (pageId < last) {
        throw new ChangesetError(
          'HADB_CHANGESET_NOT_CANONICAL',
          `page ${i} has id ${pageId} after id ${last}: streaming decode needs ascending page ids`,
        );
      }
      last = pageId;
      if (pos + dataLen > bodyEnd) throw ChangesetError.truncated(pos + dataLen + HADBP_TRAILER_SIZE, size);
      const offset = target.place(pageId, dataLen);
      if (offset === undefined) {
        const data = await readSmall(dataLen);
        if (data === null) throw ChangesetError.truncated(entryStart + width + 4 + dataLen, size);
        target.entry({ pageId, data: data.slice() });
        continue;
      }
      let done = 0;
      while (done < dataLen) {
        if (at >= chunk.length && !(await more())) {
          throw ChangesetError.truncated(entryStart + width + 4 + dataLen, size);
        }
        const take = Math.min(dataLen - done, chunk.length - at);
        const issued = writer.add(chunk.subarray(at, at + take), offset + done);
        if (issued !== undefined) await issued;
        done += take;
        at += take;
        pos += take;
      }
    }
    if (pos !== bodyEnd) {
      // Entries ended early: the object has bytes beyond the entries and the trailer.
      throw ChangesetError.truncated(pos + HADBP_TRAILER_SIZE, size);
    }
    const trailer = await readSmall(HADBP_TRAILER_SIZE);
    if (trailer === null) throw ChangesetError.truncated(pos + HADBP_TRAILER_SIZE, size);
    const stored = new DataView(trailer.buffer, trailer.byteOffset, 8).getBigUint64(0, false);
    if (await more()) throw ChangesetError.io(undefined, `${key}: a ranged read returned more bytes than the object`);
    const computed = digestToU64(hash.digest());
    if (computed !== stored) throw ChangesetError.checksumMismatch(stored, computed);
    await writer.settle();
    return { header, checksum: stored, size, etag };
  } catch (err) {
    controller.abort();
    await writer.drain();
    if (signal?.aborted) throw changesetAborted('changeset download aborted', err);
    throw err;
  } finally {
    signal?.removeEventListener('abort', onAbort);
    controller.abort();
  }
}
