/**
 * Where a `Walstream`'s SQLite connections live, its WAL files are read and its checkpoints run:
 * a worker thread ({@link WalThread}, the default), so the application's thread spends no time on
 * them, or the caller's own thread ({@link InlineWal}).
 */
import { createRequire } from 'node:module';
import { pathToFileURL } from 'node:url';
import { Worker } from 'node:worker_threads';
import type { CaptureResult } from './capture.js';
import type { CheckpointCycleInput, CheckpointCycleResult } from './checkpoint-cycle.js';
import { WalstreamError, type WalstreamErrorCode } from './errors.js';
import type { WalPosition } from './state.js';
import { WalOps } from './wal-ops.js';
import type { WalReply, WalRequest } from './wal-protocol.js';

type Pending = { resolve(value: unknown): void; reject(error: Error): void };
/** A request without its id (added when sent). */
export type Body = WalRequest extends infer R ? (R extends WalRequest ? Omit<R, 'id'> : never) : never;

/** True when this module runs from its TypeScript source (the workspace's tests and tools), not from `dist`. */
const FROM_SOURCE = import.meta.url.endsWith('.ts');
/** The worker's module next to this one. */
const WORKER_URL = new URL(FROM_SOURCE ? './wal-worker.ts' : './wal-worker.js', import.meta.url);

/**
 * Starts the worker. From source, a small bootstrap first registers the TypeScript loader (`tsx`,
 * a dev dependency of the workspace) in the worker, with the workspace's `hadb-source` export
 * condition; from `dist`, the compiled module runs as it is.
 */
function startWorker(): Worker {
  if (!FROM_SOURCE) return new Worker(WORKER_URL);
  // The ESM build of `tsx/esm/api` (next to the main export, `dist/loader.mjs`).
  const api = new URL('./esm/api/index.mjs', pathToFileURL(createRequire(import.meta.url).resolve('tsx'))).href;
  const boot = `import(${JSON.stringify(api)}).then((m) => { m.register(); return import(${JSON.stringify(WORKER_URL.href)}); });`;
  return new Worker(boot, { eval: true, execArgv: [...process.execArgv, '--conditions=hadb-source'] });
}

/** What a database's {@link WalDb} needs from where its connections live. */
export interface WalHost {
  /** Checkpoint rounds that backfill while writers go on (see `checkpoint-cycle.ts`). */
  readonly bulkRounds: number;
  /** How long a checkpoint waits for the write lock, ms. */
  readonly lockWaitMs: number;
  /** Captures of at most this many frames are quicker on the caller's thread than a request here. */
  readonly inlineCaptureFrames: number;
  /** The generation of the connections' home: a change means every database must reopen. */
  live(): number;
  /** Runs one request. */
  request<T>(body: Body): Promise<T>;
  /** Opens the connections of the database at `path` (`HADB_WALSTREAM_NOT_WAL` if it cannot be put in WAL mode). */
  open(path: string): Promise<WalDb>;
  /** Ends the host (after every database was closed). Idempotent. */
  close(): Promise<void>;
}

/**
 * A worker that holds the connections (see `wal-worker.ts`). It keeps the process alive only
 * while a request is pending. Should it stop (a crash of the worker), every database reopens its
 * connections on a new one and learns that its read transaction was lost (`WalDb.takeLost`).
 */
export class WalThread implements WalHost {
  readonly bulkRounds = 2;
  /** A writer on another thread leaves the write lock free only between its transactions. */
  readonly lockWaitMs = 250;
  readonly inlineCaptureFrames = 64;
  #worker: Worker | undefined;
  /** Counts workers started: a database opened on an earlier one lost its connections. */
  #generation = 0;
  #nextId = 1;
  readonly #pending = new Map<number, Pending>();
  #closed = false;

