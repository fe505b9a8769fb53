// (11) The test file: one call to the conformance suite. For a store on a real server, gate it
//      with testService('<name>') from @hadb/testkit (add the server to SERVICE_ENV and a
//      scripts/services/<name>.sh) and give each run a fresh namespace (bucket, prefix).
import { leaseStoreSuite } from '@hadb/testkit/lease';
import { MemLeaseStore } from '../src/index.js';

leaseStoreSuite({
  name: 'mem',
  create: () => new MemLeaseStore(),
  // (12) The capabilities your store must report, and the key layout it must produce.
  capabilities: { etagKind: 'revision', monotonicEtags: true, serverSideExpiry: false },
  keyLayout: [
    ['db1', 'db1'],
    ['orders.v2_eu-1', 'orders.v2_eu-1'],
  ],
  // Each MemLeaseStore has its own map: races run on one instance. A store on a server shares
  // records between instances: delete this line there (the suite checks it against the store).
  sharedAcrossInstances: false,
});
