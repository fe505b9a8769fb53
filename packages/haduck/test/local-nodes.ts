import { join } from 'node:path';
import { LocalStorageBackend } from '@hadb/storage-local';
import { testLeaseTiming } from '@hadb/testkit';
import { storageNodes, type StorageNodes } from '@hadb/testkit/nodes';
import { HaDuck, type HaDuckOptions } from '../src/index.js';

/** What {@link localNodes} gives a test file (node files `<dir>/<id>.duckdb`). */
export type LocalNodes = StorageNodes<LocalStorageBackend, HaDuck, Partial<HaDuckOptions>>;

/**
 * Nodes in this process over one local storage directory and a lease object in it; a new
 * directory for every test. `node(id)` opens `name: 'app'` with a 1 s TTL, 100 ms checkpoints and
 * 50 ms pulls.
 */
export function localNodes(label: string): LocalNodes {
  return storageNodes(`haduck-${label}`, {
    openStorage: (root) => LocalStorageBackend.open({ root }),
    openNode: (id, s, extra) =>
      HaDuck.open({
        path: join(s.dir, `${id}.duckdb`),
        name: 'app',
        storage: s.storage,
        lease: { store: s.lease, ...testLeaseTiming(1000) },
        instanceId: id,
        checkpointIntervalMs: 100,
        followerPullIntervalMs: 50,
        ...extra,
      }),
  });
}
