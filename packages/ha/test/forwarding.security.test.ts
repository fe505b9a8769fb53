import { createServer, request, type Server } from 'node:http';
import { connect, type AddressInfo, type Socket } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { isHaError } from '../src/errors.js';
import { ForwardingClient } from '../src/forwarding/client.js';
import { ForwardingServer, isLoopbackHost, type ForwardTarget } from '../src/forwarding/server.js';
import { kvWire, type KvRead, type KvWrite } from './kv-engine.js';

/** Attacks on the forwarding endpoint (issue 12, item 1). */
type Srv = ForwardingServer<KvWrite, KvRead, number, string | null>;
const open: { close(): Promise<void> }[] = [];
afterEach(async () => {
  for (const s of open.splice(0)) await s.close();
});

function target(
  overrides: Partial<ForwardTarget<KvWrite, KvRead, number, string | null>> = {},
): ForwardTarget<KvWrite, KvRead, number, string | null> {
  return { write: async () => 1, read: async (r) => `v:${r.get}`, isClientError: () => false, ...overrides };
}

async function listen(
  options: Partial<Parameters<typeof ForwardingServer.listen<KvWrite, KvRead, number, string | null>>[0]> = {},
): Promise<Srv> {
  const s = await ForwardingServer.listen({ target: target(), codec: kvWire, port: 0, ...options });
  open.push(s);
  return s;
}

async function rejection(p: Promise<unknown>): Promise<unknown> {
  try {
    await p;
  } catch (err) {
    return err;
  }
  throw new Error('expected a rejection');
}

/** Raw HTTP exchange: status, whether the server closed the connection, and the time it took. */
function raw(
  port: number,
  headers: Record<string, string>,
  body: { size: number; chunk?: number },
): Promise<{ status: number; closed: boolean }> {
  return new Promise((resolve, reject) => {
    const req = request({
      host: '127.0.0.1',
      port,
      method: 'POST',
      path: '/kv/v1/set',
      headers: { 'content-type': 'application/json', ...headers, 'content-length': String(body.size) },
    });
    let status = 0;
    req.on('response', (res) => {
      status = res.statusCode ?? 0;
      res.resume();
      res.on('end', () => {
        // The server asked to close (`connection: close`) and destroys its side.
        resolve({ status, closed: res.headers.connection === 'close' });
      });
    });
    req.on('error', (err) => (status !== 0 ? resolve({ status, closed: true }) : reject(err)));
    // Start a large body: the server must answer without reading it all.
    req.write(Buffer.alloc(Math.min(body.chunk ?? 64 * 1024, body.size), 0x20));
  });
}

