import { expect, it } from 'vitest';
import { collect, group, type SuiteContext } from './helpers.js';

const hundred = () => Uint8Array.from({ length: 100 }, (_, i) => i);
const span = (from: number, to: number) => Array.from({ length: Math.max(0, to - from) }, (_, i) => from + i);

const cases: [string, number, number, number[]][] = [
  ['the start', 0, 10, span(0, 10)],
  ['the middle', 50, 10, span(50, 60)],
  ['a length beyond the end', 95, 10, span(95, 100)],
  ['the whole object', 0, 100, span(0, 100)],
  ['start at the end', 100, 5, []],
  ['start past the end', 1000, 5, []],
  ['zero length', 10, 0, []],
];

export function registerRange(ctx: SuiteContext): void {
  group(ctx, 'range', () => {
    it.each(cases)('rangeGet %s', async (_label, start, length, expected) => {
      const b = await ctx.fresh();
      await b.put('r', hundred());
      const got = await b.rangeGet('r', start, length);
      expect(got).not.toBeNull();
      expect(Array.from(got!)).toEqual(expected);
    });

    it('rangeGet of a missing key is null', async () => {
      const b = await ctx.fresh();
      expect(await b.rangeGet('missing', 0, 10)).toBeNull();
      expect(await b.rangeGet('missing', 50, 0)).toBeNull();
    });

    it.each(cases)('getStream with start/length: %s', async (_label, start, length, expected) => {
      const b = await ctx.fresh();
      const { etag } = await b.put('r', hundred());
      const stream = await b.getStream('r', { start, length });
      expect(stream).not.toBeNull();
      expect(stream!.size).toBe(100);
      expect(stream!.etag).toBe(etag);
      expect(Array.from(await collect(stream!.body))).toEqual(expected);
    });

    it('getStream with only start reads to the end', async () => {
      const b = await ctx.fresh();
      await b.put('r', hundred());
      const stream = await b.getStream('r', { start: 90 });
      expect(Array.from(await collect(stream!.body))).toEqual(span(90, 100));
    });

    it('parallel ranged getStreams (as a restore issues them) reassemble the object exactly, one version', async () => {
      const b = await ctx.fresh();
      const data = Uint8Array.from({ length: 300_001 }, (_, i) => (i * 7 + (i >> 9)) & 0xff);
      const { etag } = await b.put('big', data);
      const range = 65_536;
      const parts = await Promise.all(
        Array.from({ length: Math.ceil(data.length / range) }, async (_, i) => {
          const stream = await b.getStream('big', { start: i * range, length: range });
          expect(stream).not.toBeNull();
          expect(stream!.size).toBe(data.length);
          expect(stream!.etag).toBe(etag);
          return collect(stream!.body);
        }),
      );
      expect(parts.map((p) => p.length)).toEqual([65_536, 65_536, 65_536, 65_536, 37_857]);
      expect(Buffer.compare(Buffer.concat(parts), Buffer.from(data))).toBe(0);
    });
  });
}
