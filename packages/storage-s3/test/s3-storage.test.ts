import { createHash, randomBytes } from 'node:crypto';
import { ListMultipartUploadsCommand, ListObjectsV2Command, S3Client } from '@aws-sdk/client-s3';
import { isStorageError } from '@hadb/storage';
import { describe, expect, it } from 'vitest';
import { S3StorageBackend } from '../src/index.js';
import { connection, freshStorages, rawClient, service, uniquePrefix } from './env.js';
import { rejection } from '@hadb/testkit';

const MiB = 1024 * 1024;

async function pendingUploads(prefix: string): Promise<number> {
  const client = rawClient();
  try {
    const out = await client.send(new ListMultipartUploadsCommand({ Bucket: connection().bucket, Prefix: prefix }));
    return out.Uploads?.length ?? 0;
  } finally {
    client.destroy();
  }
}

/** Deterministic 1 MiB chunks (index in the first bytes), counted into a SHA-256. */
function chunks(count: number, hash: ReturnType<typeof createHash>, failAfter?: number): AsyncGenerator<Uint8Array> {
  const base = randomBytes(MiB);
  return (async function* () {
    for (let i = 0; i < count; i++) {
      if (failAfter !== undefined && i === failAfter) throw new Error('body failed on purpose');
      const chunk = Buffer.from(base);
      chunk.writeUInt32BE(i, 0);
      hash.update(chunk);
      yield chunk;
    }
  })();
}

describe('S3StorageBackend options', () => {
  it('validates options before any request', () => {
    const base = {
      bucket: 'b',
      endpoint: 'http://127.0.0.1:9',
      credentials: { accessKeyId: 'a', secretAccessKey: 's' },
    };
    expect(() => new S3StorageBackend({ ...base, bucket: '' })).toThrow(
      expect.objectContaining({ code: 'HADB_STORAGE_INVALID_CONFIG' }),
    );
    expect(() => new S3StorageBackend({ ...base, partSize: 1024 })).toThrow(
      expect.objectContaining({ code: 'HADB_STORAGE_INVALID_CONFIG' }),
    );
    expect(() => new S3StorageBackend({ ...base, queueSize: 0 })).toThrow(
      expect.objectContaining({ code: 'HADB_STORAGE_INVALID_CONFIG' }),
    );
    expect(() => new S3StorageBackend({ ...base, putManyConcurrency: 1.5 })).toThrow(
      expect.objectContaining({ code: 'HADB_STORAGE_INVALID_CONFIG' }),
    );
    expect(() => new S3StorageBackend({ ...base, socketTimeoutMs: -1 })).toThrow(
      expect.objectContaining({ code: 'HADB_STORAGE_INVALID_CONFIG' }),
    );
    expect(() => new S3StorageBackend({ ...base, retry: { maxRetries: -1 } })).toThrow(
      expect.objectContaining({ code: 'HADB_STORAGE_INVALID_CONFIG' }),
    );
    expect(() => new S3StorageBackend({ ...base, prefix: '../up' })).toThrow(
      expect.objectContaining({ code: 'HADB_STORAGE_INVALID_KEY' }),
    );
    expect(new S3StorageBackend({ ...base, prefix: 'tenant/db' }).prefix).toBe('tenant/db/');
    expect(new S3StorageBackend({ ...base, prefix: 'tenant/' }).prefix).toBe('tenant/');
    expect(new S3StorageBackend(base).prefix).toBe('');
    expect(new S3StorageBackend(base).capabilities).toEqual({
      atomicConditionalWrites: true,
      conditionalStreamingWrites: false,
      uniqueEtags: false,
    });
  });
});

