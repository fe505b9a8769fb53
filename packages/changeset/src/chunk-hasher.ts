import { createHash, type Hash } from 'node:crypto';
import { Worker } from 'node:worker_threads';
import { ChangesetError } from './errors.js';

/**
 * One in-order SHA-256 over byte views handed to it with {@link update}. A view must stay
 * unchanged until the promise of the {@link flush} that followed it resolves; only then may its
 * buffer be reused.
 */
export interface ChunkHasher {
  /** Appends `bytes` to the hash input (in order). */
  update(bytes: Uint8Array): void;
  /** Bytes appended since the last {@link flush}. */
  readonly pending: number;
  /** Hands the pending bytes over; resolves once they were hashed. */
  flush(): Promise<void>;
  /** Ends the hash (after every earlier flush). */
  digest(): Promise<Uint8Array>;
  /** Stops the hasher and waits until it no longer reads any view; pending calls reject. Idempotent. */
  close(): Promise<void>;
}

/** Hashes on the calling thread (small objects, where starting a thread costs more than it saves). */
export class InlineChunkHasher implements ChunkHasher {
  readonly #hash: Hash = createHash('sha256');
  #pending = 0;

  update(bytes: Uint8Array): void {
    this.#hash.update(bytes);
    this.#pending += bytes.length;
  }

  get pending(): number {
    return this.#pending;
  }

  flush(): Promise<void> {
    this.#pending = 0;
    return Promise.resolve();
  }

  digest(): Promise<Uint8Array> {
    return Promise.resolve(this.#hash.digest());
  }

  async close(): Promise<void> {}
}

/** A batch for the worker: views named by `(buffer id, byte offset, length)` triples. */
interface Batch {
  /** Shared buffers not sent before, which get the next ids in order. */
  readonly added: SharedArrayBuffer[];
  /** Triples; an id of -1 names `plain[offset]` (a copied, non-shared view; length unused). */
  readonly ops: number[];
  readonly plain: Uint8Array[];
}

/**
 * The worker's program (CommonJS, evaluated: no file to resolve in source or built layouts).
 * A message is either a {@link Batch}, hashed in order and answered with `'hashed'`, or
 * `'digest'`, answered with the digest. Each shared buffer is sent once and then named by its id
 * (posting a shared buffer again costs far more than a few numbers).
 */
const WORKER_SOURCE = `
const { parentPort } = require('node:worker_threads');
const hash = require('node:crypto').createHash('sha256');
const buffers = [];
parentPort.on('message', (m) => {
  if (m === 'digest') return parentPort.postMessage(new Uint8Array(hash.digest()));
  for (const b of m.added) buffers.push(new Uint8Array(b));
  const ops = m.ops;
  for (let i = 0; i < ops.length; i += 3) {
    const id = ops[i];
    if (id < 0) hash.update(m.plain[ops[i + 1]]);
    else hash.update(buffers[id].subarray(ops[i + 1], ops[i + 1] + ops[i + 2]));
  }
  parentPort.postMessage('hashed');
});
`;

/**
 * Hashes on a worker thread, so hashing overlaps the downloads and writes of the calling thread.
 * Views of `SharedArrayBuffer`s reach the worker without a copy (their memory is read in place,
 * hence the rule that it stays unchanged until the flush resolves); other views are copied when
 * posted. If the worker fails or exits before {@link close}, every pending and later call
 * rejects with `HADB_CHANGESET_WORKER_FAILED` and `onFail` is called once with that error.
 */
export class WorkerChunkHasher implements ChunkHasher {
  readonly #worker: Worker;
  /** Resolvers of `flush` and `digest`, in the order the worker answers them. */
  readonly #waiting: { resolve: (v: unknown) => void; reject: (e: unknown) => void }[] = [];
  #batch: Batch = { added: [], ops: [], plain: [] };
  readonly #ids = new WeakMap<SharedArrayBuffer, number>();
  #nextId = 0;
  #pending = 0;
  #failure: ChangesetError | undefined;
  #closed = false;
  readonly #onFail: (err: ChangesetError) => void;

  constructor(onFail: (err: ChangesetError) => void) {
    this.#onFail = onFail;
    this.#worker = new Worker(WORKER_SOURCE, { eval: true });
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

  update(bytes: Uint8Array): void {
    if (bytes.length === 0) return;
    const batch = this.#batch;
    const buffer = bytes.buffer;
    if (buffer instanceof SharedArrayBuffer) {
      let id = this.#ids.get(buffer);
      if (id === undefined) {
        id = this.#nextId++;
        this.#ids.set(buffer, id);
        batch.added.push(buffer);
      }
      batch.ops.push(id, bytes.byteOffset, bytes.length);
    } else {
      batch.ops.push(-1, batch.plain.length, 0);
      batch.plain.push(bytes);
    }
    this.#pending += bytes.length;
  }

  get pending(): number {
    return this.#pending;
  }

  async flush(): Promise<void> {
    const batch = this.#batch;
    this.#batch = { added: [], ops: [], plain: [] };
    this.#pending = 0;
    await this.#ask(batch);
  }

  async digest(): Promise<Uint8Array> {
    if (this.#batch.ops.length > 0) await this.flush();
    return (await this.#ask('digest')) as Uint8Array;
  }

  async close(): Promise<void> {
    if (!this.#closed) {
      this.#closed = true;
      this.#batch = { added: [], ops: [], plain: [] };
      const err = new ChangesetError('HADB_CHANGESET_WORKER_FAILED', 'hash worker closed');
      for (const w of this.#waiting.splice(0)) w.reject(err);
    }
    await this.#worker.terminate();
  }

  #ask(message: Batch | 'digest'): Promise<unknown> {
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
