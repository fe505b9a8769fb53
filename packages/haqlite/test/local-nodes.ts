import { join } from 'node:path';
import { StorageLeaseStore } from '@hadb/lease';
import { LocalStorageBackend } from '@hadb/storage-local';
import { scratchNodes } from '@hadb/testkit';
import { HaQLite, type HaQLiteOptions } from '../src/index.js';

/** What {@link localNodes} gives a test file. */
export interface LocalNodes {
  /** This test's scratch directory (storage in `storage/`, node files `<id>.db`). */
  readonly dir: string;
  readonly storage: LocalStorageBackend;
  readonly lease: StorageLeaseStore;
  /** Opens node `id` (`name: 'app'`, 1 s TTL, 100 ms ships, 50 ms pulls), closed after the test. */
  node(id: string, extra?: Partial<HaQLiteOptions>): Promise<HaQLite>;
  /** Runs `fn` after the test, before the nodes close (last registered first). */
  defer(fn: () => unknown): void;
}

/**
 * Nodes in this process over one local storage directory and a lease object in it (1 s TTL); a
 * new directory for every test (see `@hadb/testkit`'s `scratchNodes`).
 */
export function localNodes(label: string, defaults: Partial<HaQLiteOptions> = {}): LocalNodes {
  type Shared = { storage: LocalStorageBackend; lease: StorageLeaseStore; close(): Promise<void> };
  const s = scratchNodes<Shared, HaQLite>(`haqlite-${label}`, async (dir) => {
    const storage = await LocalStorageBackend.open({ root: join(dir, 'storage') });
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
  return {
    get dir() {
      return s.dir;
    },
    get storage() {
      return s.shared.storage;
    },
    get lease() {
      return s.shared.lease;
    },
    node: async (id, extra = {}) =>
      s.track(
        await HaQLite.open({
          path: join(s.dir, `${id}.db`),
          name: 'app',
          storage: s.shared.storage,
          lease: { store: s.shared.lease, ttlMs: 1000, renewIntervalMs: 400, pollIntervalMs: 200, skewMarginMs: 200 },
          instanceId: id,
          shipIntervalMs: 100,
          followerPullIntervalMs: 50,
          ...defaults,
          ...extra,
        }),
      ),
    defer: s.defer,
  };
}
