import { type Clock, abortReason, systemClock, throwIfAborted } from '@hadb/io';
import {
  StorageError,
  storageAborted,
  type CasResult,
  type GetStreamOptions,
  type ListOptions,
  type ListPage,
  type ListPageOptions,
  type ObjectInfo,
  type ObjectStream,
  type OpOptions,
  type PutStreamOptions,
  type PutStreamResult,
  type StorageBackend,
  type StorageCapabilities,
  type StoredObject,
} from '@hadb/storage';
import { Prng } from '../prng.js';

/** The StorageBackend methods a fault can target. */
export type StorageOperation =
  | 'get'
  | 'head'
  | 'exists'
  | 'put'
  | 'putIfAbsent'
  | 'putIfMatch'
  | 'delete'
  | 'rangeGet'
  | 'list'
  | 'listPage'
  | 'deleteMany'
  | 'putMany'
  | 'getStream'
  | 'putStream';

/** Operations that change stored state (the only ones that can lose a reply). */
export const WRITE_OPERATIONS: readonly StorageOperation[] = [
  'put',
  'putIfAbsent',
  'putIfMatch',
  'delete',
  'deleteMany',
  'putMany',
  'putStream',
];

/** Operations whose data a torn write can truncate. */
export const TEARABLE_OPERATIONS: readonly StorageOperation[] = [
  'put',
  'putIfAbsent',
  'putIfMatch',
  'putMany',
  'putStream',
];

/** Fault settings of {@link withFaults}; every rate is a probability from 0 to 1 per eligible call. */
export interface FaultSettings {
  /** Fail the call with `HADB_STORAGE_UNAVAILABLE` before it reaches the backend. Default 0. */
  readonly errorRate?: number | undefined;
  /**
   * Writes only: perform the write, then reject with `HADB_STORAGE_AMBIGUOUS` as if the reply was
   * lost on the way back. Default 0.
   */
  readonly lostReplies?: number | undefined;
  /**
   * put/putIfAbsent/putIfMatch/putMany entries/putStream: store a strict prefix of the data
   * instead of all of it. This models a store that is NOT atomic (a crashed writer's partial
   * object, or an object exposed before all its bytes arrived). Real backends must never do this;
   * it exists so tests can prove that readers detect truncated objects by length and checksum.
   * Default 0.
   */
  readonly tornWrites?: number | undefined;
  /** What the writer hears after a torn write: `'success'` (silent, the default) or `'ambiguous'`. */
  readonly tornWriteReply?: 'success' | 'ambiguous' | undefined;
  /**
   * getStream only: the body fails with `HADB_STORAGE_UNAVAILABLE` after delivering a strict
   * prefix of the requested bytes (a connection reset mid-download). Default 0.
   */
  readonly streamErrors?: number | undefined;
  /**
   * Delay before each eligible call: a fixed number of ms, or `[min, max]` drawn uniformly. The
   * call's `AbortSignal` is honoured during the delay (`HADB_STORAGE_ABORTED`). Default 0.
   */
  readonly latencyMs?: number | readonly [number, number] | undefined;
  /** Only these operations get faults and latency. Default: all. */
  readonly operations?: readonly StorageOperation[] | undefined;
  /**
   * Only calls touching a matching key get faults and latency; list/listPage pass their prefix,
   * batches match if any of their keys does. Default: all.
   */
  readonly keys?: ((key: string) => boolean) | undefined;
  /**
   * list/listPage: ignore `after` and list from the start of the prefix, as a backend that treats
   * `after` as a hint may. Callers must still filter. Default false.
   */
  readonly listIgnoresAfter?: boolean | undefined;
  /** list/listPage: repeat the first listed key (a listing that is not de-duplicated). Default false. */
  readonly listDuplicatesFirst?: boolean | undefined;
}

/** Options of {@link withFaults}. */
export interface FaultOptions extends FaultSettings {
  /** PRNG seed: the same seed and the same sequence of calls inject the same faults. */
  readonly seed: number;
  /** Time source of `latencyMs` (a `ManualClock` makes latency virtual). Default `systemClock`. */
  readonly clock?: Clock | undefined;
}

/** Counts of injected faults, for one operation or in total. */
export interface FaultCount {
  /** Eligible calls (those the filters selected). */
  calls: number;
  errors: number;
  lostReplies: number;
  tornWrites: number;
  streamErrors: number;
  /** Calls that were delayed by a non-zero latency. */
  delayed: number;
}

