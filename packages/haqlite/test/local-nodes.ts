import { join } from 'node:path';
import { LocalStorageBackend } from '@hadb/storage-local';
import { testLeaseTiming } from '@hadb/testkit';
import { storageNodes, type StorageNodes } from '@hadb/testkit/nodes';
import { HaQLite, type HaQLiteOptions } from '../src/index.js';

/** What {@link localNodes} gives a test file (node files `<dir>/<id>.db`). */
export type LocalNodes = StorageNodes<LocalStorageBackend, HaQLite, Partial<HaQLiteOptions>>;

/**
 * Nodes in this process over one local storage directory and a lease object in it; a new
 * directory for every test. `node(id)` opens `name: 'app'` with a 1 s TTL, 100 ms ships, 50 ms
 * pulls and `defaults`.
 */
export function localNodes(label: string, defaults: Partial<HaQLiteOptions> = {}): LocalNodes {
  return storageNodes(`haqlite-${label}`, {
    openStorage: (root) => LocalStorageBackend.open({ root }),
    openNode: (id, s, extra) =>
      HaQLite.open({
        path: join(s.dir, `${id}.db`),
        name: 'app',
        storage: s.storage,
        lease: { store: s.lease, ...testLeaseTiming(1000) },
        instanceId: id,
        shipIntervalMs: 100,
        followerPullIntervalMs: 50,
        ...defaults,
        ...extra,
      }),
  });
}
