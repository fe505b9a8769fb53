import { join } from 'node:path';
import { StorageLeaseStore } from '@hadb/lease';
import type { StorageBackend } from '@hadb/storage';
import { scratchNodes } from '../scratch.js';

/** What a node opener of {@link storageNodes} receives: this test's directory, storage and lease store. */
export interface StorageScratch<B extends StorageBackend> {
  /** This test's scratch directory (storage under `storage/`). */
  readonly dir: string;
  readonly storage: B;
  /** A storage lease store in `storage` (lease objects under `leases/`). */
  readonly lease: StorageLeaseStore;
}

/** What {@link storageNodes} gives a test file (valid inside a test). */
export interface StorageNodes<B extends StorageBackend, N, O> extends StorageScratch<B> {
  /** Nodes opened by {@link node} and not yet closed by the test; closed after it. */
  readonly open: N[];
  /** Opens node `id` with the opener given to {@link storageNodes}; closed after the test. */
  node(id: string, extra?: O): Promise<N>;
  /** Runs `fn` after the test, before the nodes close (last registered first). */
  defer(fn: () => unknown): void;
}

/** How {@link storageNodes} opens a test's storage and its nodes. */
export interface StorageNodesOptions<B extends StorageBackend, N, O> {
  /** Opens the storage backend rooted at `root` (`<scratch dir>/storage`), closed after the test. */
  openStorage(root: string): Promise<B>;
  /** Opens node `id` over the scratch's storage and lease store; `extra` as given to `node()`. */
  openNode(id: string, scratch: StorageScratch<B>, extra: O | undefined): Promise<N>;
}

/**
 * In-process HA nodes over one storage backend per test and a {@link StorageLeaseStore} in it: a
 * new scratch directory for every test (testkit's `scratchNodes`), the storage opened by
 * `openStorage` — so testkit itself depends on no storage backend — and nodes by `openNode`.
 * After each test: deferred functions, the nodes still open, the lease store, the storage.
 */
export function storageNodes<B extends StorageBackend, N extends { close(): Promise<void> }, O>(
  prefix: string,
  options: StorageNodesOptions<B, N, O>,
): StorageNodes<B, N, O> {
  type Shared = { storage: B; lease: StorageLeaseStore; close(): Promise<void> };
  const s = scratchNodes<Shared, N>(prefix, async (dir) => {
    const storage = await options.openStorage(join(dir, 'storage'));
    const lease = new StorageLeaseStore(storage, { prefix: 'leases/' });
    return {
      storage,
      lease,
      close: async () => {
        await lease.close();
        await storage.close();
      },
    };
  });
  const nodes: StorageNodes<B, N, O> = {
    get dir() {
      return s.dir;
    },
    get storage() {
      return s.shared.storage;
    },
    get lease() {
      return s.shared.lease;
    },
    open: s.open,
    node: async (id, extra) => s.track(await options.openNode(id, nodes, extra)),
    defer: s.defer,
  };
  return nodes;
}
