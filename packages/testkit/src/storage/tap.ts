import type { GetStreamOptions, ObjectStream, StorageBackend } from '@hadb/storage';

/** Hooks of {@link tapStreams}. */
export interface StreamTaps {
  /** Before each `getStream` (with its options: the range, the pool); may wait or throw. */
  readonly onRange?: ((options: GetStreamOptions | undefined) => Promise<void> | void) | undefined;
  /** Before each chunk of every `getStream` body is passed on; may throw to fail the body. */
  readonly onChunk?: (() => void) | undefined;
  /**
   * Replaces each body chunk by the chunks it returns (to cut, copy or move bytes; the bytes
   * passed on must still be the object's, in order); with the `getStream` call's options.
   */
  readonly rechunk?: ((chunk: Uint8Array, options: GetStreamOptions | undefined) => Iterable<Uint8Array>) | undefined;
}

/**
 * `inner` with hooks around its `getStream` calls and body chunks; every byte still comes from
 * `inner`, and every other method is `inner`'s own.
 */
export function tapStreams(inner: StorageBackend, taps: StreamTaps): StorageBackend {
  return new Proxy(inner, {
    get(t, prop, receiver) {
      if (prop !== 'getStream') {
        const v = Reflect.get(t, prop, receiver);
        return typeof v === 'function' ? v.bind(t) : v;
      }
      return async (key: string, options?: GetStreamOptions): Promise<ObjectStream | null> => {
        await taps.onRange?.(options);
        const s = await t.getStream(key, options);
        if (s === null) return null;
        const body = s.body;
        return {
          ...s,
          body: (async function* () {
            for await (const chunk of body) {
              taps.onChunk?.();
              if (taps.rechunk === undefined) yield chunk;
              else yield* taps.rechunk(chunk, options);
            }
          })(),
        };
      };
    },
  });
}

/** {@link tapStreams} calling `hook` at the `after`-th body chunk (counted across every `getStream`). */
export function atChunk(inner: StorageBackend, after: number, hook: () => void): StorageBackend {
  let chunks = 0;
  return tapStreams(inner, {
    onChunk: () => {
      if (++chunks === after) hook();
    },
  });
}
