import { MemStorageBackend } from '@hadb/storage-mem';
import { storageBackendSuite } from '@hadb/testkit/storage';
import { encrypt, hybridPair, x25519Pair } from './helpers.js';

const x25519 = await x25519Pair();
const hybrid = await hybridPair();

storageBackendSuite({
  name: 'age (X25519) over mem',
  create: () => encrypt(new MemStorageBackend(), x25519),
  capabilities: { atomicConditionalWrites: true, conditionalStreamingWrites: true, uniqueEtags: true },
  // The inner backend keeps the ciphertext in memory by design.
  streamMemoryBudgetBytes: null,
  bigObjectBytes: 64 * 1024 * 1024,
});

storageBackendSuite({
  name: 'age (hybrid post-quantum) over mem',
  create: () => encrypt(new MemStorageBackend(), hybrid),
  capabilities: { atomicConditionalWrites: true, conditionalStreamingWrites: true, uniqueEtags: true },
  streamMemoryBudgetBytes: null,
  bigObjectBytes: 16 * 1024 * 1024,
  rounds: 20,
});
