import type { FollowerContext } from '@hadb/core';
import { systemClock } from '@hadb/io';
import { createServer } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import type { WireCodec } from '../src/engine.js';
import { HaError } from '../src/errors.js';
import { waitLeaderHead } from '../src/forwarding/notice-client.js';
import { HEAD_WAIT_PATH } from '../src/forwarding/protocol.js';
import { ForwardingServer } from '../src/forwarding/server.js';
import { HeadBoard } from '../src/notice/head-board.js';
import { LeaderWaker, wakeOnNotice } from '../src/notice/leader-waker.js';

const codec: WireCodec<string, string, string, string> = {
  basePath: '/kv/v1',
  writeOps: ['put'],
  readOps: ['get'],
  encodeWrite: (w) => ({ op: 'put', body: { w } }),
  decodeWrite: (_op, b) => String(b.w),
  encodeWriteResult: (r) => r,
  decodeWriteResult: (j) => String(j),
  encodeRead: (r) => ({ op: 'get', body: { r } }),
  decodeRead: (_op, b) => String(b.r),
  encodeReadResult: (r) => r,
  decodeReadResult: (j) => String(j),
  decodeError: () => undefined,
};

/** Resolves once `predicate` holds (checked every 5 ms); throws after `timeoutMs`. */
async function until(predicate: () => boolean, o: { timeoutMs?: number } = {}): Promise<void> {
  const end = performance.now() + (o.timeoutMs ?? 5000);
  while (!predicate()) {
    if (performance.now() > end) throw new Error('condition not met in time');
    await new Promise((r) => setTimeout(r, 5));
  }
}

/** A port nothing listens on (bound, then released). */
async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const { port } = server.address() as { port: number };
  await new Promise<void>((r) => server.close(() => r()));
  return port;
}

const servers: ForwardingServer<string, string, string, string>[] = [];
afterEach(async () => {
  for (const s of servers.splice(0)) await s.close();
});

/** A leader's forwarding server answering head long polls from `board` (421 while `leading()` is false). */
async function leaderServer(board: HeadBoard, leading: () => boolean = () => true, secret?: string) {
  const server = await ForwardingServer.listen({
    codec,
    port: 0,
    secret,
    target: {
      write: async (w) => w,
      read: async (r) => r,
      isClientError: () => false,
      waitHead: (after, holdMs, signal) =>
        leading()
          ? board.wait(after, holdMs, signal)
          : Promise.reject(new HaError('HADB_HA_NOT_LEADER', 'not the leader')),
    },
  });
  servers.push(server);
  return { server, address: `http://127.0.0.1:${server.port}` };
}

function waker(address: () => string | undefined, o: { fallbackMs?: number; holdMs?: number; secret?: string } = {}) {
  return new LeaderWaker({
    clock: systemClock,
    leaderAddress: address,
    selfAddress: () => 'http://127.0.0.1:1',
    secret: o.secret,
    fallbackMs: o.fallbackMs ?? 3_600_000,
    holdMs: o.holdMs ?? 100,
    graceMs: 5000,
    addressCheckMs: 20,
  });
}

