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
 * On timeout the returned promise rejects with `HADB_CORE_TIMEOUT` (naming `what`) even if `fn`
 * ignores its signal; `fn`'s own late settlement is then discarded.
 */
export async function withTimeout<T>(
  clock: Clock,
  timeoutMs: number,
  signal: AbortSignal | undefined,
  what: string,
  fn: (signal: AbortSignal) => Promise<T>,
): Promise<T> {
  const { controller, dispose } = childController(signal);
  const timer = new AbortController();
  const timeoutError = new CoordinatorError('HADB_CORE_TIMEOUT', `${what} timed out after ${timeoutMs} ms`);
  let timedOut = false;
  const timeout = clock.sleep(timeoutMs, timer.signal).then(
    () => {
      timedOut = true;
      controller.abort(timeoutError);
      throw timeoutError;
    },
    () => new Promise<never>(() => {}),
  );
  const aborted = new Promise<never>((_, reject) => {
    if (controller.signal.aborted) reject(abortReason(controller.signal));
    else controller.signal.addEventListener('abort', () => reject(abortReason(controller.signal)), { once: true });
  });
  aborted.catch(() => {});
  try {
    return await Promise.race([fn(controller.signal), timeout, aborted]);
  } catch (err) {
    if (timedOut) throw timeoutError;
    throw err;
  } finally {
    timer.abort();
    dispose();
  }
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
