import { Coordinator, StorageNodeRegistry } from '@hadb/core';
import { freezableLeaseStore } from '@hadb/testkit/lease';
import { MemLeaseStore } from '@hadb/lease-mem';
import { MemStorageBackend } from '@hadb/storage-mem';
import { coordinatorSource, type CoordinatorAdminSource } from '../../src/index.js';
import { TestEngine } from './engine.js';

/** Short real-time lease timings: failover in about a second. */
export const TIMING = { ttlMs: 600, renewIntervalMs: 200, pollIntervalMs: 100, skewMarginMs: 150 } as const;
export const DB = 'orders';

/** One in-process node: a real Coordinator over the shared in-memory lease store and storage. */
export interface TestNode {
  readonly name: string;
  readonly coordinator: Coordinator;
  readonly engine: TestEngine;
  readonly source: CoordinatorAdminSource;
  /** Makes every lease request of this node hang from now on, like a frozen process. */
  freeze(): void;
}

/** An in-process cluster of real `@hadb/core` Coordinators on `@hadb/lease-mem` and storage-mem. */
export class TestCluster {
  readonly lease = new MemLeaseStore();
  readonly storage = new MemStorageBackend();
  readonly registry = new StorageNodeRegistry(this.storage);
  readonly nodes: TestNode[] = [];

  node(name: string): TestNode {
    const engine = new TestEngine(this.storage);
    const lease = freezableLeaseStore(this.lease);
    const coordinator = new Coordinator({
      replicator: engine,
      followerBehavior: engine,
      lease: { store: lease.store, instanceId: name, address: `http://${name}.test:8080`, ...TIMING },
      nodeRegistry: this.registry,
      registryHeartbeatMs: 200,
      followerPullIntervalMs: 50,
    });
    const source = coordinatorSource(coordinator, {
      nodeId: name,
      address: `http://${name}.test:8080`,
      replication: engine.stats,
      registry: this.registry,
      registryRefreshMs: 200,
      nodeIdOfAddress: (address) => /^http:\/\/([a-z0-9-]+)\.test:8080$/.exec(address)?.[1],
    });
    const node = { name, coordinator, engine, source, freeze: lease.freeze };
    this.nodes.push(node);
    return node;
  }

  /** Starts `names` in order: the first leads `db`, the others follow. */
  async start(names: readonly string[], db = DB): Promise<TestNode[]> {
    const out: TestNode[] = [];
    for (const name of names) {
      const n = this.node(name);
      await n.coordinator.join(db, `/tmp/hadb-admin-test/${name}/${db}`);
      out.push(n);
    }
    return out;
  }

  leaderOf(db = DB): TestNode | undefined {
    return this.nodes.find((n) => n.coordinator.role(db) === 'leader');
  }

  async close(): Promise<void> {
    for (const n of this.nodes) n.source.close();
    await Promise.all(this.nodes.map((n) => n.coordinator.close()));
    await this.lease.close();
    await this.storage.close();
  }
}

export { until } from './tools.js';
