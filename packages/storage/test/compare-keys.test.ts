import { describe, expect, it } from 'vitest';
import { compareKeys, listAll } from '../src/index.js';

const utf8Order = (a: string, b: string) => Buffer.compare(Buffer.from(a, 'utf8'), Buffer.from(b, 'utf8'));

describe('compareKeys', () => {
  it('orders by UTF-8 bytes, unlike UTF-16 string comparison', () => {
    const high = '\uff61'; // UTF-8 EF BD A1
    const astral = '\u{1F600}'; // UTF-8 F0 9F 98 80, UTF-16 D83D DE00
    expect(astral < high).toBe(true); // the JavaScript order is wrong for object stores
    expect(compareKeys(high, astral)).toBeLessThan(0);
    expect(compareKeys(astral, high)).toBeGreaterThan(0);
    expect(compareKeys('a', 'a')).toBe(0);
    expect(compareKeys('a', 'ab')).toBeLessThan(0);
    expect(compareKeys('a-c', 'a/b')).toBeLessThan(0);
  });

  it('agrees with Buffer.compare on random strings', () => {
    const alphabet = [
      'a',
      'z',
      '/',
      '-',
      'é',
      '\u07ff',
      '\u0800',
      '\ud7ff',
      '\ue000',
      '\uffff',
      '\u{10000}',
      '\u{1F600}',
      '\u{10FFFF}',
    ];
    let seed = 42;
    const rnd = () => (seed = (seed * 1103515245 + 12345) >>> 0) / 2 ** 32;
    const word = () =>
      Array.from({ length: 1 + Math.floor(rnd() * 4) }, () => alphabet[Math.floor(rnd() * alphabet.length)]).join('');
    for (let i = 0; i < 5000; i++) {
      const a = word();
      const b = word();
      expect(Math.sign(compareKeys(a, b))).toBe(Math.sign(utf8Order(a, b)));
    }
  });

  it('lets listAll advance across a page boundary where UTF-16 order would look like a step back', async () => {
    const keys = ['\uff61', '\u{1F600}'];
    const pages = await listAll(async (_prefix, { after }) => {
      const rest = keys.filter((k) => after === undefined || compareKeys(k, after) > 0);
      const page = rest.slice(0, 1);
      return { keys: page, nextAfter: rest.length > 1 ? page[0] : undefined };
    }, '');
    expect(pages).toEqual(keys);
  });
});
