import { testService } from '@hadb/testkit';
import { leaseDeadlineScenarios } from '@hadb/testkit/lease';
import { NatsLeaseStore } from '../src/index.js';

const nats = testService('nats');
const bucket = `hadb-test-deadline-${process.pid}-${Date.now().toString(36)}`;

leaseDeadlineScenarios({
  name: 'nats',
  skip: !nats.available,
  target: nats.env.HADB_TEST_NATS_URL ?? '',
  open: (hostPort, o) => NatsLeaseStore.open({ servers: `nats://${hostPort}`, bucket, ...o }),
});
