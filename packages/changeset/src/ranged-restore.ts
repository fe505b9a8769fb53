import type { FileHandle } from 'node:fs/promises';
import { configChecker, throwIfAborted, type OpOptions } from '@hadb/io';
import { ChunkPool, type StorageBackend } from '@hadb/storage';
import { ChangesetError, changesetAborted, changesetInvalidConfig } from './errors.js';
import { digestToU64 } from './hash-batch.js';
import { type ChunkHasher, InlineChunkHasher, WorkerChunkHasher } from './chunk-hasher.js';
import { VectorWriter } from './vector-writer.js';
import { HADBP_HEADER_SIZE, HADBP_MIN_SIZE, HADBP_TRAILER_SIZE, readPhysicalHeader } from './physical.js';
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
  /**
   * Called once after the last entry was parsed and every write completed, before the file is
   * synced (`sync: true`) and possibly before the checksum is verified: only prepare the
   * unpublished file here (e.g. set its size). May throw to reject the changeset.
   */
  end?(): void | Promise<void>;
}

/** Options of {@link restorePhysicalRanged}. */
export interface RestorePhysicalRangedOptions extends OpOptions {
  /** Ranged GETs in flight (default 4). */
  readonly concurrency?: number | undefined;
  /** Bytes per ranged GET (default 8 MiB). Memory is bounded by about `concurrency × rangeBytes`. */
  readonly rangeBytes?: number | undefined;
  /** If set, the header's `prev_checksum` must equal it (`HADB_CHANGESET_CHAIN_BROKEN`). */
  readonly expectedPrev?: bigint | undefined;
  /**
   * Fsync the file once, after `target.end`, while the last bytes are still being hashed
   * (default false: the caller syncs). The call still resolves only after verification.
   */
  readonly sync?: boolean | undefined;
  /**
   * Every time this many bytes have been written, an `fdatasync` of the file starts in the
   * background (one at a time; default 32 MiB; 0 = never), so the kernel writes the file back
   * while the restore goes on and the final fsync — this call's (`sync: true`) or the caller's —
   * has only the tail left. A failure of any of them fails the restore.
   */
  readonly writebackBytes?: number | undefined;
  /**
   * Objects of at least this many bytes are hashed on a worker thread (default
   * {@link DEFAULT_WORKER_MIN_BYTES}; 0 = always). Smaller ones are hashed on the calling thread,
   * where starting a thread would cost more than it saves.
   */
  readonly workerMinBytes?: number | undefined;
}

/**
 * Default of {@link RestorePhysicalRangedOptions.workerMinBytes}: 128 MiB. Starting the hash
 * worker costs ~25 ms; below this size hashing on the calling thread (which overlaps the
 * backend's reads and writes on the libuv threads all the same) finishes sooner.
 */
export const DEFAULT_WORKER_MIN_BYTES = 128 << 20;

/** Result of {@link restorePhysicalRanged}. */
export interface RangedRestoreResult {
  readonly header: PhysicalHeader;
  /** The verified trailer checksum. */
  readonly checksum: bigint;
  /** Bytes of the object. */
  readonly size: number;
  readonly etag: string;
}

/** The header's `prev_checksum` field, the first bytes the checksum covers. */
const PREV_START = 20;
const PREV_END = 28;
/** Downloaded bytes are handed to the hasher in batches of about this many bytes … */
const BATCH_BYTES = 4 << 20;
/** … and the parser waits while the hasher lags behind by more than this many. */
const HASH_LAG_BYTES = 32 << 20;
/** Bytes of the pooled download buffers. */
const POOL_CHUNK_BYTES = 4 << 20;
/** Bytes per step of a copy into shared memory through the scratch buffer (a multiple of 8). */
const SCRATCH_BYTES = 64 << 10;

/**
 * Copies `src` into the shared buffer `dst` at `at`. V8 copies into shared memory word by word
 * only when source and target addresses agree modulo 8, and byte by byte otherwise (~7× slower);
 * an SDK's body chunks have arbitrary lengths, so most would disagree. Such a copy goes through
 * the private `scratch` (at least `SCRATCH_BYTES + 8` bytes), placed so that both copies agree.
 */
function copyIntoShared(dst: Uint8Array, at: number, src: Uint8Array, scratch: Uint8Array): void {
  if (((dst.byteOffset + at - src.byteOffset) & 7) === 0) {
    dst.set(src, at);
    return;
  }
  const shift = (dst.byteOffset + at) & 7;
  for (let off = 0; off < src.length; off += SCRATCH_BYTES) {
    const end = Math.min(src.length, off + SCRATCH_BYTES);
    scratch.set(src.subarray(off, end), shift);
    dst.set(scratch.subarray(shift, shift + end - off), at + off);
  }
}

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
    if (this.done) return;
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

