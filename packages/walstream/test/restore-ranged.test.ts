import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import type { StorageBackend } from '@hadb/storage';
import { atChunk } from '@hadb/testkit/storage';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Walstream, listRemote, restore } from '../src/index.js';
import { fileHash, openApp, openLocal, tempDir } from './helpers.js';

describe('restore: the snapshot through parallel ranged GETs', () => {
  const t = tempDir('ranged');
  let storage: StorageBackend;
  let source: string;
  let snapshotKey: string;

  beforeAll(async () => {
    storage = await openLocal(t.dir);
    source = join(t.dir, 'src.db');
    const app = openApp(source);
    app.exec('CREATE TABLE t (id INTEGER PRIMARY KEY, v BLOB)');
    const ins = app.prepare('INSERT INTO t (v) VALUES (randomblob(3000))');
    app.transaction(() => {
      for (let i = 0; i < 400; i++) ins.run();
    })();
    const ws = await Walstream.open({ storage, autoSync: false });
    const r = await ws.add(source, { name: 'db' });
    await r.sync();
    await ws.close();
    app.pragma('wal_checkpoint(TRUNCATE)');
    app.close();
    snapshotKey = (await listRemote(storage, '', 'db')).snapshots[0]!.key;
  });

  afterAll(async () => {
    await storage.close();
    t.cleanup();
  });

  const leftovers = (prefix: string) => readdirSync(t.dir).filter((n) => n.startsWith(prefix));

  for (const workerMinBytes of [undefined, 0]) {
    const where = workerMinBytes === 0 ? ' (hashed on a worker thread)' : '';
    const tag = workerMinBytes === 0 ? '-worker' : '';
    it(`restores the same pages through many small ranges (entries straddle range boundaries)${where}`, async () => {
      const output = join(t.dir, `small-ranges${tag}.db`);
      const result = await restore({
        storage,
        name: 'db',
        output,
        snapshotRangeBytes: 40_001,
        snapshotWorkerMinBytes: workerMinBytes,
        snapshotConcurrency: 3,
        integrity: 'full',
      });
      expect(result.skipped).toBe(false);
      expect(fileHash(output)).toBe(fileHash(source));
    });

    it(`a flipped byte in a downloaded range is HADB_WALSTREAM_CORRUPT and nothing is left behind${where}`, async () => {
      const good = (await storage.get(snapshotKey))!.data;
      try {
        for (const at of [30, 45, 40_010, Math.floor(good.length / 2), good.length - 3]) {
          const bad = Uint8Array.from(good);
          bad[at]! ^= 0x08;
          await storage.put(snapshotKey, bad);
          const output = join(t.dir, `flip${tag}-${at}.db`);
          const err = await restore({
            storage,
            name: 'db',
            output,
            snapshotRangeBytes: 40_001,
            snapshotWorkerMinBytes: workerMinBytes,
          }).then(
            () => undefined,
            (e: unknown) => e,
          );
          expect((err as { code?: string }).code, `byte ${at}: ${String(err)}`).toBe('HADB_WALSTREAM_CORRUPT');
          expect(leftovers(`flip${tag}-${at}`)).toEqual([]);
        }
      } finally {
        await storage.put(snapshotKey, good);
      }
    });

    it(`an abort mid-restore is HADB_WALSTREAM_ABORTED and leaves no partial file${where}`, async () => {
      const controller = new AbortController();
      const output = join(t.dir, `aborted${tag}.db`);
      const err = await restore({
        storage: atChunk(storage, 4, () => controller.abort()),
        name: 'db',
        output,
        snapshotRangeBytes: 40_001,
        snapshotWorkerMinBytes: workerMinBytes,
        signal: controller.signal,
      }).then(
        () => undefined,
        (e: unknown) => e,
      );
      expect((err as { code?: string }).code, String(err)).toBe('HADB_WALSTREAM_ABORTED');
      expect(leftovers(`aborted${tag}`)).toEqual([]);
    });
  }

  it('rejects bad snapshot download options with HADB_WALSTREAM_INVALID_CONFIG', async () => {
    for (const bad of [{ snapshotConcurrency: 0 }, { snapshotRangeBytes: 10 }, { snapshotWorkerMinBytes: -1 }]) {
      const err = await restore({ storage, name: 'db', output: join(t.dir, 'cfg.db'), ...bad }).then(
        () => undefined,
        (e: unknown) => e,
      );
      expect((err as { code?: string }).code).toBe('HADB_WALSTREAM_INVALID_CONFIG');
    }
  });
});
