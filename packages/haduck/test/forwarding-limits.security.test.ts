import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { StorageLeaseStore } from '@hadb/lease';
import { LocalStorageBackend } from '@hadb/storage-local';
import { forwardingLimitScenarios } from '@hadb/testkit';
import { afterEach } from 'vitest';
import { HaDuck } from '../src/index.js';

// The forwarding server's limits are HaDuck options (issue 12): passed to the node's server and
// checked at `open` with a typed error.
let dir: string | undefined;
let storage: LocalStorageBackend | undefined;
const open: HaDuck[] = [];
afterEach(async () => {
  for (const db of open.splice(0)) await db.close().catch(() => undefined);
  await storage?.close();
  storage = undefined;
  if (dir !== undefined) rmSync(dir, { recursive: true, force: true });
  dir = undefined;
});

forwardingLimitScenarios({
  engine: 'haduck',
  invalidConfigCode: 'HADB_HADUCK_INVALID_CONFIG',
  async open(forwarding) {
    dir = mkdtempSync(join(tmpdir(), 'haduck-fwd-limits-'));
    storage = await LocalStorageBackend.open({ root: join(dir, 'storage') });
    const db = await HaDuck.open({
      path: join(dir, 'a.duckdb'),
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
      checkpointIntervalMs: 100,
      forwarding,
    });
    open.push(db);
    return db;
  },
});