describe.skipIf(!service.available)('S3StorageBackend on the real server', () => {
  const make = freshStorages();

  it('keeps keys under the normalised prefix and strips it from listings', async () => {
    const prefix = uniquePrefix();
    const s = new S3StorageBackend({ ...connection(), prefix: prefix.slice(0, -1) });
    make.track(s);
    expect(s.prefix).toBe(prefix);
    await s.put('a/b', Buffer.from('x'));
    const client = rawClient();
    try {
      const out = await client.send(new ListObjectsV2Command({ Bucket: s.bucket, Prefix: prefix }));
      expect(out.Contents?.map((c) => c.Key)).toEqual([`${prefix}a/b`]);
    } finally {
      client.destroy();
    }
    expect(await s.list('')).toEqual(['a/b']);
    expect(await s.listPage('a/', { limit: 5 })).toEqual({ keys: ['a/b'], nextAfter: undefined });
  });

  it('returns quoted etags consistently from put, head, get, getStream and conditional writes', async () => {
    const s = make();
    const { etag } = await s.put('k', Buffer.from('hello'));
    expect(etag).toBe(`"${createHash('md5').update('hello').digest('hex')}"`);
    expect((await s.head('k'))?.etag).toBe(etag);
    expect((await s.get('k'))?.etag).toBe(etag);
    expect((await s.getStream('k'))?.etag).toBe(etag);
    const next = await s.putIfMatch('k', Buffer.from('world'), etag);
    expect(next).toEqual({ success: true, etag: `"${createHash('md5').update('world').digest('hex')}"` });
  });

  it('streams 64 MiB through a multipart upload of 5 MiB parts and reads it back, whole and ranged', async () => {
    const s = make({ partSize: 5 * MiB, queueSize: 4 });
    const written = createHash('sha256');
    const started = Date.now();
    const put = await s.putStream('big', chunks(64, written));
    const putMs = Date.now() - started;
    expect(put.success).toBe(true);
    if (!put.success) return;
    expect(put.size).toBe(64 * MiB);
    // 13 parts of 5 MiB (the etag of a multipart upload ends in -<parts>).
    expect(put.etag).toMatch(/^"[0-9a-f]{32}-13"$/);
    expect(await s.head('big')).toEqual({ size: 64 * MiB, etag: put.etag });
    const read = createHash('sha256');
    const stream = await s.getStream('big');
    let received = 0;
    for await (const chunk of stream!.body) {
      read.update(chunk);
      received += chunk.length;
    }
    expect(received).toBe(64 * MiB);
    expect(read.digest('hex')).toBe(written.digest('hex'));
    // A range across the boundary of parts 1 and 2.
    const range = await s.rangeGet('big', 5 * MiB - 3, 6);
    const ranged = await s.getStream('big', { start: 5 * MiB - 3, length: 6 });
    const collected: Uint8Array[] = [];
    for await (const c of ranged!.body) collected.push(c);
    expect(Buffer.concat(collected).equals(Buffer.from(range!))).toBe(true);
    expect(range!.length).toBe(6);
    console.log(`putStream 64 MiB in 5 MiB parts: ${putMs} ms (${((64 * 1000) / putMs).toFixed(0)} MiB/s)`);
  });

  it('aborts the multipart upload when the body fails midway: no object, no pending upload', async () => {
    const s = make({ partSize: 5 * MiB });
    const error = await rejection(s.putStream('broken', chunks(40, createHash('sha256'), 17)));
    expect(isStorageError(error, 'HADB_STORAGE_IO'), String(error)).toBe(true);
    expect(((error as Error).cause as Error).message).toBe('body failed on purpose');
    expect(await s.exists('broken')).toBe(false);
    expect(await pendingUploads(s.prefix)).toBe(0);
  });

  it('aborts the multipart upload when the signal fires midway', async () => {
    const s = make({ partSize: 5 * MiB });
    const controller = new AbortController();
    const hash = createHash('sha256');
    async function* body() {
      let i = 0;
      for await (const chunk of chunks(100, hash)) {
        if (++i === 12) controller.abort();
        yield chunk;
      }
    }
    const error = await rejection(s.putStream('aborted', body(), { signal: controller.signal }));
    expect(isStorageError(error, 'HADB_STORAGE_ABORTED'), String(error)).toBe(true);
    expect(await s.exists('aborted')).toBe(false);
    expect(await pendingUploads(s.prefix)).toBe(0);
  });

  it('refuses a body whose size differs from contentLength, leaving nothing behind', async () => {
    const s = make({ partSize: 5 * MiB });
    const short = await rejection(s.putStream('short', chunks(7, createHash('sha256')), { contentLength: 8 * MiB }));
    expect(isStorageError(short, 'HADB_STORAGE_REJECTED'), String(short)).toBe(true);
    const small = await rejection(s.putStream('small', chunks(1, createHash('sha256')), { contentLength: 10 }));
    expect(isStorageError(small, 'HADB_STORAGE_REJECTED'), String(small)).toBe(true);
    expect(await s.list('')).toEqual([]);
    expect(await pendingUploads(s.prefix)).toBe(0);
  });

  it('maps refused credentials to HADB_STORAGE_AUTH without revealing the secret', async () => {
    const secret = 'this-secret-must-not-appear-anywhere';
    const s = make({
      credentials: { accessKeyId: connection().credentials ? 'HADBLOCALTESTKEY0000' : 'x', secretAccessKey: secret },
    });
    const error = await rejection(s.get('k'));
    expect(isStorageError(error, 'HADB_STORAGE_AUTH'), String(error)).toBe(true);
    expect((error as { status?: number }).status).toBe(403);
    expect(String(error)).not.toContain(secret);
    expect(JSON.stringify(error)).not.toContain(secret);
    expect((error as Error).message).toMatch(/^S3 get "k" failed: SignatureDoesNotMatch, HTTP 403/);
  });

  it('S3StorageBackend.open checks the bucket and the credentials', async () => {
    const missing = await rejection(S3StorageBackend.open({ ...connection(), bucket: 'hadb-no-such-bucket' }));
    expect(isStorageError(missing, 'HADB_STORAGE_REJECTED'), String(missing)).toBe(true);
    const denied = await rejection(
      S3StorageBackend.open({
        ...connection(),
        credentials: { accessKeyId: 'HADBNOSUCHUSER000000', secretAccessKey: 'nope' },
      }),
    );
    expect(isStorageError(denied, 'HADB_STORAGE_AUTH'), String(denied)).toBe(true);
    const ok = await S3StorageBackend.open({ ...connection(), prefix: uniquePrefix() });
    make.track(ok);
    expect(await ok.list('')).toEqual([]);
  });

  it('rejects bad arguments with HADB_STORAGE_REJECTED', async () => {
    const s = make();
    await s.put('k', Buffer.from('x'));
    for (const p of [
      s.rangeGet('k', -1, 2),
      s.rangeGet('k', 0, 1.5),
      s.getStream('k', { start: Number.NaN }),
      s.listPage('', { limit: 0 }),
      s.putIfMatch('k', Buffer.from('y'), ''),
      s.putStream('k', chunks(1, createHash('sha256')), { contentLength: -1 }),
    ]) {
      const error = await rejection(p);
      expect(isStorageError(error, 'HADB_STORAGE_REJECTED'), String(error)).toBe(true);
    }
  });

  it('close() destroys a client it built, but leaves an injected client usable', async () => {
    const c = connection();
    const client = new S3Client({
      endpoint: c.endpoint,
      region: c.region,
      credentials: c.credentials,
      forcePathStyle: true,
      maxAttempts: 1,
      requestChecksumCalculation: 'WHEN_REQUIRED',
      responseChecksumValidation: 'WHEN_REQUIRED',
    });
    try {
      const injected = new S3StorageBackend({ ...c, client, prefix: uniquePrefix() });
      make.track(injected);
      await injected.put('k', Buffer.from('v'));
      await injected.close();
      expect(isStorageError(await rejection(injected.get('k')), 'HADB_STORAGE_CLOSED')).toBe(true);
      const again = new S3StorageBackend({ ...c, client, prefix: injected.prefix });
      expect((await again.get('k'))?.data).toEqual(new Uint8Array(Buffer.from('v')));
    } finally {
      client.destroy();
    }
  });
});
