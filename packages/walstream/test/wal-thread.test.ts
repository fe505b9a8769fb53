import { statSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { Walstream, restore, type WalstreamEvent } from '../src/index.js';
import { readWalExtent } from '../src/wal.js';
import { WalThread } from '../src/wal-thread.js';
import { committedHash, fileHash, openApp, openLocal, prng, randomTxn, tempDir, localApp } from './helpers.js';

describe('the WAL thread', () => {
  const cleanups: Array<() => void | Promise<void>> = [];
  afterEach(async () => {
    for (const c of cleanups.splice(0).reverse()) await c();
  });

  it('checkpoints while the app commits on its own thread: the WAL restarts, nothing is lost, no new lineage', async () => {
    const { storage, path, app, dir } = await localApp(cleanups, 'thread', 'busy.db', 0);
    const events: WalstreamEvent[] = [];
    const ws = await Walstream.open({
      storage,
      syncIntervalMs: 10,
      checkpoint: { minPages: 50, intervalMs: 0, truncatePages: 0 },
      onEvent: (e) => events.push(e),
    });
    cleanups.push(() => ws.close());
    const r = await ws.add(path);
    const rnd = prng(7);
    // Commits never stop while checkpoints run: every cycle's bulk rounds see new frames.
    const end = Date.now() + 2500;
    let commits = 0;
    /** Salts of the WAL headers seen: a new pair means the WAL restarted. */
    const salts = new Set<string>();
    while (Date.now() < end || !events.some((e) => e.type === 'checkpoint' && e.complete)) {
      randomTxn(app, rnd, 1 + Math.floor(rnd() * 3));
      commits++;
      if (commits % 10 === 0) {
        const header = readWalExtent(`${path}-wal`)?.header;
        if (header !== undefined) salts.add(`${header.salt1}:${header.salt2}`);
        await new Promise((res) => setTimeout(res, 1));
      }
      if (Date.now() > end + 5_000)
        throw new Error(
          `no complete checkpoint: ${JSON.stringify(events.filter((e) => e.type !== 'shipped').slice(-5), (_k, v) => (typeof v === 'bigint' ? String(v) : v))} ${events.length}`,
        );
    }
    await r.sync();
    const want = await committedHash(app, join(dir, 'source.db'));
    const out = join(dir, 'restored.db');
    await restore({ storage, name: 'busy.db', output: out, integrity: 'full' });
    expect(fileHash(out)).toBe(want);
    expect(events.filter((e) => e.type === 'error')).toEqual([]);
    // Only the first lineage: no capture ever found frames dropped by a WAL restart.
    expect(events.filter((e) => e.type === 'snapshot')).toHaveLength(1);
    const checkpoints = events.filter((e) => e.type === 'checkpoint');
    expect(checkpoints.filter((e) => e.complete).length).toBeGreaterThan(0);
    // The WAL restarted (new salts) instead of growing with every commit.
    expect(salts.size).toBeGreaterThan(1);
  });

  it('a stopped worker: the database reopens its connections on a new one and learns its read transaction was lost', async () => {
    const t = tempDir('restart');
    cleanups.push(t.cleanup);
    const path = join(t.dir, 'a.db');
    const app = openApp(path, 0);
    cleanups.push(() => void app.close());
    app.exec('CREATE TABLE t (x)');
    const thread = new WalThread();
    cleanups.push(() => thread.close());
    const db = await thread.open(path);
    await db.holdRead();
    app.prepare('INSERT INTO t VALUES (1)').run();
    const first = await db.capture(`${path}-wal`, null, true, 1 << 20);
    expect(first.kind).toBe('batch');
    expect(db.takeLost()).toBe(false);

    const pending = db.capture(`${path}-wal`, null, true, 1 << 20);
    await thread.stopWorker();
    // Answered before the stop, or failed by it: never left hanging.
    await pending.catch((err: unknown) => expect(err).toMatchObject({ code: 'HADB_WALSTREAM_UNAVAILABLE' }));

    app.prepare('INSERT INTO t VALUES (2)').run();
    const again = await db.capture(`${path}-wal`, null, true, 1 << 20);
    expect(again.kind).toBe('batch');
    expect(db.takeLost()).toBe(true);
    expect(db.takeLost()).toBe(false);
    // The reopened connections hold a read transaction again: the WAL cannot restart under it.
    app.pragma('busy_timeout = 0');
    app.pragma('wal_checkpoint(TRUNCATE)');
    expect(statSync(`${path}-wal`).size).toBeGreaterThan(0);
    await db.close();
  });

  it('errors on the thread keep their code', async () => {
    const t = tempDir('errors');
    cleanups.push(t.cleanup);
    const thread = new WalThread();
    cleanups.push(() => thread.close());
    await expect(thread.open(join(t.dir, 'missing.db'))).rejects.toMatchObject({ code: 'HADB_WALSTREAM_NOT_WAL' });
    await thread.close();
    await expect(thread.open(join(t.dir, 'missing.db'))).rejects.toMatchObject({ code: 'HADB_WALSTREAM_CLOSED' });
  });
});

describe('walThread: false', () => {
  const cleanups: Array<() => void | Promise<void>> = [];
  afterEach(async () => {
    for (const c of cleanups.splice(0).reverse()) await c();
  });

  it('replicates and checkpoints on the caller’s thread; a non-boolean is refused', async () => {
    const t = tempDir('inline');
    cleanups.push(t.cleanup);
    const storage = await openLocal(t.dir);
    await expect(Walstream.open({ storage, walThread: 'no' as never })).rejects.toMatchObject({
      code: 'HADB_WALSTREAM_INVALID_CONFIG',
    });
    const path = join(t.dir, 'inline.db');
    const app = openApp(path, 0);
    cleanups.push(() => void app.close());
    app.exec('CREATE TABLE t (id INTEGER PRIMARY KEY, k INTEGER, v BLOB)');
    const events: WalstreamEvent[] = [];
    const ws = await Walstream.open({ storage, walThread: false, autoSync: false, onEvent: (e) => events.push(e) });
    cleanups.push(() => ws.close());
    const r = await ws.add(path);
    const rnd = prng(3);
    for (let round = 0; round < 3; round++) {
      for (let i = 0; i < 50; i++) randomTxn(app, rnd);
      await r.sync();
      expect(await r.checkpoint('PASSIVE')).toBe(true);
    }
    for (let i = 0; i < 20; i++) randomTxn(app, rnd);
    await r.sync();
    const out = join(t.dir, 'restored.db');
    await restore({ storage, name: 'inline.db', output: out, integrity: 'full' });
    expect(fileHash(out)).toBe(await committedHash(app, join(t.dir, 'source.db')));
    expect(events.filter((e) => e.type === 'snapshot')).toHaveLength(1);
    expect(events.filter((e) => e.type === 'checkpoint' && e.complete)).toHaveLength(3);
  });
});
