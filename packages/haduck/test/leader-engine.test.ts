import { open } from 'node:fs/promises';
import { scanFile } from '@hadb/duckblock';
import { afterEach, describe, expect, it } from 'vitest';
import { withFaults, type FaultyStorageBackend } from '@hadb/testkit/storage';
import { TestLeader } from './leader-fixture.js';

let leader: TestLeader | undefined;
afterEach(async () => {
  await leader?.close();
  leader = undefined;
});

async function keys(l: TestLeader, under: string): Promise<string[]> {
  return l.storage.list(`haduck/fw/${under}/`);
}

async function manifestOf(path: string): Promise<string> {
  const fh = await open(path, 'r');
  try {
    const m = scanFile(fh.fd).manifest;
    return JSON.stringify({ i: m.iteration.toString(), h: m.headerHashes, s: m.fileSize });
  } finally {
    await fh.close();
  }
}

describe('leader engine with duckblock (real DuckDB, local storage)', () => {
  it('ships each checkpoint outside the write lock, snapshots when due and runs retention, so storage stays bounded', async () => {
    // The bytes trigger without its floor and minimum interval, so this short run reaches it.
    leader = await TestLeader.open(undefined, { snapshot: { minBytes: 0, minIntervalMs: 0 } });
    const e = leader.engine;
    await e.execute('CREATE TABLE t (id BIGINT, pad VARCHAR)');
    for (let i = 0; i < 24; i++) {
      await e.execute("INSERT INTO t SELECT i, repeat('x', 200) FROM range($1, $1 + 2000) r(i)", [i * 2000]);
      await e.checkpoint();
    }
    const stats = e.stats;
    expect(stats.checkpoints).toBe(24);
    expect(stats.unexpectedCheckpoints).toBe(0);
    expect(stats.lastShipError).toBeUndefined();
    expect(stats.bytesShipped).toBeGreaterThan(0);
    const snapshots = await keys(leader, '0001');
    const incrementals = await keys(leader, '0000');
    // Snapshots were taken (the policy asks for one once the increments exceed the file size)
    // and retention kept at most two, deleting the increments they made unnecessary.
    expect(snapshots.length).toBeGreaterThanOrEqual(1);
    expect(snapshots.length).toBeLessThanOrEqual(2);
    expect(incrementals.length).toBeLessThan(24);
  });

  it("resolves 'shipped' waiters with the next periodic checkpoint, and refuses to checkpoint once fenced", async () => {
    leader = await TestLeader.open();
    const e = leader.engine;
    await e.execute('CREATE TABLE t (id BIGINT)');
    await e.execute('INSERT INTO t VALUES (1)');
    let shipped = false;
    const waiting = e.waitShipped(e.commitSeq).then(() => {
      shipped = true;
    });
    await new Promise((r) => setTimeout(r, 50));
    expect(shipped).toBe(false);
    await e.checkpoint();
    await waiting;
    expect(e.dirty).toBe(false);

    // Fenced: writes still commit locally in this fixture, but no CHECKPOINT touches the file.
    await e.execute('INSERT INTO t VALUES (2)');
    const before = await manifestOf(e.path);
    leader.fenced = true;
    await expect(e.checkpoint()).rejects.toMatchObject({ code: 'HADB_HA_FENCED' });
    expect(await manifestOf(e.path)).toBe(before);
    expect(e.stats.checkpoints).toBe(1);
    expect(e.dirty).toBe(true);
  });
});

describe('snapshots upload outside the write lock', () => {
  it('a ship resolves without waiting for its snapshot; writers commit meanwhile; the next ship waits for it', async () => {
    let faulty: FaultyStorageBackend | undefined;
    leader = await TestLeader.open(undefined, {
      snapshot: { intervalMs: 0, afterFileSizes: 0, everySegments: 1, minIntervalMs: 0 },
      storage: (inner) => {
        faulty = withFaults(inner, { seed: 7, operations: ['putStream'], keys: (k) => k.includes('/0001/') });
        return faulty;
      },
    });
    const e = leader.engine;
    await e.execute('CREATE TABLE t (id BIGINT, pad VARCHAR)');
    await e.execute("INSERT INTO t SELECT i, repeat('x', 100) FROM range(0, 20000) r(i)");
    const snapshotsBefore = (await keys(leader, '0001')).length;
    faulty!.resetFaultCounts();
    faulty!.setFaults({ latencyMs: 4000 });
    // The segment is durable once the ship resolves; the snapshot it asked for follows.
    await e.checkpoint();
    // Wait until the snapshot's upload is in flight (held by the injected latency).
    while (faulty!.faultCounts().delayed === 0) await new Promise((r) => setTimeout(r, 5));
    await e.execute('INSERT INTO t VALUES (-1, NULL)');
    expect((await keys(leader, '0001')).length).toBe(snapshotsBefore);
    // The next ship's CHECKPOINT waits for the snapshot (it reads the whole file).
    await e.checkpoint();
    expect((await keys(leader, '0001')).length).toBeGreaterThan(snapshotsBefore);
    expect(e.stats.lastShipError).toBeUndefined();
    const rows = await e.query('SELECT count(*)::INTEGER AS n FROM t');
    expect(rows.rows).toEqual([[20001]]);
  });
});
