import { childController } from '@hadb/io';
import type { GetStreamOptions, ObjectStream, StorageBackend } from '@hadb/storage';
import { CliError } from './errors.js';
import { readAhead } from './read-ahead.js';

/** Options of {@link downloadingStorage}. */
export interface DownloadOptions {
  /** Ranged reads in flight for one large object (1 = a single stream). */
  readonly parallel: number;
  /** Bytes per ranged read. Default 8 MiB. */
  readonly chunkBytes?: number | undefined;
  /** Called with every chunk's length as it arrives. */
  readonly onBytes?: ((bytes: number) => void) | undefined;
  /** Bytes read ahead of the consumer on a single stream. Default 32 MiB. */
  readonly readAheadBytes?: number | undefined;
}

async function collect(stream: ObjectStream): Promise<Uint8Array> {
  const parts: Uint8Array[] = [];
  let n = 0;
  for await (const c of stream.body) {
    parts.push(c);
    n += c.length;
  }
  return parts.length === 1 ? parts[0]! : Buffer.concat(parts, n);
}

/**
 * `storage` with a `getStream` that reads ahead of its consumer (a single stream buffers up to
 * `readAheadBytes`; with `parallel > 1`, objects larger than one chunk are read as `parallel`
 * ranged reads in flight, yielded in order, memory about `parallel × chunkBytes`), and that
 * reports every chunk to `onBytes`. Every other method is the backend's own.
 */
export function downloadingStorage(storage: StorageBackend, options: DownloadOptions): StorageBackend {
  const chunk = options.chunkBytes ?? 8 << 20;
  const parallel = Math.max(1, options.parallel);
  const onBytes = options.onBytes ?? (() => {});

  async function getStream(key: string, opts: GetStreamOptions = {}): Promise<ObjectStream | null> {
    const ranged = opts.start !== undefined || opts.length !== undefined;
    const first = await storage.getStream(key, ranged || parallel === 1 ? opts : { ...opts, start: 0, length: chunk });
    if (first === null) return null;
    if (ranged || parallel === 1 || first.size <= chunk) {
      const body = ranged ? first.body : readAhead(first.body, options.readAheadBytes ?? 32 << 20);
      return {
        ...first,
        body: (async function* () {
          for await (const c of body) {
            onBytes(c.length);
            yield c;
          }
        })(),
      };
    }
    const size = first.size;
    const body = (async function* (): AsyncGenerator<Uint8Array> {
      // Ranges still in flight when the body ends early (the consumer stops, or a range fails)
      // are cancelled.
      const ranges = childController(opts.signal);
      const signal = ranges.controller.signal;
      const inflight: Promise<Uint8Array>[] = [];
      let next = chunk;
      const launch = (): void => {
        const start = next;
        next += chunk;
        const p = storage.getStream(key, { start, length: Math.min(chunk, size - start), signal }).then(async (s) => {
          if (s === null) throw new CliError('HADB_CLI_STORAGE', `object ${key} disappeared during download`);
          if (s.etag !== first.etag) throw new CliError('HADB_CLI_STORAGE', `object ${key} changed during download`);
          return collect(s);
        });
        p.catch(() => undefined);
        inflight.push(p);
      };
      try {
        while (next < size && inflight.length < parallel - 1) launch();
        for await (const c of first.body) {
          onBytes(c.length);
          yield c;
        }
        while (inflight.length > 0) {
          const p = inflight.shift()!;
          if (next < size) launch();
          const bytes = await p;
          onBytes(bytes.length);
          yield bytes;
        }
      } finally {
        ranges.controller.abort();
        ranges.dispose();
      }
    })();
    return { size, etag: first.etag, body };
  }

  return new Proxy(storage, {
    get(target, prop, receiver) {
      if (prop === 'getStream') return getStream;
      const value = Reflect.get(target, prop, receiver) as unknown;
      return typeof value === 'function' ? (value as (...a: unknown[]) => unknown).bind(target) : value;
    },
  });
}
