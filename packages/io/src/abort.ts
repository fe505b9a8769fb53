/**
 * Abort handling shared by every package. Each package passes its own factory so the error it
 * throws carries its code (`HADB_<PACKAGE>_ABORTED`); when the signal's reason is already a hadb
 * error (a fence, a timeout, a close), that error is thrown as is, so the real reason survives.
 */
import { type ErrorFactory, isHadbError } from './hadb-error.js';

/** The options every I/O method takes as its last argument. */
export interface OpOptions {
  /** Aborts the operation; it then rejects with the package's `*_ABORTED` error (or the hadb error given as reason). */
  readonly signal?: AbortSignal | undefined;
}

/** The error for a fired `signal`: its reason when that is a hadb error, else `toError(…, reason)`. */
export function abortReason(signal: AbortSignal, toError: ErrorFactory): Error {
  const reason: unknown = signal.reason;
  if (isHadbError(reason)) return reason;
  return toError('operation aborted', reason);
}

/** Throws {@link abortReason} if `signal` has fired. */
export function throwIfAborted(signal: AbortSignal | undefined, toError: ErrorFactory): void {
  if (signal?.aborted === true) throw abortReason(signal, toError);
}

/**
 * Settles like `promise`, or rejects with {@link abortReason} as soon as `signal` fires (the
 * promise's late outcome is then ignored). Leaves no listener behind.
 */
export function raceAbort<T>(promise: Promise<T>, signal: AbortSignal | undefined, toError: ErrorFactory): Promise<T> {
  if (signal === undefined) return promise;
  if (signal.aborted) {
    promise.catch(() => {});
    return Promise.reject(abortReason(signal, toError));
  }
  return new Promise<T>((resolve, reject) => {
    const onAbort = (): void => reject(abortReason(signal, toError));
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
 * Iterates `source`, rejecting with {@link abortReason} as soon as `signal` fires, even while the
 * source waits for its next item. The source is closed (`return()`) when iteration stops early.
 */
export async function* abortable<T>(
  source: AsyncIterable<T>,
  signal: AbortSignal | undefined,
  toError: ErrorFactory,
): AsyncGenerator<T> {
  const iterator = source[Symbol.asyncIterator]();
  let done = false;
  try {
    for (;;) {
      throwIfAborted(signal, toError);
      const r = await raceAbort(iterator.next(), signal, toError);
      if (r.done === true) {
        done = true;
        return;
      }
      yield r.value;
    }
  } finally {
    if (!done) {
      // The source may still be busy with a pending next(); do not wait for it.
      void Promise.resolve()
        .then(() => iterator.return?.())
        .catch(() => {});
    }
  }
}

/**
 * An AbortController that also aborts (with the same reason) when `parent` does. `dispose()`
 * detaches it from the parent; call it when the child's work is done so long-lived parents do not
 * accumulate listeners.
 */
export function childController(parent: AbortSignal | undefined): { controller: AbortController; dispose(): void } {
  const controller = new AbortController();
  if (parent === undefined) return { controller, dispose: () => {} };
  if (parent.aborted) {
    controller.abort(parent.reason);
    return { controller, dispose: () => {} };
  }
  const onAbort = (): void => controller.abort(parent.reason);
  parent.addEventListener('abort', onAbort, { once: true });
  return { controller, dispose: () => parent.removeEventListener('abort', onAbort) };
}
