import { assertSafeKey, isStorageError } from '@hadb/storage';
import { describe, expect, it } from 'vitest';
import { MemoryWatch } from '../src/storage/helpers.js';
import { Prng, UNSAFE_KEYS } from '../src/storage/index.js';

describe('Prng', () => {
  it('replays the same sequence for the same seed', () => {
    const a = new Prng(123);
    const b = new Prng(123);
    const c = new Prng(124);
    const sa = Array.from({ length: 100 }, () => a.next());
    expect(Array.from({ length: 100 }, () => b.next())).toEqual(sa);
    expect(Array.from({ length: 100 }, () => c.next())).not.toEqual(sa);
  });

  it('yields floats in [0, 1) spread evenly', () => {
    const p = new Prng(9);
    const buckets = new Array<number>(10).fill(0);
    let outside = 0;
    for (let i = 0; i < 100_000; i++) {
      const x = p.next();
      if (!(x >= 0 && x < 1)) outside++;
      else buckets[Math.floor(x * 10)]!++;
    }
    expect(outside).toBe(0);
    for (const n of buckets) expect(Math.abs(n - 10_000)).toBeLessThan(500);
  });
});

describe('UNSAFE_KEYS', () => {
  it('are all refused by assertSafeKey', () => {
    for (const key of UNSAFE_KEYS) {
      let error: unknown;
      try {
        assertSafeKey(key);
      } catch (e) {
        error = e;
      }
      expect(isStorageError(error, 'HADB_STORAGE_INVALID_KEY'), JSON.stringify(key)).toBe(true);
    }
  });
});

describe('MemoryWatch', () => {
  it('sees retained buffers and not collected garbage', () => {
    const watch = new MemoryWatch(8 * 1024 * 1024);
    for (let i = 0; i < 64; i++) watch.tick(Buffer.alloc(1024 * 1024, i).length);
    expect(watch.peakGrowth).toBeLessThan(32 * 1024 * 1024);
    const retained: Buffer[] = [];
    for (let i = 0; i < 64; i++) {
      retained.push(Buffer.alloc(1024 * 1024, i));
      watch.tick(1024 * 1024);
    }
    expect(watch.peakGrowth).toBeGreaterThan(60 * 1024 * 1024);
    expect(retained.length).toBe(64);
  });
});
