import { randomUUID } from 'node:crypto';
import { mkdirSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { InstanceClaim, instanceClaimScope, resolveLeaseTiming } from '@hadb/core';
import { silentLogger, systemClock } from '@hadb/io';
import { decodeLeaseData } from '@hadb/lease';
import { MemLeaseStore } from '@hadb/lease-mem';
import { MemStorageBackend } from '@hadb/storage-mem';
import { afterEach, describe, expect, it } from 'vitest';
import { HaNode, isHaError, type EngineFactory } from '../src/index.js';
import { hangUntilAborted, kvEngine, kvEngineWith, type KvRead, type KvWrite } from './kv-engine.js';

/** `HaNode.open` with a signal: cut while it waits, it releases what it took and rejects typed. */
type KvNode = HaNode<KvWrite, KvRead, number, string | null>;
type KvFactory = EngineFactory<KvWrite, KvRead, number, string | null>;

const timing = { ttlMs: 1000, renewIntervalMs: 300, pollIntervalMs: 100, skewMarginMs: 200 };
let dir: string | undefined;
const nodes: KvNode[] = [];
const cleanups: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const n of nodes.splice(0)) await n.close().catch(() => undefined);
  for (const c of cleanups.splice(0)) await c();
  if (dir !== undefined) rmSync(dir, { recursive: true, force: true });
  dir = undefined;
});

function open(
  store: MemLeaseStore,
  engine: KvFactory,
  path: string,
  instanceId: string,
  signal?: AbortSignal,
): Promise<KvNode> {
  return HaNode.open({
    engine,
    path,
    name: 'kv',
    instanceId,
    lease: { store, ...timing },
    followerPullIntervalMs: 50,
    shipIntervalMs: 100,
    signal,
  }).then((node) => {
    nodes.push(node);
    return node;
  });
}

/** The decoded record of `instanceId`'s claim in `store`, or null. */
async function claimRecord(
  store: MemLeaseStore,
  instanceId: string,
): Promise<ReturnType<typeof decodeLeaseData> | null> {
  const record = await store.read(store.keyFor(instanceClaimScope('kv', instanceId)));
  return record === null ? null : decodeLeaseData(record.data);
}

describe('cancelling HaNode.open', () => {
  it('cuts the wait for the instance claim: HADB_HA_ABORTED at once, the path lock released, nothing touched', async () => {
    dir = mkdtempSync(join(tmpdir(), 'ha-open-abort-'));
    const storage = new MemStorageBackend();
    const store = await MemLeaseStore.open();
    // Another live process holds node-1's claim; it answers challenges only once a minute, so the
    // open waits for its answer (or for the answer wait, several seconds, to pass).
    const holder = new InstanceClaim({
      store,
      db: 'kv',
      instanceId: 'node-1',
      timing: resolveLeaseTiming({ store, ...timing }),
      clock: systemClock,
      newId: randomUUID,
      logger: silentLogger,
      checkIntervalMs: 60_000,
    });
    await holder.acquire(new AbortController().signal);
    cleanups.push(() => holder.release());
    const path = join(dir, 'b', 'kv.json');
    mkdirSync(join(dir, 'b'));
    const controller = new AbortController();
    const started = Date.now();
    setTimeout(() => controller.abort(), 300);
    const err = await open(store, kvEngine(storage), path, 'node-1', controller.signal).catch((e: unknown) => e);
    const elapsed = Date.now() - started;
    expect(isHaError(err, 'HADB_HA_ABORTED'), String(err)).toBe(true);
    expect(elapsed).toBeGreaterThanOrEqual(250);
    expect(elapsed).toBeLessThan(2000);
    // The open was waiting on the claim: its challenge is the record now, for the holder to answer.
    expect((await claimRecord(store, 'node-1'))?.sessionId).not.toBe(holder.incarnation);
    // Nothing of the cancelled node is left: no lock file, no database file.
    expect(readdirSync(join(dir, 'b'))).toEqual([]);
    // The path is free at once: another node opens on it and leads.
    const next = await open(store, kvEngine(storage), path, 'node-2');
    expect(next.role).toBe('leader');
  });

  it('cuts the join (the restore from storage): HADB_HA_ABORTED at once, the claim and lease given back, the same node opens again at once', async () => {
    dir = mkdtempSync(join(tmpdir(), 'ha-open-abort-'));
    const storage = new MemStorageBackend();
    const store = await MemLeaseStore.open();
    const reasons: unknown[] = [];
    let hang = true;
    let pulling: () => void = () => undefined;
    const pullStarted = new Promise<void>((resolve) => (pulling = resolve));
    // The new leader's restore hangs (a large database being downloaded) until its signal fires.
    const engine = kvEngineWith(storage, (own) => ({
      pull: (d, p, o) => {
        if (!hang) return own.pull(d, p, o);
        pulling();
        return hangUntilAborted(o?.signal, reasons);
      },
    }));
    const path = join(dir, 'kv.json');
    const controller = new AbortController();
    const opening = HaNode.open({
      engine,
      path,
      name: 'kv',
      instanceId: 'node-1',
      lease: { store, ...timing },
      // Far beyond the test's patience: only the signal can cut the restore in time.
      replicatorTimeoutMs: 60_000,
      signal: controller.signal,
    }).then(
      (node) => node.close().then(() => 'opened'),
      (e: unknown) => e,
    );
    await pullStarted;
    const aborted = Date.now();
    controller.abort();
    const err = await opening;
    expect(Date.now() - aborted).toBeLessThan(2000);
    expect(isHaError(err, 'HADB_HA_ABORTED'), String(err)).toBe(true);
    expect(reasons).toHaveLength(1);
    // The instance claim and the database lease were released, not left to expire.
    expect((await claimRecord(store, 'node-1'))?.ttlSecs).toBe(0);
    const lease = await store.read(store.keyFor('kv'));
    expect(lease === null || decodeLeaseData(lease.data).ttlSecs === 0).toBe(true);
    // The same node starts again on the same path at once.
    hang = false;
    const started = Date.now();
    const again = await open(store, engine, path, 'node-1');
    expect(Date.now() - started).toBeLessThan(2000);
    expect(again.role).toBe('leader');
    await again.write({ set: 'k', value: 'v' });
  });

  it('rejects an already aborted signal before touching anything', async () => {
    dir = mkdtempSync(join(tmpdir(), 'ha-open-abort-'));
    const store = await MemLeaseStore.open();
    let engines = 0;
    const inner = kvEngine(new MemStorageBackend());
    const engine: KvFactory = (ctx) => {
      engines++;
      return inner(ctx);
    };
    const controller = new AbortController();
    controller.abort();
    const err = await open(store, engine, join(dir, 'kv.json'), 'node-1', controller.signal).catch((e: unknown) => e);
    expect(isHaError(err, 'HADB_HA_ABORTED'), String(err)).toBe(true);
    expect(engines).toBe(0);
    expect(readdirSync(dir)).toEqual([]);
    expect(await claimRecord(store, 'node-1')).toBeNull();
  });
});
