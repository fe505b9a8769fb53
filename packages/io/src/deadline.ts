/**
 * Deadlines: every request a node's term depends on runs under one, so a stuck socket turns into
 * a typed `*_TIMEOUT` error instead of a silent stall.
 */
import { abortReason, childController, throwIfAborted } from './abort.js';
import type { Clock, Timer } from './clock.js';
import type { ErrorFactory } from './hadb-error.js';

/** How {@link withTimeout} builds its errors. */
export interface DeadlineErrors {
  /** The timeout error (the package's `*_TIMEOUT` code); `message` names what timed out. */
  readonly timeout: ErrorFactory;
  /** The abort error (the package's `*_ABORTED` code) when the caller's signal fires. */
  readonly aborted: ErrorFactory;
}

/** Options of {@link withTimeout}. */
export interface WithTimeoutOptions {
  readonly signal?: AbortSignal | undefined;
  /**
   * Reject only once `fn`'s own promise has settled — for calls that change local state, whose
   * continuation must not overlap the next call. `onTimeout` fires at the timeout itself,
   * `onSlowSettle` if settling takes another `timeoutMs`.
   */
  readonly settle?: { readonly onSlowSettle: () => void; readonly onTimeout?: (() => void) | undefined } | undefined;
}

/**
 * Runs `fn` with a signal that aborts when `options.signal` does or after `timeoutMs` of `clock`
 * time. On timeout it rejects with `errors.timeout('<what> timed out after <ms> ms')`; by default
 * at once, even if `fn` ignores its signal (its late result is discarded).
 */
export function withTimeout<T>(
  clock: Clock,
  timeoutMs: number,
  what: string,
  errors: DeadlineErrors,
  fn: (signal: AbortSignal) => Promise<T>,
  options: WithTimeoutOptions = {},
): Promise<T> {
  const { signal, settle } = options;
  if (settle !== undefined) return withTimeoutSettled(clock, timeoutMs, what, errors, fn, signal, settle);
  if (signal?.aborted === true) return Promise.reject(abortReason(signal, errors.aborted));
  const controller = new AbortController();
  return new Promise<T>((resolve, reject) => {
    let done = false;
    const finish = (): void => {
      done = true;
      timer.cancel();
      signal?.removeEventListener('abort', onParentAbort);
    };
    const fail = (err: unknown): void => {
      if (done) return;
      finish();
      controller.abort(err);
      reject(err);
    };
    const onParentAbort = (): void => fail(abortReason(signal as AbortSignal, errors.aborted));
    signal?.addEventListener('abort', onParentAbort, { once: true });
    const timer: Timer = clock.timer(timeoutMs, () => fail(errors.timeout(`${what} timed out after ${timeoutMs} ms`)));
    let call: Promise<T>;
    try {
      call = fn(controller.signal);
    } catch (err) {
      call = Promise.reject(err);
    }
    call.then(
      (value) => {
        if (done) return;
        finish();
        resolve(value);
      },
      (err: unknown) => {
        if (done) return;
        finish();
        reject(err);
      },
    );
  });
}

async function withTimeoutSettled<T>(
  clock: Clock,
  timeoutMs: number,
  what: string,
  errors: DeadlineErrors,
  fn: (signal: AbortSignal) => Promise<T>,
  signal: AbortSignal | undefined,
  hooks: { readonly onSlowSettle: () => void; readonly onTimeout?: (() => void) | undefined },
): Promise<T> {
  const { controller, dispose } = childController(signal);
  let timeoutError: Error | undefined;
  let slow: Timer | undefined;
  const timer = clock.timer(timeoutMs, () => {
    timeoutError = errors.timeout(`${what} timed out after ${timeoutMs} ms`);
    controller.abort(timeoutError);
    hooks.onTimeout?.();
    slow = clock.timer(timeoutMs, hooks.onSlowSettle);
  });
  try {
    throwIfAborted(controller.signal, errors.aborted);
    const result = await fn(controller.signal);
    if (timeoutError !== undefined) throw timeoutError;
    throwIfAborted(controller.signal, errors.aborted);
    return result;
  } catch (err) {
    if (timeoutError !== undefined) throw timeoutError;
    if (controller.signal.aborted) throw abortReason(controller.signal, errors.aborted);
    throw err;
  } finally {
    timer.cancel();
    slow?.cancel();
    dispose();
  }
}