/**
 * Downloads the `.hadbp` changeset at `key` with parallel ranged GETs (`getStream` with
 * `start`/`length`, `concurrency` in flight) and writes each entry's data once, with positional
 * vectored writes straight from the downloaded chunks (no copy), at the offset `target.place`
 * gives. The SHA-256 runs over the downloaded bytes in order, on a worker thread for objects of
 * at least `workerMinBytes`: the downloads land in shared buffers (read into them by backends
 * that take a `pool`, copied once otherwise) that the worker hashes in place, so hashing overlaps
 * the downloads and writes. A buffer is reused only once it is written and hashed, and the
 * parser waits while the hash lags far behind, so memory stays about `concurrency × rangeBytes`
 * plus a few tens of MiB.
 *
 * The call resolves only when the trailer checksum verified every byte written. Until then the
 * file holds unverified data, so write to a temporary file and publish it only after this
 * resolves; with `sync: true` the one fsync overlaps the end of the hashing, otherwise the
 * caller fsyncs (once) before publishing. The worker is stopped before the call settles, on
 * every path. Keep `file` open until then.
 *
 * Every range must come from the same object version (same etag as the first); a different one
 * is `HADB_CHANGESET_IO`. Same checks and codes as `readPhysicalStream` (including ascending page
 * ids, `HADB_CHANGESET_NOT_CANONICAL`). Storage and file-system failures pass through as their
 * own errors; an abort is `HADB_CHANGESET_ABORTED`; a failed hash worker is
 * `HADB_CHANGESET_WORKER_FAILED`. Returns `null` if the object does not exist.
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
  const workerMinBytes = check.int('workerMinBytes', options.workerMinBytes, {
    min: 0,
    default: DEFAULT_WORKER_MIN_BYTES,
  });
  const writebackBytes = check.int('writebackBytes', options.writebackBytes, { min: 0, default: 32 << 20 });
  if (options.expectedPrev !== undefined) assertU64('expectedPrev', options.expectedPrev);
  const { signal } = options;
  throwIfAborted(signal, changesetAborted);
  const controller = new AbortController();
  const inner = controller.signal;
  const slots: RangeSlot[] = [];
  /** The first failure that must stop everything (abort, hash worker); wakes the parser. */
  let fatal: unknown;
  const fail = (err: unknown): void => {
    fatal ??= err;
    controller.abort();
    for (const slot of slots) slot?.finish(fatal);
  };
  const onAbort = () => fail(changesetAborted('changeset download aborted'));
  signal?.addEventListener('abort', onAbort, { once: true });
  const writer = new VectorWriter(file, { writebackBytes });
  let hasher: ChunkHasher | undefined;
  try {
    // Objects hashed on a worker are downloaded into shared buffers (see `consume`), which the
    // worker reads in place. Every buffer is reused only once the parser moved past it, every
    // write from it completed and the hasher has hashed it.
    const poolChunk = Math.min(POOL_CHUNK_BYTES, rangeBytes);
    const pool = new ChunkPool({
      chunkBytes: poolChunk,
      maxFree: Math.ceil(((concurrency + 1) * rangeBytes + HASH_LAG_BYTES + 2 * BATCH_BYTES) / poolChunk),
      shared: true,
    });
    const first = await storage.getStream(key, { start: 0, length: rangeBytes, signal: inner, pool });
    if (first === null) return null;
    const { size, etag } = first;
    const rangeCount = Math.max(1, Math.ceil(size / rangeBytes));
    const onWorker = size >= workerMinBytes;
    hasher = onWorker ? new WorkerChunkHasher(fail) : new InlineChunkHasher();

    /**
     * Feeds a range's body to its slot. For the worker, chunks that are not in shared memory
     * (backends that do not read into the pool, e.g. an SDK's socket buffers) are copied into
     * pooled shared buffers, so the worker reads them in place and writes come from large buffers.
     */
    /** Private staging for {@link copyIntoShared}; every copy through it is synchronous. */
    const scratch = new Uint8Array(SCRATCH_BYTES + 8);
    const consume = async (slot: RangeSlot, body: AsyncIterable<Uint8Array>, expected: number) => {
      let got = 0;
      let fill: Uint8Array | undefined;
      let filled = 0;
      try {
        for await (const chunk of body) {
          got += chunk.length;
          if (!onWorker || chunk.buffer instanceof SharedArrayBuffer) {
            if (fill !== undefined) {
              slot.push(fill.subarray(0, filled));
              fill = undefined;
            }
            slot.push(chunk);
            continue;
          }
          let off = 0;
          while (off < chunk.length) {
            if (fill === undefined) {
              fill = pool.take();
              filled = 0;
            }
            const n = Math.min(chunk.length - off, fill.length - filled);
            copyIntoShared(fill, filled, n === chunk.length ? chunk : chunk.subarray(off, off + n), scratch);
            filled += n;
            off += n;
            if (filled === fill.length) {
              slot.push(fill);
              fill = undefined;
            }
          }
        }
        if (fill !== undefined) slot.push(fill.subarray(0, filled));
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
      if (fatal !== undefined) slot.finish(fatal);
      if (i === 0) {
        void consume(slot, first.body, expectedOf(0));
        return;
      }
      void (async () => {
        try {
          const s = await storage.getStream(key, { start: i * rangeBytes, length: expectedOf(i), signal: inner, pool });
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

    // The parser walks the object in order and routes each entry's data. The hash input is the
    // object's bytes [20, 28) (prev_checksum) and [40, bodyEnd) (the entries): each downloaded
    // chunk is handed to the hasher once the parser has moved past it.
    const bodyEnd = size - HADBP_TRAILER_SIZE;
    /** Chunks the parser has left, not yet handed back to the pool. */
    let retired: Uint8Array[] = [];
    /** Hash batches handed over and not yet known hashed, oldest first, with their bytes. */
    const hashing: { done: Promise<void>; bytes: number }[] = [];
    let lag = 0;
    /** Hands the pending bytes to the hasher; their buffers go back once written and hashed. */
    const cut = async (): Promise<void> => {
      const bytes = hasher!.pending;
      const done = retired;
      retired = [];
      await writer.flush();
      const written = writer.barrier();
      const hashed = hasher!.flush();
      hashed.catch(() => undefined); // awaited below or by `digest`; a failure is reported there
      void Promise.all([written, hashed]).then(
        () => {
          for (const c of done) pool.give(c);
        },
        () => undefined,
      );
      hashing.push({ done: hashed, bytes });
      lag += bytes;
      while (lag > HASH_LAG_BYTES) {
        const oldest = hashing.shift()!;
        await oldest.done;
        lag -= oldest.bytes;
      }
    };
    /** Hands the hashed part of `c`, at object offset `start`, to the hasher. */
    const retire = (c: Uint8Array, start: number): void => {
      const end = start + c.length;
      if (start < PREV_END && end > PREV_START) {
        hasher!.update(c.subarray(Math.max(PREV_START, start) - start, Math.min(PREV_END, end) - start));
      }
      if (end > HADBP_HEADER_SIZE && start < bodyEnd) {
        const from = Math.max(HADBP_HEADER_SIZE, start) - start;
        const to = Math.min(bodyEnd, end) - start;
        hasher!.update(from === 0 && to === c.length ? c : c.subarray(from, to));
      }
      retired.push(c);
    };
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
        if (fatal !== undefined) throw fatal;
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

    let chunk: Uint8Array = new Uint8Array(0);
    /** Object offset of `chunk[0]`. */
    let chunkStart = 0;
    let view = new DataView(chunk.buffer);
    let at = 0; // offset into chunk
    /** Makes at least one unread byte available; `false` at the end of the object. */
    const more = async (): Promise<boolean> => {
      while (at >= chunk.length) {
        const next = await nextChunk();
        if (next === null) return false;
        if (chunk.length > 0) {
          retire(chunk, chunkStart);
          chunkStart += chunk.length;
          if (hasher!.pending >= BATCH_BYTES) await cut();
        }
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
    const header = readPhysicalHeader(h, options.expectedPrev);
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
    retire(chunk, chunkStart);
    await cut();
    // A failed write is reported before any verdict on the bytes.
    await writer.settle();
    await target.end?.();
    // The one fsync runs while the hasher finishes: the file is not published before this resolves.
    const [digest, synced] = await Promise.allSettled([
      hasher.digest(),
      options.sync === true ? Promise.all([writer.writtenBack(), file.sync()]) : writer.writtenBack(),
    ]);
    if (digest.status === 'rejected') throw digest.reason;
    const computed = digestToU64(digest.value);
    if (computed !== stored) throw ChangesetError.checksumMismatch(stored, computed);
    if (synced.status === 'rejected') throw synced.reason;
    return { header, checksum: stored, size, etag };
  } catch (err) {
    const first = fatal;
    fail(err);
    await writer.drain();
    await hasher?.close();
    if (signal?.aborted) throw changesetAborted('changeset download aborted', err);
    throw first ?? err;
  } finally {
    signal?.removeEventListener('abort', onAbort);
    controller.abort();
    await hasher?.close();
  }
}
