import { type Clock, systemClock } from './clock.js';
import { abortedError } from './errors.js';

/** Options of {@link sleep}. */
export interface SleepOptions {
  /** Rejects the sleep at once with `HADB_IO_ABORTED` when it fires. */
  readonly signal?: AbortSignal | undefined;
  readonly clock?: Clock | undefined;
}

/**
 * Resolves after `ms` milliseconds. Rejects with `IoError` `HADB_IO_ABORTED` as soon as the signal
 * fires (or at once if it already has), and leaves no timer or listener behind.
 */
export function sleep(ms: number, options: SleepOptions = {}): Promise<void> {
  const { signal, clock = systemClock } = options;
  return new Promise<void>((resolve, reject) => {
    if (signal?.aborted) {
      reject(abortedError(signal));
      return;
    }
    const onAbort = (): void => {
      clock.clearTimeout(handle);
      reject(abortedError(signal as AbortSignal));
    };
    const handle = clock.setTimeout(() => {
      signal?.removeEventListener('abort', onAbort);
      resolve();
    }, Math.max(0, ms));
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}
