import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { StorageLeaseStore } from '@hadb/lease';
import { LocalStorageBackend } from '@hadb/storage-local';
import { expect, it } from 'vitest';
import { HaDuck } from '../src/index.js';

it("the README's minimal example runs as written (temporary paths, a free port)", async () => {
  const dir = mkdtempSync(join(tmpdir(), 'haduck-readme-'));
  try {
    const storage = await LocalStorageBackend.open({ root: join(dir, 'shared') });
    const db = await HaDuck.open({
      path: join(dir, 'app.duckdb'),
      storage,
      lease: { store: new StorageLeaseStore(storage, { prefix: 'leases/' }) },
      instanceId: 'node-1',
      listen: { host: '127.0.0.1', port: 0 },
      secret: 'readme-secret',
    });
    expect(db.role).toBe('leader');
    await db.execute('CREATE TABLE IF NOT EXISTS events (id BIGINT, body VARCHAR)');
    await db.execute('INSERT INTO events VALUES ($1, $2)', [1n, 'hello'], { durability: 'shipped' });
    const { columns, rows } = await db.query('SELECT * FROM events');
    expect(columns).toEqual(['id', 'body']);
    expect(rows).toEqual([[1n, 'hello']]);
    await db.close();
    expect(db.role).toBe('closed');
    expect(db.stats().commits).toBe(2);
    await storage.close();
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}, 30_000);
