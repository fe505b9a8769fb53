import { isStorageError, type StorageErrorCode } from '@hadb/storage';
import { storageBackendSuite, withFaults } from '@hadb/testkit/storage';
import { describe, expect, it } from 'vitest';
import { MemStorageBackend } from '../src/index.js';

const bytes = (s: string) => new Uint8Array(Buffer.from(s));
const text = (d: Uint8Array | undefined) => (d === undefined ? undefined : Buffer.from(d).toString());

async function outcome(p: Promise<unknown>): Promise<StorageErrorCode | 'ok'> {
  try {
    await p;
    return 'ok';
  } catch (e) {
    if (isStorageError(e)) return e.code;
    throw e;
  }
}

async function* chunks(data: Uint8Array, size: number): AsyncGenerator<Uint8Array> {
  for (let i = 0; i < data.length; i += size) yield data.slice(i, i + size);
}

describe('withFaults', () => {
  it('is deterministic for a seed and differs between seeds', async () => {
    const run = async (seed: number) => {
      const b = withFaults(new MemStorageBackend(), { seed, errorRate: 0.5 });
      const out: string[] = [];
      for (let i = 0; i < 64; i++) out.push(await outcome(b.put(`k${i}`, bytes('x'))));
      return out.join(',');
    };
    expect(await run(7)).toBe(await run(7));
    expect(await run(7)).not.toBe(await run(8));
  });

  it('injects errors before the call at about the configured rate, and counts them', async () => {
    const inner = new MemStorageBackend();
    const b = withFaults(inner, { seed: 1, errorRate: 0.3 });
    let failed = 0;
    for (let i = 0; i < 1000; i++) {
      const r = await outcome(b.put(`k${i}`, bytes('x')));
      if (r === 'HADB_STORAGE_UNAVAILABLE') {
        failed++;
        expect(await inner.exists(`k${i}`)).toBe(false);
      } else {
        expect(r).toBe('ok');
      }
    }
    expect(failed).toBeGreaterThan(240);
    expect(failed).toBeLessThan(360);
    const counts = b.faultCounts();
    expect(counts.errors).toBe(failed);
    expect(counts.calls).toBe(1000);
    expect(counts.byOperation.put?.errors).toBe(failed);
    expect(inner.bucket.size).toBe(1000 - failed);
  });

  it('loses replies of writes only: the write happens, the caller gets HADB_STORAGE_AMBIGUOUS', async () => {
    const inner = new MemStorageBackend();
    const b = withFaults(inner, { seed: 2, lostReplies: 1 });
    expect(await outcome(b.put('a', bytes('applied')))).toBe('HADB_STORAGE_AMBIGUOUS');
    expect(text((await inner.get('a'))?.data)).toBe('applied');
    expect(await outcome(b.putIfAbsent('b', bytes('created')))).toBe('HADB_STORAGE_AMBIGUOUS');
    expect(await inner.exists('b')).toBe(true);
    expect(await outcome(b.delete('a'))).toBe('HADB_STORAGE_AMBIGUOUS');
    expect(await inner.exists('a')).toBe(false);
    expect(text((await b.get('b'))?.data)).toBe('created');
    expect(b.faultCounts().lostReplies).toBe(3);
  });

  it('tears writes: the stored object is a strict prefix, reported as success or as ambiguous', async () => {
    const inner = new MemStorageBackend();
    const b = withFaults(inner, { seed: 3, tornWrites: 1 });
    const data = bytes('0123456789'.repeat(10));
    const put = await b.put('t', data);
    const stored = (await inner.get('t'))!;
    expect(stored.etag).toBe(put.etag);
    expect(stored.data.length).toBeLessThan(data.length);
    expect(Buffer.from(data).subarray(0, stored.data.length).equals(Buffer.from(stored.data))).toBe(true);

    const streamed = await b.putStream('s', chunks(data, 7));
    expect(streamed.success).toBe(true);
    const s = (await inner.get('s'))!;
    expect(s.data.length).toBeLessThan(data.length);
    expect(Buffer.from(data).subarray(0, s.data.length).equals(Buffer.from(s.data))).toBe(true);
    if (streamed.success) expect(streamed.size).toBe(s.data.length);

    await b.putMany([
      { key: 'm1', data },
      { key: 'm2', data },
    ]);
    expect((await inner.get('m1'))!.data.length).toBeLessThan(data.length);
    expect(b.faultCounts().tornWrites).toBe(4);

    b.setFaults({ tornWriteReply: 'ambiguous' });
    expect(await outcome(b.put('u', data))).toBe('HADB_STORAGE_AMBIGUOUS');
    expect((await inner.get('u'))!.data.length).toBeLessThan(data.length);
  });

  it('fails getStream bodies mid-way after a strict prefix', async () => {
    const inner = new MemStorageBackend({ streamChunkBytes: 16 });
    const b = withFaults(inner, { seed: 4, streamErrors: 1 });
    const data = bytes('x'.repeat(1000));
    await inner.put('k', data);
    const stream = (await b.getStream('k'))!;
    let received = 0;
    let code: string | undefined;
    try {
      for await (const chunk of stream.body) received += chunk.length;
    } catch (e) {
      code = isStorageError(e) ? e.code : String(e);
    }
    expect(code).toBe('HADB_STORAGE_UNAVAILABLE');
    expect(received).toBeLessThan(1000);
    expect(b.faultCounts().streamErrors).toBe(1);
  });

  it('adds latency and honours abort during it', async () => {
    const b = withFaults(new MemStorageBackend(), { seed: 5, latencyMs: [40, 60] });
    const t0 = performance.now();
    await b.put('k', bytes('x'));
    expect(performance.now() - t0).toBeGreaterThanOrEqual(39);
    b.setFaults({ latencyMs: 5000 });
    const c = new AbortController();
    setTimeout(() => c.abort(), 5);
    const t1 = performance.now();
    expect(await outcome(b.get('k', { signal: c.signal }))).toBe('HADB_STORAGE_ABORTED');
    expect(performance.now() - t1).toBeLessThan(2500);
    expect(b.faultCounts().delayed).toBe(2);
  });

  it('applies faults only to the selected operations and keys', async () => {
    const b = withFaults(new MemStorageBackend(), {
      seed: 6,
      errorRate: 1,
      operations: ['put', 'get'],
      keys: (k) => k.startsWith('wal/'),
    });
    expect(await outcome(b.put('wal/1', bytes('x')))).toBe('HADB_STORAGE_UNAVAILABLE');
    expect(await outcome(b.put('lease', bytes('x')))).toBe('ok');
    expect(await outcome(b.putIfAbsent('wal/2', bytes('x')))).toBe('ok');
    expect(await outcome(b.get('wal/2'))).toBe('HADB_STORAGE_UNAVAILABLE');
    expect(await outcome(b.head('wal/2'))).toBe('ok');
    expect(b.faultCounts().byOperation).toEqual({
      put: { calls: 1, errors: 1, lostReplies: 0, tornWrites: 0, streamErrors: 0, delayed: 0 },
      get: { calls: 1, errors: 1, lostReplies: 0, tornWrites: 0, streamErrors: 0, delayed: 0 },
    });
  });

  it('heals with setFaults and resets its counters', async () => {
    const b = withFaults(new MemStorageBackend(), { seed: 7, errorRate: 1 });
    expect(await outcome(b.put('k', bytes('x')))).toBe('HADB_STORAGE_UNAVAILABLE');
    b.setFaults({ errorRate: 0 });
    expect(await outcome(b.put('k', bytes('x')))).toBe('ok');
    b.resetFaultCounts();
    expect(b.faultCounts()).toMatchObject({ calls: 0, errors: 0 });
    expect(b.name).toBe('mem+faults');
    await b.close();
    expect(await outcome(b.inner.get('k'))).toBe('HADB_STORAGE_CLOSED');
  });
});

// With every rate at zero the wrapper must be a transparent, conforming backend.
storageBackendSuite({
  name: 'mem wrapped by withFaults with no faults',
  create: () => withFaults(new MemStorageBackend(), { seed: 11, errorRate: 0, lostReplies: 0, tornWrites: 0 }),
  capabilities: { atomicConditionalWrites: true, conditionalStreamingWrites: true, uniqueEtags: true },
  streamMemoryBudgetBytes: null,
  bigObjectBytes: 32 * 1024 * 1024,
});
