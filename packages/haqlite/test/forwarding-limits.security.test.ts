import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { StorageLeaseStore } from '@hadb/lease';
import { LocalStorageBackend } from '@hadb/storage-local';
import { forwardingLimitScenarios } from '@hadb/testkit';
import { afterEach } from 'vitest';
import { HaQLite } from '../src/index.js';

// The forwarding server's limits are HaQLite options (issue 12): passed to the node's server and
// checked at `open` with a typed error.
let dir: string | undefined;
let storage: LocalStorageBackend | undefined;
const open: HaQLite[] = [];
afterEach(async () => {
  for (const db of open.splice(0)) await db.close().catch(() => undefined);
  await storage?.close();
  storage = undefined;
  if (dir !== undefined) rmSync(dir, { recursive: true, force: true });
  dir = undefined;
});

forwardingLimitScenarios({
  engine: 'haqlite',
  invalidConfigCode: 'HADB_HAQLITE_INVALID_CONFIG',
  async open(forwarding) {
    dir = mkdtempSync(join(tmpdir(), 'haqlite-fwd-limits-'));
    storage = await LocalStorageBackend.open({ root: join(dir, 'storage') });
    const db = await HaQLite.open({
      path: join(dir, 'a.db'),
      name: 'app',
      storage,
      lease: {
        store: new StorageLeaseStore(storage, { prefix: 'leases/' }),
        ttlMs: 1000,
        renewIntervalMs: 400,
        pollIntervalMs: 200,
        skewMarginMs: 200,
      },
      instanceId: 'a',
      shipIntervalMs: 100,
      forwarding,
    });
    open.push(db);
    return db;
  },
});
