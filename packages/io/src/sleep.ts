import { type Clock, systemClock } from './clock.js';
import { abortedError } from './errors.js';

/** Options of {@link sleep}. */
export interface SleepOptions {
  /** Rejects the sleep at once with `HADB_IO_ABORTED` when it fires. */
  readonly signal?: AbortSignal | undefined;
  readonly clock?: Clock | undefined;
}

/**
 * Resolves after `ms` milliseconds. Rejects with `IoError` `HADB_IO_ABORTED` (or the signal's
 * reason when that is a hadb error) as soon as the signal fires, and leaves no timer or listener.
 */
export function sleep(ms: number, options: SleepOptions = {}): Promise<void> {
  const { signal, clock = systemClock } = options;
  return new Promise<void>((resolve, reject) => {
    if (signal?.aborted === true) {
      reject(abortedError(signal));
      return;
    }
    const onAbort = (): void => {
      timer.cancel();
      reject(abortedError(signal as AbortSignal));
    };
    const timer = clock.timer(Math.max(0, ms), () => {
      signal?.removeEventListener('abort', onAbort);
      resolve();
    });
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}
