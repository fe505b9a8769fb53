import { randomBytes } from 'node:crypto';
import { createServer } from 'node:net';
import { S3Client } from '@aws-sdk/client-s3';
import { isIoError } from '@hadb/io';
import { isStorageError } from '@hadb/storage';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { S3StorageBackend, type S3RetryOptions } from '../src/index.js';
import { connection, removePrefix, service, uniquePrefix } from './env.js';
import { FaultProxy } from './fault-proxy.js';
import { rejection } from '@hadb/testkit';

const text = (data: Uint8Array | undefined | null) => (data == null ? null : Buffer.from(data).toString());

async function closedPort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

describe.skipIf(!service.available)('S3StorageBackend under injected faults (real RGW behind a TCP proxy)', () => {
  let proxy: FaultProxy;
  const open: { storage: S3StorageBackend; client: S3Client }[] = [];

  beforeAll(async () => {
    proxy = await FaultProxy.start(connection().endpoint as string);
  });
  afterAll(async () => {
    await proxy?.close();
  });
  afterEach(async () => {
    for (const { storage, client } of open.splice(0)) {
      await storage.close();
      client.destroy();
      await removePrefix(storage.prefix);
    }
  });

  /** A backend whose every request is a new connection through `endpoint` (default: the proxy). */
  function make(retry: S3RetryOptions = {}, endpoint = proxy.endpoint) {
    const c = connection();
    const client = new S3Client({
      endpoint,
      region: c.region,
      credentials: c.credentials,
      forcePathStyle: true,
      maxAttempts: 1,
      requestChecksumCalculation: 'WHEN_REQUIRED',
      responseChecksumValidation: 'WHEN_REQUIRED',
      requestHandler: { httpAgent: { keepAlive: false }, connectionTimeout: 2000 },
    });
    const retries: string[] = [];
    const storage = new S3StorageBackend({
      ...c,
      client,
      prefix: uniquePrefix(),
      retry: {
        maxRetries: 3,
        baseDelayMs: 1,
        maxDelayMs: 5,
        circuitBreaker: false,
        onRetry: (e) => retries.push(e.op),
        ...retry,
      },
    });
    open.push({ storage, client });
    return { storage, retries };
  }

  it('retries a GET whose response was lost, and one cut short mid-body', async () => {
    const { storage, retries } = make();
    const data = randomBytes(256 * 1024);
    await storage.put('k', data);
    proxy.plan('drop-response');
    expect(Buffer.from((await storage.get('k'))!.data).equals(data)).toBe(true);
    expect(proxy.log).toEqual(['drop-response', 'forward']);
    proxy.truncateAfter = 5000;
    proxy.plan('truncate-response');
    expect(Buffer.from((await storage.get('k'))!.data).equals(data)).toBe(true);
    expect(proxy.log).toEqual(['truncate-response', 'forward']);
    expect(retries).toEqual(['get', 'get']);
  });

  it('retries an unconditional PUT after a reset', async () => {
    const { storage, retries } = make();
    proxy.plan('drop-request');
    const { etag } = await storage.put('k', Buffer.from('value'));
    expect(await storage.get('k')).toEqual({ data: new Uint8Array(Buffer.from('value')), etag });
    expect(retries).toEqual(['put']);
  });

  it('putIfAbsent: a request the server never saw is re-read, then sent again', async () => {
    const { storage } = make();
    proxy.plan('drop-request');
    const r = await storage.putIfAbsent('lease', Buffer.from('mine'));
    expect(r.success).toBe(true);
    // PUT (reset) -> HEAD (missing: not applied) -> PUT again.
    expect(proxy.log).toEqual(['drop-request', 'forward', 'forward']);
    expect(text((await storage.get('lease'))?.data)).toBe('mine');
  });

  it('putIfAbsent: a lost answer to a write that landed is AMBIGUOUS, never a false success or loss', async () => {
    const { storage } = make();
    proxy.plan('drop-response');
    const error = await rejection(storage.putIfAbsent('lease', Buffer.from('mine')));
    expect(isStorageError(error, 'HADB_STORAGE_AMBIGUOUS'), String(error)).toBe(true);
    expect(text((await storage.get('lease'))?.data)).toBe('mine');
  });

  it('putIfAbsent: a lost answer to a write that lost is confirmed by re-reading and reported as not won', async () => {
    const { storage } = make();
    await storage.put('lease', Buffer.from('theirs'));
    proxy.plan('drop-response');
    expect(await storage.putIfAbsent('lease', Buffer.from('mine'))).toEqual({ success: false });
    expect(text((await storage.get('lease'))?.data)).toBe('theirs');
  });

  it('putIfMatch: a 5xx after the write landed is AMBIGUOUS; a 5xx before it is retried', async () => {
    const { storage } = make();
    const v1 = await storage.put('lease', Buffer.from('v1'));
    proxy.plan('forward-then-500');
    const error = await rejection(storage.putIfMatch('lease', Buffer.from('v2'), v1.etag));
    expect(isStorageError(error, 'HADB_STORAGE_AMBIGUOUS'), String(error)).toBe(true);
    const v2 = await storage.get('lease');
    expect(text(v2?.data)).toBe('v2');

    proxy.plan('fake-500');
    const r = await storage.putIfMatch('lease', Buffer.from('v3'), v2!.etag);
    expect(r.success).toBe(true);
    expect(proxy.log).toEqual(['fake-500', 'forward', 'forward']);
    expect(await storage.get('lease')).toEqual({
      data: new Uint8Array(Buffer.from('v3')),
      etag: (r as { etag: string }).etag,
    });
  });

  it('putIfMatch: out of retries on 5xx answers that never applied is UNAVAILABLE, and nothing changed', async () => {
    const { storage } = make({ maxRetries: 2 });
    const v1 = await storage.put('lease', Buffer.from('v1'));
    proxy.plan('fake-500', 'forward', 'fake-500', 'forward', 'fake-500', 'forward');
    const error = await rejection(storage.putIfMatch('lease', Buffer.from('v2'), v1.etag));
    expect(isStorageError(error, 'HADB_STORAGE_UNAVAILABLE'), String(error)).toBe(true);
    expect((error as { status?: number }).status).toBe(500);
    expect(proxy.log).toEqual(['fake-500', 'forward', 'fake-500', 'forward', 'fake-500', 'forward']);
    expect(await storage.get('lease')).toEqual({ data: new Uint8Array(Buffer.from('v1')), etag: v1.etag });
  });

  it('an unreachable server: retried, then UNAVAILABLE; a conditional write is not ambiguous (nothing was sent)', async () => {
    const { storage, retries } = make({ maxRetries: 2 }, `http://127.0.0.1:${await closedPort()}`);
    const got = await rejection(storage.get('k'));
    expect(isStorageError(got, 'HADB_STORAGE_UNAVAILABLE'), String(got)).toBe(true);
    expect(retries).toEqual(['get', 'get']);
    const cas = await rejection(storage.putIfAbsent('k', Buffer.from('x')));
    expect(isStorageError(cas, 'HADB_STORAGE_UNAVAILABLE'), String(cas)).toBe(true);
    expect(retries.slice(2)).toEqual(['putIfAbsent', 'putIfAbsent']);
  });

  it('the circuit breaker opens after consecutive failures and then fails fast without connecting', async () => {
    const { storage } = make({ maxRetries: 0, circuitBreaker: { threshold: 3, cooldownMs: 60_000 } });
    proxy.plan('drop-request', 'drop-request', 'drop-request', 'drop-request');
    for (let i = 0; i < 3; i++) {
      expect(isStorageError(await rejection(storage.get('k')), 'HADB_STORAGE_UNAVAILABLE')).toBe(true);
    }
    const started = Date.now();
    const refused = await rejection(storage.get('k'));
    expect(isStorageError(refused, 'HADB_STORAGE_UNAVAILABLE')).toBe(true);
    expect(isIoError((refused as Error).cause, 'HADB_IO_CIRCUIT_OPEN')).toBe(true);
    expect(Date.now() - started).toBeLessThan(100);
    expect(proxy.log).toHaveLength(3);
  });

  it('an abort during a retry backoff rejects promptly with ABORTED', async () => {
    const { storage } = make({ baseDelayMs: 60_000, maxDelayMs: 60_000, random: () => 0.99 });
    proxy.plan('drop-request');
    const controller = new AbortController();
    const started = Date.now();
    const pending = rejection(storage.get('k', { signal: controller.signal }));
    setTimeout(() => controller.abort(new Error('stop')), 100);
    const error = await pending;
    expect(isStorageError(error, 'HADB_STORAGE_ABORTED'), String(error)).toBe(true);
    expect(Date.now() - started).toBeLessThan(2000);
  });
});
