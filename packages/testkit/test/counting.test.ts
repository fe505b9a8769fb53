import type { StorageBackend } from '@hadb/storage';
import { describe, expect, it } from 'vitest';
import { countLeaseRequests } from '../src/lease/counting.js';
import { countRequests, dollarsPerMonth } from '../src/storage/counting.js';

/** A backend recording what reached it (the wrapper's only job is to count and pass calls on). */
function recordingBackend() {
  const reached: string[] = [];
  const backend = {
    name: 'recording',
    get: async (key: string) => {
      reached.push(`get ${key}`);
      return null;
    },
    head: async (key: string) => {
      reached.push(`head ${key}`);
      return null;
    },
    put: async (key: string) => void reached.push(`put ${key}`),
    putMany: async (entries: Iterable<{ key: string }>) => {
      for (const e of entries) reached.push(`putMany ${e.key}`);
    },
    list: async () => {
      reached.push('list');
      return [];
    },
    delete: async (key: string) => void reached.push(`delete ${key}`),
  };
  return { reached, backend: backend as unknown as StorageBackend };
}

describe('countRequests', () => {
  it('counts each request as S3 bills it and passes every call through unchanged', async () => {
    const { reached, backend } = recordingBackend();
    const counter = countRequests(backend);
    const s = counter.storage;
    expect(s.name).toBe('recording');
    await s.get('a');
    await s.head('a');
    await s.put('b', new Uint8Array(1));
    // putMany of a generator: one PUT per entry, and the backend still sees every entry.
    await s.putMany(
      (function* () {
        yield { key: 'c', data: new Uint8Array(1) };
        yield { key: 'd', data: new Uint8Array(1) };
      })(),
    );
    await s.list('');
    await s.delete('b');
    expect(reached).toEqual(['get a', 'head a', 'put b', 'putMany c', 'putMany d', 'list', 'delete b']);
    const c = counter.count();
    expect(c.byOperation).toEqual({ get: 1, head: 1, put: 1, putMany: 1, list: 1, delete: 1 });
    expect(c.total).toBe(6);
    expect(c.classA).toBe(4); // put, 2 × putMany entries, list
    expect(c.classB).toBe(2); // get, head
    expect(c.dollars).toBeCloseTo((4 * 0.005 + 2 * 0.0004) / 1000, 12);
    // One such burst per second for a 30-day month.
    expect(dollarsPerMonth(c, 1)).toBeCloseTo(c.dollars * 2_592_000, 6);
    counter.reset();
    expect(counter.count().total).toBe(0);
  });

  it('countLeaseRequests counts reads, conditional writes and deletes', async () => {
    const calls: string[] = [];
    const store = {
      read: async () => {
        calls.push('read');
        return null;
      },
      writeIfNotExists: async () => {
        calls.push('create');
        return { ok: true };
      },
      writeIfMatch: async () => {
        calls.push('cas');
        return { ok: true };
      },
      delete: async () => void calls.push('delete'),
      keyFor: (scope: string) => scope,
    };
    const counter = countLeaseRequests(store as never);
    const s = counter.store as unknown as typeof store;
    await s.read();
    await s.writeIfNotExists();
    await s.writeIfMatch();
    await s.delete();
    expect(s.keyFor('x')).toBe('x');
    expect(calls).toEqual(['read', 'create', 'cas', 'delete']);
    expect(counter.count()).toEqual({ reads: 1, writes: 2, deletes: 1 });
  });
});
