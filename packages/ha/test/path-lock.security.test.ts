import { spawnSync } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { hostname, tmpdir } from 'node:os';
import { join } from 'node:path';
import { currentProcessOwner } from '@hadb/io';
import { MemLeaseStore } from '@hadb/lease-mem';
import { MemStorageBackend } from '@hadb/storage-mem';
import { afterEach, describe, expect, it } from 'vitest';
import { HaNode, isHaError } from '../src/index.js';
import { PathLock, lockPath } from '../src/path-lock.js';
import { kvEngine, type KvRead, type KvWrite } from './kv-engine.js';

/** Two nodes on one path (issue 12, item 5): the second fails at once and touches nothing. */
type KvNode = HaNode<KvWrite, KvRead, number, string | null>;
let dir: string;
const nodes: KvNode[] = [];
afterEach(async () => {
  for (const n of nodes.splice(0)) await n.close().catch(() => undefined);
  if (dir !== undefined) rmSync(dir, { recursive: true, force: true });
});

function open(id: string, path: string, storage: MemStorageBackend, store: MemLeaseStore): Promise<KvNode> {
  return HaNode.open({
    engine: kvEngine(storage),
    path,
    name: 'kv',
    instanceId: id,
    lease: { store, ttlMs: 1000, renewIntervalMs: 400, pollIntervalMs: 100, skewMarginMs: 200 },
    followerPullIntervalMs: 50,
    shipIntervalMs: 100,
  });
}

/** Names, sizes and modification times (the lock file's content only: its time is a heartbeat). */
function snapshot(d: string): string {
  return readdirSync(d)
    .sort()
    .map((f) =>
      f.endsWith('.hadb-lock')
        ? `${f}:${readFileSync(join(d, f), 'utf8')}`
        : `${f}:${statSync(join(d, f)).size}:${statSync(join(d, f)).mtimeMs}`,
    )
    .join('\n');
}

describe('path lock security', () => {
  it('refuses a second node on the same path (HADB_HA_LOCKED) without touching the first one’s files', async () => {
    dir = mkdtempSync(join(tmpdir(), 'ha-lock-'));
    const storage = new MemStorageBackend();
    const store = new MemLeaseStore();
    const path = join(dir, 'db.json');
    const a = await open('a', path, storage, store);
    nodes.push(a);
    await a.write({ set: 'k', value: 'v' }, { durability: 'shipped' });
    const before = snapshot(dir);
    const err = await open('b', path, storage, store).catch((e: unknown) => e);
    expect(isHaError(err, 'HADB_HA_LOCKED'), String(err)).toBe(true);
    expect((err as Error).message).toContain('instance a');
    expect(snapshot(dir)).toBe(before);
    expect(a.role).toBe('leader');
    expect(await a.read({ get: 'k' })).toBe('v');
    // Closing releases the path: a node opens on it again.
    await a.close();
    const again = await open('a', path, storage, store);
    nodes.push(again);
    expect(await again.read({ get: 'k' })).toBe('v');
  });

  it('takes over a lock left by a dead process on this host, never one held by a live one', async () => {
    dir = mkdtempSync(join(tmpdir(), 'ha-lock-'));
    const path = join(dir, 'db');
    const dead = spawnSync(process.execPath, ['-e', '0']).pid!;
    writeFileSync(lockPath(path), JSON.stringify({ pid: dead, host: hostname(), instanceId: 'gone' }));
    const lock = await PathLock.acquire(path, 'me');
    expect(JSON.parse(readFileSync(lockPath(path), 'utf8')).pid).toBe(process.pid);
    // Held by this (live) process: a second claim fails.
    const err = await PathLock.acquire(path, 'other').catch((e: unknown) => e);
    expect(isHaError(err, 'HADB_HA_LOCKED')).toBe(true);
    lock.release();
    (await PathLock.acquire(path, 'other')).release();
  });

  it('names a dead holder and its claim; records the incarnation of a node it holds the path for', async () => {
    dir = mkdtempSync(join(tmpdir(), 'ha-lock-'));
    const path = join(dir, 'db');
    const dead = spawnSync(process.execPath, ['-e', '0']).pid!;
    const owner = { ...currentProcessOwner(), pid: dead, nonce: 'gone' };
    writeFileSync(lockPath(path), JSON.stringify({ ...owner, instanceId: 'me', incarnation: 'inc-1' }));
    const lock = await PathLock.acquire(path, 'me');
    expect(lock.deadHolder).toEqual({ instanceId: 'me', incarnation: 'inc-1' });
    lock.recordIncarnation('inc-2');
    const record = JSON.parse(readFileSync(lockPath(path), 'utf8'));
    expect(record).toMatchObject({ pid: process.pid, instanceId: 'me', incarnation: 'inc-2' });
    expect(readdirSync(dir)).toEqual(['db.hadb-lock']);
    lock.release();
    // A holder on another host cannot be judged: never taken over.
    writeFileSync(lockPath(path), JSON.stringify({ ...owner, host: 'elsewhere', instanceId: 'x' }));
    await expect(PathLock.acquire(path, 'me')).rejects.toThrow(/in use by instance x/);
    // An open node records its claim's incarnation in the lock file.
    rmSync(lockPath(path));
    const storage = new MemStorageBackend();
    const node = await open('n', join(dir, 'kv.json'), storage, new MemLeaseStore());
    nodes.push(node);
    const held = JSON.parse(readFileSync(lockPath(join(dir, 'kv.json')), 'utf8'));
    expect(held).toMatchObject({ pid: process.pid, instanceId: 'n' });
    expect(typeof held.incarnation).toBe('string');
  });
});
