import type { CasResult } from '@hadb/storage';
import { expect, it } from 'vitest';
import { bytes, group, text, type SuiteContext } from './helpers.js';

export function registerCas(ctx: SuiteContext): void {
  group(ctx, 'cas', () => {
    it('putIfAbsent creates a missing key and refuses an existing one', async () => {
      const b = await ctx.fresh();
      const created = await b.putIfAbsent('lease', bytes('one'));
      expect(created.success).toBe(true);
      if (!created.success) return;
      expect((await b.head('lease'))?.etag).toBe(created.etag);
      const again = await b.putIfAbsent('lease', bytes('two'));
      expect(again).toEqual({ success: false });
      const got = await b.get('lease');
      expect(text(got?.data)).toBe('one');
      expect(got?.etag).toBe(created.etag);
    });

    it('putIfMatch replaces only the version it names', async () => {
      const b = await ctx.fresh();
      const v1 = await b.put('k', bytes('v1'));
      const v2 = await b.putIfMatch('k', bytes('v2'), v1.etag);
      expect(v2.success).toBe(true);
      if (!v2.success) return;
      expect(v2.etag).not.toBe(v1.etag);
      const got = await b.get('k');
      expect(text(got?.data)).toBe('v2');
      expect(got?.etag).toBe(v2.etag);
      expect(await b.putIfMatch('k', bytes('stale'), v1.etag)).toEqual({ success: false });
      expect(text((await b.get('k'))?.data)).toBe('v2');
      const v3 = await b.putIfMatch('k', bytes('v3'), v2.etag);
      expect(v3.success).toBe(true);
      if (v3.success) expect((await b.head('k'))?.etag).toBe(v3.etag);
    });

    it('putIfMatch on a missing key is a conflict and creates nothing', async () => {
      const b = await ctx.fresh();
      const other = await b.put('other', bytes('x'));
      expect(await b.putIfMatch('missing', bytes('x'), other.etag)).toEqual({ success: false });
      expect(await b.putIfMatch('missing', bytes('x'), 'no-such-etag')).toEqual({ success: false });
      expect(await b.exists('missing')).toBe(false);
    });

    it('an etag dies with its object: putIfMatch after delete fails, putIfAbsent then works', async () => {
      const b = await ctx.fresh();
      const v1 = await b.put('k', bytes('v1'));
      await b.delete('k');
      expect(await b.putIfMatch('k', bytes('zombie'), v1.etag)).toEqual({ success: false });
      expect(await b.exists('k')).toBe(false);
      const fresh = await b.putIfAbsent('k', bytes('reborn'));
      expect(fresh.success).toBe(true);
      expect(text((await b.get('k'))?.data)).toBe('reborn');
    });
  });
}

function winners(results: readonly CasResult[]): number[] {
  return results.flatMap((r, i) => (r.success ? [i] : []));
}

export function registerCasRace(ctx: SuiteContext): void {
  const { rounds, concurrency, capabilities } = ctx.options;
  const reason = capabilities.atomicConditionalWrites ? undefined : 'backend declares atomicConditionalWrites: false';
  group(ctx, 'cas-race', () => {
    const maybe = reason === undefined ? it : it.skip;

    maybe(
      `${concurrency} concurrent putIfMatch with one etag: exactly one winner per round, ${rounds} rounds`,
      async () => {
        const b = await ctx.fresh();
        let { etag } = await b.put('race', bytes('initial'));
        for (let round = 0; round < rounds; round++) {
          const results = await Promise.all(
            Array.from({ length: concurrency }, (_, w) => b.putIfMatch('race', bytes(`r${round}-w${w}`), etag)),
          );
          const won = winners(results);
          expect(won, `round ${round}`).toHaveLength(1);
          const winner = results[won[0]!]!;
          if (!winner.success) return;
          const stored = await b.get('race');
          expect(text(stored?.data), `round ${round}`).toBe(`r${round}-w${won[0]}`);
          expect(stored?.etag).toBe(winner.etag);
          etag = winner.etag;
        }
      },
      ctx.timeout(120_000),
    );

    maybe(
      `${concurrency} concurrent putIfAbsent on one key: exactly one winner per round, ${rounds} rounds`,
      async () => {
        const b = await ctx.fresh();
        for (let round = 0; round < rounds; round++) {
          const key = `absent/${round}`;
          const results = await Promise.all(
            Array.from({ length: concurrency }, (_, w) => b.putIfAbsent(key, bytes(`r${round}-w${w}`))),
          );
          const won = winners(results);
          expect(won, `round ${round}`).toHaveLength(1);
          const winner = results[won[0]!]!;
          if (!winner.success) return;
          const stored = await b.get(key);
          expect(text(stored?.data), `round ${round}`).toBe(`r${round}-w${won[0]}`);
          expect(stored?.etag).toBe(winner.etag);
        }
      },
      ctx.timeout(120_000),
    );
  });
}
