import { isStorageError } from '@hadb/storage';
import { expect, it } from 'vitest';
import { bytes, group, text, type SuiteContext } from './helpers.js';

export function registerBatch(ctx: SuiteContext): void {
  group(ctx, 'batch', () => {
    it('putMany writes every entry; an empty batch is a no-op', async () => {
      const b = await ctx.fresh();
      const entries = Array.from({ length: 25 }, (_, i) => ({ key: `many/${i}`, data: bytes(`v${i}`) }));
      await b.putMany(entries);
      await b.putMany([]);
      for (const { key } of entries) expect(text((await b.get(key))?.data)).toBe(`v${key.slice(5)}`);
      expect((await b.list('many/')).length).toBe(25);
    });

    it('putMany accepts any iterable', async () => {
      const b = await ctx.fresh();
      function* gen() {
        yield { key: 'it/a', data: bytes('a') };
        yield { key: 'it/b', data: bytes('b') };
      }
      await b.putMany(gen());
      expect(await b.list('it/')).toEqual(['it/a', 'it/b']);
    });

    it('deleteMany counts deleted and missing keys and leaves the rest', async () => {
      const b = await ctx.fresh();
      await b.putMany(['a', 'b', 'c'].map((key) => ({ key, data: bytes(key) })));
      expect(await b.deleteMany(['a', 'b', 'missing', 'also/missing'])).toBe(4);
      expect(await b.list('')).toEqual(['c']);
      expect(await b.deleteMany([])).toBe(0);
      expect(await b.deleteMany(['a'])).toBe(1);
      expect(await b.list('')).toEqual(['c']);
    });

    const hook = ctx.options.deleteFailureKey;
    (hook === undefined ? it.skip : it)(
      `deleteMany raises HADB_STORAGE_PARTIAL_FAILURE naming the failed key${hook === undefined ? ' (backend cannot produce a delete failure)' : ''}`,
      async () => {
        const b = await ctx.fresh();
        await b.putMany(['ok/1', 'ok/2'].map((key) => ({ key, data: bytes(key) })));
        const failing = await hook!(b);
        let caught: unknown;
        try {
          await b.deleteMany(['ok/1', failing, 'missing', 'ok/2']);
        } catch (error) {
          caught = error;
        }
        expect(isStorageError(caught, 'HADB_STORAGE_PARTIAL_FAILURE'), String(caught)).toBe(true);
        if (isStorageError(caught)) expect(caught.failedKeys).toEqual([failing]);
        expect(await b.exists('ok/1')).toBe(false);
        expect(await b.exists('ok/2')).toBe(false);
      },
    );
  });
}
