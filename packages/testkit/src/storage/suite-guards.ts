import type { StorageBackend } from '@hadb/storage';
import { expect, it } from 'vitest';
import { abortedSignal, bytes, expectCode, group, text, type SuiteContext } from './helpers.js';

/** Keys every backend must refuse (see `assertSafeKey` in @hadb/storage). */
export const UNSAFE_KEYS: readonly string[] = [
  '../x',
  '/x',
  'a\\b',
  'a\u0000b',
  'a\u0001b',
  'a\u001fb',
  'a\u007fb',
  'a\nb',
  'x/../y',
  'x/./y',
  'a//b',
  'trailing/',
  '..',
  '',
];

interface Probe {
  /** Set when the backend pulled from a stream body it was given. */
  bodyPulled: boolean;
}

type Call = (b: StorageBackend, key: string, signal: AbortSignal | undefined, probe: Probe) => Promise<unknown>;

function body(probe: Probe): AsyncIterable<Uint8Array> {
  return {
    [Symbol.asyncIterator]() {
      return {
        next: async () => {
          probe.bodyPulled = true;
          return { done: true, value: undefined };
        },
      };
    },
  };
}

/** One call per backend method; `key` is the key (or prefix) under test, `good` exists beforehand. */
const METHODS: Record<string, Call> = {
  get: (b, k, signal) => b.get(k, { signal }),
  head: (b, k, signal) => b.head(k, { signal }),
  exists: (b, k, signal) => b.exists(k, { signal }),
  put: (b, k, signal) => b.put(k, bytes('new'), { signal }),
  putIfAbsent: (b, k, signal) => b.putIfAbsent(k, bytes('new'), { signal }),
  putIfMatch: async (b, k, signal) => b.putIfMatch(k, bytes('new'), (await b.head('good'))!.etag, { signal }),
  delete: (b, k, signal) => b.delete(k, { signal }),
  rangeGet: (b, k, signal) => b.rangeGet(k, 0, 2, { signal }),
  list: (b, k, signal) => b.list(k, { signal }),
  listPage: (b, k, signal) => b.listPage(k, { signal, limit: 10 }),
  deleteMany: (b, k, signal) => b.deleteMany(['good', k], { signal }),
  putMany: (b, k, signal) =>
    b.putMany(
      [
        { key: 'other', data: bytes('new') },
        { key: k, data: bytes('new') },
      ],
      { signal },
    ),
  getStream: (b, k, signal) => b.getStream(k, { signal }),
  putStream: (b, k, signal, probe) => b.putStream(k, body(probe), { signal }),
};

async function expectUntouched(b: StorageBackend, probe: Probe): Promise<void> {
  expect(await b.list('')).toEqual(['good']);
  expect(text((await b.get('good'))?.data)).toBe('good');
  expect(probe.bodyPulled, 'the stream body was read').toBe(false);
}

export function registerKeySafety(ctx: SuiteContext): void {
  group(ctx, 'key-safety', () => {
    it.each(Object.keys(METHODS))(
      '%s rejects unsafe keys with HADB_STORAGE_INVALID_KEY before any I/O',
      async (method) => {
        const b = await ctx.fresh();
        await b.put('good', bytes('good'));
        const probe: Probe = { bodyPulled: false };
        const call = METHODS[method]!;
        const keys =
          method === 'list' || method === 'listPage'
            ? UNSAFE_KEYS.filter((k) => k !== '' && k !== 'trailing/')
            : UNSAFE_KEYS;
        for (const key of keys) {
          await expectCode(
            () => call(b, key, undefined, probe),
            'HADB_STORAGE_INVALID_KEY',
            `${method}(${JSON.stringify(key)})`,
          );
        }
        await expectUntouched(b, probe);
      },
    );
  });
}

export function registerAbort(ctx: SuiteContext): void {
  group(ctx, 'abort', () => {
    it.each(Object.keys(METHODS))(
      '%s rejects an already-aborted signal with HADB_STORAGE_ABORTED and changes nothing',
      async (method) => {
        const b = await ctx.fresh();
        await b.put('good', bytes('good'));
        const probe: Probe = { bodyPulled: false };
        const key =
          method === 'list' || method === 'listPage'
            ? ''
            : method === 'delete' || method === 'putIfMatch'
              ? 'good'
              : 'fresh';
        await expectCode(() => METHODS[method]!(b, key, abortedSignal(), probe), 'HADB_STORAGE_ABORTED', method);
        await expectUntouched(b, probe);
      },
    );
  });
}

export function registerLifecycle(ctx: SuiteContext): void {
  group(ctx, 'lifecycle', () => {
    it('close() is idempotent, also when called concurrently', async () => {
      const b = await ctx.fresh();
      await b.put('k', bytes('v'));
      await Promise.all([b.close(), b.close()]);
      await b.close();
      await b[Symbol.asyncDispose]();
    });

    it('await using closes the backend at the end of the block', async () => {
      let escaped: StorageBackend | undefined;
      {
        await using b = await ctx.fresh();
        await b.put('k', bytes('v'));
        escaped = b;
      }
      await expectCode(() => escaped!.get('k'), 'HADB_STORAGE_CLOSED', 'get after await using');
    });

    it.each(Object.keys(METHODS))('%s after close() rejects with HADB_STORAGE_CLOSED', async (method) => {
      const b = await ctx.fresh();
      await b.put('good', bytes('good'));
      const { etag } = (await b.head('good'))!;
      await b.close();
      const probe: Probe = { bodyPulled: false };
      const call: Call =
        method === 'putIfMatch' ? (bb, k, signal) => bb.putIfMatch(k, bytes('x'), etag, { signal }) : METHODS[method]!;
      const key = method === 'list' || method === 'listPage' ? '' : 'good';
      await expectCode(() => call(b, key, undefined, probe), 'HADB_STORAGE_CLOSED', method);
      expect(probe.bodyPulled).toBe(false);
    });
  });
}
