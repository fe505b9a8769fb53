import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { isStorageError } from '@hadb/storage';
import S3rver from 's3rver';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { S3StorageBackend } from '../src/index.js';

/**
 * s3rver (npm) is a real S3 server process that accepts conditional PUT headers and ignores them:
 * exactly the kind of server high-availability use must refuse.
 */
describe('probeConditionalWrites against a server that ignores conditions (s3rver)', () => {
  let server: S3rver;
  let dir: string;
  let endpoint: string;
  const bucket = 'probe';
  const credentials = { accessKeyId: 'S3RVER', secretAccessKey: 'S3RVER' };

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'hadb-s3rver-'));
    server = new S3rver({
      address: '127.0.0.1',
      port: 0,
      silent: true,
      directory: dir,
      configureBuckets: [{ name: bucket }],
    });
    const { port } = await server.run();
    endpoint = `http://127.0.0.1:${port}`;
  });
  afterAll(async () => {
    await server?.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('two putIfAbsent calls both "win" there, which is why such a server must be refused', async () => {
    const s = new S3StorageBackend({ bucket, endpoint, credentials, prefix: 'danger', retry: false });
    try {
      expect((await s.putIfAbsent('lease', Buffer.from('node a'))).success).toBe(true);
      expect((await s.putIfAbsent('lease', Buffer.from('node b'))).success).toBe(true);
    } finally {
      await s.close();
    }
  });

  it('reports not-enforced, flips the capability and refuses to assert atomicity', async () => {
    const s = new S3StorageBackend({ bucket, endpoint, credentials, prefix: 'probe', retry: false });
    try {
      expect(s.capabilities.atomicConditionalWrites).toBe(true);
      const result = await s.probeConditionalWrites({ checkMultipart: false });
      expect(result.verdict).toBe('not-enforced');
      expect(result.atomic).toBe(false);
      const failed = result.checks.filter((c) => !c.passed).map((c) => [c.name, c.observed]);
      expect(failed).toContainEqual(['If-None-Match: * on an existing key', '200']);
      expect(failed).toContainEqual(['If-Match with a wrong etag', '200']);
      expect(failed).toContainEqual(['8 racing If-None-Match: * writers', '8 winners']);
      expect(s.capabilities).toEqual({
        atomicConditionalWrites: false,
        conditionalStreamingWrites: false,
        uniqueEtags: false,
      });

      let caught: unknown;
      try {
        await s.assertAtomicConditionalWrites({ checkMultipart: false });
      } catch (error) {
        caught = error;
      }
      expect(isStorageError(caught, 'HADB_STORAGE_UNSUPPORTED'), String(caught)).toBe(true);
      expect((caught as Error).message).toContain('no non-atomic fallback');
    } finally {
      await s.close();
    }
  });

  it('S3StorageBackend.open({ requireAtomicConditionalWrites }) refuses to open', async () => {
    let caught: unknown;
    try {
      await S3StorageBackend.open({
        bucket,
        endpoint,
        credentials,
        prefix: 'open',
        retry: false,
        requireAtomicConditionalWrites: true,
        probe: { racers: 4, checkMultipart: false },
      });
    } catch (error) {
      caught = error;
    }
    expect(isStorageError(caught, 'HADB_STORAGE_UNSUPPORTED'), String(caught)).toBe(true);
  });
});
