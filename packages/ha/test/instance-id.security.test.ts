import { mkdirSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { MemLeaseStore } from '@hadb/lease-mem';
import { MemStorageBackend } from '@hadb/storage-mem';
import { afterEach, describe, expect, it } from 'vitest';
import { HaNode, isHaError } from '../src/index.js';
import { kvEngine, type KvRead, type KvWrite } from './kv-engine.js';

/**
 * Two live nodes with one `instanceId` in one cluster (issue 12, item 5): the second fails at
 * start with `HADB_HA_DUPLICATE_INSTANCE` and touches nothing; a restart of the same id works.
 */
type KvNode = HaNode<KvWrite, KvRead, number, string | null>;
let dir: string;
const nodes: KvNode[] = [];
afterEach(async () => {
  for (const n of nodes.splice(0)) await n.close().catch(() => undefined);
  if (dir !== undefined) rmSync(dir, { recursive: true, force: true });
});

async function open(id: string, path: string, storage: MemStorageBackend, store: MemLeaseStore): Promise<KvNode> {
  const node = await HaNode.open({
    engine: kvEngine(storage),
    path,
    name: 'kv',
    instanceId: id,
    lease: { store, ttlMs: 1000, renewIntervalMs: 300, pollIntervalMs: 100, skewMarginMs: 200 },
    followerPullIntervalMs: 50,
    shipIntervalMs: 100,
  });
  nodes.push(node);
  return node;
}

describe('duplicate instance ids', () => {
  it('a second live node with the same instanceId fails at start, typed, and touches nothing', async () => {
    dir = mkdtempSync(join(tmpdir(), 'ha-instance-'));
    const storage = new MemStorageBackend();
    const store = await MemLeaseStore.open();
    mkdirSync(join(dir, 'a'));
    const a = await open('node-1', join(dir, 'a', 'kv.json'), storage, store);
    expect(a.role).toBe('leader');
    const other = join(dir, 'b');
    mkdirSync(other);
    const err = await open('node-1', join(other, 'kv.json'), storage, store).catch((e: unknown) => e);
    expect(isHaError(err, 'HADB_HA_DUPLICATE_INSTANCE')).toBe(true);
    expect((err as Error).message).toMatch(/node-1/);
    // Nothing of the second node exists: no database file, no lock left behind.
    expect(readdirSync(other)).toEqual([]);
    // The first node is untouched and still leads.
    expect(a.role).toBe('leader');
    expect(nodes).toHaveLength(1);
  });

  it('the same instanceId starts again once the first node has closed', async () => {
    dir = mkdtempSync(join(tmpdir(), 'ha-instance-'));
    const storage = new MemStorageBackend();
    const store = await MemLeaseStore.open();
    const a = await open('node-1', join(dir, 'kv.json'), storage, store);
    await a.close();
    const again = await open('node-1', join(dir, 'kv.json'), storage, store);
    expect(['leader', 'follower']).toContain(again.role);
  });
});
