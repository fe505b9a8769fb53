import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { StorageLeaseStore, decodeLeaseData, encodeLeaseData } from '@hadb/lease';
import { LocalStorageBackend } from '@hadb/storage-local';
import { leaseStoreSuite } from '@hadb/testkit/lease';
import { afterAll, describe, expect, it } from 'vitest';

// StorageLeaseStore over @hadb/storage-local: the lease that works across processes on one host.
const root = mkdtempSync(join(tmpdir(), 'hadb-local-lease-'));
afterAll(() => rmSync(root, { recursive: true, force: true }));

leaseStoreSuite({
  name: 'StorageLeaseStore over storage-local',
  create: async () =>
    new StorageLeaseStore(await LocalStorageBackend.open({ root: join(root, 'suite') }), {
      prefix: 'leases/',
      ownsBackend: true,
    }),
  capabilities: { etagKind: 'opaque', monotonicEtags: false, serverSideExpiry: false, stampsNonce: true },
  keyLayout: [['db1', 'leases/db1/_lease.json']],
  raceRounds: 10,
  takeovers: 25,
});

const worker = fileURLToPath(new URL('./fixtures/local-lease-worker.ts', import.meta.url));

describe('StorageLeaseStore over storage-local, across processes', () => {
  it('gives each lease to exactly one of 4 processes and keeps epochs strictly increasing', async () => {
    const dir = join(root, 'processes');
    const keys = 25;
    const attempts = 30;
    const seed = new StorageLeaseStore(await LocalStorageBackend.open({ root: dir }), {
      prefix: 'leases/',
      ownsBackend: true,
    });
    const takeoverKey = seed.keyFor('takeover');
    const seeded = await seed.writeIfNotExists(
      takeoverKey,
      encodeLeaseData({
        instanceId: 'seed',
        address: '',
        claimedAt: 0,
        ttlSecs: 0,
        sessionId: '',
        sleeping: false,
        epoch: 0,
      }),
    );
    expect(seeded.success).toBe(true);

    const children = Array.from({ length: 4 }, (_, i) =>
      spawn(
        process.execPath,
        ['--conditions=hadb-source', '--import', 'tsx', worker, dir, `p${i}`, String(keys), String(attempts)],
        {
          stdio: ['pipe', 'pipe', 'inherit'],
        },
      ),
    );
    const exited = children.map((child) => new Promise<number | null>((resolve) => child.once('exit', resolve)));
    const lines = children.map((child) => createInterface({ input: child.stdout! })[Symbol.asyncIterator]());
    for (const it of lines) expect((await it.next()).value).toBe('ready');
    for (const child of children) child.stdin!.end('go\n');
    const results = await Promise.all(
      lines.map(
        async (it) =>
          JSON.parse((await it.next()).value as string) as { id: string; created: number[]; accepted: number[] },
      ),
    );
    expect(await Promise.all(exited)).toEqual([0, 0, 0, 0]);

    const winners = results.flatMap((r) => r.created);
    expect(winners.sort((a, b) => a - b)).toEqual(Array.from({ length: keys }, (_, k) => k));
    for (let k = 0; k < keys; k++) {
      const owner = results.find((r) => r.created.includes(k))!.id;
      expect(decodeLeaseData((await seed.read(seed.keyFor(`create-${k}`)))!.data).instanceId).toBe(owner);
    }
    const epochs = results.flatMap((r) => r.accepted).sort((a, b) => a - b);
    expect(epochs.length).toBeGreaterThan(0);
    expect(epochs).toEqual(Array.from({ length: epochs.length }, (_, i) => i + 1));
    expect(decodeLeaseData((await seed.read(takeoverKey))!.data).epoch).toBe(epochs.length);
    await seed.close();
  }, 120_000);
});
