import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Logger } from '@hadb/io';
import { MemLeaseStore } from '@hadb/lease-mem';
import { MemStorageBackend } from '@hadb/storage-mem';
import { afterEach, describe, expect, it } from 'vitest';
import { HaNode, isHaError } from '../src/index.js';
import { kvEngine, type KvRead, type KvWrite } from './kv-engine.js';

type KvNode = HaNode<KvWrite, KvRead, number, string | null>;

let dir: string | undefined;
const nodes: KvNode[] = [];
afterEach(async () => {
  for (const n of nodes.splice(0)) await n.close().catch(() => undefined);
  if (dir !== undefined) rmSync(dir, { recursive: true, force: true });
});

/** Storage whose uploads hang (until aborted) while `cut.on` is set: a leader cut off from storage. */
function cuttableStorage(inner: MemStorageBackend): { storage: MemStorageBackend; cut: { on: boolean } } {
  const cut = { on: false };
  const storage = new Proxy(inner, {
    get(target, prop) {
      if (prop === 'putIfAbsent' && cut.on) {
        return (_key: string, _data: Uint8Array, o?: { signal?: AbortSignal }) =>
          new Promise((_resolve, reject) => o?.signal?.addEventListener('abort', () => reject(o.signal?.reason)));
      }
      const v = Reflect.get(target, prop, target) as unknown;
      return typeof v === 'function' ? (v as (...a: unknown[]) => unknown).bind(target) : v;
    },
  });
  return { storage, cut };
}

function recordingLogger(lines: { level: string; msg: string | undefined }[]): Logger {
  const at =
    (level: string) =>
    (_obj: unknown, msg?: string): void =>
      void lines.push({ level, msg });
  return { debug: at('debug'), info: at('info'), warn: at('warn'), error: at('error') };
}

describe('a leader that cannot ship', () => {
  it('says so loudly and hands its lease to a caught-up follower; shipped writes fail retryably, then succeed on the new leader', async () => {
    dir = mkdtempSync(join(tmpdir(), 'ha-handoff-'));
    const shared = new MemStorageBackend();
    const leases = new MemLeaseStore();
    const lease = { store: leases, ttlMs: 1000, renewIntervalMs: 400, pollIntervalMs: 100, skewMarginMs: 200 };
    const { storage, cut } = cuttableStorage(shared);
    const logs: { level: string; msg: string | undefined }[] = [];
    const a: KvNode = await HaNode.open({
      engine: kvEngine(storage),
      path: join(dir, 'a.json'),
      name: 'kv',
      instanceId: 'a',
      lease,
      shipIntervalMs: 50,
      shipStallTimeoutMs: 600,
      secret: 'handoff-secret',
      logger: recordingLogger(logs),
      admin: { port: 0 },
    });
    nodes.push(a);
    const errors: Error[] = [];
    a.events.on('error', (e) => errors.push(e));
    const b: KvNode = await HaNode.open({
      engine: kvEngine(shared),
      path: join(dir, 'b.json'),
      name: 'kv',
      instanceId: 'b',
      lease,
      shipIntervalMs: 50,
      secret: 'handoff-secret',
    });
    nodes.push(b);
    expect(a.role).toBe('leader');
    await a.write({ set: 'before', value: '1' }, { durability: 'shipped' });
    await b.sync();

    cut.on = true;
    const cutAt = performance.now();
    // Waits for a ship that cannot happen: fails with a retryable error instead of hanging.
    const stuck = await a.write({ set: 'lost', value: '1' }, { durability: 'shipped' }).catch((e: unknown) => e);
    expect(isHaError(stuck, 'HADB_HA_SHIP_FAILED')).toBe(true);
    expect((stuck as { retryable: boolean }).retryable).toBe(true);
    await b.waitForRole('leader');
    const promotedMs = performance.now() - cutAt;
    await a.waitForRole('follower');

    expect(errors.some((e) => isHaError(e, 'HADB_HA_SHIP_STALLED'))).toBe(true);
    expect(logs.some((l) => l.level === 'error' && /cannot ship/.test(l.msg ?? ''))).toBe(true);
    const stats = a.stats();
    expect(stats.role).toBe('follower');
    expect(stats.shipStalls).toBe(1);
    expect(stats.shipFailures).toBeGreaterThan(0);
    expect(stats.lastShipError).toMatch(/no ship succeeded for \d+ ms/);
    const metrics = await (await fetch(`${a.adminUrl!}metrics`)).text();
    expect(metrics).toMatch(/^hadb_errors_total\{[^}]*code="HADB_HA_SHIP_STALLED"[^}]*\} 1$/m);

    // The cluster keeps acknowledging durable writes, also those sent to the old leader.
    cut.on = false;
    await b.write({ set: 'after', value: '2' }, { durability: 'shipped' });
    await a.write({ set: 'forwarded', value: '3' }, { durability: 'shipped' });
    await a.sync();
    expect(await a.read({ get: 'after' })).toBe('2');
    expect(await a.read({ get: 'forwarded' })).toBe('3');
    expect(await a.read({ get: 'before' })).toBe('1');
    // The unacknowledged write of the stalled term was set aside, never shipped.
    expect(await b.read({ get: 'lost' })).toBeNull();
    process.stderr.write(
      `[handoff] in-process kv: follower promoted ${Math.round(promotedMs)} ms after the cut (stall 600 ms, TTL 1000 ms)\n`,
    );
  }, 30_000);
});
