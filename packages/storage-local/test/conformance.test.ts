import { mkdtemp, rm, symlink } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { StorageBackend } from '@hadb/storage';
import { storageBackendSuite } from '@hadb/testkit/storage';
import { LocalStorageBackend } from '../src/index.js';

const rootOf = (b: StorageBackend) => (b as LocalStorageBackend).root;

storageBackendSuite({
  name: 'local',
  create: async () => LocalStorageBackend.open({ root: await mkdtemp(join(tmpdir(), 'hadb-local-suite-')) }),
  destroy: (b) => rm(rootOf(b), { recursive: true, force: true }),
  capabilities: { atomicConditionalWrites: true, conditionalStreamingWrites: true, uniqueEtags: true },
  // A directory that is a symlink to itself: unlinking anything below it fails with ELOOP.
  deleteFailureKey: async (b) => {
    await symlink('loop', join(rootOf(b), 'loop'));
    return 'loop/x';
  },
});
