import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { isCoordinatorError } from '@hadb/core';
import { StorageLeaseStore } from '@hadb/lease';
import { MemLeaseStore } from '@hadb/lease-mem';
import { MemStorageBackend } from '@hadb/storage-mem';
import { until } from '@hadb/testkit';
import { afterEach, describe, expect, it } from 'vitest';
import { HaNode, passedNodeOptions, type EngineFactory } from '../src/index.js';
import { resolveHaNodeOptions } from '../src/options.js';
import { hangUntilAborted, kvEngine, kvEngineWith, type KvRead, type KvWrite } from './kv-engine.js';

type KvFactory = EngineFactory<KvWrite, KvRead, number, string | null>;

let dir: string | undefined;
afterEach(() => {
  if (dir !== undefined) rmSync(dir, { recursive: true, force: true });
  dir = undefined;
});

describe('replicatorTimeoutMs', () => {
  it('defaults to 30 s, is checked, and is one of the options adapters pass to their node', () => {
    const base = {
      engine: (() => ({})) as never,
      path: '/tmp/x',
      name: 'db',
      instanceId: 'n1',
      lease: { store: {} as never },
    };
    expect(resolveHaNodeOptions(base).replicatorTimeoutMs).toBe(30_000);
    expect(resolveHaNodeOptions({ ...base, replicatorTimeoutMs: 3_600_000 }).replicatorTimeoutMs).toBe(3_600_000);
    expect(passedNodeOptions({ ...base, replicatorTimeoutMs: 1234 }).replicatorTimeoutMs).toBe(1234);
    for (const bad of [0, -1, Number.NaN, '5000' as never]) {
      expect(() => resolveHaNodeOptions({ ...base, replicatorTimeoutMs: bad }), String(bad)).toThrow(
        expect.objectContaining({ code: 'HADB_HA_INVALID_CONFIG' }),
      );
    }
  });

  it("bounds the new leader's lineage start: a step past it is cut with HADB_CORE_TIMEOUT, and the node leads once it fits", async () => {
    dir = mkdtempSync(join(tmpdir(), 'ha-reptimeout-'));
    const storage = new MemStorageBackend();
    const reasons: unknown[] = [];
    let hang = true;
    // The lineage start hangs (a huge database being snapshotted) until its signal fires.
    const engine = kvEngineWith(storage, (own) => ({
      startLineage: (d, p, term, o) => (hang ? hangUntilAborted(o?.signal, reasons) : own.startLineage(d, p, term, o)),
    }));
    const open = (): Promise<HaNode<KvWrite, KvRead, number, string | null>> =>
      HaNode.open({
        engine,
        path: join(dir!, 'a.json'),
        name: 'kv',
        instanceId: 'a',
        lease: { store: leases, ttlMs: 1000, renewIntervalMs: 400, pollIntervalMs: 100, skewMarginMs: 200 },
        replicatorTimeoutMs: 300,
        listen: false,
      });
    const leases = new MemLeaseStore();
    // Core's 30 s default would still be waiting long after the test's timeout.
    const failed = await open().then(
      async (n) => {
        await n.close();
        return 'opened';
      },
      (e: unknown) => e,
    );
    expect(reasons).toHaveLength(1);
    expect(isCoordinatorError(reasons[0], 'HADB_CORE_TIMEOUT'), String(reasons[0])).toBe(true);
    expect(isCoordinatorError(failed), String(failed)).toBe(true);
    // The same node leads once the step fits in time.
    hang = false;
    const node = await open();
    try {
      expect(node.role).toBe('leader');
      await node.write({ set: 'k', value: 'v' });
    } finally {
      await node.close();
    }
  });
});

describe('closing a node while its local copy is being prepared', () => {
  it("aborts a retiring leader's prepareLocalCopy: close returns, the engine saw the signal, no error is reported", async () => {
    dir = mkdtempSync(join(tmpdir(), 'ha-prepare-abort-'));
    const storage = new MemStorageBackend();
    const leases = new MemLeaseStore();
    const calls: { signal: AbortSignal | undefined; settled: string }[] = [];
    const inner = kvEngine(storage);
    // The first call (at start) is quick; a retiring leader's waits until its signal fires, as a
    // copy of a multi-GiB file set aside from a slow disk would.
    const engine: KvFactory = (ctx) => ({
      ...inner(ctx),
      prepareLocalCopy: (o) => {
        const call = { signal: o?.signal, settled: 'running' };
        calls.push(call);
        if (calls.length === 1) return Promise.resolve();
        return new Promise<void>((_resolve, reject) => {
          const stop = (): void => {
            call.settled = 'aborted';
            reject(o?.signal?.reason);
          };
          if (o?.signal?.aborted === true) stop();
          else o?.signal?.addEventListener('abort', stop, { once: true });
        });
      },
    });
    const node = await HaNode.open({
      engine,
      path: join(dir, 'a.json'),
      name: 'kv',
      instanceId: 'a',
      lease: { store: leases, ttlMs: 1000, renewIntervalMs: 200, pollIntervalMs: 100, skewMarginMs: 200 },
      listen: false,
    });
    const errors: Error[] = [];
    node.events.on('error', (e) => errors.push(e));
    expect(node.role).toBe('leader');
    await node.write({ set: 'k', value: 'v' }, { durability: 'shipped' });
    // The lease record disappears: the next renewal fails and the leader retires.
    await leases.delete(leases.keyFor('kv'));
    await until(() => calls.length === 2, { timeoutMs: 10_000, what: 'the retiring leader preparing its copy' });
    expect(calls[1]!.signal?.aborted).toBe(false);
    // Without the signal, close would wait for the retirement forever.
    await node.close();
    expect(calls[1]!.settled).toBe('aborted');
    expect(calls.every((c) => c.signal !== undefined)).toBe(true);
    expect(errors).toEqual([]);
    expect(node.role).toBe('closed');
  }, 30_000);
});

describe("the lease store's recommended timing", () => {
  it('sizes the failover-derived defaults (retry budget, stall and pull timeouts) from it', async () => {
    const recommendedTiming = { ttlMs: 20_000, renewIntervalMs: 8000, pollIntervalMs: 6000, skewMarginMs: 4000 };
    const store = new StorageLeaseStore(await MemStorageBackend.open(), { recommendedTiming });
    const base = { engine: (() => ({})) as never, path: '/tmp/x', name: 'db', instanceId: 'n1', lease: { store } };
    const o = resolveHaNodeOptions(base);
    // A failover is TTL + margin + poll = 30 s; the retry budget covers it plus one TTL.
    expect(o.forwardRetryBudgetMs).toBe(2 * 20_000 + 4000 + 6000);
    expect(o.shipStallTimeoutMs).toBe(1000 + 2 * 20_000);
    expect(o.pullTimeoutMs).toBe(1000 + 6 * 20_000);
    // A budget that covers the 5 s defaults' failover (7 s) does not cover this store's.
    expect(() => resolveHaNodeOptions({ ...base, forwardRetryBudgetMs: 12_000 })).toThrow(/cover a failover/);
    // Explicit lease options still win.
    const fast = { store, ttlMs: 5000, renewIntervalMs: 2000, pollIntervalMs: 1000, skewMarginMs: 1000 };
    expect(resolveHaNodeOptions({ ...base, lease: fast }).forwardRetryBudgetMs).toBe(2 * 5000 + 1000 + 1000);
  });
});
