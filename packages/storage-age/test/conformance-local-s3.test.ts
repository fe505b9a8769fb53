import { mkdtemp, rm, symlink } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { StorageBackend } from '@hadb/storage';
import { LocalStorageBackend } from '@hadb/storage-local';
import { storageBackendSuite } from '@hadb/testkit/storage';
import { describe } from 'vitest';
import type { EncryptedStorageBackend } from '../src/index.js';
import { encrypt, hybridPair, x25519Pair } from './helpers.js';
import { openS3, removeS3Prefix, s3Prefix, s3Service } from './s3.js';

const x25519 = await x25519Pair();
const hybrid = await hybridPair();
const innerOf = (b: StorageBackend) => (b as EncryptedStorageBackend).inner;

storageBackendSuite({
  name: 'age (hybrid post-quantum) over local',
  create: async () =>
    encrypt(await LocalStorageBackend.open({ root: await mkdtemp(join(tmpdir(), 'hadb-age-suite-')) }), hybrid),
  destroy: (b) => rm((innerOf(b) as LocalStorageBackend).root, { recursive: true, force: true }),
  capabilities: { atomicConditionalWrites: true, conditionalStreamingWrites: true, uniqueEtags: true },
  // A directory that is a symlink to itself: unlinking anything below it fails with ELOOP.
  deleteFailureKey: async (b) => {
    await symlink('loop', join((innerOf(b) as LocalStorageBackend).root, 'loop'));
    return 'loop/x';
  },
  bigObjectBytes: 64 * 1024 * 1024,
  rounds: 20,
});

describe.skipIf(!s3Service.available)('on the real S3 server (Ceph RGW)', () => {
  storageBackendSuite({
    name: 'age (X25519) over s3 (ceph rgw)',
    // 5 MiB parts, 4 in flight, as in the plain S3 suite.
    create: async () => encrypt(await openS3(s3Prefix(), { partSize: 5 * 1024 * 1024, queueSize: 4 }), x25519),
    destroy: (b) => removeS3Prefix((innerOf(b) as StorageBackend & { prefix: string }).prefix),
    capabilities: { atomicConditionalWrites: true, conditionalStreamingWrites: false, uniqueEtags: false },
    bigObjectBytes: 64 * 1024 * 1024,
    timeoutScale: 2,
  });
});
