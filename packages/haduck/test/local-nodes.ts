import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { StorageLeaseStore } from '@hadb/lease';
import { LocalStorageBackend } from '@hadb/storage-local';
import { afterEach, beforeEach } from 'vitest';
import { HaDuck, type HaDuckOptions } from '../src/index.js';

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

/**
 * Nodes in this process over one local storage directory and a lease object in it (1 s TTL).
 * Registers `beforeEach`/`afterEach`: every test gets a new directory, removed afterwards.
 */
export function localNodes(label: string): LocalNodes {
  let dir = '';
  let storage: LocalStorageBackend | undefined;
  let lease: StorageLeaseStore | undefined;
  const open: HaDuck[] = [];
  beforeEach(async () => {
    dir = mkdtempSync(join(tmpdir(), `haduck-${label}-`));
    storage = await LocalStorageBackend.open({ root: join(dir, 'storage') });
    lease = new StorageLeaseStore(storage, { prefix: 'leases/' });
  });
  afterEach(async () => {
    for (const db of open.splice(0)) await db.close().catch(() => undefined);
    await lease?.close();
    await storage?.close();
    rmSync(dir, { recursive: true, force: true });
  });
  return {
    get dir() {
      return dir;
    },
    get storage() {
      return storage!;
    },
    get lease() {
      return lease!;
    },
    open,
    async node(id, extra = {}) {
      const db = await HaDuck.open({
        path: join(dir, `${id}.duckdb`),
        name: 'app',
        storage: storage!,
        // A 1 s TTL needs shorter renewals and margin than core's defaults (which suit 5 s).
        lease: { store: lease!, ttlMs: 1000, renewIntervalMs: 400, pollIntervalMs: 200, skewMarginMs: 200 },
        instanceId: id,
        checkpointIntervalMs: 100,
        followerPullIntervalMs: 50,
        ...extra,
      });
      open.push(db);
      return db;
    },
  };
}
