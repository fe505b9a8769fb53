import { createHash, type Hash } from 'node:crypto';
import { readSync } from 'node:fs';
import { Worker } from 'node:worker_threads';
import { ChangesetError } from './errors.js';

/**
 * A piece of the hash input: `ops` holds pairs `(offset, length)`; an offset of `-1` takes the
 * next `length` bytes of `inline`, any other offset reads `length` bytes of the file at that
 * offset (bytes already written there). Pieces are hashed in order.
 */
export interface HashBatch {
  readonly ops: Float64Array<ArrayBuffer>;
  readonly inline: Uint8Array<ArrayBuffer>;
}

/**
 * One in-order SHA-256 over {@link HashBatch}es. Batches are hashed in the order they are
 * posted; `mark` resolves once every earlier batch was hashed; `digest` ends the hash.
 */
export interface RecipeHasher {
  post(batch: HashBatch): void;
  mark(): Promise<void>;
  digest(): Promise<Uint8Array>;
  /** Stops the hasher and waits until it no longer reads the file; pending calls reject. Idempotent. */
  close(): Promise<void>;
}

/** Bytes read back from the file per `pread` (file extents that follow each other are read together). */
const READ_BYTES = 8 << 20;

/**
 * Hashes a batch; `read(buffer, length, position)` fills `buffer` from the file. Shared by the
 * inline hasher and, as source text, by the worker: it must use nothing but its parameters and
 * globals (no imports, no module-level names), since the worker evaluates its text.
 */
function hashBatch(
  hash: { update(b: Uint8Array): unknown },
  batch: HashBatch,
  buffer: Uint8Array,
  read: (buffer: Uint8Array, length: number, position: number) => void,
): void {
  const { ops, inline } = batch;
  let ip = 0;
  // The file window currently in `buffer`: [winStart, winEnd).
  let winStart = 0;
  let winEnd = 0;
  for (let i = 0; i < ops.length; i += 2) {
    const off = ops[i]!;
    const len = ops[i + 1]!;
    if (off < 0) {
      hash.update(inline.subarray(ip, ip + len));
      ip += len;
      continue;
    }
    let done = 0;
    while (done < len) {
      const at = off + done;
      if (at < winStart || at >= winEnd) {
        // Read this extent and the extents right after it (in file order) in one go.
        let end = at;
        for (let j = i; j < ops.length; j += 2) {
          const o = ops[j]!;
          if (o < 0) continue;
          const from = j === i ? at : o;
          if (from !== end) break;
          end = Math.min(o + ops[j + 1]!, at + buffer.length);
          if (end - at >= buffer.length) break;
        }
        read(buffer, end - at, at);
        winStart = at;
        winEnd = end;
      }
      const take = Math.min(len - done, winEnd - at);
      hash.update(buffer.subarray(at - winStart, at - winStart + take));
      done += take;
    }
  }
}

function readFully(fd: number, buffer: Uint8Array, length: number, position: number): void {
  let got = 0;
  while (got < length) {
    const n = readSync(fd, buffer, got, length - got, position + got);
    if (n === 0) throw new RangeError(`short read at ${position + got}`);
    got += n;
  }
}

/** Hashes on the calling thread (small objects, where starting a thread costs more than it saves). */
export class InlineRecipeHasher implements RecipeHasher {
  readonly #hash: Hash = createHash('sha256');
  readonly #fd: number;
  #buffer: Uint8Array | undefined;
  #closed = false;

  constructor(fd: number) {
    this.#fd = fd;
  }

