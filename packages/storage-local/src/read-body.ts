import type { FileHandle } from 'node:fs/promises';
import { throwIfAborted } from '@hadb/io';
import { storageAborted } from '@hadb/storage';

/** Reads up to `length` bytes at `position` into a fresh, unpooled buffer (shorter at end of file). */
export async function readAt(fh: FileHandle, position: number, length: number): Promise<Uint8Array> {
  const buffer = Buffer.allocUnsafeSlow(length);
  let done = 0;
  while (done < length) {
    const { bytesRead } = await fh.read(buffer, done, length - done, position + done);
    if (bytesRead === 0) break;
    done += bytesRead;
  }
  return done === length ? buffer : buffer.subarray(0, done);
}

/**
 * An async iterable over `[start, end)` of an open file, read with positional reads in chunks of
 * `chunkBytes`. The file handle is closed when iteration ends, fails, or is stopped with
 * `return()`, also if iteration never started.
 */
export function fileBody(
  fh: FileHandle,
  start: number,
  end: number,
  chunkBytes: number,
  signal: AbortSignal | undefined,
): AsyncIterable<Uint8Array> {
  let position = start;
  let closed = false;
  const close = async () => {
    if (closed) return;
    closed = true;
    await fh.close();
  };
  const iterator: AsyncIterator<Uint8Array> = {
    async next() {
      if (closed) return { done: true, value: undefined };
      try {
        throwIfAborted(signal, storageAborted);
        if (position >= end) {
          await close();
          return { done: true, value: undefined };
        }
        const chunk = await readAt(fh, position, Math.min(chunkBytes, end - position));
        if (chunk.length === 0) {
          await close();
          return { done: true, value: undefined };
        }
        position += chunk.length;
        return { done: false, value: chunk };
      } catch (error) {
        await close().catch(() => {});
        throw error;
      }
    },
    async return() {
      await close();
      return { done: true, value: undefined };
    },
  };
  let used = false;
  return {
    [Symbol.asyncIterator]() {
      if (used) throw new TypeError('an object stream body can be iterated only once');
      used = true;
      return iterator;
    },
  };
}
