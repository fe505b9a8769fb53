import { S3StorageBackend } from '@hadb/storage-s3';
import { leaseStoreSuite } from '@hadb/testkit/lease';
import { afterAll } from 'vitest';
import { S3LeaseStore, S3_LEASE_TIMING } from '../src/index.js';
import { runPrefix, s3, s3Options } from './s3-env.js';

const prefix = runPrefix('suite');
let probed = false;

leaseStoreSuite({
  name: 's3 (Ceph RGW)',
  skip: !s3.available,
  // The first store runs the conditional-write probe; the rest skip it to keep the suite fast.
  create: async () => {
    const store = await S3LeaseStore.open({ ...s3Options, prefix, skipConditionalWriteProbe: probed });
    probed = true;
    return store;
  },
  capabilities: {
    etagKind: 'opaque',
    monotonicEtags: false,
    serverSideExpiry: false,
    stampsNonce: true,
    serverTimeResolutionMs: 1000,
    recommendedTiming: S3_LEASE_TIMING,
  },
  keyLayout: [
    ['db1', `${prefix}db1/_lease.json`],
    ['orders.v2_eu-1', `${prefix}orders.v2_eu-1/_lease.json`],
  ],
  // Each round is 40 conditional PUTs against RGW: fewer rounds keep the suite fast.
  raceRounds: 10,
  takeovers: 25,
});

afterAll(async () => {
  if (!s3.available) return;
  await using raw = new S3StorageBackend({ ...s3Options });
  await raw.deleteMany(await raw.list(prefix));
});