describe('head notice', () => {
  it('a held long poll without news never wakes the follower; a ship does, once per change', async () => {
    const board = new HeadBoard(systemClock);
    const { address } = await leaderServer(board, () => true, 'sekrit');
    const w = waker(() => address, { secret: 'sekrit' });
    const stop = new AbortController();
    try {
      // The first wait learns the head at once (the follower polls storage once on joining).
      expect(await w.wait(stop.signal)).toBe('notice');
      let woken = 0;
      const next = w.wait(stop.signal).then((r) => {
        woken++;
        return r;
      });
      // Several holds come back without news: still waiting, no fallback (the fallback is an hour).
      await until(() => w.counters.polls >= 4, { timeoutMs: 20_000 });
      expect(woken).toBe(0);
      board.advance();
      expect(await next).toBe('notice');
      expect(w.counters).toMatchObject({ notices: 2, fallbacks: 0 });
      // A change made while nobody waited is not missed: the next wait returns at once.
      board.advance();
      expect(await w.wait(stop.signal)).toBe('notice');
    } finally {
      stop.abort();
    }
  });

  it('falls back to storage polling while no leader answers: none known, unreachable, refusing, wrong secret', async () => {
    const board = new HeadBoard(systemClock);
    const stop = new AbortController();
    const dead = `http://127.0.0.1:${await freePort()}`;
    const { address: refusing } = await leaderServer(board, () => false);
    const { address: guarded } = await leaderServer(board, () => true, 'right');
    for (const address of [undefined, '', dead, refusing, guarded]) {
      const w = waker(() => address, { fallbackMs: 30, secret: 'wrong' });
      expect(await w.wait(stop.signal)).toBe('fallback');
      expect(w.counters.notices).toBe(0);
    }
  });

  it('a leader change ends a held poll at once; an abort rejects with HADB_HA_ABORTED', async () => {
    const first = await leaderServer(new HeadBoard(systemClock));
    const second = await leaderServer(new HeadBoard(systemClock));
    let address = first.address;
    const w = waker(() => address, { holdMs: 60_000 });
    const stop = new AbortController();
    expect(await w.wait(stop.signal)).toBe('notice');
    const next = w.wait(stop.signal);
    await until(() => w.counters.polls >= 2);
    address = second.address;
    // The new leader's head differs from the one seen: the follower polls storage.
    expect(await next).toBe('notice');
    const held = w.wait(stop.signal);
    await until(() => w.counters.polls >= 4);
    stop.abort();
    await expect(held).rejects.toMatchObject({ code: 'HADB_HA_ABORTED' });
  });

  it('closing the board answers held polls at once, so the server closes promptly', async () => {
    const board = new HeadBoard(systemClock);
    const { address, server } = await leaderServer(board);
    const head = board.head;
    const held = waitLeaderHead(address, { after: head, holdMs: 60_000, graceMs: 5000, clock: systemClock });
    await until(() => board.waiting === 1);
    board.close();
    expect(await held).toBe(head);
    await server.close();
  });

  it('rejects a malformed wait_head (400) and answers 404 on a server without head notices', async () => {
    const { address } = await leaderServer(new HeadBoard(systemClock));
    for (const body of [
      { after: 1, hold_ms: 10 },
      { after: null, hold_ms: -1 },
      { after: null, hold_ms: 60_001 },
      {},
    ]) {
      const res = await fetch(new URL(HEAD_WAIT_PATH, address), { method: 'POST', body: JSON.stringify(body) });
      expect(res.status).toBe(400);
      expect(((await res.json()) as { error: { code: string } }).error.code).toBe('HADB_HA_PROTOCOL');
    }
    const plain = await ForwardingServer.listen({
      codec,
      port: 0,
      target: { write: async (w) => w, read: async (r) => r, isClientError: () => false },
    });
    servers.push(plain);
    const res = await fetch(new URL(HEAD_WAIT_PATH, `http://127.0.0.1:${plain.port}`), {
      method: 'POST',
      body: JSON.stringify({ after: null, hold_ms: 0 }),
    });
    expect(res.status).toBe(404);
  });

  it('wakeOnNotice: sleeps between pulls wait for the waker, except the retry after a failed pull', async () => {
    const waits: string[] = [];
    const slept: number[] = [];
    const fake = {
      wait: async () => {
        waits.push('wait');
        return 'notice' as const;
      },
    };
    const metrics = { pullSucceeded: () => undefined, pullFailed: () => undefined, pullNoNewData: () => undefined };
    const ctx = {
      pollIntervalMs: 250,
      metrics,
      clock: { ...systemClock, sleep: async (ms: number) => void slept.push(ms) },
      signal: new AbortController().signal,
    } as unknown as FollowerContext;
    const woken = wakeOnNotice(ctx, fake);
    await woken.clock.sleep(250, woken.signal);
    woken.metrics.pullFailed();
    await woken.clock.sleep(250, woken.signal);
    await woken.clock.sleep(250, woken.signal);
    expect(waits).toEqual(['wait', 'wait']);
    expect(slept).toEqual([250]);
    // With a callback: it hears why each sleep ended.
    const reasons: string[] = [];
    const heard = wakeOnNotice(ctx, fake, (r) => reasons.push(r));
    await heard.clock.sleep(250, heard.signal);
    heard.metrics.pullFailed();
    await heard.clock.sleep(250, heard.signal);
    expect(reasons).toEqual(['notice', 'retry']);
    expect(waits).toHaveLength(3);
  });
});
