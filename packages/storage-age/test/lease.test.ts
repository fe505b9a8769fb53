import { StorageLeaseStore } from '@hadb/lease';
import { MemBucket, MemStorageBackend } from '@hadb/storage-mem';
import { leaseStoreSuite } from '@hadb/testkit/lease';
import { encrypt, x25519Pair } from './helpers.js';

// Leases kept in encrypted storage: the lease conformance suite over StorageLeaseStore on the
// wrapper (one shared in-memory bucket, several clients). CAS through the wrapper is the inner
// backend's, on the ciphertext's etags.
const keys = await x25519Pair();
const bucket = new MemBucket();

leaseStoreSuite({
  name: 'StorageLeaseStore over age-encrypted storage-mem',
  create: async () =>
    new StorageLeaseStore(await encrypt(new MemStorageBackend({ bucket }), keys), {
      prefix: 'leases/',
      ownsBackend: true,
    }),
  capabilities: { etagKind: 'opaque', monotonicEtags: false, serverSideExpiry: false, stampsNonce: true },
  keyLayout: [
    ['db1', 'leases/db1/_lease.json'],
    ['orders.v2_eu-1', 'leases/orders.v2_eu-1/_lease.json'],
  ],
  raceRounds: 40,
});
