import { abortReason } from '@hadb/io';
import { type GetStreamOptions, type StorageBackend, storageAborted } from '@hadb/storage';

/** The reads {@link holdReads} can hold. */
export type HeldRead = 'get' | 'getStream';

/** What {@link holdReads} returns. */
export interface HeldReads {
  /** `inner` with the matching reads held. */
  readonly storage: StorageBackend;
  /** The signal of every read held so far, in call order (`undefined` when the caller passed none). */
  readonly signals: readonly (AbortSignal | undefined)[];
}

/**
 * `inner` whose `get` and `getStream` calls for which `match` returns true never answer until
 * their signal aborts; they then reject with `HADB_STORAGE_ABORTED`, as a backend does. A read
 * without a signal stays pending for good. For tests that a caller cancels the reads it no longer
 * needs: after the call under test settles, every entry of `signals` should be aborted. Every
 * other call is `inner`'s own.
 */
export function holdReads(
  inner: StorageBackend,
  match: (op: HeldRead, key: string, options: GetStreamOptions | undefined) => boolean,
): HeldReads {
  const signals: (AbortSignal | undefined)[] = [];
  const hold = (signal: AbortSignal | undefined): Promise<never> => {
    signals.push(signal);
    return new Promise((_, reject) => {
      if (signal === undefined) return;
      if (signal.aborted) reject(abortReason(signal, storageAborted));
      else signal.addEventListener('abort', () => reject(abortReason(signal, storageAborted)), { once: true });
    });
  };
  const storage = new Proxy(inner, {
    get(t, prop, receiver) {
      if (prop === 'get' || prop === 'getStream') {
        return (key: string, options?: GetStreamOptions) =>
          match(prop, key, options) ? hold(options?.signal) : t[prop](key, options);
      }
      const v = Reflect.get(t, prop, receiver);
      return typeof v === 'function' ? v.bind(t) : v;
    },
  });
  return { storage, signals };
}