/** A snapshot of {@link FaultyStorageBackend.faultCounts}. */
export interface FaultCounters extends FaultCount {
  readonly byOperation: Partial<Record<StorageOperation, FaultCount>>;
}

/** A backend wrapped by {@link withFaults}. */
export interface FaultyStorageBackend extends StorageBackend {
  /** The wrapped backend (calls to it bypass the faults). */
  readonly inner: StorageBackend;
  /** Counts of faults injected so far. */
  faultCounts(): FaultCounters;
  /** Zeroes the counters. */
  resetFaultCounts(): void;
  /**
   * Replaces the fault settings from now on, e.g. `{ errorRate: 0 }` to heal an outage. Settings
   * not given keep their values; the PRNG sequence continues.
   */
  setFaults(settings: FaultSettings): void;
}

const emptyCount = (): FaultCount => ({
  calls: 0,
  errors: 0,
  lostReplies: 0,
  tornWrites: 0,
  streamErrors: 0,
  delayed: 0,
});

/** The random draws of one eligible call, always taken in this order so settings don't shift the sequence. */
interface Draws {
  latency: number;
  error: number;
  lost: number;
  torn: number;
  cut: number;
}

/**
 * Wraps a backend with deterministic, seeded faults for reliability tests: errors before the call
 * (`HADB_STORAGE_UNAVAILABLE`), lost replies after a write (`HADB_STORAGE_AMBIGUOUS`), latency,
 * torn (truncated) writes and mid-stream read failures, filtered by operation and key.
 *
 * Each eligible call draws a fixed number of values from the PRNG, so a sequential test replays
 * exactly; with concurrent calls the order of draws follows the scheduling of the calls.
 * Capabilities and name are the inner backend's (with `+faults` appended to the name); close()
 * closes the inner backend.
 */
export function withFaults(backend: StorageBackend, options: FaultOptions): FaultyStorageBackend {
  return new FaultyBackend(backend, options);
}

class FaultyBackend implements FaultyStorageBackend {
  readonly name: string;
  readonly capabilities: StorageCapabilities;
  readonly #prng: Prng;
  readonly #clock: Clock;
  #settings: FaultSettings;
  #total: FaultCount = emptyCount();
  #byOperation: Partial<Record<StorageOperation, FaultCount>> = {};

  constructor(
    readonly inner: StorageBackend,
    options: FaultOptions,
  ) {
    this.name = `${inner.name}+faults`;
    this.capabilities = inner.capabilities;
    this.#prng = new Prng(options.seed);
    this.#clock = options.clock ?? systemClock;
    const { seed: _seed, clock: _clock, ...settings } = options;
    this.#settings = settings;
  }

