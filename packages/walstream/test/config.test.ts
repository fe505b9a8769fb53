import { join } from 'node:path';
import { writeFileSync } from 'node:fs';
import { afterEach, describe, expect, it } from 'vitest';
import { Walstream, isWalstreamError } from '../src/index.js';
import { openApp, openLocal, tempDir } from './helpers.js';

describe('configuration and lifecycle errors', () => {
  const cleanups: Array<() => void | Promise<void>> = [];
  afterEach(async () => {
    for (const c of cleanups.splice(0).reverse()) await c();
  });

  it('rejects bad options at construction with HADB_WALSTREAM_INVALID_CONFIG', async () => {
    const t = tempDir('cfg');
    cleanups.push(t.cleanup);
    const storage = await openLocal(t.dir);
    const bad: Array<Record<string, unknown>> = [
      { storage: {} },
      { storage, syncIntervalMs: 0 },
      { storage, uploadConcurrency: 1.5 },
      { storage, checkpoint: { minPages: 100, truncatePages: 50 } },
      { storage, snapshot: { intervalMs: -1 } },
      { storage, maxChangesetBytes: 10 },
    ];
    for (const options of bad) {
      const err = await Walstream.open(options as never).catch((e: unknown) => e);
      expect(isWalstreamError(err, 'HADB_WALSTREAM_INVALID_CONFIG'), JSON.stringify(Object.keys(options))).toBe(true);
    }
    const ws = await Walstream.open({ storage, autoSync: false });
    cleanups.push(() => ws.close());
    const path = join(t.dir, 'ok.db');
    openApp(path).close();
    await expect(ws.add(path, { name: 'a/b' })).rejects.toMatchObject({ code: 'HADB_WALSTREAM_INVALID_CONFIG' });
    await expect(ws.add(path, { syncIntervalMs: -5 })).rejects.toMatchObject({ code: 'HADB_WALSTREAM_INVALID_CONFIG' });
  });

  it('reports missing and non-SQLite files, duplicates, and use after close', async () => {
    const t = tempDir('life');
    cleanups.push(t.cleanup);
    const storage = await openLocal(t.dir);
    const ws = await Walstream.open({ storage, autoSync: false });
    await expect(ws.add(join(t.dir, 'missing.db'))).rejects.toMatchObject({ code: 'HADB_WALSTREAM_NOT_FOUND' });
    const junk = join(t.dir, 'junk.db');
    writeFileSync(junk, 'this is not a database, just some text that is long enough '.repeat(100));
    await expect(ws.add(junk)).rejects.toMatchObject({ code: 'HADB_WALSTREAM_NOT_WAL' });
    const path = join(t.dir, 'x.db');
    openApp(path).close();
    const r = await ws.add(path);
    await expect(ws.add(path, { name: 'other' })).rejects.toMatchObject({ code: 'HADB_WALSTREAM_DUPLICATE' });
    await expect(ws.add(path)).rejects.toMatchObject({ code: 'HADB_WALSTREAM_DUPLICATE' });
    const ac = new AbortController();
    ac.abort();
    await expect(r.sync({ signal: ac.signal })).rejects.toMatchObject({ code: 'HADB_WALSTREAM_ABORTED' });
    await ws.close();
    await expect(r.sync()).rejects.toMatchObject({ code: 'HADB_WALSTREAM_CLOSED' });
    await expect(ws.add(path)).rejects.toMatchObject({ code: 'HADB_WALSTREAM_CLOSED' });
  });
});
