import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { LocalStorageBackend } from '@hadb/storage-local';
import { Walstream, restore } from '@hadb/walstream';
import Database from 'better-sqlite3';
import { afterEach, expect, it } from 'vitest';
import { encryptedStorage, isStorageAgeError } from '../src/index.js';
import { rejection, x25519Pair } from './helpers.js';
import { contains, filesContaining, filesUnder } from './scan.js';

const dirs: string[] = [];
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

it('a walstream SQLite replica on encrypted storage restores on a fresh node with the identity; no stored byte holds the canary', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'hadb-age-wal-'));
  dirs.push(dir);
  const bucket = join(dir, 'bucket');
  const keys = await x25519Pair();
  const canary = `CANARY-${randomBytes(12).toString('hex')}`;
  const options = { recipients: [keys.recipient], identities: [keys.identity] };

  // The application writes its SQLite file; walstream ships snapshot + incrementals through the wrapper.
  const appPath = join(dir, 'app.db');
  const app = new Database(appPath);
  app.pragma('journal_mode = WAL');
  app.exec('CREATE TABLE notes (id INTEGER PRIMARY KEY, body TEXT)');
  const storage = await encryptedStorage(await LocalStorageBackend.open({ root: bucket }), options);
  const ws = await Walstream.open({ storage, prefix: 'sqlite/', autoSync: false });
  const db = await ws.add(appPath, { name: 'app' });
  const insert = app.prepare('INSERT INTO notes (body) VALUES (?)');
  for (let round = 0; round < 3; round++) {
    app.transaction(() => {
      for (let i = 0; i < 50; i++) insert.run(`${canary} round ${round} row ${i}`);
    })();
    await db.sync();
  }
  await ws.close();
  app.close();
  await storage.close();

  // A fresh node: the bucket and the identity, nothing else.
  const fresh = await encryptedStorage(await LocalStorageBackend.open({ root: bucket }), options);
  const keysStored = await fresh.list('sqlite/');
  expect(keysStored.length).toBeGreaterThanOrEqual(2);
  const output = join(dir, 'restored.db');
  await restore({ storage: fresh, prefix: 'sqlite/', name: 'app', output });
  const copy = new Database(output, { readonly: true });
  const rows = copy.prepare('SELECT count(*) AS n, max(body) AS last FROM notes').get() as { n: number; last: string };
  copy.close();
  expect(rows.n).toBe(150);
  expect(rows.last).toContain(canary);

  // The scan: no stored file holds the canary…
  expect((await filesUnder(bucket)).length).toBeGreaterThanOrEqual(keysStored.length);
  expect(await filesContaining(bucket, canary)).toEqual([]);
  // …while the decrypted objects do (so the scan can fail).
  let plaintextHits = 0;
  for (const key of keysStored) if (contains((await fresh.get(key))!.data, canary)) plaintextHits++;
  expect(plaintextHits).toBeGreaterThan(0);

  // Without the identity the replica cannot be restored.
  const stranger = await x25519Pair();
  const other = await encryptedStorage(await LocalStorageBackend.open({ root: bucket }), {
    recipients: [stranger.recipient],
    identities: [stranger.identity],
  });
  const err = await rejection(restore({ storage: other, prefix: 'sqlite/', name: 'app', output: join(dir, 'x.db') }));
  expect(isStorageAgeError(err, 'HADB_STORAGE_AGE_WRONG_KEY')).toBe(true);
  await other.close();
  await fresh.close();
}, 120_000);
