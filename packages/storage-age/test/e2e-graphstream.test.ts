import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { JournalFollower, JournalShipper, decodePayload, param } from '@hadb/graphstream';
import { LocalStorageBackend } from '@hadb/storage-local';
import { afterEach, expect, it } from 'vitest';
import { encryptedStorage, isStorageAgeError } from '../src/index.js';
import { contains, filesContaining, filesUnder } from './scan.js';
import { hybridPair, rejection, x25519Pair } from './helpers.js';

const dirs: string[] = [];
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

it('a graphstream journal replicated through encrypted storage restores on a fresh reader with the identity; no stored byte holds the canary', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'hadb-age-graph-'));
  dirs.push(dir);
  const bucket = join(dir, 'bucket');
  const keys = await hybridPair();
  const canary = `CANARY-${randomBytes(12).toString('hex')}`;
  const options = { recipients: [keys.recipient], identities: [keys.identity] };

  // Leader: journal 300 queries carrying the canary, in several segments, then ship everything.
  const leaderStorage = await encryptedStorage(await LocalStorageBackend.open({ root: bucket }), options);
  const leader = await JournalShipper.open({
    storage: leaderStorage,
    prefix: 'graphs/',
    db: 'social',
    dir: join(dir, 'leader'),
    segmentMaxBytes: 8 * 1024,
    uploadIntervalMs: 0,
  });
  for (let i = 0; i < 300; i++) {
    await leader.appendQuery('CREATE (:Person {name: $name, note: $note})', [
      ['name', param.string(`person-${i}`)],
      ['note', param.string(`${canary} row ${i}`)],
    ]);
  }
  await leader.sync();
  await leader.close();
  await leaderStorage.close();

  // A fresh node: its own process state, the bucket and the identity, nothing else.
  const readerStorage = await encryptedStorage(await LocalStorageBackend.open({ root: bucket }), options);
  const segments = await readerStorage.list('graphs/social/');
  expect(segments.length).toBeGreaterThan(3);
  const follower = await JournalFollower.open({
    storage: readerStorage,
    prefix: 'graphs/',
    db: 'social',
    dir: join(dir, 'follower'),
  });
  const replayed: string[] = [];
  await follower.catchUp((entry) => {
    const { params } = decodePayload(entry.payload);
    const note = params.find(([name]) => name === 'note')?.[1];
    replayed.push(note !== undefined && 'value' in note ? String(note.value) : '');
  });
  await follower.close();
  expect(replayed).toHaveLength(300);
  expect(replayed[299]).toContain(`${canary} row 299`);

  // The scan: no file in the bucket holds the canary, raw or inside a decodable journal segment…
  const files = await filesUnder(bucket);
  expect(files.length).toBeGreaterThanOrEqual(segments.length);
  expect(await filesContaining(bucket, canary)).toEqual([]);
  // …while the same scan finds it in every segment's plaintext (so the scan can fail).
  for (const key of segments) expect(contains((await readerStorage.get(key))!.data, canary), key).toBe(true);

  // Without the identity the bucket is unreadable.
  const stranger = await x25519Pair();
  const other = await encryptedStorage(await LocalStorageBackend.open({ root: bucket }), {
    recipients: [stranger.recipient],
    identities: [stranger.identity],
  });
  expect(isStorageAgeError(await rejection(other.get(segments[0]!)), 'HADB_STORAGE_AGE_WRONG_KEY')).toBe(true);
  await other.close();
  await readerStorage.close();
}, 120_000);
