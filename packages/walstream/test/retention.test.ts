import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { systemClock, type Clock } from '@hadb/io';
import { Walstream, applyRetention, listRemote, restore, isWalstreamError } from '../src/index.js';
import { committedHash, fileHash, openApp, openLocal, prng, randomTxn, tempDir } from './helpers.js';

describe('retention (grandfather-father-son)', () => {
  const cleanups: Array<() => void | Promise<void>> = [];
  afterEach(async () => {
    for (const c of cleanups.splice(0).reverse()) await c();
  });

  it('plans in dry run, deletes with force, and keeps every point after the oldest kept snapshot restorable', async () => {
    const t = tempDir('retention');
    cleanups.push(t.cleanup);
    const storage = await openLocal(t.dir);
    let wall = Date.UTC(2026, 0, 1);
    const clock: Clock = { ...systemClock, wallMs: () => wall };
    const path = join(t.dir, 'ret.db');
    const app = openApp(path);
    cleanups.push(() => void app.close());
    app.exec('CREATE TABLE t (id INTEGER PRIMARY KEY, k INTEGER, v BLOB)');
    const ws = await Walstream.open({ storage, autoSync: false, clock });
    cleanups.push(() => ws.close());
    const r = await ws.add(path, { name: 'ret' });
    const rnd = prng(8);
    for (let day = 0; day < 10; day++) {
      wall += 86_400_000;
      randomTxn(app, rnd);
      await r.snapshot();
      randomTxn(app, rnd);
      await r.sync();
    }
    const tiers = { hourly: 0, daily: 3, weekly: 0, monthly: 0 };
    const before = await listRemote(storage, '', 'ret');
    expect(before.snapshots.length).toBe(11);
    const dry = await applyRetention({ storage, name: 'ret', tiers, clock });
    expect(dry.dryRun).toBe(true);
    expect(dry.plan.keep.length).toBe(3);
    expect(dry.plan.delete.length).toBe(8);
    expect((await listRemote(storage, '', 'ret')).snapshots.length).toBe(11);
    const done = await applyRetention({ storage, name: 'ret', tiers, clock, force: true });
    expect(done.deletedObjects).toBe(8 + done.incrementalsToDelete.length);
    const after = await listRemote(storage, '', 'ret');
    expect(after.snapshots.map((s) => s.seq)).toEqual(done.plan.keep.map((k) => k.seq).reverse());
    expect(after.incrementals.every((i) => i.seq > done.plan.oldestKept!)).toBe(true);
    const out = join(t.dir, 'latest.db');
    await restore({ storage, name: 'ret', output: out });
    expect(fileHash(out)).toBe(await committedHash(app, join(t.dir, 's.db')));
    const tooOld = await restore({ storage, name: 'ret', output: join(t.dir, 'old.db'), seq: 3n }).catch(
      (e: unknown) => e,
    );
    expect(isWalstreamError(tooOld, 'HADB_WALSTREAM_NOT_FOUND')).toBe(true);
  });
});
