import { spawnSync } from 'node:child_process';
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { inspect } from 'node:util';
import { DuckDBInstance } from '@duckdb/node-api';
import { readPosition, writePosition } from '@hadb/duckblock';
import { silentLogger, systemClock } from '@hadb/io';
import { encodeLeaseData, newLeaseNonce } from '@hadb/lease';
import { describe, expect, it } from 'vitest';
import { isHaDuckError, isHaError, type HaDuckOptions } from '../src/index.js';
import { reconcileLocalCopy } from '../src/local-copy.js';
import { localNodes } from './local-nodes.js';

const nodes = localNodes('node');
const { node, open } = nodes;

/** Runs `statements` on the DuckDB file in a child process that is then SIGKILLed: the commits stay in the WAL only. */
function killedAfter(path: string, statements: string[]): void {
  const code = `import { DuckDBInstance } from '@duckdb/node-api';
    const db = await DuckDBInstance.create(${JSON.stringify(path)}, { checkpoint_threshold: '1000GB' });
    const c = await db.connect();
    for (const sql of ${JSON.stringify(statements)}) await c.run(sql);
    process.kill(process.pid, 'SIGKILL');`;
  const child = spawnSync(process.execPath, ['--input-type=module', '-e', code], {
    cwd: fileURLToPath(new URL('..', import.meta.url)),
  });
  expect(child.signal).toBe('SIGKILL');
  expect(existsSync(`${path}.wal`)).toBe(true);
}

/**
 * Leader `a` creates `t` with `create`, ships `INSERT 1` and closes; then, as if killed after a
 * commit and before its next checkpoint, its WAL gets `INSERT 777`. Returns the file's path.
 */
/** Node `a` creates `t` with `create`, ships one row (1) and closes; returns its file's path. */
async function shippedOneRowAndClosed(create = 'CREATE TABLE t (id BIGINT)'): Promise<string> {
  const a = await node('a');
  await a.execute(create);
  await a.execute('INSERT INTO t VALUES (1)', [], { durability: 'shipped' });
  await a.close();
  open.length = 0;
  return join(nodes.dir, 'a.duckdb');
}

async function leaderKilledWithUnshippedWal(create: string): Promise<string> {
  const path = await shippedOneRowAndClosed(create);
  killedAfter(path, ['INSERT INTO t VALUES (777)']);
  return path;
}

/** A pino-style logger that keeps every line it is given. */
function recorder(): { lines: string[]; logger: HaDuckOptions['logger'] } {
  const lines: string[] = [];
  const entry = (obj: unknown, msg?: string): void => void lines.push(`${msg ?? ''} ${inspect(obj, { depth: 10 })}`);
  return { lines, logger: { debug: entry, info: entry, warn: entry, error: entry } };
}

