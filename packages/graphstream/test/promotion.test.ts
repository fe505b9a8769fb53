import { rm } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { JournalFollower, JournalShipper, JournalWriter, recoverJournal, segmentFileName } from '../src/index.js';
import { DB, memStorage, PREFIX, readAll, testShipper, writeSegments } from './helpers/journal.js';
import { q, tempDir, text } from './helpers/tmp.js';

describe('promotion and local cleanup', () => {
  it('a promoted follower continues the same journal from its downloaded position', async () => {
    const storage = memStorage();
    const leader = await testShipper(storage);
    for (let i = 1; i <= 6; i++) await leader.append(q(i));
    await leader.close();

    const followerDir = await tempDir();
    const follower = await JournalFollower.open({ storage, prefix: PREFIX, db: DB, dir: followerDir });
    await follower.catchUp(() => undefined);
    await follower.close();

    // Promotion: the follower's directory becomes the new leader's journal.
    const promoted = await JournalShipper.open({
      storage,
      prefix: PREFIX,
      db: DB,
      dir: followerDir,
      fsyncMs: 1,
      uploadIntervalMs: 0,
    });
    expect(promoted.writer.position.seq).toBe(6n);
    for (let i = 7; i <= 9; i++) await promoted.append(q(i));
    await promoted.close();

    const fresh = await JournalFollower.open({ storage, prefix: PREFIX, db: DB, dir: await tempDir() });
    const seen: string[] = [];
    await fresh.catchUp((e) => void seen.push(text(e.payload)));
    expect(seen).toEqual(Array.from({ length: 9 }, (_, i) => `query_${i + 1}`));
  });

  it('a live segment keeps its chain anchor after older segments were cleaned up', async () => {
    const dir = await tempDir();
    await writeSegments(dir, 1, 6, 3);
    const w = await JournalWriter.open({ dir, fsyncMs: 0 });
    await w.append(q(7));
    await rm(join(dir, segmentFileName(1n)));
    await rm(join(dir, segmentFileName(4n)));
    const r = await recoverJournal(dir);
    expect(r.method).toBe('live-scan');
    expect(r.position.seq).toBe(7n);
    // recovery.json (written at each seal) anchors the live segment: a wrong hash is corruption,
    // never a reason to drop the live entries.
    const { readFile, writeFile } = await import('node:fs/promises');
    const saved = await readFile(join(dir, 'recovery.json'), 'utf8');
    await writeFile(
      join(dir, 'recovery.json'),
      saved.replace(/"chain_hash":"[0-9a-f]{64}"/, `"chain_hash":"${'ab'.repeat(32)}"`),
    );
    await expect(recoverJournal(dir)).rejects.toMatchObject({ code: 'HADB_GRAPHSTREAM_CORRUPT' });
    await writeFile(join(dir, 'recovery.json'), saved);
    await w.close();
    expect((await readAll(dir, 7n)).map((e) => text(e.payload))).toEqual(['query_7']);
  });
});
