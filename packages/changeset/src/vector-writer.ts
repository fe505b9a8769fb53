import type { FileHandle } from 'node:fs/promises';

/** Vectored writes gather at most this many pieces (below every platform's IOV_MAX) … */
const MAX_IOV = 512;
/** … and this many bytes. */
const MAX_WRITE_BYTES = 8 << 20;
/** Vectored writes in flight. */
const WRITES_IN_FLIGHT = 4;

/**
 * Positional vectored writes of views (no copy), a few in flight. Adjacent pieces are gathered
 * into one `writev`. The views must stay unchanged until a {@link barrier} taken after they were
 * added resolves.
 *
 * With `writebackBytes`, every time that many bytes have been written since the last one, an
 * `fdatasync` starts in the background (one at a time) while writing goes on, so the kernel
 * writes the file back as it grows and the caller's final fsync only has the tail left.
 * {@link writtenBack} reports a failure of any of them: an error seen by a background sync may
 * not be reported again by a later fsync of the same file.
 */
export class VectorWriter {
  #pieces: Uint8Array[] = [];
  #offset = 0;
  #bytes = 0;
  readonly #inflight: Promise<void>[] = [];
  readonly #file: FileHandle;
  readonly #writebackBytes: number;
  #unsynced = 0;
  #syncing: Promise<void> | undefined;
  #syncError: { error: unknown } | undefined;

  constructor(file: FileHandle, options: { readonly writebackBytes?: number | undefined } = {}) {
    this.#file = file;
    this.#writebackBytes = options.writebackBytes ?? 0;
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

  /** Issues the gathered pieces as one write; waits only while too many writes are in flight. */
  async flush(): Promise<void> {
    if (this.#pieces.length === 0) return;
    const pieces = this.#pieces;
    const offset = this.#offset;
    this.#pieces = [];
    this.#bytes = 0;
    if (this.#inflight.length >= WRITES_IN_FLIGHT) await this.#inflight.shift();
    const p = writeAll(this.#file, pieces, offset);
    p.then(
      () => this.#written(pieces),
      () => undefined,
    );
    this.#inflight.push(p);
  }

  /**
   * Resolves once every write issued so far has ended, successfully or not (failures are
   * reported by `add`, `flush` or `settle`). Pieces not yet flushed are not covered.
   */
  barrier(): Promise<void> {
    return Promise.allSettled(this.#inflight).then(() => undefined);
  }

  /** Flushes and waits for every write; the first failure rejects. */
  async settle(): Promise<void> {
    await this.flush();
    while (this.#inflight.length > 0) await this.#inflight.shift();
  }

  /**
   * Waits for the background `fdatasync` in flight, if any; rejects if any of them failed. Call
   * it with the final fsync: the file is durable only when both succeeded.
   */
  async writtenBack(): Promise<void> {
    await this.#syncing;
    if (this.#syncError !== undefined) throw this.#syncError.error;
  }

  /** Waits for writes and the background sync in flight without reporting failures (cleanup). */
  async drain(): Promise<void> {
    this.#pieces = [];
    this.#bytes = 0;
    await Promise.allSettled(this.#inflight.splice(0));
    await this.#syncing;
  }

  #written(pieces: readonly Uint8Array[]): void {
    if (this.#writebackBytes <= 0) return;
    for (const b of pieces) this.#unsynced += b.length;
    if (this.#unsynced < this.#writebackBytes || this.#syncing !== undefined || this.#syncError !== undefined) return;
    this.#unsynced = 0;
    this.#syncing = this.#file.datasync().then(
      () => {
        this.#syncing = undefined;
      },
      (error: unknown) => {
        this.#syncError ??= { error };
        this.#syncing = undefined;
      },
    );
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