describe('HaDuck in one process (local storage, 1 s TTL)', () => {
  it('reports bad options as HADB_HADUCK_INVALID_CONFIG at open, before binding or joining', async () => {
    const bad: Partial<HaDuckOptions>[] = [
      { durability: 'eventually' as never },
      { checkpointIntervalMs: 0 },
      { forwardRetryDelaysMs: [] },
      { replicatorTimeoutMs: 0 },
      // Core's lease rule: renewals must fit inside TTL minus the margin (core's defaults suit a 5 s TTL).
      { lease: { store: nodes.lease, ttlMs: 1000 } },
    ];
    for (const extra of bad) {
      const err = await node('bad', extra).catch((e: unknown) => e);
      expect(isHaDuckError(err, 'HADB_HADUCK_INVALID_CONFIG'), JSON.stringify(Object.keys(extra))).toBe(true);
    }
  });

  it('a follower with the wrong secret gets HADB_HA_UNAUTHORIZED at once, and no log line or error shows either secret', async () => {
    const secret = 'node-secret-Kp21-do-not-log';
    const wrong = 'node-wrong-Jq77-do-not-log';
    const la = recorder();
    const lb = recorder();
    const a = await node('a', { secret, logger: la.logger });
    await a.execute('CREATE TABLE t (id BIGINT)');
    await a.sync();
    const b = await node('b', { secret: wrong, logger: lb.logger });
    expect(b.role).toBe('follower');
    const started = performance.now();
    let err: unknown;
    try {
      await b.execute('INSERT INTO t VALUES (1)');
    } catch (e) {
      err = e;
    }
    expect(isHaError(err, 'HADB_HA_UNAUTHORIZED')).toBe(true);
    // Not retried: well under the 2.1 s the retry schedule would take.
    expect(performance.now() - started).toBeLessThan(1000);
    expect((await a.query('SELECT count(*) FROM t')).rows).toEqual([[0n]]);
    const c = await node('c', { secret, logger: lb.logger });
    await c.execute('INSERT INTO t VALUES (2)', [], { durability: 'shipped' });
    expect((await c.query('SELECT count(*) FROM t', undefined, { consistency: 'strong' })).rows).toEqual([[1n]]);
    for (const db of open.splice(0)) await db.close();
    const text = [...la.lines, ...lb.lines, inspect(err, { depth: 20, showHidden: true })].join('\n');
    expect(la.lines.length + lb.lines.length).toBeGreaterThan(0);
    expect(text).not.toContain(secret);
    expect(text).not.toContain(wrong);
  }, 30_000);

  it('group commit: with groupCommitMs a shipped write ships at once instead of at the next checkpoint tick', async () => {
    const a = await node('a', { checkpointIntervalMs: 60_000, groupCommitMs: 5 });
    await a.execute('CREATE TABLE g (id BIGINT)');
    const started = performance.now();
    await Promise.all(
      [1, 2, 3, 4].map((i) => a.execute('INSERT INTO g VALUES ($1)', [BigInt(i)], { durability: 'shipped' })),
    );
    expect(performance.now() - started).toBeLessThan(10_000);
    expect(a.stats().bytesShipped).toBeGreaterThan(0);
    expect(a.stats().checkpoints).toBeLessThanOrEqual(4);
  });

  it('read-only queries only; transaction() only on the leader; strong reads on the leader', async () => {
    const a = await node('a');
    await a.execute('CREATE TABLE t (id BIGINT)');
    await a.transaction(async (tx) => {
      await tx.execute('INSERT INTO t VALUES (1), (2)');
      expect((await tx.query('SELECT count(*) FROM t')).rows).toEqual([[2n]]);
    });
    await a.sync();
    await expect(a.query('INSERT INTO t VALUES (3)')).rejects.toMatchObject({ code: 'HADB_HADUCK_NOT_READ_ONLY' });
    const b = await node('b');
    await b.sync();
    expect((await b.query('SELECT sum(id) FROM t')).rows).toEqual([[3n]]);
    await expect(b.transaction(async () => undefined)).rejects.toMatchObject({ code: 'HADB_HA_NOT_LEADER' });
    await a.execute('INSERT INTO t VALUES (10)');
    expect((await b.query('SELECT sum(id) FROM t', undefined, { consistency: 'strong' })).rows).toEqual([[13n]]);
  }, 30_000);

  it('a node promoted over a holder that never shipped anything (no local file, empty storage) becomes the leader', async () => {
    // A holder that claimed the lease and died before its first snapshot.
    const ghost = encodeLeaseData({
      instanceId: 'ghost',
      address: 'http://127.0.0.1:1',
      claimedAt: Math.floor(Date.now() / 1000),
      ttlSecs: 1,
      sessionId: 'ghost-session',
      sleeping: false,
      epoch: 5,
      nonce: newLeaseNonce(),
    });
    expect((await nodes.lease.writeIfNotExists(nodes.lease.keyFor('app'), ghost)).success).toBe(true);
    const b = await node('b');
    expect(b.role).toBe('follower');
    expect(existsSync(join(nodes.dir, 'b.duckdb'))).toBe(false);
    await b.waitForRole('leader', { signal: AbortSignal.timeout(10_000) });
    await b.execute('CREATE TABLE t (id BIGINT)');
    await b.execute('INSERT INTO t VALUES (1)', [], { durability: 'shipped' });
    const c = await node('c');
    await c.sync();
    expect((await c.query('SELECT id FROM t')).rows).toEqual([[1n]]);
  }, 30_000);

  it('a restarted node whose file holds a checkpoint that was never shipped moves it aside and restores from storage', async () => {
    const path = await shippedOneRowAndClosed();
    // As if killed between CHECKPOINT and upload: the file moved on, storage did not.
    const raw = await DuckDBInstance.create(path);
    const conn = await raw.connect();
    await conn.run('INSERT INTO t VALUES (666)');
    await conn.run('CHECKPOINT');
    conn.closeSync();
    raw.closeSync();
    const a = await node('a');
    // A slow first claim (a loaded machine) may join as follower first.
    await a.waitForRole('leader', { signal: AbortSignal.timeout(10_000) });
    expect(a.role).toBe('leader');
    expect((await a.query('SELECT id FROM t ORDER BY id')).rows).toEqual([[1n]]);
    expect(a.stats().restoredSnapshots).toBe(1);
    const aside = readdirSync(nodes.dir).filter((f) => f.startsWith('a.duckdb.diverged-'));
    expect(aside).toHaveLength(1);
    // The moved-aside copy still has the unshipped row.
    const old = await DuckDBInstance.create(join(nodes.dir, aside[0]!), { access_mode: 'READ_ONLY' });
    const oc = await old.connect();
    expect((await oc.runAndReadAll('SELECT id FROM t ORDER BY id')).getRows()).toEqual([[1n], [666n]]);
    oc.closeSync();
    old.closeSync();
  }, 30_000);

  it('a restarted node whose position names a checkpoint never shipped, while another leader shipped that seq, sets its file aside and follows', async () => {
    const path = await shippedOneRowAndClosed();
    // As if killed while uploading its next checkpoint: the position (persisted beside the upload)
    // names a segment storage never received; the file itself matches it.
    const at = (await readPosition(path))!;
    await writePosition(path, { ...at, seq: at.seq + 1n, checksum: at.checksum ^ 1n });
    // Another node leads meanwhile and ships its own segments at those seqs.
    const b = await node('b');
    await b.waitForRole('leader', { signal: AbortSignal.timeout(10_000) });
    await b.execute('INSERT INTO t VALUES (2)', [], { durability: 'shipped' });
    await b.execute('INSERT INTO t VALUES (3)', [], { durability: 'shipped' });
    const a = await node('a');
    expect(a.role).toBe('follower');
    expect((await a.query('SELECT id FROM t ORDER BY id')).rows).toEqual([[1n], [2n], [3n]]);
    expect(readdirSync(nodes.dir).filter((f) => f.startsWith('a.duckdb.diverged-'))).toHaveLength(1);
  }, 30_000);

  it('a restarted leader whose WAL holds commits no checkpoint shipped keeps its file and sets a copy aside with the WAL', async () => {
    await leaderKilledWithUnshippedWal('CREATE TABLE t (id BIGINT)');
    const again = await node('a');
    expect((await again.query('SELECT id FROM t ORDER BY id')).rows).toEqual([[1n]]);
    // The file itself was kept (no restore from storage).
    expect(again.stats().restoredSnapshots).toBe(0);
    const aside = readdirSync(nodes.dir).filter((f) => f.startsWith('a.duckdb.diverged-') && !f.endsWith('.wal'));
    expect(aside).toHaveLength(1);
    expect(existsSync(join(nodes.dir, `${aside[0]}.wal`))).toBe(true);
    // Opened with its WAL, the moved-aside copy has the commit.
    const old = await DuckDBInstance.create(join(nodes.dir, aside[0]!));
    const oc = await old.connect();
    expect((await oc.runAndReadAll('SELECT id FROM t ORDER BY id')).getRows()).toEqual([[1n], [777n]]);
    oc.closeSync();
    old.closeSync();
  }, 30_000);

  it('setting a copy aside is cut by its signal (a node closing): nothing half-written, the file and WAL as they were', async () => {
    // Large enough that copying it takes many steps.
    const path = await leaderKilledWithUnshippedWal('CREATE TABLE t AS SELECT random() AS r FROM range(4000000)');
    const walBefore = readFileSync(`${path}.wal`);
    const sizeBefore = statSync(path).size;
    const asideFiles = (): string[] => readdirSync(nodes.dir).filter((f) => f.startsWith('a.duckdb.diverged-'));
    const controller = new AbortController();
    let watching = true;
    // Abort as soon as anything of the copy shows up (the node closing while it is being made).
    const watcher = (async () => {
      while (watching && !controller.signal.aborted) {
        if (asideFiles().length > 0) controller.abort(new Error('closing'));
        await new Promise((r) => setImmediate(r));
      }
    })();
    const options = { db: 'app', durableHead: async () => 1n, clock: systemClock, logger: silentLogger };
    const outcome = await reconcileLocalCopy(path, { ...options, signal: controller.signal }).catch((e: unknown) => e);
    watching = false;
    await watcher;
    expect(isHaError(outcome, 'HADB_HA_ABORTED'), String(outcome)).toBe(true);
    expect(asideFiles()).toEqual([]);
    expect(readFileSync(`${path}.wal`).equals(walBefore)).toBe(true);
    expect(statSync(path).size).toBe(sizeBefore);
    // The next preparation does the whole step.
    expect(await reconcileLocalCopy(path, options)).toBe('wal-moved');
    const aside = asideFiles().filter((f) => !f.endsWith('.wal'));
    expect(aside).toHaveLength(1);
    expect(statSync(join(nodes.dir, aside[0]!)).size).toBe(sizeBefore);
  }, 60_000);

  it('adopts an existing DuckDB file into empty storage, its WAL included', async () => {
    const path = join(nodes.dir, 'a.duckdb');
    killedAfter(path, ['CREATE TABLE t (id BIGINT)', 'INSERT INTO t VALUES (5), (6)']);
    const a = await node('a');
    await a.waitForRole('leader', { signal: AbortSignal.timeout(10_000) });
    expect(a.role).toBe('leader');
    expect((await a.query('SELECT id FROM t ORDER BY id')).rows).toEqual([[5n], [6n]]);
    const b = await node('b');
    await b.sync();
    expect((await b.query('SELECT id FROM t ORDER BY id')).rows).toEqual([[5n], [6n]]);
    expect(readdirSync(nodes.dir).some((f) => f.includes('.diverged-'))).toBe(false);
  }, 30_000);
});
