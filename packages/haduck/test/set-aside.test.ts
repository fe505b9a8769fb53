import { existsSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DuckDBInstance } from '@duckdb/node-api';
import { systemClock, type Logger } from '@hadb/io';
import { afterEach, describe, expect, it } from 'vitest';
import { reconcileLocalCopy } from '../src/local-copy.js';
import { listSetAside, pruneSetAside } from '../src/set-aside.js';
import { HaDuck } from '../src/index.js';
import { StorageLeaseStore } from '@hadb/lease';
import { LocalStorageBackend } from '@hadb/storage-local';

let dir: string | undefined;
afterEach(() => {
  if (dir !== undefined) rmSync(dir, { recursive: true, force: true });
  dir = undefined;
});

/** A logger that records what it was given. */
function recordingLogger(): Logger & { lines: { level: string; obj: Record<string, unknown>; msg: string }[] } {
  const lines: { level: string; obj: Record<string, unknown>; msg: string }[] = [];
  const at =
    (level: string) =>
    (obj: object, msg?: string): void => {
      lines.push({ level, obj: obj as Record<string, unknown>, msg: msg ?? '' });
    };
  return { lines, debug: at('debug'), info: at('info'), warn: at('warn'), error: at('error') };
}

describe('set-aside copies are bounded', () => {
  it('keeps the newest copies (with their WAL files), deletes older ones and logs each deletion', async () => {
    dir = mkdtempSync(join(tmpdir(), 'haduck-aside-'));
    const path = join(dir, 'app.duckdb');
    const logger = recordingLogger();
    let wall = 1_000_000;
    const clock = { ...systemClock, wallMs: () => wall };
    const moved: string[] = [];
    for (let i = 0; i < 5; i++) {
      const instance = await DuckDBInstance.create(path);
      const conn = await instance.connect();
      await conn.run(`create table t as select ${i} as round`);
      conn.closeSync();
      instance.closeSync();
      // A WAL file next to it, as a killed leader leaves one; it must travel with its copy.
      writeFileSync(`${path}.wal`, 'wal bytes');
      // Never replicated while storage holds history: the file is moved aside.
      const outcome = await reconcileLocalCopy(path, {
        db: 'app',
        durableHead: async () => 7n,
        clock,
        logger,
        keepSetAside: 2,
      });
      expect(outcome).toBe('moved');
      moved.push(`${path}.diverged-${wall}`);
      wall += 1000;
    }
    const copies = await listSetAside(path);
    expect(copies.map((c) => c.path)).toEqual([moved[4], moved[3]]);
    for (const c of copies) expect(c.files).toEqual([c.path, `${c.path}.wal`]);
    for (const old of moved.slice(0, 3)) {
      expect(existsSync(old)).toBe(false);
      expect(existsSync(`${old}.wal`)).toBe(false);
    }
    const deletions = logger.lines.filter((l) => l.msg.includes('deleted an old set-aside copy'));
    expect(deletions.map((l) => l.obj.aside)).toEqual(moved.slice(0, 3));
    expect(deletions.every((l) => l.level === 'info')).toBe(true);
    // Nothing else next to the file was touched.
    expect(readdirSync(dir).sort()).toEqual(
      [moved[3]!, `${moved[3]!}.wal`, moved[4]!, `${moved[4]!}.wal`].map((p) => p.slice(dir!.length + 1)).sort(),
    );
  });

  it('ignores files that only look alike and keeps everything when there are few copies', async () => {
    dir = mkdtempSync(join(tmpdir(), 'haduck-aside-'));
    const path = join(dir, 'app.duckdb');
    for (const name of ['app.duckdb.diverged-5', 'app.duckdb.diverged-x', 'other.duckdb.diverged-1', 'app.duckdb']) {
      writeFileSync(join(dir, name), 'x');
    }
    const logger = recordingLogger();
    expect(await pruneSetAside(path, 2, { db: 'app', logger })).toEqual([]);
    expect(readdirSync(dir).length).toBe(4);
    expect((await pruneSetAside(path, 1, { db: 'app', logger })).length).toBe(0);
  });

  it('HaDuck validates keepSetAside, writeConnections and the snapshot policy at open', async () => {
    dir = mkdtempSync(join(tmpdir(), 'haduck-aside-'));
    const storage = await LocalStorageBackend.open({ root: join(dir, 'storage') });
    const store = new StorageLeaseStore(storage, { prefix: 'leases/' });
    const base = { path: join(dir, 'a.duckdb'), storage, lease: { store }, instanceId: 'n1', listen: false } as const;
    for (const bad of [
      { keepSetAside: 0 },
      { keepSetAside: 1.5 },
      { writeConnections: 0 },
      { writeConnections: 2.5 },
      { snapshot: { minIntervalMs: -1 } },
      { snapshot: { minBytes: Number.NaN } },
      { retention: { keepSnapshots: 0 } },
    ]) {
      await expect(HaDuck.open({ ...base, ...bad })).rejects.toMatchObject({ code: 'HADB_HADUCK_INVALID_CONFIG' });
    }
    await storage.close();
  });
});
