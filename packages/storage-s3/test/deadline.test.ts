import { HeadObjectCommand, S3Client } from '@aws-sdk/client-s3';
import { isStorageError } from '@hadb/storage';
import { FaultProxy, codeOf, rejection } from '@hadb/testkit';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { S3StorageBackend } from '../src/index.js';
import { connection, removePrefix, service, uniquePrefix } from './env.js';

const CREDENTIALS = { accessKeyId: 'test', secretAccessKey: 'test' };
/** Elapsed ms from the call to the typed error, per case (printed once, for the report). */
const measured: Record<string, number> = {};

async function timed<T>(name: string, fn: () => Promise<T>): Promise<{ error: unknown; ms: number }> {
  const started = performance.now();
  const error = await rejection(fn());
  const ms = Math.round(performance.now() - started);
  measured[name] = ms;
  return { error, ms };
}

/** A client with no timeouts of its own: only the backend's deadline can end a request. */
function clientWithoutTimeouts(endpoint: string): S3Client {
  return new S3Client({
    endpoint,
    region: 'us-east-1',
    credentials: CREDENTIALS,
    forcePathStyle: true,
    maxAttempts: 1,
    requestHandler: { connectionTimeout: 0, requestTimeout: 0, socketTimeout: 0 },
  });
}

describe('S3StorageBackend deadlines against a server that accepts and never answers', () => {
  let hole: FaultProxy;
  const clients: S3Client[] = [];
  const backends: S3StorageBackend[] = [];

  beforeAll(async () => {
    hole = await FaultProxy.listen();
  });
  afterEach(async () => {
    for (const b of backends.splice(0)) await b.close();
    for (const c of clients.splice(0)) c.destroy();
  });
  afterAll(async () => {
    await hole.close();
    console.info(`storage-s3 time to typed error (ms): ${JSON.stringify(measured)}`);
  });

  function backend(requestTimeoutMs: number, client?: S3Client): S3StorageBackend {
    const b = new S3StorageBackend({
      bucket: 'b',
      endpoint: `http://${hole.hostPort}`,
      credentials: CREDENTIALS,
      requestTimeoutMs,
      retry: false,
      ...(client === undefined ? {} : { client }),
    });
    backends.push(b);
    return b;
  }

  it('ends a request whose client has no timeouts with HADB_STORAGE_TIMEOUT at requestTimeoutMs', async () => {
    const client = clientWithoutTimeouts(`http://${hole.hostPort}`);
    clients.push(client);
    const storage = backend(400, client);
    const { error, ms } = await timed('get (outer deadline 400 ms)', () => storage.get('k'));
    expect(isStorageError(error, 'HADB_STORAGE_TIMEOUT')).toBe(true);
    expect((error as Error).message).toContain('GetObject');
    expect(ms).toBeGreaterThanOrEqual(390);
    // The deadline aborted the SDK call: its socket was destroyed, nothing is left hanging.
    const list = await timed('list (outer deadline 400 ms)', () => storage.list(''));
    expect(isStorageError(list.error, 'HADB_STORAGE_TIMEOUT')).toBe(true);
  }, 20_000);

  it('sets the built client request handler timeout: the raw SDK call times out on its own', async () => {
    const storage = backend(500);
    const { error } = await timed('raw SDK HeadObject (handler requestTimeout 500 ms)', () =>
      storage.client.send(new HeadObjectCommand({ Bucket: 'b', Key: 'k' })),
    );
    expect((error as Error).name).toBe('TimeoutError');
    // Mapped by the backend, the same failure is the typed timeout.
    const head = await timed('head (built client, 500 ms)', () => storage.head('k'));
    expect(isStorageError(head.error, 'HADB_STORAGE_TIMEOUT')).toBe(true);
  }, 20_000);

  it("the caller's signal still aborts first (HADB_STORAGE_ABORTED), long before the deadline", async () => {
    const storage = backend(60_000);
    const controller = new AbortController();
    setTimeout(() => controller.abort(), 100);
    const { error, ms } = await timed('get aborted at 100 ms (deadline 60 s)', () =>
      storage.get('k', { signal: controller.signal }),
    );
    expect(isStorageError(error, 'HADB_STORAGE_ABORTED')).toBe(true);
    expect(ms).toBeLessThan(30_000);
  }, 20_000);

  it('bounds every attempt: retried reads end with HADB_STORAGE_TIMEOUT after the retries', async () => {
    const client = clientWithoutTimeouts(`http://${hole.hostPort}`);
    clients.push(client);
    const storage = new S3StorageBackend({
      bucket: 'b',
      client,
      requestTimeoutMs: 200,
      retry: { maxRetries: 2, baseDelayMs: 1, maxDelayMs: 1, circuitBreaker: false },
    });
    backends.push(storage);
    const { error, ms } = await timed('head, 3 attempts of 200 ms', () => storage.head('k'));
    expect(isStorageError(error, 'HADB_STORAGE_TIMEOUT')).toBe(true);
    expect(ms).toBeGreaterThanOrEqual(3 * 195);
  }, 20_000);

  it('a conditional write that times out is HADB_STORAGE_AMBIGUOUS caused by the timeout, never a guess', async () => {
    const client = clientWithoutTimeouts(`http://${hole.hostPort}`);
    clients.push(client);
    const storage = backend(300, client);
    const { error } = await timed('putIfMatch (300 ms + re-read 300 ms)', () =>
      storage.putIfMatch('k', new Uint8Array([1]), '"etag"'),
    );
    expect(isStorageError(error, 'HADB_STORAGE_AMBIGUOUS')).toBe(true);
    expect(isStorageError((error as Error).cause, 'HADB_STORAGE_TIMEOUT')).toBe(true);
  }, 20_000);

  it('validates requestTimeoutMs (HADB_STORAGE_INVALID_CONFIG)', async () => {
    for (const requestTimeoutMs of [0, -1, 1.5, Number.NaN]) {
      expect(await codeOf(async () => new S3StorageBackend({ bucket: 'b', requestTimeoutMs }))).toBe(
        'HADB_STORAGE_INVALID_CONFIG',
      );
    }
  });
});

describe.skipIf(!service.available)('S3StorageBackend deadlines on the real server', () => {
  const prefixes: string[] = [];
  afterAll(async () => {
    for (const p of prefixes) await removePrefix(p);
  });

  it('does its work within a short requestTimeoutMs, then times out once the link goes silent', async () => {
    const hole = await FaultProxy.listen({ target: connection().endpoint as string });
    const prefix = uniquePrefix();
    prefixes.push(prefix);
    const storage = new S3StorageBackend({
      ...connection(),
      endpoint: `http://${hole.hostPort}`,
      prefix,
      requestTimeoutMs: 2000,
      retry: false,
    });
    try {
      const put = await storage.putIfAbsent('k', new TextEncoder().encode('v'));
      expect(put.success).toBe(true);
      expect(await storage.exists('k')).toBe(true);
      hole.setMode('blackhole');
      const { error, ms } = await timed('get after the link went silent (2000 ms)', () => storage.get('k'));
      expect(isStorageError(error, 'HADB_STORAGE_TIMEOUT')).toBe(true);
      expect(ms).toBeGreaterThanOrEqual(1990);
    } finally {
      await storage.close();
      await hole.close();
    }
  }, 30_000);
});
