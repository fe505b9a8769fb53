// One coordinator node as its own process, for the multi-process failover test and bench.
// Config comes in HADB_NODE_CONFIG (JSON); events go to stdout as JSON lines.
import type { LeaseStore } from '@hadb/lease';
import { EtcdLeaseStore } from '@hadb/lease-etcd';
import { NatsLeaseStore } from '@hadb/lease-nats';
import { LocalStorageBackend } from '@hadb/storage-local';
import { systemClock } from '@hadb/io';
import { Coordinator } from '../../src/coordinator.js';
import { LocalDisk, SimFollowerBehavior, SimReplicator, World } from '../sim/sim-replica.js';
import type { NodeConfig } from './harness.js';

const cfg = JSON.parse(process.env.HADB_NODE_CONFIG ?? '{}') as NodeConfig;
const emit = (obj: object): void => {
  process.stdout.write(`${JSON.stringify({ ...obj, node: cfg.name, at: Date.now() })}\n`);
};

const storage = await LocalStorageBackend.open({ root: cfg.storageRoot });
const store: LeaseStore =
  cfg.backend === 'nats'
    ? await NatsLeaseStore.open({ servers: cfg.url, bucket: cfg.namespace, requestTimeoutMs: cfg.renewIntervalMs })
    : await EtcdLeaseStore.open({ hosts: cfg.url, prefix: `${cfg.namespace}/`, requestTimeoutMs: cfg.renewIntervalMs });
const world = new World();
const disk = new LocalDisk(world, cfg.name);
const replicator = new SimReplicator(world, storage, disk, systemClock);
const coordinator = new Coordinator({
  replicator,
  followerBehavior: new SimFollowerBehavior(world, storage, disk, cfg.name, systemClock),
  lease: {
    store,
    instanceId: cfg.name,
    address: `proc://${cfg.name}`,
    ttlMs: cfg.ttlMs,
    renewIntervalMs: cfg.renewIntervalMs,
    pollIntervalMs: cfg.pollIntervalMs,
    skewMarginMs: cfg.skewMarginMs,
  },
  followerPullIntervalMs: cfg.pollIntervalMs,
});
coordinator.on('*', (event) => emit({ ev: 'role', ...event }));

let lastPos = -1;
const report = setInterval(() => {
  if (disk.position !== lastPos) {
    lastPos = disk.position;
    emit({ ev: 'pos', pos: disk.position });
  }
  for (const v of world.violations.splice(0)) emit({ ev: 'violation', message: v });
}, 50);

let stopping = false;
process.on('SIGTERM', () => {
  stopping = true;
  clearInterval(report);
  void coordinator
    .close()
    .then(() => store.close())
    .then(() => storage.close())
    .finally(() => process.exit(0));
});

await coordinator.join(cfg.db, `/nonexistent/${cfg.name}.db`);
emit({ ev: 'term', epoch: coordinator.epoch(cfg.db) });
while (!stopping) {
  await systemClock.sleep(cfg.writeEveryMs);
  if (coordinator.role(cfg.db) !== 'leader') continue;
  try {
    coordinator.checkWrite(cfg.db);
    if (await replicator.write(cfg.db)) emit({ ev: 'ack', ...world.acks.at(-1) });
  } catch {
    // not acknowledged
  }
}
