import type { FileHandle } from 'node:fs/promises';
import { throwIfAborted } from '@hadb/io';
import { type ChunkPool, storageAborted } from '@hadb/storage';

/** Reads up to `length` bytes at `position` into a fresh, unpooled buffer (shorter at end of file). */
export async function readAt(fh: FileHandle, position: number, length: number): Promise<Uint8Array> {
  return readInto(fh, Buffer.allocUnsafeSlow(length), position, length);
}

/** Reads up to `length` bytes at `position` into `buffer` (a view of it, shorter at end of file). */
async function readInto(fh: FileHandle, buffer: Uint8Array, position: number, length: number): Promise<Uint8Array> {
  let done = 0;
  while (done < length) {
    const { bytesRead } = await fh.read(buffer, done, length - done, position + done);
    if (bytesRead === 0) break;
    done += bytesRead;
  }
  return done === buffer.length ? buffer : buffer.subarray(0, done);
}

/**
 * An async iterable over `[start, end)` of an open file, read with positional reads in chunks of
 * `chunkBytes`, or into buffers taken from `pool` (chunks of `pool.chunkBytes`; a buffer whose read
 * failed or came back empty is given back). The file handle is closed when iteration ends, fails, or is stopped with
 * `return()`, also if iteration never started.
 */
export function fileBody(
  fh: FileHandle,
  start: number,
  end: number,
  chunkBytes: number,
  signal: AbortSignal | undefined,
  pool?: ChunkPool,
): AsyncIterable<Uint8Array> {
  /** The next chunk at `position`, at most `length` bytes. */
  const read = async (length: number): Promise<Uint8Array> => {
    if (pool === undefined) return readAt(fh, position, Math.min(chunkBytes, length));
    const buffer = pool.take();
    try {
      const chunk = await readInto(fh, buffer, position, Math.min(pool.chunkBytes, length));
      if (chunk.length === 0) pool.give(buffer);
      return chunk;
    } catch (error) {
      pool.give(buffer);
      throw error;
    }
  };
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
        const chunk = await read(end - position);
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
