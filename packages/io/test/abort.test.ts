import { getEventListeners } from 'node:events';
import { describe, expect, it } from 'vitest';
import { HadbError, abortReason, abortable, childController, raceAbort, throwIfAborted } from '../src/index.js';

class PkgError extends HadbError<'HADB_PKG_ABORTED' | 'HADB_PKG_FENCED'> {
  override readonly name = 'PkgError';
}
const aborted = (message: string, cause?: unknown): Error => new PkgError('HADB_PKG_ABORTED', message, { cause });

async function rejection(p: Promise<unknown>): Promise<unknown> {
  try {
    await p;
  } catch (error) {
    return error;
  }
  throw new Error('expected a rejection');
}

function listenerCount(signal: AbortSignal): number {
  return getEventListeners(signal, 'abort').length;
}

describe('abortReason / throwIfAborted', () => {
  it('builds the package error with the reason as cause', () => {
    const c = new AbortController();
    c.abort('why');
    const error = abortReason(c.signal, aborted) as PkgError;
    expect(error.code).toBe('HADB_PKG_ABORTED');
    expect(error.cause).toBe('why');
  });

  it('passes a hadb error given as reason through unchanged', () => {
    const fence = new PkgError('HADB_PKG_FENCED', 'term ended');
    const c = new AbortController();
    c.abort(fence);
    expect(abortReason(c.signal, aborted)).toBe(fence);
    expect(() => throwIfAborted(c.signal, aborted)).toThrow(fence);
  });

  it('does nothing for a live or missing signal, throws once fired', () => {
    const c = new AbortController();
    expect(() => throwIfAborted(undefined, aborted)).not.toThrow();
    expect(() => throwIfAborted(c.signal, aborted)).not.toThrow();
    c.abort();
    expect(() => throwIfAborted(c.signal, aborted)).toThrow(expect.objectContaining({ code: 'HADB_PKG_ABORTED' }));
  });
});

describe('raceAbort', () => {
  it('returns the promise itself without a signal, and passes values and errors through', async () => {
    const p = Promise.resolve(1);
    expect(raceAbort(p, undefined, aborted)).toBe(p);
    expect(await raceAbort(Promise.resolve(7), new AbortController().signal, aborted)).toBe(7);
    const boom = new Error('boom');
    expect(await rejection(raceAbort(Promise.reject(boom), new AbortController().signal, aborted))).toBe(boom);
  });

  it('rejects at once for a fired signal and as soon as the signal fires', async () => {
    const done = new AbortController();
    done.abort();
    expect(await rejection(raceAbort(new Promise(() => {}), done.signal, aborted))).toMatchObject({
      code: 'HADB_PKG_ABORTED',
    });
    const c = new AbortController();
    const pending = raceAbort(new Promise(() => {}), c.signal, aborted);
    c.abort('late');
    const error = (await rejection(pending)) as PkgError;
    expect(error.code).toBe('HADB_PKG_ABORTED');
    expect(error.cause).toBe('late');
  });

  it('ignores the late outcome of the raced promise (no unhandled rejection) and removes its listener', async () => {
    const c = new AbortController();
    let rejectLate!: (e: Error) => void;
    const late = new Promise<never>((_, reject) => {
      rejectLate = reject;
    });
    const pending = raceAbort(late, c.signal, aborted);
    c.abort();
    await rejection(pending);
    rejectLate(new Error('late failure'));
    const kept = new AbortController();
    let resolveSlow!: (v: number) => void;
    const slow = raceAbort(new Promise<number>((r) => (resolveSlow = r)), kept.signal, aborted);
    expect(listenerCount(kept.signal)).toBe(1);
    resolveSlow(1);
    await slow;
    await rejection(raceAbort(Promise.reject(new Error('x')), kept.signal, aborted));
    expect(listenerCount(kept.signal)).toBe(0);
  });
});

describe('abortable', () => {
  async function* slowSource(log: string[]): AsyncGenerator<number> {
    try {
      yield 1;
      yield 2;
      await new Promise(() => {}); // waits forever for the next item
    } finally {
      log.push('closed');
    }
  }

  it('yields every item of a source that ends', async () => {
    async function* three() {
      yield* [1, 2, 3];
    }
    const out: number[] = [];
    for await (const v of abortable(three(), new AbortController().signal, aborted)) out.push(v);
    expect(out).toEqual([1, 2, 3]);
  });

  it('rejects while the source waits for its next item, and closes the source', async () => {
    const log: string[] = [];
    const c = new AbortController();
    const seen: number[] = [];
    const run = (async () => {
      for await (const v of abortable(slowSource(log), c.signal, aborted)) {
        seen.push(v);
        if (v === 2) setTimeout(() => c.abort(), 5);
      }
    })();
    expect(await rejection(run)).toMatchObject({ code: 'HADB_PKG_ABORTED' });
    expect(seen).toEqual([1, 2]);
  });

  it('rejects before the first item when already aborted', async () => {
    const c = new AbortController();
    c.abort();
    const it = abortable(slowSource([]), c.signal, aborted)[Symbol.asyncIterator]();
    expect(await rejection(it.next())).toMatchObject({ code: 'HADB_PKG_ABORTED' });
  });

  it('closes the source when the consumer stops early', async () => {
    const log: string[] = [];
    for await (const v of abortable(slowSource(log), undefined, aborted)) {
      if (v === 1) break;
    }
    await new Promise((r) => setTimeout(r, 0));
    expect(log).toEqual(['closed']);
  });
});

describe('childController', () => {
  it('follows the parent with the same reason, and stops following after dispose', () => {
    const parent = new AbortController();
    const a = childController(parent.signal);
    const b = childController(parent.signal);
    b.dispose();
    parent.abort('stop');
    expect(a.controller.signal.aborted).toBe(true);
    expect(a.controller.signal.reason).toBe('stop');
    expect(b.controller.signal.aborted).toBe(false);
  });

  it('starts aborted for an aborted parent, and is independent without a parent', () => {
    const parent = new AbortController();
    parent.abort('gone');
    expect(childController(parent.signal).controller.signal.reason).toBe('gone');
    const free = childController(undefined);
    free.controller.abort();
    expect(free.controller.signal.aborted).toBe(true);
  });

  it('aborting the child leaves the parent alone', () => {
    const parent = new AbortController();
    const child = childController(parent.signal);
    child.controller.abort();
    expect(parent.signal.aborted).toBe(false);
  });
});
