import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { StorageLeaseStore } from '@hadb/lease';
import { LocalStorageBackend } from '@hadb/storage-local';
import { eventually, freePort } from '@hadb/testkit';
import { countRequests } from '@hadb/testkit/storage';
import { afterEach, describe, expect, it } from 'vitest';
import { HaDuck, type HaDuckOptions } from '../src/index.js';

// Nodes in this process over one local storage directory; the lease is an object in it, read
// through its own (uncounted) handle, so a counter on a node's storage sees only its data requests.
let dir: string;
let storage: LocalStorageBackend;
let lease: StorageLeaseStore;
const open: HaDuck[] = [];

afterEach(async () => {
  for (const db of open.splice(0)) await db.close().catch(() => undefined);
  await lease?.close();
  await storage?.close();
  if (dir !== undefined) rmSync(dir, { recursive: true, force: true });
});

async function setup(): Promise<void> {
  dir = mkdtempSync(join(tmpdir(), 'haduck-notice-'));
  storage = await LocalStorageBackend.open({ root: join(dir, 'storage') });
  lease = new StorageLeaseStore(storage, { prefix: 'leases/' });
}

async function node(id: string, extra: Partial<HaDuckOptions> = {}): Promise<HaDuck> {
  const db = await HaDuck.open({
    path: join(dir, `${id}.duckdb`),
    name: 'app',
    storage,
    lease: { store: lease, ttlMs: 1000, renewIntervalMs: 400, pollIntervalMs: 200, skewMarginMs: 200 },
    instanceId: id,
    checkpointIntervalMs: 100,
    ...extra,
  });
  open.push(db);
  return db;
}

const rows = async (db: HaDuck): Promise<number> =>
  Number((await db.query('SELECT count(*) FROM t').catch(() => ({ rows: [[-1]] }))).rows[0]?.[0]);

describe('followers told of new checkpoints by the leader', () => {
  it('a follower that never polls storage on its own applies each checkpoint once the leader announces it, and makes no storage request while nothing ships', async () => {
    await setup();
    const a = await node('a');
    await a.execute('CREATE TABLE t (id BIGINT)', [], { durability: 'shipped' });
    const counted = countRequests(storage);
    // Storage polling once an hour: only the leader's notice can bring a checkpoint in.
    const b = await node('b', { storage: counted.storage, followerPullIntervalMs: 3_600_000 });
    expect(b.role).toBe('follower');
    await eventually(async () => (await rows(b)) === 0, { timeoutMs: 20_000 });
    for (let i = 1; i <= 3; i++) {
      // Once its last pull is done the follower goes quiet: while the leader ships nothing it
      // touches no storage (a follower that polled, or a notice that kept firing, never would).
      await eventually(
        async () => {
          counted.reset();
          await new Promise((r) => setTimeout(r, 300));
          return counted.count().total === 0;
        },
        { timeoutMs: 20_000 },
      );
      counted.reset();
      await a.execute('INSERT INTO t VALUES ($1)', [i], { durability: 'shipped' });
      await eventually(async () => (await rows(b)) === i, { timeoutMs: 20_000 });
      const pulled = counted.count();
      expect(pulled.total).toBeGreaterThan(0);
      expect(pulled.byOperation.getStream ?? pulled.byOperation.get ?? 0).toBeGreaterThan(0);
    }
  });

  it('falls back to polling storage while the leader cannot be reached', async () => {
    await setup();
    // The lease advertises an address nothing listens on: no notice can arrive.
    const a = await node('a', { address: `http://127.0.0.1:${await freePort()}` });
    await a.execute('CREATE TABLE t (id BIGINT)', [], { durability: 'shipped' });
    const counted = countRequests(storage);
    const b = await node('b', { storage: counted.storage, followerPullIntervalMs: 50 });
    await a.execute('INSERT INTO t VALUES (1)', [], { durability: 'shipped' });
    await eventually(async () => (await rows(b)) === 1, { timeoutMs: 20_000 });
    // Polling continues on the interval while nothing ships.
    counted.reset();
    await eventually(
      async () => (counted.count().byOperation.exists ?? 0) + (counted.count().byOperation.list ?? 0) >= 3,
      {
        timeoutMs: 20_000,
      },
    );
  });

  it('shipped writes issued together share one prompt checkpoint (group commit), long before the tick', async () => {
    await setup();
    // A tick of an hour: only group commit can ship these writes.
    const a = await node('a', { checkpointIntervalMs: 3_600_000 });
    await a.execute('CREATE TABLE t (id BIGINT)');
    await a.checkpoint();
    let ships = 0;
    a.on('shipped', () => ships++);
    await Promise.all(
      Array.from({ length: 8 }, (_, i) => a.execute('INSERT INTO t VALUES ($1)', [i], { durability: 'shipped' })),
    );
    expect(ships).toBe(1);
    // Durable: a new node restores all eight from storage.
    const c = await node('c');
    await eventually(async () => (await rows(c)) === 8, { timeoutMs: 20_000 });
  });
});
