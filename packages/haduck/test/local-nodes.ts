import { join } from 'node:path';
import { StorageLeaseStore } from '@hadb/lease';
import { LocalStorageBackend } from '@hadb/storage-local';
import { scratchNodes } from '@hadb/testkit';
import { HaDuck, type HaDuckOptions } from '../src/index.js';

/** Storage and lease store of one test. */
interface LocalShared {
  readonly storage: LocalStorageBackend;
  readonly lease: StorageLeaseStore;
  close(): Promise<void>;
}

/** What {@link localNodes} gives a test file. */
export interface LocalNodes {
  /** This test's scratch directory (storage in `storage/`, node files `<id>.duckdb`). */
  readonly dir: string;
  readonly storage: LocalStorageBackend;
  readonly lease: StorageLeaseStore;
  /** Nodes opened by {@link node} and not yet closed by the test; closed after it. */
  readonly open: HaDuck[];
  /** Opens node `id` (`name: 'app'`, 1 s TTL, 100 ms checkpoints, 50 ms pulls). */
  node(id: string, extra?: Partial<HaDuckOptions>): Promise<HaDuck>;
}

/** Opens local storage in `dir/storage` and a lease object in it. */
async function localShared(dir: string): Promise<LocalShared> {
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
}

/**
 * Nodes in this process over one local storage directory and a lease object in it (1 s TTL); a
 * new directory for every test (see `@hadb/testkit`'s `scratchNodes`).
 */
export function localNodes(label: string): LocalNodes {
  const s = scratchNodes<LocalShared, HaDuck>(`haduck-${label}`, localShared);
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
    open: s.open,
    node: async (id, extra = {}) =>
      s.track(
        await HaDuck.open({
          path: join(s.dir, `${id}.duckdb`),
          name: 'app',
          storage: s.shared.storage,
          // A 1 s TTL needs shorter renewals and margin than core's defaults (which suit 5 s).
          lease: { store: s.shared.lease, ttlMs: 1000, renewIntervalMs: 400, pollIntervalMs: 200, skewMarginMs: 200 },
          instanceId: id,
          checkpointIntervalMs: 100,
          followerPullIntervalMs: 50,
          ...extra,
        }),
      ),
  };
}
