import { createHash, randomBytes } from 'node:crypto';
import { isStorageError, type StorageBackend } from '@hadb/storage';
import { expect, it } from 'vitest';
import {
  allBytes,
  bytes,
  chunksOf,
  collect,
  delay,
  expectCode,
  group,
  MemoryWatch,
  text,
  type SuiteContext,
} from './helpers.js';

class Boom extends Error {}

async function* failingBody(chunks: number): AsyncGenerator<Uint8Array> {
  for (let i = 0; i < chunks; i++) yield bytes(`chunk ${i};`);
  throw new Boom('body failed on purpose');
}

/** True if `error` is `target` or has it somewhere in its `cause` chain. */
function causedBy(error: unknown, target: new (...args: never[]) => Error): boolean {
  for (let e: unknown = error, depth = 0; e != null && depth < 10; depth++) {
    if (e instanceof target) return true;
    e = (e as { cause?: unknown }).cause;
  }
  return false;
}

async function expectNothingVisible(b: StorageBackend, key: string): Promise<void> {
  expect(await b.exists(key)).toBe(false);
  expect(await b.get(key)).toBeNull();
  expect(await b.list('')).toEqual([]);
}

export function registerStream(ctx: SuiteContext): void {
  const { capabilities } = ctx.options;
  group(ctx, 'stream', () => {
    it('putStream accepts chunks of any size, including empty ones', async () => {
      const b = await ctx.fresh();
      const data = allBytes(20);
      const result = await b.putStream('s', chunksOf(data, [0, 1, 7, 1000, 3000]));
      expect(result.success).toBe(true);
      if (!result.success) return;
      expect(result.size).toBe(data.length);
      expect(await b.head('s')).toEqual({ size: data.length, etag: result.etag });
      const got = await b.get('s');
      expect(Buffer.from(got!.data).equals(Buffer.from(data))).toBe(true);
      const stream = await b.getStream('s');
      expect(stream?.etag).toBe(result.etag);
      expect(stream?.size).toBe(data.length);
      expect(Buffer.from(await collect(stream!.body)).equals(Buffer.from(data))).toBe(true);
    });

    it('putStream of an empty body stores an empty object, and replaces existing objects', async () => {
      const b = await ctx.fresh();
      await b.put('s', bytes('old'));
      const result = await b.putStream('s', chunksOf(new Uint8Array(0), [1]));
      expect(result.success).toBe(true);
      expect((await b.get('s'))?.data.length).toBe(0);
    });

    it('a putStream whose body throws rejects and leaves no object', async () => {
      const b = await ctx.fresh();
      let caught: unknown;
      try {
        await b.putStream('s', failingBody(3));
      } catch (error) {
        caught = error;
      }
      expect(caught, 'putStream resolved although its body threw').toBeDefined();
      expect(causedBy(caught, Boom), `unexpected error ${String(caught)}`).toBe(true);
      await expectNothingVisible(b, 's');
    });

    it('a putStream whose body throws keeps the previous object', async () => {
      const b = await ctx.fresh();
      const old = await b.put('s', bytes('previous'));
      await expect(b.putStream('s', failingBody(3))).rejects.toBeDefined();
      expect(await b.get('s')).toEqual({ data: expect.anything(), etag: old.etag });
      expect(text((await b.get('s'))?.data)).toBe('previous');
      expect(await b.list('')).toEqual(['s']);
    });

    it('an abort during a slow streamed put rejects with HADB_STORAGE_ABORTED and leaves no object', async () => {
      const b = await ctx.fresh();
      await b.put('keep', bytes('previous'));
      const controller = new AbortController();
      async function* slow(): AsyncGenerator<Uint8Array> {
        for (let i = 0; i < 1000; i++) {
          if (i === 3) controller.abort(new Error('test abort'));
          await delay(10);
          yield bytes(`slow chunk ${i};`);
        }
      }
      const started = Date.now();
      await expectCode(
        () => b.putStream('slow', slow(), { signal: controller.signal }),
        'HADB_STORAGE_ABORTED',
        'putStream',
      );
      expect(Date.now() - started).toBeLessThan(5000);
      expect(await b.exists('slow')).toBe(false);
      const controller2 = new AbortController();
      async function* slowOverwrite(): AsyncGenerator<Uint8Array> {
        for (let i = 0; i < 1000; i++) {
          if (i === 2) controller2.abort();
          await delay(10);
          yield bytes(`x${i}`);
        }
      }
      await expectCode(
        () => b.putStream('keep', slowOverwrite(), { signal: controller2.signal }),
        'HADB_STORAGE_ABORTED',
        'putStream overwrite',
      );
      expect(text((await b.get('keep'))?.data)).toBe('previous');
      expect(await b.list('')).toEqual(['keep']);
    });

    if (capabilities.conditionalStreamingWrites) {
      it('putStream ifAbsent creates once and refuses an existing key', async () => {
        const b = await ctx.fresh();
        const first = await b.putStream('once', chunksOf(bytes('first'), [2]), { ifAbsent: true });
        expect(first.success).toBe(true);
        const second = await b.putStream('once', chunksOf(bytes('second'), [2]), { ifAbsent: true });
        expect(second).toEqual({ success: false });
        const got = await b.get('once');
        expect(text(got?.data)).toBe('first');
        if (first.success) expect(got?.etag).toBe(first.etag);
      });

      (capabilities.atomicConditionalWrites ? it : it.skip)(
        'concurrent putStream ifAbsent: exactly one winner',
        async () => {
          const b = await ctx.fresh();
          const n = Math.min(ctx.options.concurrency, 8);
          const results = await Promise.all(
            Array.from({ length: n }, (_, w) =>
              b.putStream('race', chunksOf(bytes(`writer ${w} `.repeat(50)), [64]), { ifAbsent: true }),
            ),
          );
          const won = results.flatMap((r, i) => (r.success ? [i] : []));
          expect(won).toHaveLength(1);
          expect(text((await b.get('race'))?.data)).toBe(`writer ${won[0]} `.repeat(50));
        },
        ctx.timeout(60_000),
      );
    } else {
      it('putStream ifAbsent rejects with HADB_STORAGE_UNSUPPORTED and writes nothing', async () => {
        const b = await ctx.fresh();
        await expectCode(
          () => b.putStream('once', chunksOf(bytes('first'), [2]), { ifAbsent: true }),
          'HADB_STORAGE_UNSUPPORTED',
          'putStream ifAbsent',
        );
        expect(await b.exists('once')).toBe(false);
      });
    }

    it('a getStream is one version: overwriting mid-read does not mix versions', async () => {
      const b = await ctx.fresh();
      const size = 4 * 1024 * 1024;
      const old = new Uint8Array(size).fill(0x61);
      await b.put('v', old);
      const stream = await b.getStream('v');
      const iterator = stream!.body[Symbol.asyncIterator]();
      const parts: Uint8Array[] = [];
      const first = await iterator.next();
      if (!first.done) parts.push(first.value);
      await b.put('v', new Uint8Array(size).fill(0x62));
      for (let r = await iterator.next(); !r.done; r = await iterator.next()) parts.push(r.value);
      const all = Buffer.concat(parts);
      expect(all.length).toBe(size);
      expect(all.every((x) => x === 0x61)).toBe(true);
    });

    it('aborting while a getStream body is read rejects with HADB_STORAGE_ABORTED', async () => {
      const b = await ctx.fresh();
      await b.put('big', new Uint8Array(8 * 1024 * 1024).fill(7));
      const controller = new AbortController();
      const stream = await b.getStream('big', { signal: controller.signal });
      let read = 0;
      let caught: unknown;
      try {
        for await (const chunk of stream!.body) {
          read += chunk.length;
          controller.abort();
        }
      } catch (error) {
        caught = error;
      }
      expect(isStorageError(caught, 'HADB_STORAGE_ABORTED'), `read ${read} bytes, then ${String(caught)}`).toBe(true);
    });
  });
}