describe('forwarding security', () => {
  it('refuses to listen on a non-loopback address without a secret (HADB_HA_INVALID_CONFIG)', async () => {
    for (const host of ['0.0.0.0', '::', '192.0.2.1', 'example.com']) {
      const err = await rejection(listen({ host }));
      expect(isHaError(err, 'HADB_HA_INVALID_CONFIG'), host).toBe(true);
    }
    expect(isLoopbackHost('127.0.0.1') && isLoopbackHost('::1') && isLoopbackHost('localhost')).toBe(true);
    // With a secret, any interface may be bound.
    const s = await listen({ host: '0.0.0.0', secret: 's3cret-value' });
    expect(s.port).toBeGreaterThan(0);
  });

  it('answers 401 without reading the body and closes the connection', async () => {
    const s = await listen({ secret: 'right-secret' });
    const answer = await raw(s.port, { authorization: 'Bearer wrong' }, { size: 4 * 1024 * 1024 * 1024 - 1 });
    expect(answer.status).toBe(401);
    expect(answer.closed).toBe(true);
  });

  it('answers 413 for an oversized body and closes the connection', async () => {
    const s = await listen({ maxBodyBytes: 1024 });
    const answer = await raw(s.port, {}, { size: 10 * 1024 * 1024 });
    expect(answer.status).toBe(413);
    expect(answer.closed).toBe(true);
  });

  it('admits a bounded number of concurrent requests; the rest get 503 HADB_HA_OVERLOADED', async () => {
    let release!: () => void;
    const gate = new Promise<void>((r) => (release = r));
    const s = await listen({
      maxConcurrentRequests: 2,
      target: target({
        read: async (r) => {
          await gate;
          return r.get;
        },
      }),
    });
    const client = new ForwardingClient({ codec: kvWire, timeoutMs: 5000 });
    const address = `http://127.0.0.1:${s.port}`;
    const held = [client.read(address, { get: 'a' }), client.read(address, { get: 'b' })];
    await new Promise((r) => setTimeout(r, 100));
    const err = await rejection(client.read(address, { get: 'c' }));
    expect(isHaError(err, 'HADB_HA_OVERLOADED')).toBe(true);
    release();
    expect(await Promise.all(held)).toEqual(['a', 'b']);
  });

  it('refuses an answer larger than maxResponseBytes', async () => {
    const s = await listen({ maxResponseBytes: 1000, target: target({ read: async () => 'x'.repeat(5000) }) });
    const client = new ForwardingClient({ codec: kvWire });
    const err = await rejection(client.read(`http://127.0.0.1:${s.port}`, { get: 'k' }));
    expect(isHaError(err, 'HADB_HA_PROTOCOL')).toBe(true);
  });

  it('drops a connection whose body trickles in past requestTimeoutMs', async () => {
    const s = await listen({ headersTimeoutMs: 200, requestTimeoutMs: 300 });
    const started = Date.now();
    const outcome = await new Promise<string>((resolve) => {
      const req = request({
        host: '127.0.0.1',
        port: s.port,
        method: 'POST',
        path: '/kv/v1/get',
        headers: { 'content-length': '1000' },
      });
      req.on('response', (res) => resolve(`status ${res.statusCode}`));
      req.on('error', () => resolve('closed'));
      req.write('{');
    });
    // Node answers 408 (or drops the socket) once the request timeout passes; never waits for the body.
    expect(['status 408', 'closed']).toContain(outcome);
    expect(Date.now() - started).toBeLessThan(5000);
  });

  it('limits open connections (maxConnections): one more is dropped at once', async () => {
    const s = await listen({ maxConnections: 3 });
    const sockets: Socket[] = [];
    try {
      for (let i = 0; i < 3; i++) {
        const sock = connect(s.port, '127.0.0.1');
        sockets.push(sock);
        await new Promise((r) => sock.once('connect', r));
      }
      await new Promise((r) => setTimeout(r, 50));
      const extra = connect(s.port, '127.0.0.1');
      sockets.push(extra);
      const closed = await new Promise<boolean>((resolve) => {
        extra.once('close', () => resolve(true));
        setTimeout(() => resolve(false), 2000);
      });
      expect(closed).toBe(true);
      expect(sockets[0]!.destroyed).toBe(false);
    } finally {
      for (const sock of sockets) sock.destroy();
    }
  });

  it('the client follows no redirect: the request is never re-sent elsewhere', async () => {
    let elsewhere = 0;
    const sink: Server = createServer((req, res) => {
      elsewhere++;
      req.resume();
      res.end('{}');
    });
    await new Promise<void>((r) => sink.listen(0, '127.0.0.1', r));
    const sinkPort = (sink.address() as AddressInfo).port;
    const redirector: Server = createServer((req, res) => {
      req.resume();
      res.writeHead(307, { location: `http://127.0.0.1:${sinkPort}/kv/v1/set` });
      res.end();
    });
    await new Promise<void>((r) => redirector.listen(0, '127.0.0.1', r));
    try {
      const client = new ForwardingClient({ codec: kvWire, secret: 'the-secret' });
      const err = await rejection(
        client.write(
          `http://127.0.0.1:${(redirector.address() as AddressInfo).port}`,
          { set: 'k', value: 'v' },
          'token-123',
          'committed',
        ),
      );
      expect(isHaError(err, 'HADB_HA_PROTOCOL')).toBe(true);
      expect(elsewhere).toBe(0);
    } finally {
      await new Promise((r) => redirector.close(r));
      await new Promise((r) => sink.close(r));
    }
  });
});
