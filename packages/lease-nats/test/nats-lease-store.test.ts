import { testService } from '@hadb/testkit';
import { leaseStoreSuite } from '@hadb/testkit/lease';
import { Kvm } from '@nats-io/kv';
import { connect } from '@nats-io/transport-node';
import { afterAll } from 'vitest';
import { NatsLeaseStore } from '../src/index.js';

const nats = testService('nats');
const servers = nats.env.HADB_TEST_NATS_URL ?? '';
// A fresh bucket per run, removed afterwards.
const bucket = `hadb-test-${process.pid}-${Date.now().toString(36)}`;

leaseStoreSuite({
  name: 'nats',
  skip: !nats.available,
  create: () => NatsLeaseStore.open({ servers, bucket }),
  capabilities: { etagKind: 'revision', monotonicEtags: true, serverSideExpiry: false, serverTimeResolutionMs: 1 },
  keyLayout: [
    ['db1', 'db1'],
    ['orders.v2_eu-1', 'orders.v2_eu-1'],
  ],
});

afterAll(async () => {
  if (!nats.available) return;
  const nc = await connect({ servers });
  await (await new Kvm(nc).open(bucket)).destroy().catch(() => undefined);
  await nc.close();
});
