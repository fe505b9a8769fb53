import { connect, createServer, type Server, type Socket } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { FaultProxy } from '../src/index.js';

/** An echo server on a free port. */
async function echo(): Promise<{ server: Server; port: number }> {
  const server = createServer((s) => {
    s.on('error', () => undefined);
    s.pipe(s);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  return { server, port: typeof address === 'object' && address !== null ? address.port : 0 };
}

function open(port: number): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const s = connect(port, '127.0.0.1', () => {
      s.off('error', reject);
      // Resets are expected here; each round trip reads the error itself.
      s.on('error', () => undefined);
      resolve(s);
    });
    s.once('error', reject);
  });
}

/** Sends `text` and resolves with the echo, `'timeout'` after `ms`, or the socket's error code. */
function roundTrip(s: Socket, text: string, ms = 300): Promise<string> {
  return new Promise((resolve) => {
    let got = '';
    const done = (v: string): void => {
      clearTimeout(t);
      s.off('data', onData);
      s.off('error', onError);
      resolve(v);
    };
    const onData = (d: Buffer): void => {
      got += d.toString();
      if (got.length >= text.length) done(got);
    };
    const onError = (e: NodeJS.ErrnoException): void => done(e.code ?? 'error');
    const t = setTimeout(() => done('timeout'), ms);
    s.on('data', onData);
    s.on('error', onError);
    s.write(text);
  });
}

const cleanup: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  for (const f of cleanup.splice(0).reverse()) await f();
});

describe('FaultProxy', () => {
  it('passes, blackholes (a broken connection stays dead after healing), resets and delays', async () => {
    const target = await echo();
    cleanup.push(() => new Promise<void>((r) => target.server.close(() => r())));
    const proxy = await FaultProxy.listen({ target: `http://127.0.0.1:${target.port}` });
    cleanup.push(() => proxy.close());
    expect(proxy.url).toBe(`http://127.0.0.1:${proxy.port}`);

    const a = await open(proxy.port);
    cleanup.push(() => void a.destroy());
    expect(await roundTrip(a, 'hello')).toBe('hello');

    proxy.setMode('blackhole');
    expect(await roundTrip(a, 'lost')).toBe('timeout');
    // New connections are accepted and held.
    const b = await open(proxy.port);
    cleanup.push(() => void b.destroy());
    expect(await roundTrip(b, 'held')).toBe('timeout');
    expect(proxy.counters.droppedBytes).toBeGreaterThanOrEqual('lostheld'.length);

    proxy.setMode('pass');
    expect(await roundTrip(a, 'still lost')).toBe('timeout');
    const c = await open(proxy.port);
    cleanup.push(() => void c.destroy());
    expect(await roundTrip(c, 'healed')).toBe('healed');

    proxy.setMode('reset');
    expect(await roundTrip(c, 'x', 1000)).toMatch(/ECONNRESET|EPIPE|timeout/);
    expect(c.destroyed || c.readyState !== 'open').toBe(true);
    const d = await open(proxy.port).catch((e: NodeJS.ErrnoException) => e.code ?? 'error');
    if (typeof d !== 'string') {
      const socket: Socket = d;
      cleanup.push(() => void socket.destroy());
      expect(await roundTrip(socket, 'y', 1000)).toMatch(/ECONNRESET|EPIPE/);
    }
    expect(proxy.counters.resets).toBeGreaterThanOrEqual(2);

    proxy.setMode('delay', { delayMs: 150 });
    const e = await open(proxy.port);
    cleanup.push(() => void e.destroy());
    const started = performance.now();
    expect(await roundTrip(e, 'slow', 5000)).toBe('slow');
    // Each direction waits the delay.
    expect(performance.now() - started).toBeGreaterThanOrEqual(290);
    expect(proxy.counters.connections).toBe(5);
  });

  it('without a target is a black hole: accepts, holds the connection open, never answers, heals never', async () => {
    const hole = await FaultProxy.listen();
    cleanup.push(() => hole.close());
    expect(hole.mode).toBe('blackhole');
    expect(hole.hostPort).toBe(`127.0.0.1:${hole.port}`);
    const a = await open(hole.port);
    cleanup.push(() => void a.destroy());
    expect(await roundTrip(a, 'anyone there?')).toBe('timeout');
    expect(a.destroyed).toBe(false);
    expect(hole.counters.open).toBe(1);
    expect(hole.counters.droppedBytes).toBe('anyone there?'.length);
    expect(() => hole.setMode('pass')).toThrow(TypeError);
    await hole.close();
    expect(hole.counters.open).toBe(0);
  });

  it('starts in the mode asked for: a link that is silent from its first byte', async () => {
    const target = await echo();
    cleanup.push(() => new Promise<void>((r) => target.server.close(() => r())));
    const proxy = await FaultProxy.listen({ target: `127.0.0.1:${target.port}`, mode: 'blackhole' });
    cleanup.push(() => proxy.close());
    const a = await open(proxy.port);
    cleanup.push(() => void a.destroy());
    expect(await roundTrip(a, 'lost')).toBe('timeout');
    expect(proxy.counters.forwardedBytes).toBe(0);
  });
});
