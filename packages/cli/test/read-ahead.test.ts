import { describe, expect, it } from 'vitest';
import { readAhead } from '../src/read-ahead.js';

async function* chunks(n: number, size: number, log: number[], failAt?: number): AsyncGenerator<Uint8Array> {
  try {
    for (let i = 0; i < n; i++) {
      if (i === failAt) throw new Error(`source failed at ${i}`);
      log.push(i);
      yield new Uint8Array(size).fill(i);
    }
  } finally {
    log.push(-1); // released
  }
}

describe('readAhead', () => {
  it('yields every chunk in order and reads ahead up to the byte limit', async () => {
    const log: number[] = [];
    const it = readAhead(chunks(10, 100, log), 300)[Symbol.asyncIterator]();
    const first = await it.next();
    expect(first.value![0]).toBe(0);
    await new Promise((r) => setTimeout(r, 20));
    // Chunk 0 was taken; up to 300 bytes (3 chunks) wait in the buffer, one more is being read.
    expect(log.filter((i) => i >= 0).length).toBeLessThanOrEqual(5);
    expect(log.filter((i) => i >= 0).length).toBeGreaterThanOrEqual(3);
    const rest: number[] = [];
    for (let r = await it.next(); r.done !== true; r = await it.next()) rest.push(r.value[0]!);
    expect(rest).toEqual([1, 2, 3, 4, 5, 6, 7, 8, 9]);
  });

  it('surfaces a source error after the chunks before it', async () => {
    const seen: number[] = [];
    await expect(
      (async () => {
        for await (const c of readAhead(chunks(10, 10, [], 4), 1000)) seen.push(c[0]!);
      })(),
    ).rejects.toThrow('source failed at 4');
    expect(seen).toEqual([0, 1, 2, 3]);
  });

  it('releases the source when the consumer stops early', async () => {
    const log: number[] = [];
    for await (const c of readAhead(chunks(100, 10, log), 50)) if (c[0] === 2) break;
    expect(log.at(-1)).toBe(-1);
    expect(log.length).toBeLessThan(20);
  });
});