const CHUNK = 1024 * 1024;

/** Deterministic content: a random 1 MiB block with the chunk index in its first 8 bytes. */
function chunkAt(base: Buffer, index: number, size: number): Buffer {
  const chunk = Buffer.allocUnsafe(size);
  base.copy(chunk, 0, 0, size);
  if (size >= 8) chunk.writeBigUInt64BE(BigInt(index), 0);
  return chunk;
}

export function registerBigStream(ctx: SuiteContext): void {
  const { bigObjectBytes: total, streamMemoryBudgetBytes: budget } = ctx.options;
  const mib = (total / 2 ** 20).toFixed(0);
  group(ctx, 'stream-big', () => {
    (total > 0 ? it : it.skip)(
      `streams ${mib} MiB in and out with a running SHA-256${budget === null ? '' : ` and < ${(budget / 2 ** 20).toFixed(0)} MiB memory growth`}`,
      async () => {
        const b = await ctx.fresh();
        const base = randomBytes(CHUNK);
        const chunkSize = Math.min(CHUNK, total);
        const chunks = Math.ceil(total / chunkSize);
        const sizeOf = (i: number) => Math.min(chunkSize, total - i * chunkSize);
        const written = createHash('sha256');
        const watch = new MemoryWatch();
        async function* body(): AsyncGenerator<Uint8Array> {
          for (let i = 0; i < chunks; i++) {
            const chunk = chunkAt(base, i, sizeOf(i));
            written.update(chunk);
            watch.tick(chunk.length);
            yield chunk;
          }
        }
        const put = await b.putStream('big/object', body(), { contentLength: total });
        watch.sample();
        expect(put.success).toBe(true);
        if (!put.success) return;
        expect(put.size).toBe(total);
        expect(await b.head('big/object')).toEqual({ size: total, etag: put.etag });

        const stream = await b.getStream('big/object');
        expect(stream?.size).toBe(total);
        expect(stream?.etag).toBe(put.etag);
        const read = createHash('sha256');
        let received = 0;
        for await (const chunk of stream!.body) {
          read.update(chunk);
          received += chunk.length;
          watch.tick(chunk.length);
        }
        watch.sample();
        expect(received).toBe(total);
        expect(read.digest('hex')).toBe(written.digest('hex'));
        if (budget !== null) expect(watch.peakGrowth, watch.describe()).toBeLessThan(budget);

        const middle = Math.floor(chunks / 2);
        const ranged = await b.getStream('big/object', { start: middle * chunkSize + 3, length: 1000 });
        const expected = chunkAt(base, middle, sizeOf(middle)).subarray(3, 1003);
        expect(Buffer.from(await collect(ranged!.body)).equals(expected)).toBe(true);
        const rangeGot = await b.rangeGet('big/object', middle * chunkSize + 3, 1000);
        expect(Buffer.from(rangeGot!).equals(expected)).toBe(true);
        await b.delete('big/object');
      },
      ctx.timeout(240_000),
    );
  });
}
