import { ListObjectsV2Command } from '@aws-sdk/client-s3';
import { isStorageError } from '@hadb/storage';
import { describe, expect, it } from 'vitest';
import { S3StorageBackend } from '../src/index.js';
import { connection, freshStorages, rawClient, service } from './env.js';

const rgwNeedsUnquoted = connection().unquotedIfMatch === true;

describe.skipIf(!service.available)('probeConditionalWrites on the real server', () => {
  const make = freshStorages();

  it('reports atomic with the configured If-Match form, and leaves no probe objects behind', async () => {
    const s = make();
    const result = await s.probeConditionalWrites();
    expect(result.verdict, JSON.stringify(result.checks)).toBe('atomic');
    expect(result.atomic).toBe(true);
    expect(result.advice).toBeUndefined();
    const essential = result.checks.filter((c) => !c.name.includes('CompleteMultipartUpload'));
    expect(essential.every((c) => c.passed)).toBe(true);
    expect(essential.map((c) => c.name)).toEqual([
      'If-None-Match: * on a new key',
      'If-None-Match: * on an existing key',
      'If-Match with a wrong etag',
      'If-Match on a missing key',
      `If-Match with the current etag (${rgwNeedsUnquoted ? 'unquoted' : 'quoted'})`,
      'If-Match with a replaced etag',
      '8 racing If-None-Match: * writers',
      '8 racing If-Match writers',
    ]);
    expect(s.capabilities.atomicConditionalWrites).toBe(true);
    expect(s.lastProbe).toBe(result);
    expect(await s.list('')).toEqual([]);
    const client = rawClient();
    try {
      const out = await client.send(new ListObjectsV2Command({ Bucket: s.bucket, Prefix: s.prefix }));
      expect(out.Contents ?? []).toEqual([]);
    } finally {
      client.destroy();
    }
  });

  it('assertAtomicConditionalWrites and S3StorageBackend.open({ requireAtomicConditionalWrites }) accept the server', async () => {
    const s = make();
    expect((await s.assertAtomicConditionalWrites({ racers: 4 })).verdict).toBe('atomic');
    const opened = await S3StorageBackend.open({
      ...connection(),
      prefix: `${s.prefix}opened/`,
      requireAtomicConditionalWrites: true,
    });
    make.track(opened);
    expect(opened.capabilities.atomicConditionalWrites).toBe(true);
  });

  it('skips the races and the multipart check on request', async () => {
    const s = make();
    const result = await s.probeConditionalWrites({ racers: 0, checkMultipart: false });
    expect(result.verdict).toBe('atomic');
    expect(result.checks.some((c) => c.name.includes('racing'))).toBe(false);
    expect(result.multipartIfNoneMatch).toBe('not-checked');
  });

  it.runIf(rgwNeedsUnquoted)(
    'Ceph RGW <= 16 with quoted If-Match: misconfigured (every renewal would lose), and HA refuses to start',
    async () => {
      const s = make({ unquotedIfMatch: false });
      // Why it matters: a correct etag, correctly quoted, never wins on this server.
      const v1 = await s.put('lease', Buffer.from('v1'));
      expect(await s.putIfMatch('lease', Buffer.from('v2'), v1.etag)).toEqual({ success: false });

      const result = await s.probeConditionalWrites();
      expect(result.verdict).toBe('misconfigured');
      expect(result.atomic).toBe(false);
      expect(result.advice).toContain('unquotedIfMatch: true');
      // The conditions themselves are enforced: nothing unsafe was observed.
      expect(result.checks.find((c) => c.name === 'If-None-Match: * on an existing key')?.passed).toBe(true);
      expect(result.checks.find((c) => c.name === 'If-Match with a wrong etag')?.passed).toBe(true);
      expect(s.capabilities.atomicConditionalWrites).toBe(false);

      let caught: unknown;
      try {
        await s.assertAtomicConditionalWrites();
      } catch (error) {
        caught = error;
      }
      expect(isStorageError(caught, 'HADB_STORAGE_UNSUPPORTED'), String(caught)).toBe(true);
      expect((caught as Error).message).toContain('set unquotedIfMatch: true');

      let refused: unknown;
      try {
        await S3StorageBackend.open({
          ...connection(),
          unquotedIfMatch: false,
          prefix: `${s.prefix}o/`,
          requireAtomicConditionalWrites: true,
        });
      } catch (error) {
        refused = error;
      }
      expect(isStorageError(refused, 'HADB_STORAGE_UNSUPPORTED'), String(refused)).toBe(true);
    },
  );

  it('detects a server that ignores If-None-Match on CompleteMultipartUpload when conditionalMultipartWrites is set', async () => {
    const plain = make();
    const info = await plain.probeConditionalWrites({ racers: 0 });
    const claimed = make({ conditionalMultipartWrites: true });
    expect(claimed.capabilities.conditionalStreamingWrites).toBe(true);
    const result = await claimed.probeConditionalWrites({ racers: 0 });
    if (info.multipartIfNoneMatch === 'ignored') {
      // Ceph RGW 16: CompleteMultipartUpload with If-None-Match: * overwrites an existing key.
      expect(result.verdict).toBe('not-enforced');
      expect(result.advice).toContain('conditionalMultipartWrites: false');
      expect(claimed.capabilities).toEqual({
        atomicConditionalWrites: false,
        conditionalStreamingWrites: false,
        uniqueEtags: false,
      });
    } else {
      expect(info.multipartIfNoneMatch).toBe('enforced');
      expect(result.verdict).toBe('atomic');
    }
  });
});
