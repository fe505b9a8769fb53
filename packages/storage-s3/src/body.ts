import { StorageError } from '@hadb/storage';
import { abortedError, toStorageError } from './errors.js';

/** The streaming body the SDK returns on Node: an `IncomingMessage` (async-iterable, destroyable). */
export interface SdkBody extends AsyncIterable<Uint8Array> {
  destroy?(error?: Error): void;
}

function asBody(body: unknown): SdkBody {
  if (body !== null && typeof body === 'object' && Symbol.asyncIterator in body) return body as SdkBody;
  throw new StorageError('HADB_STORAGE_PROTOCOL', 'S3 response has no readable body');
}

/** Discards a response body so its socket can be reused or closed. */
export function discardBody(body: unknown): void {
  if (body !== null && typeof body === 'object' && 'destroy' in body) (body as SdkBody).destroy?.();
}

/**
 * Reads a response body of `expected` bytes into a fresh buffer (never a view of a shared pool).
 * Fails with `HADB_STORAGE_PROTOCOL` if the body is longer or shorter than announced.
 */
export async function readBody(
  body: unknown,
  expected: number,
  what: string,
  signal?: AbortSignal,
): Promise<Uint8Array> {
  const out = new Uint8Array(expected);
  let at = 0;
  const stream = asBody(body);
  const onAbort = (): void => stream.destroy?.();
  signal?.addEventListener('abort', onAbort, { once: true });
  try {
    for await (const chunk of stream) {
      if (at + chunk.length > expected) {
        stream.destroy?.();
        throw new StorageError('HADB_STORAGE_PROTOCOL', `S3 ${what}: body longer than its Content-Length ${expected}`);
      }
      out.set(chunk, at);
      at += chunk.length;
    }
  } catch (error) {
    if (signal?.aborted) throw abortedError(signal, what);
    throw error;
  } finally {
    signal?.removeEventListener('abort', onAbort);
  }
  if (at !== expected) {
    // A body cut short is a transport failure (the connection ended early): retryable.
    throw new StorageError('HADB_STORAGE_UNAVAILABLE', `S3 ${what}: body ended after ${at} of ${expected} bytes`);
  }
  return out;
}

/**
 * Wraps a response body as the `body` of an `ObjectStream`: yields the chunks as they arrive,
 * checks the total against `expected`, maps failures to `StorageError`, and ends with
 * `HADB_STORAGE_ABORTED` as soon as `signal` fires (destroying the connection).
 */
export async function* streamBody(
  body: unknown,
  expected: number,
  what: string,
  signal?: AbortSignal,
): AsyncGenerator<Uint8Array, void, undefined> {
  const stream = asBody(body);
  const onAbort = (): void => stream.destroy?.();
  signal?.addEventListener('abort', onAbort, { once: true });
  let at = 0;
  let complete = false;
  try {
    if (signal?.aborted) throw abortedError(signal, what);
    for await (const chunk of stream) {
      if (signal?.aborted) throw abortedError(signal, what);
      at += chunk.length;
      if (at > expected) {
        throw new StorageError('HADB_STORAGE_PROTOCOL', `S3 ${what}: body longer than its Content-Length ${expected}`);
      }
      yield chunk;
    }
    if (signal?.aborted) throw abortedError(signal, what);
    complete = true;
  } catch (error) {
    if (signal?.aborted) throw abortedError(signal, what);
    throw toStorageError(error, { op: what });
  } finally {
    signal?.removeEventListener('abort', onAbort);
    // Stopped early (consumer broke off, error, abort): close the connection instead of draining it.
    if (!complete) stream.destroy?.();
  }
  if (at !== expected) {
    throw new StorageError('HADB_STORAGE_UNAVAILABLE', `S3 ${what}: body ended after ${at} of ${expected} bytes`);
  }
}
