import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { EpochGate } from '@hadb/core';
import { silentLogger, systemClock } from '@hadb/io';
import { LocalStorageBackend } from '@hadb/storage-local';
import { Walstream, restore, type WriterTerm } from '@hadb/walstream';
import Database from 'better-sqlite3';
import { afterAll, describe, expect, it } from 'vitest';
import { sqliteEngine } from '../src/index.js';

const dir = mkdtempSync(join(tmpdir(), 'haqlite-gate-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function term(epoch: number): WriterTerm {
  const controller = new AbortController();
  return { epoch, signal: controller.signal, check() {}, trip: (reason) => controller.abort(new Error(reason)) };
}

function app(path: string): Database.Database {
  const db = new Database(path);
  db.pragma('journal_mode = WAL');
  return db;
}

/**
 * One node's epoch gate outlives its local copies: after it saw a newer term (epoch 3), a copy
 * behind the newer term's first changeset still applies the older term's history before it.
 */
describe('haqlite follower and the epoch gate', () => {
  it('applies an older term changeset that precedes the newer term, after the gate saw the newer term', async () => {
    const storage = await LocalStorageBackend.open({ root: join(dir, 'storage') });
    const prefix = 'g/';
    const name = 'app';
    // Term 1 ships one changeset.
    const aPath = join(dir, 'a.db');
    const a = app(aPath);
    a.exec('CREATE TABLE t (id INTEGER PRIMARY KEY, v TEXT)');
    const wsA = await Walstream.open({ storage, prefix, autoSync: false });
    const ra = await wsA.add(aPath, { name, term: term(1) });
    a.prepare('INSERT INTO t (v) VALUES (?)').run('a0');
    await ra.sync();

    const refused: unknown[] = [];
    const logger = {
      ...silentLogger,
      warn: (obj: unknown, msg?: string) => {
        if (msg?.includes('refused')) refused.push(obj);
      },
    };
    const engineFor = (path: string) =>
      sqliteEngine({ storage, prefix, busyTimeoutMs: 5000 })({
        db: name,
        path,
        clock: systemClock,
        logger,
        onApplied: async () => {},
      });
    const catchUp = (path: string, gate: EpochGate) => {
      const engine = engineFor(path);
      return engine.followerBehavior.catchupOnPromotion({
        db: name,
        path,
        prefix,
        replicator: engine.replicator,
        position: 0n,
        epochGate: gate,
        clock: systemClock,
        signal: new AbortController().signal,
        logger: silentLogger,
      });
    };
    const gate = new EpochGate();
    const behind = join(dir, 'behind.db');
    const first = await catchUp(behind, gate);

    // Term 1 ships once more; then term 3 takes over from the durable state and ships.
    a.prepare('INSERT INTO t (v) VALUES (?)').run('a1');
    const { seq: lastOfOne } = await ra.sync();
    expect(lastOfOne).toBeGreaterThan(first);
    await wsA.close({ final: false });
    a.close();
    const bPath = join(dir, 'b.db');
    await restore({ storage, prefix, name, output: bPath });
    const wsB = await Walstream.open({ storage, prefix, autoSync: false });
    const rb = await wsB.add(bPath, { name, term: term(3) });
    const b = app(bPath);
    b.prepare('INSERT INTO t (v) VALUES (?)').run('b0');
    const { seq: head } = await rb.sync();

    // Another copy of this node reaches the head: the gate has seen epoch 3.
    expect(await catchUp(join(dir, 'fresh.db'), gate)).toBe(head);
    expect(gate.highest).toBe(3);
    // The copy that is behind catches up through term 1's last changeset, refusing nothing.
    expect(await catchUp(behind, gate)).toBe(head);
    expect(refused).toEqual([]);
    const replica = new Database(behind, { readonly: true });
    expect((replica.prepare('SELECT v FROM t ORDER BY id').all() as { v: string }[]).map((r) => r.v)).toEqual([
      'a0',
      'a1',
      'b0',
    ]);
    replica.close();
    b.close();
    await wsB.close({ final: false });
    await storage.close();
  });
});
