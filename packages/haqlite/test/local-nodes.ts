import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { StorageLeaseStore } from '@hadb/lease';
import { LocalStorageBackend } from '@hadb/storage-local';
import { afterEach, beforeEach } from 'vitest';
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
 * Nodes in this process over one local storage directory and a lease object in it (1 s TTL).
 * Registers `beforeEach`/`afterEach`: every test gets a new directory, removed afterwards.
 */
export function localNodes(label: string, defaults: Partial<HaQLiteOptions> = {}): LocalNodes {
  let dir = '';
  let storage: LocalStorageBackend | undefined;
  let lease: StorageLeaseStore | undefined;
  const deferred: (() => unknown)[] = [];
  const open: HaQLite[] = [];
  beforeEach(async () => {
    dir = mkdtempSync(join(tmpdir(), `haqlite-${label}-`));
    storage = await LocalStorageBackend.open({ root: join(dir, 'storage') });
    lease = new StorageLeaseStore(storage, { prefix: 'leases/' });
  });
  afterEach(async () => {
    for (const fn of deferred.splice(0).reverse()) await fn();
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
    async node(id, extra = {}) {
      const db = await HaQLite.open({
        path: join(dir, `${id}.db`),
        name: 'app',
        storage: storage!,
        lease: { store: lease!, ttlMs: 1000, renewIntervalMs: 400, pollIntervalMs: 200, skewMarginMs: 200 },
        instanceId: id,
        shipIntervalMs: 100,
        followerPullIntervalMs: 50,
        ...defaults,
        ...extra,
      });
      open.push(db);
      return db;
    },
    defer: (fn) => void deferred.push(fn),
  };
}
