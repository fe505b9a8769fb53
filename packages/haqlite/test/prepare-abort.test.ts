import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { silentLogger, systemClock, type OpOptions } from '@hadb/io';
import { LocalStorageBackend } from '@hadb/storage-local';
import { until } from '@hadb/testkit';
import { afterEach, describe, expect, it } from 'vitest';
import { sqliteEngine } from '../src/index.js';

let dir: string | undefined;
afterEach(() => {
  if (dir !== undefined) rmSync(dir, { recursive: true, force: true });
  dir = undefined;
});

describe('prepareLocalCopy honours its signal', () => {
  it('a storage read that hangs is cut by the signal (a node closing) and the file is left as it was', async () => {
    dir = mkdtempSync(join(tmpdir(), 'haqlite-prepare-'));
    const inner = await LocalStorageBackend.open({ root: join(dir, 'storage') });
    let listing = 0;
    // Storage that never answers a listing unless the caller gives up.
    const storage = new Proxy(inner, {
      get(target, prop) {
        if (prop === 'list') {
          return (_prefix: string, o?: OpOptions) => {
            listing++;
            return new Promise((_resolve, reject) =>
              o?.signal?.addEventListener('abort', () => reject(o.signal?.reason), { once: true }),
            );
          };
        }
        const v = Reflect.get(target, prop, target) as unknown;
        return typeof v === 'function' ? (v as (...a: unknown[]) => unknown).bind(target) : v;
      },
    });
    // A file that is not a replica (a former leader's): judging it needs storage's head.
    const path = join(dir, 'app.db');
    const db = new Database(path);
    db.exec("CREATE TABLE t (v TEXT); INSERT INTO t VALUES ('kept')");
    db.close();
    const before = readFileSync(path);
    const engine = sqliteEngine({ storage, prefix: '', busyTimeoutMs: 1000 })({
      db: 'app',
      path,
      clock: systemClock,
      logger: silentLogger,
      onApplied: async () => undefined,
    });
    const controller = new AbortController();
    const preparing = engine.prepareLocalCopy({ signal: controller.signal }).then(
      () => 'resolved',
      (e: unknown) => e,
    );
    await until(() => listing > 0, { what: 'the storage listing' });
    controller.abort(new Error('node closing'));
    const outcome = await preparing;
    expect(outcome).toBeInstanceOf(Error);
    expect(existsSync(path)).toBe(true);
    expect(readFileSync(path).equals(before)).toBe(true);
    expect(readdirSync(dir).filter((f) => f.includes('.diverged-'))).toEqual([]);
    await inner.close();
  });
});
