import { testService } from '@hadb/testkit';
import { leaseStoreSuite } from '@hadb/testkit/lease';
import { Etcd3 } from 'etcd3';
import { afterAll } from 'vitest';
import { EtcdLeaseStore } from '../src/index.js';

const etcd = testService('etcd');
const hosts = etcd.env.HADB_TEST_ETCD_URL ?? '';
// A fresh prefix per run, removed afterwards.
const prefix = `hadb-test/${process.pid}-${Date.now().toString(36)}/`;

leaseStoreSuite({
  name: 'etcd',
  skip: !etcd.available,
  create: () => EtcdLeaseStore.open({ hosts, prefix }),
  capabilities: { etagKind: 'revision', monotonicEtags: true, serverSideExpiry: false },
  keyLayout: [
    ['db1', 'db1'],
    ['orders.v2_eu-1', 'orders.v2_eu-1'],
  ],
});

afterAll(async () => {
  if (!etcd.available) return;
  const client = new Etcd3({ hosts });
  await client.delete().prefix(prefix).exec();
  client.close();
});
