import { testService } from '@hadb/testkit';
import { leaseDeadlineScenarios } from '@hadb/testkit/lease';
import { EtcdLeaseStore } from '../src/index.js';

const etcd = testService('etcd');
const prefix = `hadb-test-deadline-${process.pid}-${Date.now().toString(36)}/`;

leaseDeadlineScenarios({
  name: 'etcd',
  skip: !etcd.available,
  target: etcd.env.HADB_TEST_ETCD_URL ?? '',
  open: (hostPort, o) => EtcdLeaseStore.open({ hosts: `http://${hostPort}`, prefix, ...o }),
});