  /** The running worker's generation (starting one when none runs): it counts the workers started. */
  live(): number {
    if (this.#closed) return -1;
    this.#start();
    return this.#generation;
  }

  #start(): Worker {
    if (this.#worker !== undefined) return this.#worker;
    const worker = startWorker();
    this.#generation++;
    worker.unref();
    worker.on('message', (reply: WalReply) => this.#settle(reply));
    const fail = (error: Error): void => {
      if (this.#worker !== worker) return;
      this.#worker = undefined;
      for (const p of this.#pending.values())
        p.reject(new WalstreamError('HADB_WALSTREAM_UNAVAILABLE', `the WAL thread stopped: ${error.message}`));
      this.#pending.clear();
    };
    worker.on('error', fail);
    worker.on('exit', (code) => fail(new Error(`exit code ${code}`)));
    this.#worker = worker;
    return worker;
  }

  #settle(reply: WalReply): void {
    const p = this.#pending.get(reply.id);
    if (p === undefined) return;
    this.#pending.delete(reply.id);
    if (this.#pending.size === 0) this.#worker?.unref();
    if (reply.ok) p.resolve(reply.value);
    else p.reject(rebuildError(reply.error));
  }

  /** Sends one request; resolves with the worker's answer. */
  request<T>(body: Body): Promise<T> {
    if (this.#closed) return Promise.reject(new WalstreamError('HADB_WALSTREAM_CLOSED', 'walstream is closed'));
    const worker = this.#start();
    const id = this.#nextId++;
    return new Promise<T>((resolve, reject) => {
      this.#pending.set(id, { resolve: resolve as (value: unknown) => void, reject });
      if (this.#pending.size === 1) worker.ref();
      worker.postMessage({ ...body, id });
    });
  }

  open(path: string): Promise<WalDb> {
    return WalDb.open(this, path);
  }

  /**
   * Stops the worker as its crash would: pending requests fail with `HADB_WALSTREAM_UNAVAILABLE`,
   * the next request starts a new worker, and each database reopens its connections there.
   */
  async stopWorker(): Promise<void> {
    await this.#worker?.terminate();
  }

  async close(): Promise<void> {
    this.#closed = true;
    const worker = this.#worker;
    this.#worker = undefined;
    await worker?.terminate();
  }
}

/**
 * The connections on the caller's thread. A checkpoint then runs whole while the application's
 * code on that thread waits, so it never waits for the write lock (a transaction left open across
 * an `await` makes it skip the round), needs no bulk rounds, and paces a writer on that thread.
 */
export class InlineWal implements WalHost {
  readonly bulkRounds = 0;
  readonly lockWaitMs = 0;
  /** Every capture runs here. */
  readonly inlineCaptureFrames = Number.POSITIVE_INFINITY;
  readonly #ops = new WalOps();
  #closed = false;

  live(): number {
    return this.#closed ? -1 : 1;
  }

  request<T>(body: Body): Promise<T> {
    if (this.#closed) return Promise.reject(new WalstreamError('HADB_WALSTREAM_CLOSED', 'walstream is closed'));
    try {
      return Promise.resolve(this.#ops.handle({ ...body, id: 0 } as WalRequest).value as T);
    } catch (err) {
      return Promise.reject(err);
    }
  }

  open(path: string): Promise<WalDb> {
    return WalDb.open(this, path);
  }

  async close(): Promise<void> {
    this.#closed = true;
  }
}

/** Names the databases' connections on their hosts (unique in the process). */
let nextDb = 1;

/** One database's connections on a {@link WalHost}. */
export class WalDb {
  readonly #thread: WalHost;
  readonly #db: number;
  readonly #path: string;
  #generation: number;
  #lost = false;

  private constructor(thread: WalHost, db: number, path: string, generation: number) {
    this.#thread = thread;
    this.#db = db;
    this.#path = path;
    this.#generation = generation;
  }

  /** Opens the connections of the database at `path` on `host` (`HADB_WALSTREAM_NOT_WAL` if it cannot be put in WAL mode). */
  static async open(host: WalHost, path: string): Promise<WalDb> {
    const db = nextDb++;
    const generation = host.live();
    await host.request({ op: 'open', db, path, lockWaitMs: host.lockWaitMs });
    return new WalDb(host, db, path, generation);
  }

  /** True once (then reset) when the connections were reopened after the thread stopped: the read transaction was lost. */
  takeLost(): boolean {
    const lost = this.#lost;
    this.#lost = false;
    return lost;
  }

  async #call<T>(body: Body): Promise<T> {
    // A worker started after this database's does not hold its connections.
    if (this.#generation !== this.#thread.live()) await this.#reopen();
    return this.#thread.request<T>(body);
  }

  async #reopen(): Promise<void> {
    this.#lost = true;
    this.#generation = this.#thread.live();
    await this.#thread.request({ op: 'open', db: this.#db, path: this.#path, lockWaitMs: this.#thread.lockWaitMs });
    await this.#thread.request({ op: 'holdRead', db: this.#db });
  }

  /** Starts (or keeps) the long-lived read transaction. */
  holdRead(): Promise<void> {
    return this.#call({ op: 'holdRead', db: this.#db });
  }

  /** Ends the read transaction and starts a new one (at the end of the WAL). */
  rehold(): Promise<void> {
    return this.#call({ op: 'rehold', db: this.#db });
  }

  /** `captureCommitted` on the thread. */
  capture(walPath: string, cursor: WalPosition | null, restartSafe: boolean, maxBytes: number): Promise<CaptureResult> {
    return this.#call({ op: 'capture', db: this.#db, walPath, cursor, restartSafe, maxBytes });
  }

  /** `checkpointCycle` on the thread. */
  checkpoint(input: CheckpointCycleInput): Promise<CheckpointCycleResult> {
    return this.#call({ op: 'checkpoint', db: this.#db, input });
  }

  /** Closes the connections (ends the read transaction). */
  async close(): Promise<void> {
    if (this.#generation !== this.#thread.live()) return;
    await this.#thread.request({ op: 'close', db: this.#db });
  }
}

function rebuildError(e: {
  readonly name: string;
  readonly code: string | undefined;
  readonly message: string;
}): Error {
  if (e.name === 'WalstreamError' && e.code !== undefined)
    return new WalstreamError(e.code as WalstreamErrorCode, e.message);
  return new WalstreamError('HADB_WALSTREAM_UNAVAILABLE', `${e.code ?? e.name}: ${e.message}`);
}
