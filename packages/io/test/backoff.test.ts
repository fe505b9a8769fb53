import { describe, expect, it } from 'vitest';
import { backoffCap, backoffDelay } from '../src/index.js';

describe('backoffDelay (full jitter)', () => {
  it('caps at min(max, base * 2^min(attempt, 20)) with the spec defaults', () => {
    const caps = Array.from({ length: 12 }, (_, attempt) => backoffCap(attempt));
    expect(caps).toEqual([100, 200, 400, 800, 1600, 3200, 6400, 12800, 25600, 30000, 30000, 30000]);
  });

  it('stops growing the exponent at 20', () => {
    const options = { baseDelayMs: 1, maxDelayMs: Number.MAX_SAFE_INTEGER };
    expect(backoffCap(20, options)).toBe(2 ** 20);
    expect(backoffCap(21, options)).toBe(2 ** 20);
    expect(backoffCap(1000, options)).toBe(2 ** 20);
  });

  it('spans the whole interval [0, cap] as integers', () => {
    expect(backoffDelay(0, {}, () => 0)).toBe(0);
    expect(backoffDelay(0, {}, () => 0.999_999_999)).toBe(100);
    expect(backoffDelay(3, {}, () => 0.5)).toBe(400);
    // A random source that (wrongly) returns 1 still stays within the cap.
    expect(backoffDelay(2, {}, () => 1)).toBe(400);
  });

  it('draws every delay within the bounds', () => {
    for (let attempt = 0; attempt < 30; attempt++) {
      for (let i = 0; i < 50; i++) {
        const d = backoffDelay(attempt, { baseDelayMs: 7, maxDelayMs: 5000 });
        expect(Number.isInteger(d)).toBe(true);
        expect(d).toBeGreaterThanOrEqual(0);
        expect(d).toBeLessThanOrEqual(Math.min(5000, 7 * 2 ** Math.min(attempt, 20)));
      }
    }
  });
});