  post(batch: HashBatch): void {
    if (this.#closed) return;
    this.#buffer ??= new Uint8Array(Math.min(READ_BYTES, 1 << 20));
    const fd = this.#fd;
    hashBatch(this.#hash, batch, this.#buffer, (b, n, p) => readFully(fd, b, n, p));
  }

  mark(): Promise<void> {
    return Promise.resolve();
  }

  digest(): Promise<Uint8Array> {
    return Promise.resolve(this.#hash.digest());
  }

  async close(): Promise<void> {
    this.#closed = true;
  }
}

/**
 * The worker's program (CommonJS, evaluated: no file to resolve in source or built layouts).
 * Messages: a batch is hashed; `'mark'` answers `'marked'` once all earlier batches are hashed;
 * `'digest'` answers the digest.
 */
const WORKER_SOURCE = `
const { parentPort, workerData } = require('node:worker_threads');
const { readSync } = require('node:fs');
const hash = require('node:crypto').createHash('sha256');
const buffer = new Uint8Array(${READ_BYTES});
const fd = workerData.fd;
function readFully(buffer, length, position) {
  let got = 0;
  while (got < length) {
    const n = readSync(fd, buffer, got, length - got, position + got);
    if (n === 0) throw new RangeError('short read at ' + (position + got));
    got += n;
  }
}
const hashBatch = ${hashBatch.toString()};
parentPort.on('message', (m) => {
  if (m === 'mark') return parentPort.postMessage('marked');
  if (m === 'digest') return parentPort.postMessage(new Uint8Array(hash.digest()));
  hashBatch(hash, m, buffer, readFully);
});
`;

/**
 * Hashes on a worker thread, which reads the file extents back itself (from the page cache),
 * so hashing overlaps the downloads and writes of the calling thread and may lag behind them
 * without holding their buffers. If the worker fails or exits before {@link close}, every
 * pending and later call rejects with `HADB_CHANGESET_WORKER_FAILED` and `onFail` is called
 * once with that error.
 */
export class WorkerRecipeHasher implements RecipeHasher {
  readonly #worker: Worker;
  /** Resolvers of `mark` and `digest`, in the order the worker answers them. */
  readonly #waiting: { resolve: (v: unknown) => void; reject: (e: unknown) => void }[] = [];
  #failure: ChangesetError | undefined;
  #closed = false;
  readonly #onFail: (err: ChangesetError) => void;

  constructor(fd: number, onFail: (err: ChangesetError) => void) {
    this.#onFail = onFail;
    this.#worker = new Worker(WORKER_SOURCE, { eval: true, workerData: { fd } });
    this.#worker.on('message', (m: unknown) => {
      this.#waiting.shift()?.resolve(m);
    });
    this.#worker.on('error', (err) => {
      this.#fail(
        new ChangesetError('HADB_CHANGESET_WORKER_FAILED', `hash worker failed: ${err.message}`, { cause: err }),
      );
    });
    this.#worker.on('exit', (code) => {
      this.#fail(new ChangesetError('HADB_CHANGESET_WORKER_FAILED', `hash worker exited (code ${code})`));
    });
  }

  /** The worker thread (for diagnostics and tests). */
  get worker(): Worker {
    return this.#worker;
  }

  post(batch: HashBatch): void {
    if (this.#failure !== undefined || this.#closed) return;
    this.#worker.postMessage(batch, [batch.ops.buffer, batch.inline.buffer]);
  }

  async mark(): Promise<void> {
    await this.#ask('mark');
  }

  async digest(): Promise<Uint8Array> {
    return (await this.#ask('digest')) as Uint8Array;
  }

  async close(): Promise<void> {
    if (!this.#closed) {
      this.#closed = true;
      const err = new ChangesetError('HADB_CHANGESET_WORKER_FAILED', 'hash worker closed');
      for (const w of this.#waiting.splice(0)) w.reject(err);
    }
    await this.#worker.terminate();
  }

  #ask(message: 'mark' | 'digest'): Promise<unknown> {
    if (this.#failure !== undefined) return Promise.reject(this.#failure);
    if (this.#closed) return Promise.reject(new ChangesetError('HADB_CHANGESET_WORKER_FAILED', 'hash worker closed'));
    return new Promise((resolve, reject) => {
      this.#waiting.push({ resolve, reject });
      this.#worker.postMessage(message);
    });
  }

  #fail(err: ChangesetError): void {
    if (this.#closed || this.#failure !== undefined) return;
    this.#failure = err;
    for (const w of this.#waiting.splice(0)) w.reject(err);
    this.#onFail(err);
  }
}
