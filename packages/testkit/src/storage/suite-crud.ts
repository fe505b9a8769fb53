import { expect, it } from 'vitest';
import { allBytes, bytes, collect, group, text, type SuiteContext } from './helpers.js';

export function registerCrud(ctx: SuiteContext): void {
  group(ctx, 'crud', () => {
    it('returns null/false for a missing key from every read', async () => {
      const b = await ctx.fresh();
      expect(await b.get('missing')).toBeNull();
      expect(await b.head('missing')).toBeNull();
      expect(await b.exists('missing')).toBe(false);
      expect(await b.rangeGet('missing', 0, 10)).toBeNull();
      expect(await b.getStream('missing')).toBeNull();
      expect(await b.list('')).toEqual([]);
    });

    it('round-trips bytes; get, head and put agree on the etag', async () => {
      const b = await ctx.fresh();
      const data = allBytes(4);
      const { etag } = await b.put('obj', data);
      expect(typeof etag).toBe('string');
      expect(etag.length).toBeGreaterThan(0);
      const got = await b.get('obj');
      expect(got).not.toBeNull();
      expect(Buffer.from(got!.data).equals(Buffer.from(data))).toBe(true);
      expect(got!.etag).toBe(etag);
      expect(await b.head('obj')).toEqual({ size: data.length, etag });
      expect(await b.exists('obj')).toBe(true);
    });

    it('stores empty objects', async () => {
      const b = await ctx.fresh();
      const { etag } = await b.put('empty', new Uint8Array(0));
      const got = await b.get('empty');
      expect(got?.data.length).toBe(0);
      expect(got?.etag).toBe(etag);
      expect(await b.head('empty')).toEqual({ size: 0, etag });
      expect(await b.exists('empty')).toBe(true);
      const stream = await b.getStream('empty');
      expect(stream).not.toBeNull();
      expect((await collect(stream!.body)).length).toBe(0);
    });

    it('overwrites atomically and changes the etag', async () => {
      const b = await ctx.fresh();
      const first = await b.put('k', bytes('first version'));
      const second = await b.put('k', bytes('second'));
      expect(second.etag).not.toBe(first.etag);
      const got = await b.get('k');
      expect(text(got?.data)).toBe('second');
      expect(got?.etag).toBe(second.etag);
    });

    it('gives every write a new etag (uniqueEtags) or at least every change of content', async () => {
      const b = await ctx.fresh();
      const etags = new Set<string>();
      const writes = 6;
      for (let i = 0; i < writes; i++) {
        const data = ctx.options.capabilities.uniqueEtags ? bytes('same bytes') : bytes(`content ${i}`);
        etags.add((await b.put('k', data)).etag);
      }
      const created = await b.putIfAbsent('other', bytes('x'));
      expect(created.success).toBe(true);
      if (created.success) etags.add(created.etag);
      const head = await b.head('k');
      const swapped = await b.putIfMatch(
        'k',
        ctx.options.capabilities.uniqueEtags ? bytes('same bytes') : bytes('content cas'),
        head!.etag,
      );
      expect(swapped.success).toBe(true);
      if (swapped.success) etags.add(swapped.etag);
      expect(etags.size).toBe(writes + 2);
    });

    it('deletes; deleting a missing key is not an error', async () => {
      const b = await ctx.fresh();
      await b.put('d', bytes('x'));
      await b.delete('d');
      expect(await b.get('d')).toBeNull();
      expect(await b.exists('d')).toBe(false);
      await b.delete('d');
      await b.delete('never/existed');
      expect(await b.list('')).toEqual([]);
    });

    it('copies data in and out: callers may mutate their buffers', async () => {
      const b = await ctx.fresh();
      const data = bytes('original');
      await b.put('k', data);
      data.fill(0x41);
      const got = await b.get('k');
      expect(text(got?.data)).toBe('original');
      got!.data.fill(0x42);
      expect(text((await b.get('k'))?.data)).toBe('original');
      const range = await b.rangeGet('k', 0, 4);
      range!.fill(0x43);
      expect(text((await b.get('k'))?.data)).toBe('original');
      const entries = [{ key: 'm', data: bytes('many') }];
      await b.putMany(entries);
      entries[0]!.data.fill(0x44);
      expect(text((await b.get('m'))?.data)).toBe('many');
    });

    it('handles nested, unicode, spaced and long keys', async () => {
      const b = await ctx.fresh();
      const long = ['a', 'b', 'c', 'd'].map((c) => c.repeat(250)).join('/');
      const keys = ['dir/sub/file.bin', 'ünï/cödé', 'with space', 'emoji/\u{1F600}', '_lease.json', long];
      for (const key of keys) await b.put(key, bytes(`value of ${key.slice(0, 20)}`));
      for (const key of keys) expect(text((await b.get(key))?.data)).toBe(`value of ${key.slice(0, 20)}`);
      expect((await b.list('')).length).toBe(keys.length);
    });

    it('keeps two independent namespaces apart', async () => {
      const a = await ctx.fresh();
      const b = await ctx.fresh();
      await a.put('shared-name', bytes('a'));
      expect(await b.get('shared-name')).toBeNull();
      expect(await b.list('')).toEqual([]);
    });
  });
}