  faultCounts(): FaultCounters {
    const byOperation: Partial<Record<StorageOperation, FaultCount>> = {};
    for (const [op, count] of Object.entries(this.#byOperation)) byOperation[op as StorageOperation] = { ...count };
    return { ...this.#total, byOperation };
  }

  resetFaultCounts(): void {
    this.#total = emptyCount();
    this.#byOperation = {};
  }

  setFaults(settings: FaultSettings): void {
    const defined = Object.fromEntries(Object.entries(settings).filter(([, v]) => v !== undefined));
    this.#settings = { ...this.#settings, ...defined };
  }

  #count(op: StorageOperation, field: keyof FaultCount): void {
    this.#total[field]++;
    (this.#byOperation[op] ??= emptyCount())[field]++;
  }

  /**
   * Decides the faults of one call: applies latency and the injected error, and returns the
   * draws for the after-call faults, or `undefined` if the call is not eligible.
   */
  async #before(
    op: StorageOperation,
    keys: readonly string[],
    signal: AbortSignal | undefined,
  ): Promise<Draws | undefined> {
    const s = this.#settings;
    if (s.operations !== undefined && !s.operations.includes(op)) return undefined;
    if (s.keys !== undefined && !keys.some((k) => s.keys!(k))) return undefined;
    const draws: Draws = {
      latency: this.#prng.next(),
      error: this.#prng.next(),
      lost: this.#prng.next(),
      torn: this.#prng.next(),
      cut: this.#prng.next(),
    };
    this.#count(op, 'calls');
    const latency = s.latencyMs;
    const ms =
      latency === undefined
        ? 0
        : typeof latency === 'number'
          ? latency
          : latency[0] + draws.latency * (latency[1] - latency[0]);
    if (ms > 0) {
      this.#count(op, 'delayed');
      await sleep(this.#clock, ms, signal);
    }
    if (draws.error < (s.errorRate ?? 0)) {
      this.#count(op, 'errors');
      throw new StorageError('HADB_STORAGE_UNAVAILABLE', `injected fault: ${op} unavailable`);
    }
    return draws;
  }

  #tears(op: StorageOperation, draws: Draws | undefined, length: number): number | undefined {
    if (draws === undefined || length === 0 || !(draws.torn < (this.#settings.tornWrites ?? 0))) return undefined;
    this.#count(op, 'tornWrites');
    return Math.floor(draws.cut * length);
  }

  /** Runs a write and applies the lost-reply / torn-reply faults to its outcome. */
  async #write<T>(op: StorageOperation, draws: Draws | undefined, torn: boolean, run: () => Promise<T>): Promise<T> {
    const result = await run();
    if (draws === undefined) return result;
    if (draws.lost < (this.#settings.lostReplies ?? 0)) {
      this.#count(op, 'lostReplies');
      throw new StorageError('HADB_STORAGE_AMBIGUOUS', `injected fault: ${op} reply lost after the write`);
    }
    if (torn && this.#settings.tornWriteReply === 'ambiguous') {
      throw new StorageError('HADB_STORAGE_AMBIGUOUS', `injected fault: ${op} torn, outcome unknown`);
    }
    return result;
  }

  async get(key: string, options?: OpOptions): Promise<StoredObject | null> {
    await this.#before('get', [key], options?.signal);
    return this.inner.get(key, options);
  }

  async head(key: string, options?: OpOptions): Promise<ObjectInfo | null> {
    await this.#before('head', [key], options?.signal);
    return this.inner.head(key, options);
  }

  async exists(key: string, options?: OpOptions): Promise<boolean> {
    await this.#before('exists', [key], options?.signal);
    return this.inner.exists(key, options);
  }

  async put(key: string, data: Uint8Array, options?: OpOptions): Promise<{ readonly etag: string }> {
    const draws = await this.#before('put', [key], options?.signal);
    const cut = this.#tears('put', draws, data.length);
    return this.#write('put', draws, cut !== undefined, () =>
      this.inner.put(key, cut === undefined ? data : data.subarray(0, cut), options),
    );
  }

  async putIfAbsent(key: string, data: Uint8Array, options?: OpOptions): Promise<CasResult> {
    const draws = await this.#before('putIfAbsent', [key], options?.signal);
    const cut = this.#tears('putIfAbsent', draws, data.length);
    return this.#write('putIfAbsent', draws, cut !== undefined, () =>
      this.inner.putIfAbsent(key, cut === undefined ? data : data.subarray(0, cut), options),
    );
  }

  async putIfMatch(key: string, data: Uint8Array, etag: string, options?: OpOptions): Promise<CasResult> {
    const draws = await this.#before('putIfMatch', [key], options?.signal);
    const cut = this.#tears('putIfMatch', draws, data.length);
    return this.#write('putIfMatch', draws, cut !== undefined, () =>
      this.inner.putIfMatch(key, cut === undefined ? data : data.subarray(0, cut), etag, options),
    );
  }

  async delete(key: string, options?: OpOptions): Promise<void> {
    const draws = await this.#before('delete', [key], options?.signal);
    return this.#write('delete', draws, false, () => this.inner.delete(key, options));
  }

  async rangeGet(key: string, start: number, length: number, options?: OpOptions): Promise<Uint8Array | null> {
    await this.#before('rangeGet', [key], options?.signal);
    return this.inner.rangeGet(key, start, length, options);
  }

  async list(prefix: string, options?: ListOptions): Promise<string[]> {
    await this.#before('list', [prefix], options?.signal);
    return this.#listQuirks(await this.inner.list(prefix, this.#listOptions(options)));
  }

  async listPage(prefix: string, options?: ListPageOptions): Promise<ListPage> {
    await this.#before('listPage', [prefix], options?.signal);
    const page = await this.inner.listPage(prefix, this.#listOptions(options));
    return { ...page, keys: this.#listQuirks([...page.keys]) };
  }

  #listOptions<O extends ListOptions>(options: O | undefined): O | undefined {
    if (options === undefined || this.#settings.listIgnoresAfter !== true) return options;
    return { ...options, after: undefined };
  }

  #listQuirks(keys: string[]): string[] {
    if (this.#settings.listDuplicatesFirst === true && keys.length > 0) keys.unshift(keys[0] as string);
    return keys;
  }

  async deleteMany(keys: readonly string[], options?: OpOptions): Promise<number> {
    const draws = await this.#before('deleteMany', keys, options?.signal);
    return this.#write('deleteMany', draws, false, () => this.inner.deleteMany(keys, options));
  }

  async putMany(
    entries: Iterable<{ readonly key: string; readonly data: Uint8Array }>,
    options?: OpOptions,
  ): Promise<void> {
    const list = [...entries];
    const draws = await this.#before(
      'putMany',
      list.map((e) => e.key),
      options?.signal,
    );
    let torn = false;
    const written = list.map((entry, i) => {
      // Each entry tears independently; the draws are derived from the call's so the sequence stays fixed.
      const entryDraws =
        draws === undefined
          ? undefined
          : { ...draws, torn: frac(draws.torn + i * 0.618033988749895), cut: frac(draws.cut + i * 0.414213562373095) };
      const cut = this.#tears('putMany', entryDraws, entry.data.length);
      if (cut === undefined) return entry;
      torn = true;
      return { key: entry.key, data: entry.data.subarray(0, cut) };
    });
    return this.#write('putMany', draws, torn, () => this.inner.putMany(written, options));
  }

  async getStream(key: string, options?: GetStreamOptions): Promise<ObjectStream | null> {
    const draws = await this.#before('getStream', [key], options?.signal);
    const stream = await this.inner.getStream(key, options);
    if (stream === null || draws === undefined || !(draws.torn < (this.#settings.streamErrors ?? 0))) return stream;
    const start = options?.start ?? 0;
    const available = Math.max(0, Math.min(options?.length ?? Infinity, stream.size - start));
    const cut = Math.floor(draws.cut * available);
    this.#count('getStream', 'streamErrors');
    return { size: stream.size, etag: stream.etag, body: failAfter(stream.body, cut) };
  }

  async putStream(key: string, body: AsyncIterable<Uint8Array>, options?: PutStreamOptions): Promise<PutStreamResult> {
    const draws = await this.#before('putStream', [key], options?.signal);
    const tear = draws !== undefined && draws.torn < (this.#settings.tornWrites ?? 0);
    if (!tear) return this.#write('putStream', draws, false, () => this.inner.putStream(key, body, options));
    const counted = { torn: false };
    const result = await this.#write('putStream', draws, false, () =>
      this.inner.putStream(key, truncateLast(body, draws.cut, counted), { ...options, contentLength: undefined }),
    );
    if (counted.torn) {
      this.#count('putStream', 'tornWrites');
      if (this.#settings.tornWriteReply === 'ambiguous') {
        throw new StorageError('HADB_STORAGE_AMBIGUOUS', 'injected fault: putStream torn, outcome unknown');
      }
    }
    return result;
  }

  close(): Promise<void> {
    return this.inner.close();
  }

  [Symbol.asyncDispose](): Promise<void> {
    return this.close();
  }
}

function frac(x: number): number {
  return x - Math.floor(x);
}

/** Sleeps `ms` of `clock` time; rejects with `HADB_STORAGE_ABORTED` when `signal` fires. */
async function sleep(clock: Clock, ms: number, signal: AbortSignal | undefined): Promise<void> {
  throwIfAborted(signal, storageAborted);
  try {
    await clock.sleep(ms, signal);
  } catch (error) {
    if (signal?.aborted === true) throw abortReason(signal, storageAborted);
    throw error;
  }
}

/** Passes `body` through but replaces its last non-empty chunk with a strict prefix of it. */
async function* truncateLast(
  body: AsyncIterable<Uint8Array>,
  fraction: number,
  state: { torn: boolean },
): AsyncGenerator<Uint8Array> {
  let held: Uint8Array | undefined;
  for await (const chunk of body) {
    if (chunk.length === 0) continue;
    if (held !== undefined) yield held;
    held = chunk;
  }
  if (held !== undefined) {
    state.torn = true;
    yield held.subarray(0, Math.floor(fraction * held.length));
  }
}

/** Delivers the first `cut` bytes of `body`, then fails with HADB_STORAGE_UNAVAILABLE. */
async function* failAfter(body: AsyncIterable<Uint8Array>, cut: number): AsyncGenerator<Uint8Array> {
  let sent = 0;
  const iterator = body[Symbol.asyncIterator]();
  try {
    while (sent < cut) {
      const r = await iterator.next();
      if (r.done) break;
      const take = Math.min(r.value.length, cut - sent);
      sent += take;
      yield take === r.value.length ? r.value : r.value.subarray(0, take);
    }
  } finally {
    await iterator.return?.();
  }
  throw new StorageError('HADB_STORAGE_UNAVAILABLE', `injected fault: stream reset after ${sent} bytes`);
}
