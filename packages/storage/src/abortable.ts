import { StorageError } from './errors.js';

/** The `HADB_STORAGE_ABORTED` error for a fired signal (its reason as cause). */
export function abortError(signal: AbortSignal): StorageError {
  return new StorageError('HADB_STORAGE_ABORTED', 'operation aborted', { cause: signal.reason });
}

/** Settles like `promise`, or rejects with `HADB_STORAGE_ABORTED` as soon as `signal` fires. */
export function raceAbort<T>(promise: Promise<T>, signal: AbortSignal | undefined): Promise<T> {
  if (signal === undefined) return promise;
  if (signal.aborted) {
    promise.catch(() => {});
    return Promise.reject(abortError(signal));
  }
  return new Promise<T>((resolve, reject) => {
    const onAbort = () => reject(abortError(signal));
    signal.addEventListener('abort', onAbort, { once: true });
    promise.then(
      (value) => {
        signal.removeEventListener('abort', onAbort);
        resolve(value);
      },
      (error: unknown) => {
        signal.removeEventListener('abort', onAbort);
        reject(error);
      },
    );
  });
}

/**
 * Iterates `source`, rejecting with `HADB_STORAGE_ABORTED` as soon as `signal` fires, even while
 * the source is waiting for its next chunk. The source is closed (`return()`) when iteration stops
 * early for any reason.
 */
export async function* abortable<T>(source: AsyncIterable<T>, signal: AbortSignal | undefined): AsyncGenerator<T> {
  const iterator = source[Symbol.asyncIterator]();
  let done = false;
  try {
    for (;;) {
      if (signal?.aborted) throw abortError(signal);
      const r = await raceAbort(iterator.next(), signal);
      if (r.done) {
        done = true;
        return;
      }
      yield r.value;
    }
  } finally {
    if (!done) {
      // The source may still be busy with a pending next(); don't wait for it.
      void Promise.resolve()
        .then(() => iterator.return?.())
        .catch(() => {});
    }
  }
}
