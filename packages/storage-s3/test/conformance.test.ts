import { PutBucketPolicyCommand } from '@aws-sdk/client-s3';
import type { StorageBackend } from '@hadb/storage';
import { storageBackendSuite } from '@hadb/testkit/storage';
import { describe } from 'vitest';
import type { S3StorageBackend } from '../src/index.js';
import { clearBucketPolicy, connection, freshStorage, rawClient, removePrefix, service } from './env.js';

/**
 * Makes deleting one key fail for real: a bucket policy denying s3:DeleteObject on exactly that
 * key (Ceph RGW then reports AccessDenied for it inside DeleteObjects). Cleared in `destroy`.
 */
async function undeletableKey(backend: StorageBackend): Promise<string> {
  const storage = backend as S3StorageBackend;
  const key = 'undeletable';
  await storage.put(key, Buffer.from('stays'));
  const { bucket } = connection();
  const Policy = JSON.stringify({
    Version: '2012-10-17',
    Statement: [
      {
        Effect: 'Deny',
        Principal: '*',
        Action: 's3:DeleteObject',
        Resource: `arn:aws:s3:::${bucket}/${storage.prefix}${key}`,
      },
    ],
  });
  const client = rawClient();
  try {
    await client.send(new PutBucketPolicyCommand({ Bucket: bucket, Policy }));
  } finally {
    client.destroy();
  }
  return key;
}

describe.skipIf(!service.available)('S3StorageBackend on Ceph RGW', () => {
  let policyInstalled = false;
  storageBackendSuite({
    name: 's3 (ceph rgw)',
    // 5 MiB parts, 4 in flight: the streamed round trip stays well inside the memory budget.
    create: () => freshStorage({ partSize: 5 * 1024 * 1024, queueSize: 4 }),
    destroy: async (backend) => {
      if (policyInstalled) {
        policyInstalled = false;
        await clearBucketPolicy();
      }
      await removePrefix((backend as S3StorageBackend).prefix);
    },
    capabilities: { atomicConditionalWrites: true, conditionalStreamingWrites: false, uniqueEtags: false },
    deleteFailureKey: async (backend) => {
      policyInstalled = true;
      return undeletableKey(backend);
    },
    timeoutScale: 2,
  });
});
