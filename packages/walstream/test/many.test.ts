import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { Walstream, restore } from '../src/index.js';
import { committedHash, fileHash, openApp, openLocal, prng, randomTxn, tempDir, type Db } from './helpers.js';

describe('many databases in one process', () => {
  const cleanups: Array<() => void | Promise<void>> = [];
  afterEach(async () => {
    for (const c of cleanups.splice(0).reverse()) await c();
  });

  it('replicates 50 databases at once with bounded upload concurrency', async () => {
    const t = tempDir('many');
    cleanups.push(t.cleanup);
    const storage = await openLocal(t.dir);
    let inFlight = 0;
    let maxInFlight = 0;
    const counting = new Proxy(storage, {
      get(target, prop, receiver) {
        const v = Reflect.get(target, prop, receiver) as unknown;
        if ((prop === 'putIfAbsent' || prop === 'putStream') && typeof v === 'function') {
          return async (...a: unknown[]) => {
            inFlight++;
            maxInFlight = Math.max(maxInFlight, inFlight);
            try {
              return await (v as (...x: unknown[]) => Promise<unknown>).apply(target, a);
            } finally {
              inFlight--;
            }
          };
        }
        return typeof v === 'function' ? (v as (...x: unknown[]) => unknown).bind(target) : v;
      },
    });
    const ws = await Walstream.open({ storage: counting, syncIntervalMs: 25, uploadConcurrency: 3 });
    cleanups.push(() => ws.close());
    const apps: Db[] = [];
    for (let i = 0; i < 50; i++) {
      const path = join(t.dir, `db${i}.db`);
      const app = openApp(path);
      apps.push(app);
      cleanups.push(() => void app.close());
      app.exec('CREATE TABLE t (id INTEGER PRIMARY KEY, k INTEGER, v BLOB)');
      await ws.add(path, { name: `db${i}` });
    }
    const rnd = prng(50);
    for (let round = 0; round < 4; round++) {
      for (const app of apps) randomTxn(app, rnd, 5);
      await new Promise((r) => setTimeout(r, 30));
    }
    await ws.syncAll();
    expect(maxInFlight).toBeLessThanOrEqual(3);
    expect(maxInFlight).toBeGreaterThan(1);
    for (const i of [0, 17, 49]) {
      const out = join(t.dir, `out${i}.db`);
      await restore({ storage, name: `db${i}`, output: out });
      expect(fileHash(out)).toBe(await committedHash(apps[i]!, join(t.dir, 's.db')));
    }
  });
});
