// A small haduck cluster on encrypted storage. Kept to one test in its own file: haduck's options
// are being reshaped elsewhere, and this only needs "leader ships, follower restores".
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { HaDuck } from '@hadb/haduck';
import { StorageLeaseStore } from '@hadb/lease';
import { LocalStorageBackend } from '@hadb/storage-local';
import { expect, it } from 'vitest';
import { encryptedStorage } from '../src/index.js';
import { contains, filesContaining, filesUnder } from './scan.js';
import { x25519Pair } from './helpers.js';

it('a haduck leader and a fresh follower on encrypted storage: the follower restores with the identity; no stored byte holds the canary', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'hadb-age-haduck-'));
  const bucket = join(dir, 'bucket');
  const keys = await x25519Pair();
  const canary = `CANARY-${randomBytes(12).toString('hex')}`;
  const inner = await LocalStorageBackend.open({ root: bucket });
  const storage = await encryptedStorage(inner, { recipients: [keys.recipient], identities: [keys.identity] });
  // The lease stays in plaintext, as it does in a NATS, etcd or S3 lease store: holder id,
  // address, epoch and expiry, read by every node on every poll.
  const lease = new StorageLeaseStore(inner, { prefix: 'leases/' });
  const nodes: HaDuck[] = [];
  const open = async (id: string) => {
    const db = await HaDuck.open({
      path: join(dir, `${id}.duckdb`),
      name: 'app',
      storage,
      lease: { store: lease, ttlMs: 1000, renewIntervalMs: 400, pollIntervalMs: 200, skewMarginMs: 200 },
      instanceId: id,
      checkpointIntervalMs: 100,
      followerPullIntervalMs: 50,
      // No lightweight compression, so the plaintext control below sees the canary verbatim.
      duckdbConfig: { force_compression: 'uncompressed' },
    });
    nodes.push(db);
    return db;
  };
  try {
    const leader = await open('leader');
    expect(leader.role).toBe('leader');
    await leader.execute('CREATE TABLE notes (id BIGINT, body VARCHAR)');
    for (let i = 0; i < 20; i++) {
      await leader.execute('INSERT INTO notes VALUES ($1, $2)', [BigInt(i), `${canary} note ${i}`], {
        durability: 'shipped',
      });
    }
    const follower = await open('follower');
    expect(follower.role).toBe('follower');
    await follower.sync();
    const { rows } = await follower.query('SELECT count(*), max(body) FROM notes WHERE body LIKE $1', [`${canary}%`]);
    expect(rows).toEqual([[20n, `${canary} note 9`]]);
    for (const db of nodes.splice(0)) await db.close();

    const keysStored = (await inner.list('')).filter((k) => !k.startsWith('leases/'));
    expect(keysStored.length).toBeGreaterThan(0);
    for (const key of keysStored) {
      expect(Buffer.from((await inner.get(key))!.data.subarray(0, 22)).toString(), key).toBe('age-encryption.org/v1\n');
    }
    expect(await filesContaining(bucket, canary)).toEqual([]);
    // The control: the same scan over the plaintext finds the canary (so the scan can fail).
    let found = 0;
    for (const key of keysStored) if (contains((await storage.get(key))!.data, canary)) found++;
    expect(found).toBeGreaterThan(0);
    // The lease object is the one plaintext object, and holds no data.
    const leaseFiles = (await filesUnder(bucket)).filter((f) => f.includes(`${join(bucket, 'leases')}`));
    for (const f of leaseFiles) expect((await readFile(f, 'utf8')).includes(canary)).toBe(false);
  } finally {
    for (const db of nodes) await db.close().catch(() => undefined);
    await lease.close();
    await storage.close();
    rmSync(dir, { recursive: true, force: true });
  }
}, 120_000);
