import { compareKeys, type StorageBackend } from '@hadb/storage';
import { expect, it } from 'vitest';
import { bytes, group, type SuiteContext } from './helpers.js';

const utf8Sort = (keys: readonly string[]) =>
  [...keys].sort((a, b) => Buffer.compare(Buffer.from(a, 'utf8'), Buffer.from(b, 'utf8')));

async function pagesOf(b: StorageBackend, prefix: string, limit: number | undefined, after?: string) {
  const pages: (readonly string[])[] = [];
  let cursor = after;
  for (let i = 0; i < 100_000; i++) {
    const page = await b.listPage(prefix, { after: cursor, limit });
    pages.push(page.keys);
    if (limit !== undefined) expect(page.keys.length).toBeLessThanOrEqual(limit);
    expect(page.keys.length).toBeLessThanOrEqual(1000);
    if (page.nextAfter === undefined) return pages;
    if (cursor !== undefined) expect(compareKeys(page.nextAfter, cursor)).toBeGreaterThan(0);
    cursor = page.nextAfter;
  }
  throw new Error('listPage never finished');
}

export function registerList(ctx: SuiteContext): void {
  group(ctx, 'list', () => {
    const odd = [
      'a-c',
      'a/b',
      'a/c/d',
      'aa',
      'b',
      'B',
      'é',
      '\uff61',
      '\u{1F600}',
      'z/\u{1F600}',
      'z/\uff61',
      'z/a',
      'z/a-b',
      'z/ab/c',
    ];

    it('lists in UTF-8 byte order and filters by prefix', async () => {
      const b = await ctx.fresh();
      for (const key of odd) await b.put(key, bytes(key));
      expect(await b.list('')).toEqual(utf8Sort(odd));
      expect(await b.list('a')).toEqual(utf8Sort(odd.filter((k) => k.startsWith('a'))));
      expect(await b.list('a/')).toEqual(['a/b', 'a/c/d']);
      expect(await b.list('z/')).toEqual(['z/a', 'z/a-b', 'z/ab/c', 'z/\uff61', 'z/\u{1F600}']);
      expect(await b.list('z/a')).toEqual(['z/a', 'z/a-b', 'z/ab/c']);
      expect(await b.list('a/c/')).toEqual(['a/c/d']);
      expect(await b.list('nothing/')).toEqual([]);
      expect(await b.list('a/c/d')).toEqual(['a/c/d']);
    });

    it('pages one key at a time in the same order', async () => {
      const b = await ctx.fresh();
      for (const key of odd) await b.put(key, bytes(key));
      const pages = await pagesOf(b, '', 1);
      expect(pages.flat()).toEqual(utf8Sort(odd));
      const zPages = await pagesOf(b, 'z/', 2);
      expect(zPages.flat()).toEqual(['z/a', 'z/a-b', 'z/ab/c', 'z/\uff61', 'z/\u{1F600}']);
    });

    it('treats after as an exclusive bound, also for keys that do not exist', async () => {
      const b = await ctx.fresh();
      const keys = ['k/1', 'k/2', 'k/3', 'k/4', 'k/5'];
      for (const key of keys) await b.put(key, bytes(key));
      expect(await b.list('k/', { after: 'k/2' })).toEqual(['k/3', 'k/4', 'k/5']);
      expect(await b.list('k/', { after: 'k/2x' })).toEqual(['k/3', 'k/4', 'k/5']);
      expect(await b.list('k/', { after: 'k/5' })).toEqual([]);
      expect(await b.list('k/', { after: 'k/9' })).toEqual([]);
      expect(await b.list('k/', { after: 'a' })).toEqual(keys);
      expect(await b.list('k/', { after: 'k/' })).toEqual(keys);
      expect(await b.list('', { after: 'k/4' })).toEqual(['k/5']);
      const page = await b.listPage('k/', { after: 'k/1', limit: 2 });
      expect(page.keys).toEqual(['k/2', 'k/3']);
      expect(page.nextAfter).toBe('k/3');
      const last = await b.listPage('k/', { after: 'k/3', limit: 2 });
      expect(last.keys).toEqual(['k/4', 'k/5']);
      const end = await b.listPage('k/', { after: last.nextAfter ?? 'k/5', limit: 2 });
      expect(end.keys).toEqual([]);
      expect(end.nextAfter).toBeUndefined();
    });

    it(
      `paginates ${ctx.options.listKeys} keys with listPage and list, then deletes them with deleteMany`,
      async () => {
        const b = await ctx.fresh();
        const n = ctx.options.listKeys;
        const keys = Array.from({ length: n }, (_, i) => (i % 3 === 0 ? `pg/d${i % 10}/k${i}` : `pg/k${i}`));
        await b.putMany(keys.map((key) => ({ key, data: bytes(key) })));
        const sorted = utf8Sort(keys);
        expect(await b.list('pg/')).toEqual(sorted);
        expect((await pagesOf(b, 'pg/', undefined)).flat()).toEqual(sorted);
        const small = await pagesOf(b, 'pg/', 97);
        expect(small.flat()).toEqual(sorted);
        expect(small.length).toBeGreaterThanOrEqual(Math.ceil(n / 97));
        const big = await pagesOf(b, 'pg/', 1000);
        expect(big.flat()).toEqual(sorted);
        const middle = sorted[Math.floor(n / 2)]!;
        expect(await b.list('pg/', { after: middle })).toEqual(sorted.slice(Math.floor(n / 2) + 1));
        expect((await pagesOf(b, 'pg/', 250, middle)).flat()).toEqual(sorted.slice(Math.floor(n / 2) + 1));
        expect(await b.deleteMany(keys)).toBe(n);
        expect(await b.list('pg/')).toEqual([]);
      },
      ctx.timeout(120_000),
    );
  });
}
