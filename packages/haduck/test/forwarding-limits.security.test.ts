import { mkdtempSync, rmSync } from 'node:fs';
import { request } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { StorageLeaseStore } from '@hadb/lease';
import { LocalStorageBackend } from '@hadb/storage-local';
import { afterEach, describe, expect, it } from 'vitest';
import type { ForwardingLimits } from '@hadb/ha';
import { HaDuck, isHaDuckError } from '../src/index.js';

/**
 * The forwarding server's limits are HaDuck options (issue 12): passed to the node's server and
 * checked at `open` with a typed error.
 */
let dir: string | undefined;
let storage: LocalStorageBackend | undefined;
const open: HaDuck[] = [];
afterEach(async () => {
  for (const db of open.splice(0)) await db.close().catch(() => undefined);
  await storage?.close();
  storage = undefined;
  if (dir !== undefined) rmSync(dir, { recursive: true, force: true });
  dir = undefined;
});

async function node(forwarding: ForwardingLimits): Promise<HaDuck> {
  dir = mkdtempSync(join(tmpdir(), 'haduck-fwd-limits-'));
  storage = await LocalStorageBackend.open({ root: join(dir, 'storage') });
  const db = await HaDuck.open({
    path: join(dir, 'a.duckdb'),
    name: 'app',
    storage,
    lease: {
      store: new StorageLeaseStore(storage, { prefix: 'leases/' }),
      ttlMs: 1000,
      renewIntervalMs: 400,
      pollIntervalMs: 200,
      skewMarginMs: 200,
    },
    instanceId: 'a',
    checkpointIntervalMs: 100,
    forwarding,
  });
  open.push(db);
  return db;
}

function post(address: string, size: number): Promise<number> {
  const url = new URL(`${address}/haduck/v1/execute`);
  return new Promise((resolve, reject) => {
    const req = request({
      host: url.hostname,
      port: url.port,
      method: 'POST',
      path: url.pathname,
      headers: { 'content-type': 'application/json', 'content-length': String(size) },
    });
    req.on('response', (res) => {
      res.resume();
      resolve(res.statusCode ?? 0);
    });
    req.on('error', reject);
    req.end(Buffer.alloc(size, 0x20));
  });
}

describe('haduck forwarding limits', () => {
  it('a configured body limit reaches the forwarding server', async () => {
    const db = await node({ maxBodyBytes: 1024 });
    expect(await post(db.address, 4096)).toBe(413);
  });

  it('a bad limit is refused at open with HADB_HADUCK_INVALID_CONFIG', async () => {
    const err = await node({ maxConnections: 0 }).catch((e: unknown) => e);
    expect(isHaDuckError(err, 'HADB_HADUCK_INVALID_CONFIG')).toBe(true);
    expect((err as Error).message).toMatch(/forwarding\.maxConnections/);
  });
});
