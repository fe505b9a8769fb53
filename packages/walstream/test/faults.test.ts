import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { encodePhysical, newPhysical } from '@hadb/changeset';
import { withFaults } from '@hadb/testkit/storage';
import { Walstream, restore, type WalstreamEvent } from '../src/index.js';
import { cliIntegrity, committedHash, fileHash, openApp, openLocal, prng, randomTxn, tempDir } from './helpers.js';

describe('storage faults (testkit withFaults)', () => {
  const cleanups: Array<() => void | Promise<void>> = [];
  afterEach(async () => {
    for (const c of cleanups.splice(0).reverse()) await c();
  });

  it('errors and lost replies during uploads: retried, nothing lost, nothing duplicated, restore equals the source', async () => {
    const t = tempDir('faults');
    cleanups.push(t.cleanup);
    const inner = await openLocal(t.dir);
    const storage = withFaults(inner, {
      seed: 42,
      errorRate: 0.25,
      lostReplies: 0.25,
      operations: ['putIfAbsent', 'putStream', 'list', 'get'],
    });
    const path = join(t.dir, 'f.db');
    const app = openApp(path);
    cleanups.push(() => void app.close());
    app.exec('CREATE TABLE t (id INTEGER PRIMARY KEY, k INTEGER, v BLOB)');
    const events: WalstreamEvent[] = [];
    const ws = await Walstream.open({ storage, syncIntervalMs: 5, onEvent: (e) => events.push(e) });
    cleanups.push(() => ws.close({ final: false }));
    let r;
    for (;;) {
      try {
        r = await ws.add(path, { name: 'f' });
        break;
      } catch {
        // open fails when its listing or snapshot hits a fault; try again
      }
    }
    const rnd = prng(4);
    const hashes = new Map<bigint, string>();
    for (let i = 0; i < 40; i++) {
      randomTxn(app, rnd);
      for (;;) {
        try {
          const res = await r.sync();
          hashes.set(res.seq, await committedHash(app, join(t.dir, 's.db')));
          break;
        } catch {
          // the engine keeps what it captured and uploads the same bytes again
        }
      }
    }
    const counts = storage.faultCounts();
    expect(counts.errors).toBeGreaterThanOrEqual(3);
    expect(counts.lostReplies).toBeGreaterThanOrEqual(3);
    storage.setFaults({ errorRate: 0, lostReplies: 0 });
    const last = await r.sync();
    hashes.set(last.seq, await committedHash(app, join(t.dir, 's.db')));
    let checked = 0;
    for (const [seq, hash] of hashes) {
      const out = join(t.dir, `o${seq}.db`);
      await restore({ storage: inner, name: 'f', output: out, seq });
      expect(fileHash(out), `seq ${seq}`).toBe(hash);
      checked++;
    }
    expect(checked).toBeGreaterThan(10);
    expect(cliIntegrity(join(t.dir, `o${last.seq}.db`))).toBe('ok');
  });

  it('a corrupted or failing download is detected and never installed', async () => {
    const t = tempDir('torn');
    cleanups.push(t.cleanup);
    const inner = await openLocal(t.dir);
    const path = join(t.dir, 'g.db');
    const app = openApp(path);
    cleanups.push(() => void app.close());
    app.exec('CREATE TABLE t (id INTEGER PRIMARY KEY, k INTEGER, v BLOB)');
    const ws = await Walstream.open({ storage: inner, autoSync: false });
    cleanups.push(() => ws.close());
    const r = await ws.add(path, { name: 'g' });
    randomTxn(app, prng(1), 30);
    await r.sync();
    const key = 'g/0000/0000000000000002.hadbp';
    const obj = await inner.get(key);
    const bad = Buffer.from(obj!.data);
    bad[bad.length - 100] = (bad[bad.length - 100] ?? 0) ^ 0xff;
    await inner.put(key, bad);
    const out = join(t.dir, 'bad.db');
    await expect(restore({ storage: inner, name: 'g', output: out })).rejects.toMatchObject({
      code: 'HADB_WALSTREAM_CORRUPT',
    });
    const { existsSync } = await import('node:fs');
    expect(existsSync(out)).toBe(false);
    // A well-formed changeset that does not continue the chain (another lineage's seq 2).
    const forged = newPhysical(2n, 123n, 4, 4096, [{ pageId: 0n, data: Uint8Array.of(0, 0, 0, 2) }]);
    await inner.put(key, encodePhysical(forged));
    const chainErr = await restore({ storage: inner, name: 'g', output: out }).catch((e: unknown) => e);
    expect(chainErr).toMatchObject({ code: 'HADB_WALSTREAM_CORRUPT' });
    expect(String((chainErr as Error).message)).toContain('chain break at seq 2');
    expect(existsSync(out)).toBe(false);
    // A download that fails midway (range reads of the snapshot) leaves nothing behind either.
    const failing = withFaults(inner, { seed: 1, streamErrors: 1 });
    await expect(restore({ storage: failing, name: 'g', output: out, seq: 1n })).rejects.toMatchObject({
      code: 'HADB_STORAGE_UNAVAILABLE',
    });
    expect(failing.faultCounts().streamErrors).toBeGreaterThan(0);
    expect(existsSync(out)).toBe(false);
  });
});
