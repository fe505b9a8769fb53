import type { StorageBackend } from '@hadb/storage';
import type { StorageOperation } from './faults.js';

/** S3 Standard request prices, US dollars per 1,000 requests (PUT/COPY/POST/LIST and GET/HEAD/other). */
export const S3_REQUEST_PRICES = Object.freeze({ classA: 0.005, classB: 0.0004 });

/** Seconds in a 30-day month. */
const MONTH_S = 30 * 24 * 3600;

/** How S3 bills each storage operation: class A (PUT, LIST, POST), class B (GET, HEAD), or free (DELETE). */
const REQUEST_CLASS: Readonly<Record<StorageOperation, 'A' | 'B' | 'free'>> = Object.freeze({
  get: 'B',
  head: 'B',
  exists: 'B',
  rangeGet: 'B',
  getStream: 'B',
  put: 'A',
  putIfAbsent: 'A',
  putIfMatch: 'A',
  putStream: 'A',
  putMany: 'A',
  list: 'A',
  listPage: 'A',
  deleteMany: 'A',
  delete: 'free',
});

/** Requests counted by a {@link CountingStorage} since its last reset. */
export interface RequestCount {
  /** Calls per operation. */
  readonly byOperation: Readonly<Partial<Record<StorageOperation, number>>>;
  /** All calls. */
  readonly total: number;
  /** Class A requests (PUT, LIST, POST; `putMany` counts one per entry). */
  readonly classA: number;
  /** Class B requests (GET, HEAD). */
  readonly classB: number;
  /** Cost of these requests at {@link S3_REQUEST_PRICES}, US dollars. */
  readonly dollars: number;
}

/** A storage backend that counts the requests its callers make (see {@link countRequests}). */
export interface CountingStorage<S extends StorageBackend = StorageBackend> {
  /** The counting backend: hand it to the code under measurement. */
  readonly storage: S;
  /** Requests since the last {@link reset} (or since wrapping). */
  count(): RequestCount;
  /** Starts counting from zero. */
  reset(): void;
  /** Called after every counted call, with its operation (for a test that waits for one). */
  onRequest?: ((operation: StorageOperation) => void) | undefined;
}

/** Dollars per month of `count` requests made over `seconds` at S3 Standard prices (30-day month). */
export function dollarsPerMonth(count: RequestCount, seconds: number): number {
  return seconds <= 0 ? 0 : (count.dollars / seconds) * MONTH_S;
}

/**
 * Wraps `backend` so every storage request through it is counted, as S3 would bill it: the
 * storage-request counter of cost benchmarks and of tests that assert a path makes no storage
 * requests. `list` counts as one LIST call (a paginated S3 listing is one per page). The wrapped
 * backend behaves exactly like `backend`.
 */
export function countRequests<S extends StorageBackend>(backend: S): CountingStorage<S> {
  let byOperation: Partial<Record<StorageOperation, number>> = {};
  let classA = 0;
  let classB = 0;
  const counter: CountingStorage<S> = {
    storage: undefined as unknown as S,
    count() {
      let total = 0;
      for (const n of Object.values(byOperation)) total += n ?? 0;
      const { classA: a, classB: b } = S3_REQUEST_PRICES;
      return { byOperation: { ...byOperation }, total, classA, classB, dollars: (classA * a + classB * b) / 1000 };
    },
    reset() {
      byOperation = {};
      classA = 0;
      classB = 0;
    },
  };
  const storage = new Proxy(backend, {
    get(target, prop, receiver) {
      const value = Reflect.get(target, prop, receiver);
      if (typeof prop !== 'string' || typeof value !== 'function') return value;
      const cls = REQUEST_CLASS[prop as StorageOperation] as 'A' | 'B' | 'free' | undefined;
      if (cls === undefined) return (value as (...a: unknown[]) => unknown).bind(target);
      return (...args: unknown[]) => {
        const op = prop as StorageOperation;
        byOperation[op] = (byOperation[op] ?? 0) + 1;
        // S3 has no batch PUT: each entry is one request.
        if (op === 'putMany' && !Array.isArray(args[0])) args[0] = [...(args[0] as Iterable<unknown>)];
        const n = op === 'putMany' ? (args[0] as unknown[]).length : 1;
        if (cls === 'A') classA += n;
        else if (cls === 'B') classB += n;
        counter.onRequest?.(op);
        return (value as (...a: unknown[]) => unknown).apply(target, args);
      };
    },
  });
  (counter as { storage: S }).storage = storage;
  return counter;
}
