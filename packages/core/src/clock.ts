import { CoordinatorError } from './errors.js';

/**
 * Time as the coordinator sees it. Every timing decision (fence deadline, claim rule, renew and
 * poll schedules) reads {@link Clock.now}; the wall clock is only written into lease records for
 * Rust compatibility and used as a suspend detector on the same node. Wall clocks of different
 * nodes are never compared.
 *
 * Implement this to run the coordinator under a virtual clock (see the simulation in the tests).
 */
export interface Clock {
  /** Monotonic milliseconds from an arbitrary origin; never decreases. */
  now(): number;
  /** Wall-clock milliseconds since the Unix epoch (may jump when the system clock is set). */
  wallMs(): number;
  /**
   * Resolves after `ms` milliseconds of {@link now} time (immediately for `ms <= 0`). Rejects with
   * `signal.reason` as soon as `signal` aborts (also when it is already aborted).
   */
  sleep(ms: number, signal?: AbortSignal): Promise<void>;
  /**
   * Optional: calls `fn` after `ms` of {@link now} time unless cancelled first. The coordinator
   * bounds every request with one; without it, it uses {@link sleep} with an AbortSignal (slower).
   */
  timer?(ms: number, fn: () => void): { cancel(): void };
}

/** Starts a cancellable timer on `clock` (its `timer`, or `sleep` with a signal). */
export function startTimer(clock: Clock, ms: number, fn: () => void): { cancel(): void } {
  if (clock.timer !== undefined) return clock.timer(ms, fn);
  const controller = new AbortController();
  clock.sleep(ms, controller.signal).then(fn, () => {});
  return { cancel: () => controller.abort(SETTLED) };
}

/** Wall-clock Unix seconds, as Rust's lease records store them. */
export function wallSeconds(clock: Clock): number {
  return Math.floor(clock.wallMs() / 1000);
}

/** The real clock: `performance.now()` (CLOCK_MONOTONIC), `Date.now()`, `setTimeout`. */
export const systemClock: Clock = Object.freeze({
  now: () => performance.now(),
  wallMs: () => Date.now(),
  sleep(ms: number, signal?: AbortSignal): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      if (signal?.aborted) {
        reject(signal.reason);
        return;
      }
      const onAbort = (): void => {
        clearTimeout(timer);
        reject(signal?.reason);
      };
      const timer = setTimeout(
        () => {
          signal?.removeEventListener('abort', onAbort);
          resolve();
        },
        Math.max(0, ms),
      );
      signal?.addEventListener('abort', onAbort, { once: true });
    });
  },
  timer(ms: number, fn: () => void): { cancel(): void } {
    const handle = setTimeout(fn, Math.max(0, ms));
    return { cancel: () => clearTimeout(handle) };
  },
});

/**
 * An AbortController that also aborts when `parent` does. `dispose()` detaches it from the
 * parent (call it when the child's work is done, so long-lived parents do not accumulate
 * listeners).
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

/**
 * Runs `fn` with a signal that aborts when `signal` aborts or after `timeoutMs` of `clock` time.
 * On timeout the returned promise rejects with `HADB_CORE_TIMEOUT` (naming `what`).
 *
 * By default it rejects as soon as the signal fires, even if `fn` ignores it (`fn`'s late result
 * is discarded). With `settle`, it rejects only once `fn`'s own promise has settled — for calls
 * that change local state, whose continuation must not overlap the next call; `onTimeout` fires
 * at the timeout itself, `onSlowSettle` if settling takes another `timeoutMs`.
 */
export function withTimeout<T>(
  clock: Clock,
  timeoutMs: number,
  signal: AbortSignal | undefined,
  what: string,
  fn: (signal: AbortSignal) => Promise<T>,
  settle?: { readonly onSlowSettle: () => void; readonly onTimeout?: (() => void) | undefined },
): Promise<T> {
  if (settle !== undefined) return withTimeoutSettled(clock, timeoutMs, signal, what, fn, settle);
  if (signal?.aborted === true) return Promise.reject(abortReason(signal));
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
    const onParentAbort = (): void => fail(abortReason(signal as AbortSignal));
    signal?.addEventListener('abort', onParentAbort, { once: true });
    const timer = startTimer(clock, timeoutMs, () => fail(timedOutError(what, timeoutMs)));
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

/** Abort reason for timers cancelled because their operation finished (avoids building a DOMException). */
const SETTLED = Symbol('settled');

function timedOutError(what: string, timeoutMs: number): CoordinatorError {
  return new CoordinatorError('HADB_CORE_TIMEOUT', `${what} timed out after ${timeoutMs} ms`);
}

function abortReason(signal: AbortSignal): unknown {
  const reason: unknown = signal.reason;
  if (reason instanceof CoordinatorError) return reason;
  return new CoordinatorError('HADB_CORE_ABORTED', 'operation aborted', { cause: reason });
}

/** Rejects with `HADB_CORE_ABORTED` (cause: the signal's reason) if `signal` has fired. */
export function throwIfAborted(signal: AbortSignal | undefined): void {
  if (signal?.aborted) throw abortReason(signal);
}

/** `clock.sleep` that resolves `false` instead of rejecting when `signal` aborts. */
export async function sleepUnlessAborted(clock: Clock, ms: number, signal: AbortSignal): Promise<boolean> {
  if (signal.aborted) return false;
  try {
    await clock.sleep(ms, signal);
    return true;
  } catch {
    return false;
  }
}

async function withTimeoutSettled<T>(
  clock: Clock,
  timeoutMs: number,
  signal: AbortSignal | undefined,
  what: string,
  fn: (signal: AbortSignal) => Promise<T>,
  hooks: { readonly onSlowSettle: () => void; readonly onTimeout?: (() => void) | undefined },
): Promise<T> {
  const { controller, dispose } = childController(signal);
  let timeoutError: CoordinatorError | undefined;
  let slow: { cancel(): void } | undefined;
  const timer = startTimer(clock, timeoutMs, () => {
    timeoutError = timedOutError(what, timeoutMs);
    controller.abort(timeoutError);
    hooks.onTimeout?.();
    slow = startTimer(clock, timeoutMs, hooks.onSlowSettle);
  });
  try {
    throwIfAborted(controller.signal);
    const result = await fn(controller.signal);
    if (timeoutError !== undefined) throw timeoutError;
    throwIfAborted(controller.signal);
    return result;
  } catch (err) {
    if (timeoutError !== undefined) throw timeoutError;
    if (controller.signal.aborted) throw abortReason(controller.signal);
    throw err;
  } finally {
    timer.cancel();
    slow?.cancel();
    dispose();
  }
}
