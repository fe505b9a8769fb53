import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { LeaseStore } from '@hadb/lease';
import { MemLeaseStore } from '@hadb/lease-mem';
import { systemClock } from '@hadb/io';
import { MemStorageBackend } from '@hadb/storage-mem';
import { afterEach, describe, expect, it } from 'vitest';
import { waitLeaderHead } from '../src/forwarding/notice-client.js';
import { HaNode, isHaError, type EngineFactory } from '../src/index.js';
import { kvEngineWith, type KvRead, type KvWrite } from './kv-engine.js';

type KvNode = HaNode<KvWrite, KvRead, number, string | null>;

let dir: string | undefined;
const nodes: KvNode[] = [];
afterEach(async () => {
  for (const n of nodes.splice(0)) await n.close().catch(() => undefined);
  if (dir !== undefined) rmSync(dir, { recursive: true, force: true });
});

/** `store` whose renewals (compare-and-set writes) fail once `cut.on` is set. */
function cuttable(store: LeaseStore, cut: { on: boolean }): LeaseStore {
  return new Proxy(store, {
    get(t, prop) {
      const v = Reflect.get(t, prop, t);
      if (prop === 'writeIfMatch')
        return async (...args: unknown[]) => {
          if (cut.on) throw new Error('lease store unreachable');
          return (v as (...a: unknown[]) => unknown).apply(t, args);
        };
      return typeof v === 'function' ? v.bind(t) : v;
    },
  });
}

/** `kvEngine` whose leader demotion (`replicator.remove`) waits until `release` is called. */
function slowDemotion(storage: MemStorageBackend): {
  engine: EngineFactory<KvWrite, KvRead, number, string | null>;
  release: () => void;
} {
  let release!: () => void;
  const gate = new Promise<void>((r) => {
    release = r;
  });
  return {
    release,
    engine: kvEngineWith(storage, (own) => ({
      remove: async (...args) => {
        await gate;
        return own.remove(...args);
      },
    })),
  };
}

describe('head notices from a fenced leader', () => {
  it('a leader whose term ended answers no wait_head while it is still demoting', async () => {
    dir = mkdtempSync(join(tmpdir(), 'ha-fenced-notice-'));
    const storage = new MemStorageBackend();
    const cut = { on: false };
    const { engine, release } = slowDemotion(storage);
    const secret = 'kv-secret-0123456789';
    const a: KvNode = await HaNode.open({
      engine,
      path: join(dir, 'a.json'),
      name: 'kv',
      instanceId: 'a',
      lease: {
        store: cuttable(new MemLeaseStore(), cut),
        ttlMs: 1000,
        renewIntervalMs: 300,
        pollIntervalMs: 100,
        skewMarginMs: 200,
      },
      shipIntervalMs: 50,
      secret,
    });
    nodes.push(a);
    await a.write({ set: 'x', value: '1' }, { durability: 'shipped' });
    const poll = (holdMs: number) =>
      waitLeaderHead(a.address, { after: null, holdMs, graceMs: 5000, clock: systemClock, secret });
    expect(typeof (await poll(10))).toBe('string'); // a leader answers

    cut.on = true;
    // The term ends within one TTL; the write fence says so while the demotion is held.
    const end = Date.now() + 10_000;
    for (;;) {
      const err = await a.write({ set: 'x', value: '2' }).then(
        () => undefined,
        (e: unknown) => e,
      );
      if (isHaError(err, 'HADB_HA_FENCED') || isHaError(err, 'HADB_HA_NOT_LEADER')) break;
      if (Date.now() > end) throw new Error('the leader never fenced itself');
      await new Promise((r) => setTimeout(r, 50));
    }
    const err = await poll(10).then(
      (head) => head,
      (e: unknown) => e,
    );
    expect(typeof err).not.toBe('string');
    expect(isHaError(err, 'HADB_HA_FENCED') || isHaError(err, 'HADB_HA_NOT_LEADER')).toBe(true);
    release();
  }, 30_000);
});
