import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { MemLeaseStore } from '@hadb/lease-mem';
import { MemStorageBackend } from '@hadb/storage-mem';
import { postBytes } from '@hadb/testkit';
import { afterEach, describe, expect, it } from 'vitest';
import { DEFAULT_FORWARDING_LIMITS, HaNode, isHaError, type ForwardingLimits } from '../src/index.js';
import { kvEngine, type KvRead, type KvWrite } from './kv-engine.js';

/**
 * The forwarding server's limits are HaNode options (issue 12): checked at `open`, and what the
 * node's server enforces.
 */
type KvNode = HaNode<KvWrite, KvRead, number, string | null>;
let dir: string | undefined;
const nodes: KvNode[] = [];
afterEach(async () => {
  for (const n of nodes.splice(0)) await n.close().catch(() => undefined);
  if (dir !== undefined) rmSync(dir, { recursive: true, force: true });
  dir = undefined;
});

async function open(forwarding: ForwardingLimits | undefined): Promise<KvNode> {
  dir = mkdtempSync(join(tmpdir(), 'ha-fwd-limits-'));
  const node = await HaNode.open({
    engine: kvEngine(new MemStorageBackend()),
    path: join(dir, 'kv.json'),
    name: 'kv',
    instanceId: 'a',
    lease: { store: new MemLeaseStore(), ttlMs: 1000, renewIntervalMs: 400, pollIntervalMs: 100, skewMarginMs: 200 },
    forwarding,
  });
  nodes.push(node);
  return node;
}

describe('forwarding limits in HaNode options', () => {
  it('the node’s server enforces a configured body limit (the default would take the body)', async () => {
    const node = await open({ maxBodyBytes: 1024 });
    expect(DEFAULT_FORWARDING_LIMITS.maxBodyBytes).toBeGreaterThan(4096);
    expect(await postBytes(node.address, '/kv/v1/set', 4096)).toBe(413);
  });

  for (const [name, forwarding] of [
    ['a zero body limit', { maxBodyBytes: 0 }],
    ['a fractional connection limit', { maxConnections: 1.5 }],
    ['a negative concurrency limit', { maxConcurrentRequests: -1 }],
    ['a request timeout below the header timeout', { headersTimeoutMs: 5000, requestTimeoutMs: 1000 }],
  ] as const) {
    it(`refuses ${name} at open with HADB_HA_INVALID_CONFIG`, async () => {
      const err = await open(forwarding).catch((e: unknown) => e);
      expect(isHaError(err, 'HADB_HA_INVALID_CONFIG')).toBe(true);
      expect((err as Error).message).toMatch(/forwarding\./);
    });
  }
});
