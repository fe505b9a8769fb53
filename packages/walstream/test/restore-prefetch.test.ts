import { join } from 'node:path';
import type { StorageBackend } from '@hadb/storage';
import { holdReads, withFaults } from '@hadb/testkit/storage';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Walstream, listRemote, restore } from '../src/index.js';
import { openApp, openLocal, tempDir } from './helpers.js';

describe('restore: incremental downloads in flight when it returns', () => {
  const t = tempDir('prefetch');
  let storage: StorageBackend;
  let keys: string[];
  let snapSeq: bigint;

  beforeAll(async () => {
    storage = await openLocal(t.dir);
    const source = join(t.dir, 'src.db');
    const app = openApp(source);
    app.exec('CREATE TABLE t (id INTEGER PRIMARY KEY, v TEXT)');
    const ws = await Walstream.open({ storage, autoSync: false });
    const r = await ws.add(source, { name: 'db' });
    await r.sync();
    for (let i = 0; i < 10; i++) {
      app.prepare('INSERT INTO t (v) VALUES (?)').run(`row ${i}`);
      await new Promise((resolve) => setTimeout(resolve, 5));
      await r.sync();
    }
    await ws.close();
    app.close();
    const remote = await listRemote(storage, '', 'db');
    snapSeq = remote.snapshots.at(-1)!.seq;
    keys = remote.incrementals.filter((e) => e.seq > snapSeq).map((e) => e.key);
  });

  afterAll(async () => {
    await storage.close();
    t.cleanup();
  });

  it('are cancelled when a time target stops the restore early', async () => {
    expect(keys.length).toBe(10);
    // The time of the third incremental: the restore applies three, reads the fourth and stops,
    // while the later ones (prefetched) are still downloading.
    const third = await restore({ storage, name: 'db', output: join(t.dir, 'third.db'), seq: snapSeq + 3n });
    if (third.skipped) throw new Error('unexpected skip');
    const later = new Set(keys.slice(4));
    const held = holdReads(storage, (op, key) => op === 'get' && later.has(key));
    const r = await restore({
      storage: held.storage,
      name: 'db',
      output: join(t.dir, 'at-time.db'),
      time: third.createdMs,
    });
    expect(r.skipped === false && r.incrementals).toBe(3);
    expect(held.signals.length).toBeGreaterThan(0);
    for (const s of held.signals) expect(s?.aborted).toBe(true);
  });

  it('are cancelled when the restore fails', async () => {
    // The fifth incremental's download fails; the ones after it are held.
    const later = new Set(keys.slice(5));
    const held = holdReads(storage, (op, key) => op === 'get' && later.has(key));
    const failing = withFaults(held.storage, {
      seed: 1,
      errorRate: 1,
      operations: ['get'],
      keys: (k) => k === keys[4],
    });
    await expect(restore({ storage: failing, name: 'db', output: join(t.dir, 'failed.db') })).rejects.toMatchObject({
      code: 'HADB_STORAGE_UNAVAILABLE',
    });
    expect(held.signals.length).toBeGreaterThan(0);
    for (const s of held.signals) expect(s?.aborted).toBe(true);
  });
});
