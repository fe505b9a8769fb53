import { storageBackendSuite } from '@hadb/testkit/storage';
import { MemStorageBackend } from '../src/index.js';

storageBackendSuite({
  name: 'mem',
  create: () => new MemStorageBackend(),
  capabilities: { atomicConditionalWrites: true, conditionalStreamingWrites: true, uniqueEtags: true },
  // The object lives in memory by design, so its own 256 MiB are retained.
  streamMemoryBudgetBytes: null,
});
