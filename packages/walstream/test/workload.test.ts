import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { Walstream, restore, listRemote, type WalstreamEvent } from '../src/index.js';
import {
  cliIntegrity,
  committedHash,
  fileHash,
  openApp,
  openLocal,
  prng,
  randomTxn,
  tempDir,
  localApp,
} from './helpers.js';

async function until(cond: () => boolean | Promise<boolean>, ms = 20_000): Promise<void> {
  const end = Date.now() + ms;
  while (!(await cond())) {
    if (Date.now() > end) throw new Error('condition not reached');
    await new Promise((r) => setTimeout(r, 20));
  }
}

describe('background replication', () => {
  const cleanups: Array<() => void | Promise<void>> = [];
  afterEach(async () => {
    for (const c of cleanups.splice(0).reverse()) await c();
  });

  it('ships transactions larger than the WAL autocheckpoint, checkpoints, and restores by time', async () => {
    const { storage, path, app, dir } = await localApp(cleanups, 'big', 'big.db');
    const events: WalstreamEvent[] = [];
    const ws = await Walstream.open({
      storage,
      syncIntervalMs: 20,
      checkpoint: { minPages: 200, intervalMs: 0, truncatePages: 3000 },
      onEvent: (e) => events.push(e),
    });
    cleanups.push(() => ws.close());
    const r = await ws.add(path);
    const marks: Array<{ time: number; hash: string; seq: bigint }> = [];
    const rnd = prng(11);
    for (let round = 0; round < 3; round++) {
      // ~1,600 pages in one transaction: bigger than the autocheckpoint threshold.
      app.transaction(() => {
        for (let i = 0; i < 400; i++)
          app.prepare('INSERT INTO t (k, v) VALUES (?, randomblob(16000))').run(round * 1000 + i);
      })();
      for (let i = 0; i < 5; i++) randomTxn(app, rnd);
      const res = await r.sync();
      await new Promise((res2) => setTimeout(res2, 15));
      marks.push({ time: Date.now(), hash: await committedHash(app, join(dir, 's.db')), seq: res.seq });
      await new Promise((res2) => setTimeout(res2, 15));
    }
    await until(() => events.some((e) => e.type === 'checkpoint' && e.complete));
    expect(events.some((e) => e.type === 'checkpoint' && e.mode === 'TRUNCATE')).toBe(true);
    expect(events.filter((e) => e.type === 'error')).toEqual([]);
    for (const [i, m] of marks.entries()) {
      const out = join(dir, `t${i}.db`);
      const res = await restore({ storage, name: 'big.db', output: out, time: m.time, integrity: 'full' });
      expect(res.skipped === false && res.seq).toBe(m.seq);
      expect(fileHash(out)).toBe(m.hash);
    }
    expect(cliIntegrity(join(dir, 't2.db'))).toBe('ok');
  });

  it('follows a page-size change (VACUUM while walstream is down) with a new lineage; old points stay restorable', async () => {
    const t = tempDir('pagesize');
    cleanups.push(t.cleanup);
    const storage = await openLocal(t.dir);
    const path = join(t.dir, 'ps.db');
    let app = openApp(path);
    app.exec('CREATE TABLE t (id INTEGER PRIMARY KEY, k INTEGER, v BLOB)');
    const rnd = prng(3);
    for (let i = 0; i < 10; i++) randomTxn(app, rnd);
    let ws = await Walstream.open({ storage, autoSync: false });
    let r = await ws.add(path, { name: 'ps' });
    const before = await r.sync();
    const hashBefore = await committedHash(app, join(t.dir, 's.db'));
    await ws.close();
    // Page size can only change outside WAL mode.
    app.pragma('journal_mode = DELETE');
    app.pragma('page_size = 8192');
    app.exec('VACUUM');
    app.close();
    app = openApp(path);
    cleanups.push(() => void app.close());
    expect(app.pragma('page_size', { simple: true })).toBe(8192);
    for (let i = 0; i < 5; i++) randomTxn(app, rnd);
    ws = await Walstream.open({ storage, autoSync: false });
    cleanups.push(() => ws.close());
    r = await ws.add(path, { name: 'ps' });
    randomTxn(app, rnd);
    const after = await r.sync();
    expect(after.seq).toBeGreaterThan(before.seq + 1n);
    const remote = await listRemote(storage, '', 'ps');
    expect(remote.snapshots.length).toBe(2);
    const old = join(t.dir, 'old.db');
    await restore({ storage, name: 'ps', output: old, seq: before.seq });
    expect(fileHash(old)).toBe(hashBefore);
    const latest = join(t.dir, 'latest.db');
    const res = await restore({ storage, name: 'ps', output: latest });
    expect(res.skipped === false && res.pageSize).toBe(8192);
    expect(fileHash(latest)).toBe(await committedHash(app, join(t.dir, 's.db')));
    expect(cliIntegrity(latest)).toBe('ok');
  });

  it("a restored copy's first write continues above the remote head; earlier history stays restorable", async () => {
    const t = tempDir('restored-writes');
    cleanups.push(t.cleanup);
    const storage = await openLocal(t.dir);
    const path = join(t.dir, 'orig.db');
    const app = openApp(path);
    app.exec('CREATE TABLE t (id INTEGER PRIMARY KEY, k INTEGER, v BLOB)');
    const rnd = prng(12);
    const ws1 = await Walstream.open({ storage, autoSync: false });
    const r1 = await ws1.add(path, { name: 'shared' });
    randomTxn(app, rnd);
    const mid = await r1.sync();
    const midHash = await committedHash(app, join(t.dir, 's.db'));
    randomTxn(app, rnd);
    const head = await r1.sync();
    await ws1.close();
    app.close();
    // Disaster: the machine is gone; restore an older point elsewhere and keep writing there.
    const copy = join(t.dir, 'copy.db');
    await restore({ storage, name: 'shared', output: copy, seq: mid.seq });
    const app2 = openApp(copy);
    cleanups.push(() => void app2.close());
    const ws2 = await Walstream.open({ storage, autoSync: false });
    cleanups.push(() => ws2.close());
    const r2 = await ws2.add(copy, { name: 'shared' });
    expect(r2.status().seq).toBe(head.seq + 1n); // a new lineage above everything stored
    randomTxn(app2, rnd);
    const after = await r2.sync();
    expect(after.seq).toBe(head.seq + 2n);
    const a = join(t.dir, 'a.db');
    await restore({ storage, name: 'shared', output: a, seq: mid.seq });
    expect(fileHash(a)).toBe(midHash);
    const b = join(t.dir, 'b.db');
    await restore({ storage, name: 'shared', output: b });
    expect(fileHash(b)).toBe(await committedHash(app2, join(t.dir, 's.db')));
  });

  it('resumes the chain after a clean restart and snapshots by policy', async () => {
    const { storage, path, app, dir } = await localApp(cleanups, 'resume', 'r.db');
    const rnd = prng(5);
    let ws = await Walstream.open({ storage, autoSync: false });
    let r = await ws.add(path);
    randomTxn(app, rnd);
    const first = await r.sync();
    await ws.close();
    randomTxn(app, rnd); // committed while walstream is down: still in the WAL (the app holds it open)
    ws = await Walstream.open({ storage, syncIntervalMs: 20, snapshot: { everyChangesets: 3 } });
    cleanups.push(() => ws.close());
    r = await ws.add(path);
    const remote0 = await listRemote(storage, '', 'r.db');
    expect(remote0.snapshots.length).toBe(1); // resumed: no new lineage
    for (let i = 0; i < 4; i++) {
      randomTxn(app, rnd);
      await r.sync();
    }
    await until(async () => (await listRemote(storage, '', 'r.db')).snapshots.length >= 2);
    expect(r.status().seq).toBeGreaterThanOrEqual(first.seq + 4n);
    const out = join(dir, 'out.db');
    await r.sync();
    await restore({ storage, name: 'r.db', output: out });
    expect(fileHash(out)).toBe(await committedHash(app, join(dir, 's.db')));
  });
});
